package cluster

import (
	"bytes"
	"slices"
	"testing"

	"gregor/logstore"
)

// TestCutStraddlingStretch: a first batch that is an empty stretch starting
// below the log end is cut to start there; an empty stretch at or above the
// log end, a data batch (its records garbled too: it is not read, the log's
// append checks it), an empty stretch whose CRC is wrong (left for the
// log's append to refuse) and a batch of an empty stretch's shape that names a
// producer go through as they came.
func TestCutStraddlingStretch(t *testing.T) {
	data := testBatch(t, 5, 1000, 1000, 0)
	logstore.SetBatchBaseOffset(data, 4)
	garbled := slices.Clone(data)
	for i := logstore.BatchHeaderBytes; i < len(garbled); i++ {
		garbled[i] ^= 0xff
	}
	badCRC := logstore.EmptyBatch(2, 9, 3)
	badCRC[len(badCRC)-5] ^= 0xff // a base sequence byte, past the CRC's check
	named := idempotentBatch(t, 1, 1000, 7, 0)
	for _, c := range []struct {
		name    string
		batches [][]byte
		want    [][]byte
	}{
		{"straddling stretch", [][]byte{logstore.EmptyBatch(2, 9, 3), data}, [][]byte{logstore.EmptyBatch(5, 9, 3), data}},
		{"stretch from the log end", [][]byte{logstore.EmptyBatch(5, 9, 3)}, [][]byte{logstore.EmptyBatch(5, 9, 3)}},
		{"data batch", [][]byte{data}, [][]byte{data}},
		{"data batch, records garbled", [][]byte{garbled}, [][]byte{garbled}},
		{"stretch with a bad CRC", [][]byte{badCRC}, [][]byte{badCRC}},
		{"producer's batch", [][]byte{named}, [][]byte{named}},
		{"none", nil, nil},
	} {
		got := cutStraddlingStretch(c.batches, 5)
		if !slices.EqualFunc(got, c.want, bytes.Equal) {
			t.Errorf("%s: got %x, want %x", c.name, got, c.want)
		}
	}
}

// BenchmarkCutStraddlingStretch measures a follower's look for a straddling
// empty stretch in a fetched response whose first batch is a 1 MiB produce
// batch (1 KiB records): the header alone decides.
func BenchmarkCutStraddlingStretch(b *testing.B) {
	const records, valueBytes = 1000, 1024
	batch := testBatchKeyed(b, records, 1000, 1000, 0, func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, valueBytes) })
	batches := [][]byte{batch}
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for range b.N {
		if got := cutStraddlingStretch(batches, 0); len(got) != 1 {
			b.Fatal(len(got))
		}
	}
}
