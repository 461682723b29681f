//go:build race

package gateway

// raceEnabled: the race detector changes allocation (sync.Pool drops
// items at random), so allocation counts are checked without it.
const raceEnabled = true
