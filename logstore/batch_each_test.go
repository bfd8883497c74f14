package logstore

import (
	"errors"
	"slices"
	"testing"
)

func TestEachBatch(t *testing.T) {
	a := simpleBatch(t, 3, 10, 1000, 1)
	b := simpleBatch(t, 2, 10, 1000, 2)
	SetBatchBaseOffset(b, 3)
	ChecksumBatch(b)
	whole := slices.Concat(a, b)

	var firsts []int64
	if err := EachBatch(whole, func(b *Batch) error {
		firsts = append(firsts, b.FirstOffset)
		return nil
	}); err != nil || !slices.Equal(firsts, []int64{0, 3}) {
		t.Fatalf("whole batches: firsts %v, err %v; want [0 3], nil", firsts, err)
	}

	stop := errors.New("stop")
	calls := 0
	if err := EachBatch(whole, func(*Batch) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("fn's error: %v after %d calls, want stop after 1", err, calls)
	}

	for name, p := range map[string][]byte{
		"cut short":      whole[:len(whole)-1],
		"short header":   slices.Concat(a, b[:8]),
		"bad crc":        slices.Concat(a, flipLastByte(b)),
		"length too low": slices.Concat(a, make([]byte, 12)),
	} {
		calls := 0
		err := EachBatch(p, func(*Batch) error { calls++; return nil })
		if !errors.Is(err, ErrCorruption) || calls != 1 {
			t.Errorf("%s: %v after %d calls, want ErrCorruption after the first batch", name, err, calls)
		}
	}
}

func flipLastByte(p []byte) []byte {
	p = slices.Clone(p)
	p[len(p)-1] ^= 0xff
	return p
}
