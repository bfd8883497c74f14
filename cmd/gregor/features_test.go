package main

import (
	"strings"
	"testing"
	"time"
)

// TestFeaturesCommands: features describe lists what the node supports
// and the finalized levels; disable lowers eligible.leader.replicas.version
// to 0 (--dry-run first changes nothing), upgrade raises it again; bad
// --feature values are refused before any request, and a level the
// controller refuses with its reason.
func TestFeaturesCommands(t *testing.T) {
	addr := startTestNode(t)
	b := []string{"-b", addr}
	features := func(args ...string) []string { return append(append([]string{"features"}, args...), b...) }
	const elr = "eligible.leader.replicas.version"
	level := func() string {
		for _, l := range lines(mustRun(t, "", features("describe")...).stdout) {
			if f := strings.Fields(l); len(f) == 3 && f[0] == elr {
				return f[1] + " " + f[2]
			}
		}
		t.Fatalf("features describe does not list %s", elr)
		return ""
	}
	awaitLevel := func(want string) {
		t.Helper()
		deadline := time.Now().Add(commandTimeout)
		for got := level(); got != want; got = level() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: supported and finalized %q, want %q", elr, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	awaitLevel("0-1 1")
	if out := mustRun(t, "", features("disable", "--feature", elr, "--dry-run")...).stdout; !strings.Contains(out, elr+" can be moved to level 0") {
		t.Fatalf("disable --dry-run:\n%s", out)
	}
	awaitLevel("0-1 1")
	if out := mustRun(t, "", features("disable", "--feature", elr)...).stdout; !strings.Contains(out, elr+" is at level 0") {
		t.Fatalf("disable:\n%s", out)
	}
	awaitLevel("0-1 0")
	// A refusal says why, in the controller's words.
	mustFail(t, "", features("upgrade", "--feature", elr+"=2"), "INVALID_UPDATE_VERSION: "+elr+" level 2: the controller supports levels 0-1")
	mustFail(t, "", features("upgrade", "--feature", "no.such.feature=1"), "the controller does not know the feature")
	mustFail(t, "", features("downgrade", "--feature", elr+"=1", "--dry-run"), "level 1 is above level 0: not a downgrade")
	mustRun(t, "", features("upgrade", "--feature", elr+"=1")...)
	awaitLevel("0-1 1")
	mustFail(t, "", features("upgrade", "--feature", elr), "want NAME=LEVEL")
	mustFail(t, "", features("disable", "--feature", elr+"=0"), "disable takes a feature name alone")
	mustFail(t, "", features("downgrade"), "downgrade needs --feature")
}
