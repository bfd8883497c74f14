package logstore

import (
	"runtime"
	"sync/atomic"
)

// RawWriteSlots bounds the appends of a node's logs that write through a raw
// system call at once; one serves every log of the node (Options.RawWrites).
// The zero value is ready; a nil one has no slot.
//
// Why raw: an append's pwritev(2) made through syscall.Syscall tells the Go
// scheduler its thread may block, and the first such call a process makes
// after all its threads went idle wakes the runtime's monitor thread
// (sysmon), which then polls every 20 µs for as long as any thread is busy.
// A replicated append is a short burst of work after an idle wait, and each
// replica writes its log in it: on three nodes under transactions of 100
// records (a dozen appends on every replica per transaction) that wake-up
// cost about as much CPU as the pwrite itself. netio's socket calls are raw
// for the same reason (netio/rawio.go), but a socket call never blocks and a
// pwrite can (writeback throttling, a slow or failing disk), and a raw call
// keeps its processor (P) while the kernel holds it: the monitor cannot hand
// that P to another thread. So at most GOMAXPROCS-1 appends write raw at
// once and the others as before: however long the disk takes, one P is never
// held by a raw write, and the node's network, timers and heartbeats go on.
// With GOMAXPROCS 1 no write is raw. Nor is a write of more than
// rawWriteMaxBytes, which bounds how long a raw call keeps its P.
//
// Produce batches of up to 1 MiB (Kafka's default batch and fetch sizes)
// write raw too: 16 interleaved rounds (ABBA, RF3 acks=all, six
// partitions, three nodes) measured the brokers' context switches per
// 1,000 records 19% lower at 1 KiB (13 of 16 rounds) and 11% at 100 B
// with them raw than with them plain, and broker CPU per record the same
// at 1 KiB (pair median -0.5%).
type RawWriteSlots struct {
	taken atomic.Int32
}

// rawWriteMaxBytes is the largest write made raw (RawWriteSlots): a
// transaction's batches, markers and coordinator records, a produce of
// batches up to 1 MiB, a follower's append of one fetched partition at the
// default replica.fetch.max.bytes; about a millisecond's copy into the page
// cache at most.
const rawWriteMaxBytes = 2 << 20

// take takes a slot for a write of n bytes when it is no larger than
// rawWriteMaxBytes and fewer than GOMAXPROCS-1 slots are taken, reporting
// whether it did; give hands it back.
func (s *RawWriteSlots) take(n int64) bool {
	if s == nil || n > rawWriteMaxBytes {
		return false
	}
	limit := int32(runtime.GOMAXPROCS(0)) - 1
	for {
		n := s.taken.Load()
		if n >= limit {
			return false
		}
		if s.taken.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// give hands back a slot take took.
func (s *RawWriteSlots) give() { s.taken.Add(-1) }
