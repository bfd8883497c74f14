//go:build race

package quorum

// raceDetector says the race detector is on: it slows the cores some
// twenty times, so the seeded runs take fewer seeds.
const raceDetector = true
