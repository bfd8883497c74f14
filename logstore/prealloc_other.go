//go:build !linux

package logstore

import "gregor/logstore/vfs"

// preallocates is false: fallocateKeepSize is not available here.
func preallocates(vfs.File) bool { return false }

// fallocateKeepSize is not available on this platform.
func fallocateKeepSize(vfs.File, int64, int64) (bool, error) { return false, nil }
