//go:build tools

// Package tools pins Dex, the OIDC provider the dashboard's login tests run against.
package tools

import _ "github.com/dexidp/dex/cmd/dex"
