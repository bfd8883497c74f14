package benchmarks

import (
	"bufio"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Go runtime's cumulative heap allocation counters as the Prometheus Go
// collector exposes them on a broker's /metrics (gregor's metrics.listener,
// kfakeserver's second argument).
const (
	mallocsMetric    = "go_memstats_mallocs_total"
	allocBytesMetric = "go_memstats_alloc_bytes_total"
)

// heapAllocs is a reading of a broker's allocation counters.
type heapAllocs struct {
	objects, bytes float64
}

func (a heapAllocs) minus(o heapAllocs) heapAllocs {
	return heapAllocs{objects: a.objects - o.objects, bytes: a.bytes - o.bytes}
}

var metricsClient = &http.Client{Timeout: 10 * time.Second}

// readAllocs scrapes the broker's /metrics; false when it exposes none.
func (t *target) readAllocs(b *testing.B) (heapAllocs, bool) {
	b.Helper()
	if t.metricsAddr == "" {
		return heapAllocs{}, false
	}
	a, err := scrapeAllocs("http://" + t.metricsAddr + "/metrics")
	if err != nil {
		t.fail(b, "%s: %v", t.name, err)
	}
	return a, true
}

func scrapeAllocs(url string) (heapAllocs, error) {
	resp, err := metricsClient.Get(url)
	if err != nil {
		return heapAllocs{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return heapAllocs{}, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	var a heapAllocs
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || (name != mallocsMetric && name != allocBytesMetric) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return heapAllocs{}, fmt.Errorf("scrape %s: %s: %w", url, name, err)
		}
		if name == mallocsMetric {
			a.objects = v
		} else {
			a.bytes = v
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return heapAllocs{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	if found != 2 {
		return heapAllocs{}, fmt.Errorf("scrape %s: %s or %s missing", url, mallocsMetric, allocBytesMetric)
	}
	return a, nil
}

// allocProbe measures a broker's heap allocations over a stretch of work.
//
// Two things blur the counters. A scrape allocates in the broker too: the
// cost of one, the median of the differences between consecutive scrapes
// before the work, is taken off the result. And the runtime counts small
// objects when a processor's cached span is refilled or flushed (at a
// garbage collection), not one by one, so a reading lags by up to a span per
// size class and processor, a few thousand objects: next to nothing over a
// full record set, a visible share of a tiny one (GREGOR_BENCH_SCALE=0.01).
type allocProbe struct {
	t           *target
	ok          bool
	start, cost heapAllocs
}

// scrapesForCost is how many scrapes beginAllocs takes to estimate one
// scrape's own allocations: the median of their differences ignores one
// difference inflated by a garbage collection flushing the caches.
const scrapesForCost = 4

// beginAllocs reads the counters before the work; call it outside the timer
// and the CPU window, as the scrapes cost the broker CPU.
func (t *target) beginAllocs(b *testing.B) allocProbe {
	b.Helper()
	prev, ok := t.readAllocs(b)
	if !ok {
		return allocProbe{t: t}
	}
	var objects, bytes []float64
	for range scrapesForCost - 1 {
		next, _ := t.readAllocs(b)
		d := next.minus(prev)
		objects, bytes = append(objects, d.objects), append(bytes, d.bytes)
		prev = next
	}
	return allocProbe{t: t, ok: true, start: prev, cost: heapAllocs{objects: median(objects), bytes: median(bytes)}}
}

// end reads the counters after the work and returns what the work allocated.
func (p allocProbe) end(b *testing.B) (heapAllocs, bool) {
	b.Helper()
	if !p.ok {
		return heapAllocs{}, false
	}
	now, _ := p.t.readAllocs(b)
	d := now.minus(p.start).minus(p.cost)
	return heapAllocs{objects: max(d.objects, 0), bytes: max(d.bytes, 0)}, true
}

// median of an odd number of values (the middle one of three here).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
