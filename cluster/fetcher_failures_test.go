package cluster

import "testing"

func TestFetcherFailuresPause(t *testing.T) {
	var f FetcherFailures
	for _, step := range []struct {
		leader int32
		atMs   int64
		want   int64
	}{
		{1, 1_000, 0},      // a first failure: replaced at once
		{1, 1_020, 100},    // again soon: a pause
		{2, 1_030, 0},      // another source broker's fetcher: its own count
		{1, 1_150, 200},    // doubling
		{1, 1_400, 400},    //
		{1, 1_900, 800},    //
		{1, 2_800, 1_600},  //
		{1, 4_500, 3_200},  //
		{1, 7_800, 5_000},  // at most 5 s
		{1, 12_900, 5_000}, //
		{1, 28_000, 0},     // quiet for 10 s past its pause: at once again
	} {
		if got := f.Failed(step.leader, Instant{MonoMs: step.atMs}); got != step.want {
			t.Errorf("fetcher of %d failing at %d ms: pause %d ms, want %d", step.leader, step.atMs, got, step.want)
		}
	}
}
