//go:build !linux

package logstore

import "gregor/logstore/vfs"

// iovecScratch is an appender's pwritev(2) vector, on Linux.
type iovecScratch struct{}

// writeVectored is not available on this platform; callers write each
// buffer with WriteAt.
func writeVectored(vfs.File, [][]byte, int64, *iovecScratch, *RawWriteSlots) (bool, error) {
	return false, nil
}
