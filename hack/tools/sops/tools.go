//go:build tools

// Package tools pins sops.
package tools

import _ "github.com/getsops/sops/v3/cmd/sops"
