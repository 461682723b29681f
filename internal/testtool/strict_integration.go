//go:build integration

package testtool

// Strict is true in the integration build: missing programs fail tests.
const Strict = true
