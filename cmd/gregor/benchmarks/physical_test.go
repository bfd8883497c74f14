package benchmarks

import (
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkPhysical measures, in this process, what one copy of a record
// set costs the CPU at the kernel's interfaces: the floors a broker's
// per-copy costs are judged against (the replication cell stores every
// record three times, reads it from three sockets and writes it to two).
// Each cell reports ns-cpu/rec, this process's CPU time (user and system,
// getrusage) per record of the set, counting each record's payload plus
// tcpOverhead bytes:
//
//   - tcp: the bytes written to a loopback socket in 64 KiB writes and read
//     by the sink's goroutine (ref-tcp's transfer): a copy into the kernel
//     and one out of it, and TCP's work between.
//   - disk-append: the bytes appended to a new file in 1 MiB pwrites (a
//     leader's or follower's append, no fsync), the file removed after each
//     iteration as a deleted topic's segments are. Page-cache pages the
//     machine never touched, or took back, cost several times reused ones
//     on a virtual machine: the first iteration in a process shows it.
//   - crc32c: one CRC-32C pass over the bytes (each replica validates every
//     batch once).
func BenchmarkPhysical(b *testing.B) {
	for _, set := range recordSets() {
		name := fmt.Sprintf("rec=%s", set.name)
		total := int64(set.n) * int64(set.size+tcpOverhead)
		b.Run(name+"/tcp", func(b *testing.B) {
			addr := tcpSink(b)
			chunk := make([]byte, tcpChunk)
			physicalCell(b, set, func() { sendTCP(b, addr, total, chunk) })
		})
		b.Run(name+"/disk-append", func(b *testing.B) {
			dir, err := tempDir()
			if err != nil {
				b.Fatal(err)
			}
			chunk := make([]byte, 1<<20)
			path := filepath.Join(dir, "physical-append")
			physicalCell(b, set, func() { appendFile(b, path, total, chunk) })
		})
		b.Run(name+"/crc32c", func(b *testing.B) {
			chunk := make([]byte, 1<<20)
			table := crc32.MakeTable(crc32.Castagnoli)
			physicalCell(b, set, func() {
				for left := total; left > 0; left -= int64(len(chunk)) {
					physicalSum = crc32.Update(physicalSum, table, chunk[:min(left, int64(len(chunk)))])
				}
			})
		})
	}
}

// physicalSum keeps the crc32c cell's checksums, so the passes are not
// optimized away.
var physicalSum uint32

// physicalCell times one pass of do per iteration and reports records/s
// and this process's CPU time per record.
func physicalCell(b *testing.B, set recordSet, do func()) {
	b.SetBytes(set.payload())
	var cpu, wall time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before, start := processCPU(), time.Now()
		do()
		cpu += processCPU() - before
		wall += time.Since(start)
	}
	b.StopTimer()
	records := float64(set.n) * float64(b.N)
	b.ReportMetric(records/wall.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/records, "ns-cpu/rec")
}

// appendFile writes total bytes to a new file at path in chunk-sized
// pwrites, then removes it.
func appendFile(b *testing.B, path string, total int64, chunk []byte) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	var off int64
	for off < total {
		n := min(total-off, int64(len(chunk)))
		if _, err := f.WriteAt(chunk[:n], off); err != nil {
			b.Fatal(err)
		}
		off += n
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		b.Fatal(err)
	}
}
