//go:build integration

package transform

// requireTools makes tests that need outside tools (xmllint) fail, rather
// than skip, when the tools are missing: the integration run installs them.
const requireTools = true
