//go:build !linux

package logstore

import "gregor/logstore/vfs"

// writeVectored is not available on this platform; callers write each
// buffer with WriteAt.
func writeVectored(vfs.File, [][]byte, int64) (bool, error) { return false, nil }
