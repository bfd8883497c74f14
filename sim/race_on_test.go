//go:build race

package sim

// raceDetector says the race detector is on: it slows a simulation some
// ten times, so the seeded tests play fewer seeds.
const raceDetector = true
