//go:build !integration

package testtool

// Strict is false in the unit-test build: missing programs skip tests.
const Strict = false
