//go:build integration && race

package integration

// raceBuild: the test binary runs with the race detector, so the gateway
// processes it starts are built with it too, and a data race they report
// fails the test that started them.
const raceBuild = true
