package main

import (
	"bytes"
	"strings"
	"testing"
)

const benchOutput = `goos: linux
BenchmarkAppend/rec=100B/gregor-2         	     100	     10000 ns/op	 800.00 MB/s
BenchmarkAppend/rec=100B/gregor-2         	     100	     10000 ns/op	 900.00 MB/s
BenchmarkAppend/rec=100B/gregor-2         	     100	     10000 ns/op	 700.00 MB/s
BenchmarkAppend/rec=100B/ref-rawwrite-2   	     100	     10000 ns/op	1000.00 MB/s
BenchmarkAppend/rec=100B/ref-rawwrite-2   	     100	     10000 ns/op	1000.00 MB/s
BenchmarkAppend/rec=100B/ref-rawwrite-2   	     100	     10000 ns/op	5000.00 MB/s
BenchmarkLatency/gregor-2                 	     100	      2000 ns/op
BenchmarkLatency/ref-kfake-2              	     100	      3000 ns/op
BenchmarkProduce/rec=1KiB/parts=6/acks=all/gregor-2            	1	2000000000 ns/op	  50.00 MB/s	 3000 ns-cpu/rec	 2.5 allocs/rec	 40 alloc-B/rec
BenchmarkProduce/rec=1KiB/parts=6/acks=all/ref-kfake-process-2 	1	2000000000 ns/op	  40.00 MB/s	 4000 ns-cpu/rec	 10 allocs/rec
PASS
`

func TestReportRatios(t *testing.T) {
	runs, order, err := parse(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	report(&out, runs, order)
	costTable(&out, runs, order)
	got := out.String()
	for _, want := range []string{
		"gregor/ref-rawwrite = 0.80 (MB/s",
		"ref-kfake/gregor = 1.50 (ns/op",
		"BenchmarkAppend/rec=100B/gregor",
		"gregor/ref-kfake-process = 0.75 (ns-cpu/rec",
		"gregor/ref-kfake-process = 0.25 (allocs/rec",
		"gregor/ref-kfake-process = 1.25 (MB/s",
		"BenchmarkProduce/rec=1KiB/parts=6/acks=all *                 3000         4000   0.75           2.50          10.00      40.00          -",
		"* one node: acks=all is the acks=1 work plus the high-watermark step",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
