//go:build tools

// Package tools pins the Prometheus server the monitoring tests scrape eddy with.
package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
