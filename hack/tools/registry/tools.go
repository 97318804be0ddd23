//go:build tools

// Package tools pins the OCI distribution registry that tests push charts to.
package tools

import _ "github.com/distribution/distribution/v3/cmd/registry"
