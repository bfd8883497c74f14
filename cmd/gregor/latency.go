package main

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"
)

// latencySubBucketBits sets the histogram's precision: each power of two is
// split into 2^bits buckets, so an estimate is within 1/64 of the truth.
const latencySubBucketBits = 6

const (
	latencySubBuckets = 1 << latencySubBucketBits
	// latencyBucketCount covers every non-negative int64.
	latencyBucketCount = (63-latencySubBucketBits)*latencySubBuckets + 2*latencySubBuckets
)

// latencyHistogram counts durations in log-linear buckets, in constant
// memory however many are recorded. It is not safe for concurrent use.
type latencyHistogram struct {
	counts   [latencyBucketCount]uint64
	count    uint64
	sumNanos float64
	minNanos int64
	maxNanos int64
}

// latencyBucket returns the bucket of v ≥ 0: values below 128 have their
// own bucket; above, the top seven significant bits pick it.
func latencyBucket(v int64) int {
	if v < 2*latencySubBuckets {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - 1 - latencySubBucketBits
	return shift*latencySubBuckets + int(v>>shift)
}

// latencyBucketBounds returns the smallest value of bucket b and its width.
func latencyBucketBounds(b int) (int64, int64) {
	if b < 2*latencySubBuckets {
		return int64(b), 1
	}
	shift := b/latencySubBuckets - 1
	top := int64(b%latencySubBuckets + latencySubBuckets)
	return top << shift, int64(1) << shift
}

// record adds one duration; negative ones count as zero.
func (h *latencyHistogram) record(d time.Duration) {
	v := max(int64(d), 0)
	if h.count == 0 || v < h.minNanos {
		h.minNanos = v
	}
	if v > h.maxNanos {
		h.maxNanos = v
	}
	h.counts[latencyBucket(v)]++
	h.count++
	h.sumNanos += float64(v)
}

// percentile returns the nearest-rank q-quantile (0 < q ≤ 1), estimated as
// the middle of its bucket and kept within the recorded minimum and maximum.
func (h *latencyHistogram) percentile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	rank = min(max(rank, 1), h.count)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := latencyBucketBounds(b)
			mid := low + (width-1)/2
			return time.Duration(min(max(mid, h.minNanos), h.maxNanos))
		}
	}
	panic("latencyHistogram.percentile: counts sum to less than count")
}

// mean returns the average duration.
func (h *latencyHistogram) mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sumNanos / float64(h.count))
}

// summary writes min, mean, the usual percentiles and max in milliseconds.
func (h *latencyHistogram) summary() string {
	if h.count == 0 {
		return "no samples"
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }
	parts := []string{
		"min " + ms(time.Duration(h.minNanos)),
		"mean " + ms(h.mean()),
		"p50 " + ms(h.percentile(0.50)),
		"p90 " + ms(h.percentile(0.90)),
		"p99 " + ms(h.percentile(0.99)),
		"p99.9 " + ms(h.percentile(0.999)),
		"max " + ms(time.Duration(h.maxNanos)),
	}
	return strings.Join(parts, "  ") + " (ms)"
}
