package logstore

import (
	"bytes"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gregor/logstore/vfs"
)

// readCountingFS counts the bytes its files return from ReadAt: a file
// section that went out through sendfile never passed through ReadAt.
type readCountingFS struct {
	vfs.FS
	readBytes *atomic.Int64
}

func (f readCountingFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if osf, ok := file.(vfs.OSFiler); ok {
		return readCountingOSFile{readCountingFile{file, f.readBytes}, osf}, nil
	}
	return readCountingFile{file, f.readBytes}, nil
}

type readCountingFile struct {
	vfs.File
	readBytes *atomic.Int64
}

func (f readCountingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.readBytes.Add(int64(n))
	return n, err
}

// readCountingOSFile keeps the OS file reachable, so sendfile still applies.
type readCountingOSFile struct {
	readCountingFile
	osf vfs.OSFiler
}

func (f readCountingOSFile) OSFile() *os.File { return f.osf.OSFile() }

// TestRecordsWriteToTCPUsesFileSections sends records read from disk over a
// real loopback TCP connection (the sendfile path) and from several
// concurrent readers of the same file, and checks the bytes. On Linux no
// byte of the records passes through ReadAt: sendfile moved them.
func TestRecordsWriteToTCPUsesFileSections(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	var readBytes atomic.Int64
	fsys := readCountingFS{FS: vfs.OS, readBytes: &readBytes}
	l := openTestLog(t, fsys, dir, cfg, nil, 0)
	defer l.Close()
	want := appendN(t, l, 300, 1000, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, fsys, dir, cfg, nil, 0)
	defer l.Close()
	// Roll so that the data sits in a non-active segment: no tail in memory.
	if _, err := l.Append([][]byte{simpleBatch(t, 1, 2000, 0, 9)}, 7, 1<<40); err != nil {
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
	// Read (which reads batch headers through ReadAt) before counting.
	var records []*Records
	for r := range readers {
		recs, err := l.Read(int64(r*10), 4<<20, l.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		defer recs.Release()
		for _, ch := range recs.chunks {
			if ch.mem != nil {
				t.Fatal("expected only file sections for a cold non-active segment")
			}
		}
		records = append(records, recs)
	}
	var sendWg sync.WaitGroup
	var totalBytes atomic.Int64
	readBefore := readBytes.Load()
	for _, recs := range records {
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
			n, err := io.Copy(c, recs)
			if err != nil || n != recs.Len() {
				t.Errorf("copy %d of %d bytes: %v", n, recs.Len(), err)
			}
			totalBytes.Add(n)
		}()
	}
	sendWg.Wait()
	wg.Wait()
	if copied := readBytes.Load() - readBefore; runtime.GOOS == "linux" && (copied != 0 || totalBytes.Load() == 0) {
		t.Fatalf("%d of the %d bytes sent were copied through ReadAt, not sent with sendfile", copied, totalBytes.Load())
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
// from an in-memory filesystem: the bytes are copied through ReadAt (which
// also shows readCountingFS sees copies).
func TestFileSectionFallsBackToReadAt(t *testing.T) {
	var readBytes atomic.Int64
	l := openTestLog(t, readCountingFS{FS: vfs.NewMem(), readBytes: &readBytes}, "/p", smallConfig(), nil, 0)
	defer l.Close()
	want := appendN(t, l, 100, 100, 0)
	recs, err := l.Read(0, 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer recs.Release()
	var buf bytes.Buffer
	readBefore := readBytes.Load()
	if _, err := recs.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if copied := readBytes.Load() - readBefore; copied != int64(buf.Len()) || copied == 0 {
		t.Fatalf("ReadAt returned %d bytes for %d written", copied, buf.Len())
	}
	got := splitBatches(t, buf.Bytes())
	equalBatches(t, got, want[:len(got)])
}
