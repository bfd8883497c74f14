package logstore

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gregor/logstore/vfs"
)

// TestRecordsWriteToTCPUsesFileSections sends records read from disk over a
// real loopback TCP connection (the sendfile path) and from several
// concurrent readers of the same file, and checks the bytes.
func TestRecordsWriteToTCPUsesFileSections(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	l := openTestLog(t, vfs.OS, dir, cfg, nil, 0)
	defer l.Close()
	want := appendN(t, l, 300, 1000, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, vfs.OS, dir, cfg, nil, 0)
	defer l.Close()
	// Roll so that the data sits in a non-active segment: no tail in memory.
	if _, err := l.Append([][]byte{simpleBatch(t, 1, 2000, 0, 9)}, 0, 1<<40); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const readers = 4
	var wg sync.WaitGroup
	results := make(chan []byte, readers)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range readers {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				p, _ := io.ReadAll(c)
				results <- p
			}()
		}
	}()
	var sendWg sync.WaitGroup
	var totalBytes atomic.Int64
	sendfileBefore := sendfileBytes.Load()
	for r := range readers {
		sendWg.Add(1)
		go func() {
			defer sendWg.Done()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			offset := int64(r * 10)
			recs, err := l.Read(offset, 4<<20, l.LogEndOffset())
			if err != nil {
				t.Error(err)
				return
			}
			defer recs.Release()
			for _, ch := range recs.chunks {
				if ch.mem != nil {
					t.Error("expected only file sections for a cold non-active segment")
				}
			}
			n, err := io.Copy(c, recs)
			if err != nil || n != recs.Len() {
				t.Errorf("copy %d of %d bytes: %v", n, recs.Len(), err)
			}
			totalBytes.Add(n)
		}()
	}
	sendWg.Wait()
	wg.Wait()
	if sent := sendfileBytes.Load() - sendfileBefore; runtime.GOOS == "linux" && sent != totalBytes.Load() {
		t.Fatalf("%d bytes went through sendfile, %d were sent", sent, totalBytes.Load())
	}
	close(results)
	var all []byte
	for _, b := range want {
		all = append(all, b...)
	}
	for p := range results {
		if len(p) == 0 || !bytes.Contains(all, p) {
			t.Fatalf("received %d bytes that are not a run of the stored batches", len(p))
		}
		splitBatches(t, p)
	}
}

// TestFileSectionFallsBackToReadAt checks WriteTo into a plain writer and
// from an in-memory filesystem.
func TestFileSectionFallsBackToReadAt(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", smallConfig(), nil, 0)
	defer l.Close()
	want := appendN(t, l, 100, 100, 0)
	recs, err := l.Read(0, 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer recs.Release()
	var buf bytes.Buffer
	if _, err := recs.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	got := splitBatches(t, buf.Bytes())
	equalBatches(t, got, want[:len(got)])
}
