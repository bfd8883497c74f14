//go:build linux

package logstore

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"gregor/logstore/vfs"
)

// BenchmarkAppendPreallocation appends 1 MiB batches of 1 KiB records to
// six logs in turn (a node's partitions under a produce load), with and
// without preallocation (prealloc.go), and reports the process's CPU per
// KiB appended (the CRC check included): what the reservation saves on
// the appender's thread. Compare the two in interleaved runs (-count).
func BenchmarkAppendPreallocation(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "prealloc=off"
		if on {
			name = "prealloc=on"
		}
		b.Run(name, func(b *testing.B) {
			recs := make([]recordSpec, 1000)
			for i := range recs {
				recs[i] = recordSpec{timestampMs: int64(i), value: bytes.Repeat([]byte{byte(i)}, 1024)}
			}
			batch := makeBatch(b, 0, recs)
			var logs []*Log
			for range 6 {
				l := openTestLog(b, vfs.OS, b.TempDir(), benchConfig(), nil, 0)
				l.noPrealloc = !on
				logs = append(logs, l)
			}
			defer func() {
				for _, l := range logs {
					_ = l.CloseForDeletion()
				}
			}()
			if on {
				if _, err := logs[0].Append([][]byte{batch}, 0, 0); err != nil {
					b.Fatal(err)
				}
				if logs[0].noPrealloc || !logs[0].preallocPays {
					b.Skip("the filesystem of the test directory does not preallocate")
				}
			}
			b.SetBytes(int64(len(batch)))
			before := rusageCPU()
			b.ResetTimer()
			for i := range b.N {
				if _, err := logs[i%len(logs)].Append([][]byte{batch}, 0, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(rusageCPU()-before)/float64(int64(b.N)*int64(len(batch))/1024), "cpu-ns/KiB")
		})
	}
}

func rusageCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
