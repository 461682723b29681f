//go:build !integration

package transform

// requireTools: see tools_integration_test.go.
const requireTools = false
