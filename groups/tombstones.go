package groups

import "gregor/logstore/internaltopic"

// Tombstones go out in batches of bounded size. Expiring offsets, deleting
// a topic's offsets or a group with many offsets can delete more records at
// once than one batch of __consumer_offsets holds (max.message.bytes, about
// 1 MiB): written as one append, the partition would refuse it, and a
// refused append that changed state before it was acknowledged reverts the
// whole coordinator (replies.go), which would delete the same records again
// and be refused again. Each tombstone deletes on its own, so they need not
// be written atomically (as Kafka's coordinator writes its cleanups): they
// are appended in batches of at most Config.MaxTombstoneBatchBytes, the
// metadata tombstone of a deleted group last, and marked Splittable: a
// shell whose partition takes less (max.message.bytes lowered) writes them
// in smaller batches.

// DefaultMaxTombstoneBatchBytes bounds the records of one append of
// tombstones: a quarter of Kafka's default max.message.bytes.
const DefaultMaxTombstoneBatchBytes = 256 << 10

// recordOverheadBytes over-estimates what a record adds to a batch besides
// its key and value (lengths, attributes, deltas, headers).
const recordOverheadBytes = 16

// appendTombstones asks for tombstones to be appended in batches of
// bounded size and calls done once: with the first failure, or when the
// last batch is acknowledged.
func (c *Coordinator) appendTombstones(tombstones []internaltopic.Record, done func(code int16, now internaltopic.Time)) {
	var chunks [][]internaltopic.Record
	start, size := 0, 0
	for i, r := range tombstones {
		n := len(r.Key) + len(r.Value) + recordOverheadBytes
		if i > start && size+n > c.cfg.MaxTombstoneBatchBytes {
			chunks = append(chunks, tombstones[start:i])
			start, size = i, 0
		}
		size += n
	}
	chunks = append(chunks, tombstones[start:])
	answered := false
	for i, chunk := range chunks {
		last := i == len(chunks)-1
		c.append(chunk, func(code int16, now internaltopic.Time) {
			if answered || code == 0 && !last {
				return
			}
			answered = true
			done(code, now)
		})
		c.ready.Appends[len(c.ready.Appends)-1].Splittable = true
	}
}
