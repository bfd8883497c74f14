package main

import (
	"math"
	"regexp"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestLatencyHistogramAgainstSorting checks every percentile against the
// nearest-rank value of the sorted samples: the estimate is the middle of
// the true value's bucket, so it is off by at most 1/128 of it.
func TestLatencyHistogramAgainstSorting(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		samples := rapid.SliceOfN(rapid.OneOf(
			rapid.Int64Range(0, 300),
			rapid.Int64Range(0, int64(10*time.Second)),
			rapid.Int64Range(math.MaxInt64-1000, math.MaxInt64),
		), 1, 200).Draw(t, "samples")
		var h latencyHistogram
		for _, s := range samples {
			h.record(time.Duration(s))
		}
		sorted := slices.Clone(samples)
		slices.Sort(sorted)
		for _, q := range []float64{0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
			rank := int(math.Ceil(q * float64(len(sorted))))
			exact := sorted[max(rank, 1)-1]
			got := int64(h.percentile(q))
			if diff := max(got-exact, exact-got); diff > exact/128 {
				t.Fatalf("p%g = %d, exact %d: off by %d, more than 1/128", q*100, got, exact, diff)
			}
		}
		if h.minNanos != sorted[0] || h.maxNanos != sorted[len(sorted)-1] {
			t.Fatalf("min %d and max %d, want the extremes %d and %d", h.minNanos, h.maxNanos, sorted[0], sorted[len(sorted)-1])
		}
	})
}

func TestLatencyBucketsTile(t *testing.T) {
	// Each bucket starts where the one before it ends, up to MaxInt64.
	next := int64(0)
	for b := 0; ; b++ {
		low, width := latencyBucketBounds(b)
		if low != next || latencyBucket(low) != b || latencyBucket(low+width-1) != b {
			t.Fatalf("bucket %d is [%d, +%d), want it to start at %d and hold its ends", b, low, width, next)
		}
		if low > math.MaxInt64-width {
			if b >= latencyBucketCount {
				t.Fatalf("the last bucket %d is past latencyBucketCount %d", b, latencyBucketCount)
			}
			return
		}
		next = low + width
	}
}

func TestLatencySummary(t *testing.T) {
	var h latencyHistogram
	if got := h.summary(); got != "no samples" {
		t.Errorf("empty summary %q", got)
	}
	for i := 1; i <= 100; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	h.record(-time.Second) // a clock step back counts as zero
	// 101 samples: 0 and 1ms to 100ms, so p90 is 90ms, estimated within
	// its bucket's half width (0.5ms).
	got := h.summary()
	want := regexp.MustCompile(`^min 0\.000  mean 50\.000  p50 (50|49)\.\d{3}  p90 (90|89)\.\d{3}  p99 (99|98)\.\d{3}  p99\.9 100\.000  max 100\.000 \(ms\)$`)
	if !want.MatchString(got) {
		t.Errorf("summary %q does not match %s", got, want)
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		done, total, bytes int64
		elapsed            time.Duration
		want               string
	}{
		{0, 100, 0, 0, "[>                             ]   0%  0/100 rec  0 rec/s  0.00 MiB/s  0.0s"},
		{50, 100, 1 << 20, time.Second, "[===============>              ]  50%  50/100 rec  50 rec/s  1.00 MiB/s  1.0s"},
		{100, 100, 2 << 20, 2 * time.Second, "[==============================] 100%  100/100 rec  50 rec/s  1.00 MiB/s  2.0s"},
		{150, 100, 0, time.Second, "[==============================] 100%  150/100 rec  150 rec/s  0.00 MiB/s  1.0s"},
		{7, 0, 0, time.Second, "7 rec  7 rec/s  0.00 MiB/s  1.0s"},
	}
	for _, tt := range tests {
		if got := progressLine(tt.done, tt.total, tt.bytes, tt.elapsed); got != tt.want {
			t.Errorf("progressLine(%d, %d, %d, %s)\n got %q\nwant %q", tt.done, tt.total, tt.bytes, tt.elapsed, got, tt.want)
		}
	}
}
