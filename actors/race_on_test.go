//go:build race

package actors

// raceDetector says the race detector is on: it makes sync.Pool drop items
// at random, so allocation bounds are looser.
const raceDetector = true
