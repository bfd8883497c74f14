package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

// TestSimRunShrinksTheFaultSchedule: on a violation, sim run exits 1 with
// the seed and the shortest prefix of the fault schedule that still fails,
// and the command it prints replays that prefix, failing again.
func TestSimRunShrinksTheFaultSchedule(t *testing.T) {
	inv := runGregor(t, "", "sim", "run", "--seed", "1", "--duration", "30s", "--plant", "skip-truncation", "--quiet")
	if !errors.Is(inv.err, errViolation) {
		t.Fatalf("sim run with skip-truncation: %v\n%s", inv.err, inv.stdout)
	}
	m := regexp.MustCompile(`shortest failing prefix: (\d+) of (\d+) faults`).FindStringSubmatch(inv.stdout)
	if m == nil || !strings.Contains(inv.stdout, "seed 1 failed") {
		t.Fatalf("no seed or shortest prefix in:\n%s", inv.stdout)
	}
	k, n := atoi(t, m[1]), atoi(t, m[2])
	if k < 1 || k >= n {
		t.Errorf("shortest prefix %d of %d faults: seed 1 needs some faults to fail, and not all of them", k, n)
	}
	replay := regexp.MustCompile(`(?m)^  gregor (sim run --seed 1 .* --faults (\d+))$`).FindStringSubmatch(inv.stdout)
	if replay == nil || replay[2] != m[1] {
		t.Fatalf("no replay command with --faults %s in:\n%s", m[1], inv.stdout)
	}
	if !regexp.MustCompile(`(?m)^  #` + m[1] + ` at \d+\.\d{3}s: `).MatchString(inv.stdout) {
		t.Errorf("the prefix's faults are not listed:\n%s", inv.stdout)
	}
	again := runGregor(t, "", append(strings.Fields(replay[1]), "--quiet", "--no-shrink")...)
	if !errors.Is(again.err, errViolation) || !strings.Contains(again.stdout, "VIOLATION") {
		t.Errorf("the shrunk replay does not fail: %v\n%s", again.err, again.stdout)
	}
	if !strings.Contains(again.stdout, "seed 1, 3 nodes") {
		t.Errorf("the shrunk replay:\n%s", again.stdout)
	}
}

// TestSimRunWritesAPage: --html writes the run's self-contained page (the
// sim package's test opens one in a browser).
func TestSimRunWritesAPage(t *testing.T) {
	page := filepath.Join(t.TempDir(), "run.html")
	inv := mustRun(t, "", "sim", "run", "--seed", "7", "--duration", "10s", "--quiet", "--html", page)
	if !strings.Contains(inv.stdout, "page written to "+page) {
		t.Errorf("output:\n%s", inv.stdout)
	}
	p, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!DOCTYPE html>", "<title>gregor sim: seed 7, 3 nodes, plant none</title>", `"partitions":[{"tp":"t0/0"`, "<script>"} {
		if !strings.Contains(string(p), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
