//go:build !race

package logstore

// raceDetector says the race detector is on.
const raceDetector = false
