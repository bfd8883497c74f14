package actors

import "testing"

// TestFetchReadsReuseTheirBuffers: a Fetch's second read gets its first
// read's buffers back, cleared, where it allocated new ones (a parked
// follower Fetch reads every partition of its session twice); what the
// first read left in them (its records, released by stepOn) is gone.
func TestFetchReadsReuseTheirBuffers(t *testing.T) {
	st := &fetchShell{targets: make([]fetchTarget, 3)}
	first := st.readBuffers()
	if len(first) != 3 || len(st.readReads) != 3 {
		t.Fatalf("buffers of %d results and %d reads, want 3 each", len(first), len(st.readReads))
	}
	first[1] = fetchPartitionResult{errorCode: 6, highWatermark: 42}
	reads := st.readReads
	second := st.readBuffers()
	if &second[0] != &first[0] || &st.readReads[0] != &reads[0] {
		t.Fatal("the second read allocated new buffers")
	}
	if r := second[1]; r.errorCode != 0 || r.highWatermark != 0 {
		t.Fatalf("the second read's results hold the first's: %+v", second[1])
	}
}
