package actors

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"gregor/logstore/raftlog"
	"gregor/logstore/vfs"
)

// syncGateFS counts the syncs of the metadata log's files and, once armed,
// holds the next one until released, as a loaded disk does.
type syncGateFS struct {
	vfs.FS
	syncs   atomic.Int64
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

func (f *syncGateFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.Contains(name, raftlog.DirName) {
		return file, err
	}
	return &syncGateFile{File: file, fs: f}, nil
}

// arm makes the next sync wait for release; entered is closed when it does.
func (f *syncGateFS) arm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed, f.entered, f.release = true, make(chan struct{}), make(chan struct{})
}

type syncGateFile struct {
	vfs.File
	fs *syncGateFS
}

func (f *syncGateFile) Sync() error {
	f.fs.syncs.Add(1)
	f.fs.mu.Lock()
	armed := f.fs.armed
	f.fs.armed = false
	entered, release := f.fs.entered, f.fs.release
	f.fs.mu.Unlock()
	if armed {
		close(entered)
		<-release
	}
	return f.File.Sync()
}

// TestQuorumSavesWhatWaitedInOneSync: proposals that reach the quorum actor
// while it is saving the metadata log (an fsync held up by a loaded disk)
// are saved together once it is done, in one sync, not one sync each, which
// held every raft frame and tick behind a queue of fsyncs (controller churn
// under load).
func TestQuorumSavesWhatWaitedInOneSync(t *testing.T) {
	fsys := &syncGateFS{FS: vfs.OS}
	var proposals atomic.Int64
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		c.FS = fsys
		c.testHooks.proposalSent = func() { proposals.Add(1) }
	})
	adm := kadm.NewClient(newClient(t, n))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := func(name string) error {
		resp, err := adm.CreateTopic(ctx, 1, 1, nil, name)
		if err == nil {
			err = resp.Err
		}
		return err
	}
	if err := create("warm"); err != nil {
		t.Fatal(err)
	}

	fsys.arm()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	wg.Go(func() { errs <- create("held") })
	select {
	case <-fsys.entered:
	case <-ctx.Done():
		t.Fatal("the metadata log was not synced for the first topic")
	}
	before := proposals.Load()
	const waiting = 16
	for i := range waiting {
		wg.Go(func() { errs <- create(fmt.Sprintf("t%d", i)) })
	}
	for proposals.Load() < before+waiting {
		if ctx.Err() != nil {
			t.Fatalf("the controller proposed %d of %d topics", proposals.Load()-before, waiting)
		}
		time.Sleep(time.Millisecond)
	}
	syncs := fsys.syncs.Load()
	close(fsys.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := fsys.syncs.Load() - syncs; got > 2 {
		t.Fatalf("%d proposals that waited took %d syncs of the metadata log, want at most 2", waiting, got)
	}
}
