// Command benchreport reads `go test -bench` output on stdin and prints, for
// every benchmark group, the median of each sub-benchmark over its runs and the
// ratio of gregor's figure to each reference measured in the same run.
//
// Convention: in a group the leaf named "gregor" is ours and every leaf named
// "ref-<what>" is a reference, e.g. BenchmarkAppend/rec=100B/gregor beside
// BenchmarkAppend/rec=100B/ref-rawwrite. Ratios use MB/s when both sides report
// it (higher is better, ratio = gregor/ref), otherwise ns/op (ratio = ref/gregor,
// so above 1 always means gregor is faster). Custom metrics (b.ReportMetric) are
// printed as medians. The broker's costs per record (ns-cpu/rec, allocs/rec,
// alloc-B/rec) get a ratio of their own, gregor/ref, where below 1 means
// gregor spends less; a closing table sets gregor's CPU and allocations per
// record beside those of ref-kfake-process (kfake in a process of its own,
// measured alike) for every cell that has both.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// sample is one benchmark line: metric unit → value.
type sample map[string]float64

// gomaxprocsSuffix is the "-N" that go test appends to benchmark names.
var gomaxprocsSuffix = regexp.MustCompile(`-\d+$`)

func parse(r io.Reader) (map[string][]sample, []string, error) {
	runs := map[string][]sample{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := gomaxprocsSuffix.ReplaceAllString(fields[0], "")
		s := sample{}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			s[fields[i+1]] = v
		}
		if _, seen := runs[name]; !seen {
			order = append(order, name)
		}
		runs[name] = append(runs[name], s)
	}
	return runs, order, sc.Err()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianOf(samples []sample, unit string) (float64, bool) {
	var xs []float64
	for _, s := range samples {
		if v, ok := s[unit]; ok {
			xs = append(xs, v)
		}
	}
	return median(xs), len(xs) > 0
}

func split(name string) (group, leaf string) {
	i := strings.LastIndex(name, "/")
	if i < 0 {
		return name, ""
	}
	return name[:i], name[i+1:]
}

func units(samples []sample) []string {
	set := map[string]bool{}
	for _, s := range samples {
		for u := range s {
			set[u] = true
		}
	}
	var us []string
	for u := range set {
		us = append(us, u)
	}
	sort.Strings(us)
	return us
}

// perRecordCosts are the lower-is-better costs per record the broker
// benchmarks report, compared as gregor/ref.
var perRecordCosts = []string{"ns-cpu/rec", "allocs/rec", "alloc-B/rec"}

// costReference is the reference whose costs per record the closing table
// sets beside gregor's.
const costReference = "ref-kfake-process"

func report(w io.Writer, runs map[string][]sample, order []string) {
	for _, name := range order {
		samples := runs[name]
		var parts []string
		for _, u := range units(samples) {
			m, _ := medianOf(samples, u)
			parts = append(parts, fmt.Sprintf("%.4g %s", m, u))
		}
		fmt.Fprintf(w, "%-70s n=%d  %s\n", name, len(samples), strings.Join(parts, "  "))
		group, leaf := split(name)
		if !strings.HasPrefix(leaf, "ref-") {
			continue
		}
		ours, ok := runs[group+"/gregor"]
		if !ok {
			continue
		}
		for _, unit := range perRecordCosts {
			g, ok1 := medianOf(ours, unit)
			r, ok2 := medianOf(samples, unit)
			if ok1 && ok2 && r > 0 {
				fmt.Fprintf(w, "%-70s gregor/%s = %.2f (%s, below 1 means gregor spends less)\n", "  ratio", leaf, g/r, unit)
			}
		}
		if g, ok1 := medianOf(ours, "MB/s"); ok1 {
			if r, ok2 := medianOf(samples, "MB/s"); ok2 && r > 0 {
				fmt.Fprintf(w, "%-70s gregor/%s = %.2f (MB/s, higher is better for gregor)\n", "  ratio", leaf, g/r)
				continue
			}
		}
		g, ok1 := medianOf(ours, "ns/op")
		r, ok2 := medianOf(samples, "ns/op")
		if ok1 && ok2 && g > 0 {
			fmt.Fprintf(w, "%-70s %s/gregor = %.2f (ns/op, above 1 means gregor is faster)\n", "  ratio", leaf, r/g)
		}
	}
}

// costTable prints, for every group where gregor and costReference both
// report CPU per record, the medians of both and their ratio, with the
// allocations per record (objects, and bytes) beside them. The single-node
// produce cells with acks=all are marked: on one node that is the acks=1
// work plus the high-watermark step, not replication.
func costTable(w io.Writer, runs map[string][]sample, order []string) {
	header, singleNodeAcksAll := false, false
	for _, name := range order {
		group, leaf := split(name)
		if leaf != "gregor" {
			continue
		}
		ref, ok := runs[group+"/"+costReference]
		if !ok {
			continue
		}
		g, ok1 := medianOf(runs[name], "ns-cpu/rec")
		r, ok2 := medianOf(ref, "ns-cpu/rec")
		if !ok1 || !ok2 || r <= 0 {
			continue
		}
		if !header {
			fmt.Fprintf(w, "\nbroker cost per record, gregor beside %s (medians; ratio below 1 means gregor spends less)\n", costReference)
			fmt.Fprintf(w, "%-52s %12s %12s %6s %14s %14s %10s %10s\n", "cell", "gregor ns", "ref ns", "ratio", "gregor allocs", "ref allocs", "gregor B", "ref B")
			header = true
		}
		label := group
		if strings.HasPrefix(group, "BenchmarkProduce/") && strings.HasSuffix(group, "/acks=all") {
			label += " *"
			singleNodeAcksAll = true
		}
		fmt.Fprintf(w, "%-52s %12.0f %12.0f %6.2f %14s %14s %10s %10s\n", label, g, r, g/r,
			optional(runs[name], "allocs/rec"), optional(ref, "allocs/rec"),
			optional(runs[name], "alloc-B/rec"), optional(ref, "alloc-B/rec"))
	}
	if singleNodeAcksAll {
		fmt.Fprintln(w, "* one node: acks=all is the acks=1 work plus the high-watermark step (the leader is the whole ISR)")
	}
}

// optional formats the median of unit, "-" when not reported.
func optional(samples []sample, unit string) string {
	if m, ok := medianOf(samples, unit); ok {
		return fmt.Sprintf("%.2f", m)
	}
	return "-"
}

func main() {
	runs, order, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	report(os.Stdout, runs, order)
	costTable(os.Stdout, runs, order)
}
