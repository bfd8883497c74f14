package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestSimRunPrintsTimelineSummaryAndTraceHash(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "trace.log")
	inv := mustRun(t, "", "sim", "run", "--seed", "7", "--duration", "10s", "--trace", trace)
	for _, want := range []string{"start: 3 nodes", "controller: n", "metadata: topic t0 created", "heal: faults stop", "converged",
		"operations:", "invariants checked:", "no violations", "simulated time per real second"} {
		if !strings.Contains(inv.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, inv.stdout)
		}
	}
	m := regexp.MustCompile(`sha256 ([0-9a-f]{64})`).FindStringSubmatch(inv.stdout)
	if m == nil {
		t.Fatalf("no trace hash in:\n%s", inv.stdout)
	}
	p, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(p)
	if got := hex.EncodeToString(sum[:]); got != m[1] {
		t.Errorf("the trace file hashes to %s, the run printed %s", got, m[1])
	}
	again := mustRun(t, "", "sim", "run", "--seed", "7", "--duration", "10s", "--quiet")
	if !strings.Contains(again.stdout, m[1]) {
		t.Errorf("the same seed printed another trace hash:\n%s", again.stdout)
	}
}

func TestSimRunScenario(t *testing.T) {
	inv := mustRun(t, "", "sim", "run", "--scenario", "leader-killed-acks-all")
	for _, want := range []string{"> crash 1", "metadata: t/0 leader 1 → ", "violations: none", "no violations"} {
		if !strings.Contains(inv.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, inv.stdout)
		}
	}
	if inv := runGregor(t, "", "sim", "run", "--scenario", "no-such"); inv.err == nil || !strings.Contains(inv.err.Error(), "leader-killed-acks-all") {
		t.Errorf("an unknown scenario: %v", inv.err)
	}
}

func TestSimSwarmFindsAPlantAndNamesTheSeed(t *testing.T) {
	inv := runGregor(t, "", "sim", "swarm", "--seeds", "5", "--duration", "20s", "--plant", "early-hw")
	if !errors.Is(inv.err, errViolation) {
		t.Fatalf("swarm with early-hw: %v\n%s", inv.err, inv.stdout)
	}
	for _, want := range []string{`seeds failed:`, `seed \d+: S3 at `, `replay: gregor sim run --seed \d+ --nodes 3 --duration 20000ms --plant early-hw`} {
		if !regexp.MustCompile(want).MatchString(inv.stdout) {
			t.Errorf("output lacks %q:\n%s", want, inv.stdout)
		}
	}
	ok := mustRun(t, "", "sim", "swarm", "--seeds", "5", "--duration", "10s")
	if !strings.Contains(ok.stdout, "no seed failed") || !strings.Contains(ok.stderr, "5/5 seeds") {
		t.Errorf("swarm without plants:\n%s\n%s", ok.stdout, ok.stderr)
	}
	if inv := runGregor(t, "", "sim", "swarm", "--plant", "nope"); inv.err == nil {
		t.Errorf("an unknown plant was accepted")
	}
}
