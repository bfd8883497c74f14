//go:build !race

package actors

// raceDetector says the race detector is on.
const raceDetector = false
