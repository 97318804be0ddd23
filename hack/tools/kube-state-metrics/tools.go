//go:build tools

// Package tools pins kube-state-metrics, which turns eddy's objects into gotk_resource_info.
package tools

import _ "k8s.io/kube-state-metrics/v2"
