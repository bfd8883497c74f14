package vfs

import (
	"bytes"
	"os"
	"path"
	"testing"
)

// BenchmarkAppend appends 4 KiB writes to one file, syncing every 16 writes
// and truncating every 4 MiB so memory stays bounded: Mem beside the OS
// filesystem (syncs skipped, they would measure the disk) and a plain
// bytes.Buffer, the floor for an in-memory file.
func BenchmarkAppend(b *testing.B) {
	const writeBytes, syncEvery, resetBytes = 4 << 10, 16, 4 << 20
	p := bytes.Repeat([]byte{'x'}, writeBytes)
	run := func(b *testing.B, f File, sync bool) {
		b.SetBytes(writeBytes)
		var written int
		for i := 0; b.Loop(); i++ {
			if _, err := f.Write(p); err != nil {
				b.Fatal(err)
			}
			if written += writeBytes; written >= resetBytes {
				if err := f.Truncate(0); err != nil {
					b.Fatal(err)
				}
				written = 0
			}
			if sync && i%syncEvery == 0 {
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("rec=4KiB/gregor", func(b *testing.B) {
		m := NewMem()
		f, err := m.OpenFile("/seg.log", os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		run(b, f, true)
	})
	b.Run("rec=4KiB/ref-os-nosync", func(b *testing.B) {
		f, err := OS.OpenFile(path.Join(b.TempDir(), "seg.log"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		run(b, f, false)
	})
	b.Run("rec=4KiB/ref-bytesbuffer", func(b *testing.B) {
		b.SetBytes(writeBytes)
		var buf bytes.Buffer
		for b.Loop() {
			buf.Write(p)
			if buf.Len() >= resetBytes {
				buf.Reset()
			}
		}
	})
}
