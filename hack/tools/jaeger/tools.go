//go:build tools

// Package tools pins Jaeger, the OTLP receiver whose query API the tracing tests read.
package tools

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
