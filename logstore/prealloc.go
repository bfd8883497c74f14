package logstore

import "go.uber.org/zap"

// Preallocation: the store reserves a segment's disk blocks ahead of its
// appends with fallocate(2) and FALLOC_FL_KEEP_SIZE on ext4 and xfs (Linux;
// with preallocate=true on any filesystem that supports it; never on the
// in-memory filesystem of the tests and the simulator). Elsewhere it may
// cost more than it saves: tmpfs, for one, would clear the memory it
// reserves before the appends copy into it. The file's size does not
// change: readers, recovery and every size the log reports see exactly
// the bytes appended, and a crash
// leaves no zeros to tell from records. What changes is what an append costs
// the kernel: ext4 reserves and accounts each new block of a delayed-allocation
// write one at a time (block reservation, quota, the extent status tree) on
// the appender's thread, and a write into preallocated blocks skips that. A
// 1 MiB append's pwrite costs about a third less CPU this way (220-250 ns/KiB
// against 160-180 on this project's ext4 test machine).
//
// The reservation runs ahead of the appends by an eighth of what the segment
// holds, at least preallocMinBytes and at most preallocMaxBytes (the whole of
// segment.bytes with preallocate=true, as Kafka's log.preallocate), so that
// an idle partition reserves little beyond its data. What is reserved past a
// segment's end is given back when it rolls and when the log closes (a
// truncation to its own size frees the blocks past it); after a crash the
// active segment's reservation is used by its next appends and given back
// at its roll.
//
// Extending the file ahead of its appends instead, so that an append does
// not grow the file's size, saves nothing and would cost crash safety
// (zeros past the last batch after a crash). Measured on ext4 (Linux 6.18,
// this project's test machine; 16 KiB and 1 MiB pwrite appends, 11
// interleaved rounds, the writer thread's CPU per MiB against KEEP_SIZE,
// median of per-round ratios): fallocate without KEEP_SIZE 1.00 and 1.03;
// ftruncate ahead (a sparse file, as Kafka's log.preallocate makes with
// setLength) 1.23 and 1.43, what no reservation at all costs (1.23, 1.44).
// A delayed-allocation write past the size updates the in-memory size only:
// ext4 writes the on-disk size at writeback, and a write into unwritten
// (reserved) blocks takes no journal handle for it. Of an RF3 broker's CPU,
// ext4_da_write_end is about 1% (mostly dirtying the buffer); the ext4
// bookkeeping of an append is mostly a buffer head allocated per 4 KiB
// page (create_empty_buffers, ~5%) and the delayed-allocation lookups
// (ext4_da_get_block_prep, ~2%), which a larger size does not avoid.
const (
	preallocMinBytes = 64 << 10
	preallocMaxBytes = 8 << 20
	// preallocAlign aligns the reservation's start: the block holding the
	// segment's last byte may be waiting for its delayed allocation, and a
	// reservation must not cover it (no filesystem block is larger).
	preallocAlign = 64 << 10
)

// preallocate reserves blocks of seg's file up to past end (the end of the
// write about to be made) when fewer are reserved. A filesystem that does
// not support it turns preallocation off for the log; any other failure
// (a full disk) for the segment: the write goes on without, and fails on
// its own if it must.
func (l *Log) preallocate(seg *segment, end int64) {
	if l.noPrealloc || seg.preallocOff || end <= seg.preallocEnd {
		return
	}
	if !l.cfg.Preallocate {
		if !l.preallocChecked {
			l.preallocChecked, l.preallocPays = true, preallocates(seg.logFile)
		}
		if !l.preallocPays {
			return
		}
	}
	from := alignUp(max(seg.preallocEnd, seg.sizeBytes), preallocAlign)
	ahead := min(max(end/8, preallocMinBytes), preallocMaxBytes)
	if l.cfg.Preallocate {
		ahead = max(ahead, l.cfg.SegmentBytes-end)
	}
	to := alignUp(end+ahead, preallocAlign)
	if to <= from {
		return
	}
	supported, err := fallocateKeepSize(seg.logFile, from, to-from)
	switch {
	case !supported:
		l.noPrealloc = true
	case err != nil:
		seg.preallocOff = true
		l.logger.Warn("preallocate segment failed", zap.String("file", seg.logPath()), zap.Int64("from", from), zap.Int64("to", to), zap.Error(err))
	default:
		seg.preallocEnd = to
	}
}

// trimPrealloc gives back the blocks reserved past seg's end (a roll, a
// close; a roll gives them back before it creates the next segment, so a
// crash leaves only the active segment's). A failure is only logged: the
// blocks stay reserved until the segment is deleted.
func (l *Log) trimPrealloc(seg *segment) {
	if seg.preallocEnd <= seg.sizeBytes && (!seg.preallocUnknown || seg.sizeBytes == 0) {
		return
	}
	if err := seg.logFile.Truncate(seg.sizeBytes); err != nil {
		l.logger.Warn("give back preallocated blocks failed", zap.String("file", seg.logPath()), zap.Error(err))
		return
	}
	seg.preallocEnd, seg.preallocUnknown = seg.sizeBytes, false
}

func alignUp(n, align int64) int64 { return (n + align - 1) / align * align }
