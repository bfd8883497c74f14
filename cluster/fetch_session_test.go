package cluster

import "testing"

func TestFetchSessionUnknown(t *testing.T) {
	for _, c := range []struct {
		epoch   int32
		unknown bool
	}{
		{0, false},  // full fetch asking for a session
		{-1, false}, // full fetch asking for none
		{1, true},   // incremental fetch in a session
		{7, true},
		{-2, true},
	} {
		if got := FetchSessionUnknown(c.epoch); got != c.unknown {
			t.Errorf("epoch %d: unknown %v, want %v", c.epoch, got, c.unknown)
		}
	}
}
