package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestSwarmLogLinesEveryFewSeconds: a swarm logging to a file prints a
// line at least every swarmProgressEvery, a seed ended or not, besides its
// tenths and its end (before, only the tenths: a 100-seed swarm of slow
// seeds was silent for minutes).
func TestSwarmLogLinesEveryFewSeconds(t *testing.T) {
	var out bytes.Buffer
	l := &swarmLog{out: &out, total: 100, every: 5 * time.Second}
	l.report(1, 0, 2*time.Second, true) // not a tenth, too soon
	if out.Len() != 0 {
		t.Fatalf("a line too soon: %q", out.String())
	}
	l.report(1, 0, 5*time.Second, false) // a tick, 5 s on: no seed ended
	if !strings.Contains(out.String(), "1/100 seeds, 0 failing") || !strings.Contains(out.String(), "5s elapsed") {
		t.Fatalf("no line after 5 s: %q", out.String())
	}
	out.Reset()
	l.report(2, 1, 7*time.Second, false)
	if out.Len() != 0 {
		t.Fatalf("a line 2 s after the last: %q", out.String())
	}
	l.report(10, 1, 8*time.Second, true) // a tenth of the run
	if !strings.Contains(out.String(), "10/100 seeds, 1 failing") {
		t.Fatalf("no line at a tenth of the run: %q", out.String())
	}
	out.Reset()
	l.report(11, 1, 13*time.Second, true)
	if !strings.Contains(out.String(), "11/100 seeds") {
		t.Fatalf("no line 5 s after the tenth: %q", out.String())
	}
}
