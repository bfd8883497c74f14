//go:build race

package logstore

// raceDetector says the race detector is on: it makes sync.Pool drop items
// at random, so allocation counts are not checked.
const raceDetector = true
