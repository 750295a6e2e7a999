//go:build race

package tests

// raceEnabled: the race detector's shadow memory grows with every
// allocation and is never returned, so RSS is not checked under it.
const raceEnabled = true
