//go:build tools

// Package tools pins podinfo, the small web app the demo and the node tests
// build into an image and run on the local node.
package tools

import (
	_ "github.com/stefanprodan/podinfo/cmd/podcli"
	_ "github.com/stefanprodan/podinfo/cmd/podinfo"
)
