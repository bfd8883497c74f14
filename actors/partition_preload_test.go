package actors

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// preloadFS records, in one sequence with the node's log lines, when a
// partition directory of topic is first touched and how often each is
// listed (logstore.Open lists its directory once). It holds every fsync of
// the metadata log until a partition directory was touched (or holdFor
// passed): the broker cannot catch up without one (its registration is
// appended to the metadata log), so the order of the two is the node's,
// not the scheduler's.
type preloadFS struct {
	vfs.FS
	prefix  string // DataDir/topic-
	seq     *atomic.Int64
	touched chan struct{}
	once    sync.Once
	firstAt atomic.Int64
	holdEnd time.Time

	mu     sync.Mutex
	listed map[string]int
}

func (f *preloadFS) touch(name string) {
	if !strings.HasPrefix(name, f.prefix) {
		return
	}
	f.once.Do(func() {
		f.firstAt.Store(f.seq.Add(1))
		close(f.touched)
	})
}

func (f *preloadFS) ReadDir(name string) ([]string, error) {
	f.touch(name)
	if strings.HasPrefix(name, f.prefix) {
		f.mu.Lock()
		f.listed[name]++
		f.mu.Unlock()
	}
	return f.FS.ReadDir(name)
}

func (f *preloadFS) MkdirAll(name string, perm os.FileMode) error {
	f.touch(name)
	return f.FS.MkdirAll(name, perm)
}

func (f *preloadFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f.touch(name)
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.Contains(name, "__cluster_metadata") {
		return file, err
	}
	return &heldSyncFile{File: file, fs: f}, nil
}

// heldSyncFile is a metadata log file whose fsyncs wait for a partition
// directory to be touched.
type heldSyncFile struct {
	vfs.File
	fs *preloadFS
}

func (h *heldSyncFile) Sync() error {
	select {
	case <-h.fs.touched:
	case <-time.After(time.Until(h.fs.holdEnd)):
	}
	return h.File.Sync()
}

// TestRestartedNodeOpensLogsWhileCatchingUp restarts a node with a topic's
// logs on disk: it opens them before it has caught up with the metadata log
// (before the replica manager starts the replicas), and each log is opened
// once, by the preload its partition actor then takes over.
func TestRestartedNodeOpensLogsWhileCatchingUp(t *testing.T) {
	dir := t.TempDir()
	const topic, partitions = "preloaded", 3
	func() {
		n := startTestNode(t, dir, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		cl := newClient(t, n, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		for p := range int32(partitions) {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("kept")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer stopCancel()
		if err := n.Stop(stopCtx); err != nil {
			t.Fatal(err)
		}
	}()

	seq := &atomic.Int64{}
	fsys := &preloadFS{FS: vfs.OS, prefix: filepath.Join(dir, topic+"-"), seq: seq, touched: make(chan struct{}),
		holdEnd: time.Now().Add(5 * time.Second), listed: map[string]int{}}
	var caughtUpAt atomic.Int64
	hook := zap.Hooks(func(e zapcore.Entry) error {
		if e.Message == "metadata caught up: starting replicas" {
			caughtUpAt.CompareAndSwap(0, seq.Add(1))
		}
		return nil
	})
	cfg := testNodeConfig(dir)
	cfg.FS = fsys
	n, err := Start(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).WithOptions(hook))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	// The replicas serve what they had.
	cl := newClient(t, n, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for got := 0; got < partitions; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}

	first, caughtUp := fsys.firstAt.Load(), caughtUpAt.Load()
	if first == 0 || caughtUp == 0 || first > caughtUp {
		t.Errorf("a partition log was first opened at step %d, the broker caught up at step %d: want the logs opened while it catches up", first, caughtUp)
	}
	// Each log was opened once: its directory was listed as often as one
	// more open of it (the node stopped) lists it.
	logConfig := n.topicSettings(n.routes.load().image, topic).Log
	stop()
	fsys.mu.Lock()
	restart := maps.Clone(fsys.listed)
	clear(fsys.listed)
	fsys.mu.Unlock()
	for p := range partitions {
		d := filepath.Join(dir, fmt.Sprintf("%s-%d", topic, p))
		log, err := logstore.Open(logstore.Options{FS: fsys, Dir: d, Config: logConfig})
		if err != nil {
			t.Fatal(err)
		}
		if err := log.Close(); err != nil {
			t.Fatal(err)
		}
		fsys.mu.Lock()
		once := fsys.listed[d]
		fsys.mu.Unlock()
		if once == 0 || restart[d] != once {
			t.Errorf("the restart listed %s %d times, one open lists it %d times: its partition actor opened it again instead of taking the preloaded log",
				d, restart[d], once)
		}
	}
}

// TestLogPreloadHandsOverOnce checks the hand-over of one preloaded log: a
// take before the open began calls it off (the partition opens its log
// itself, at once), a take after it began waits for it, and only the first
// take gets the log.
func TestLogPreloadHandsOverOnce(t *testing.T) {
	early := &logPreload{done: make(chan struct{})}
	if _, ok, _ := early.take(); ok {
		t.Error("a take before the open began was handed a log")
	}
	if early.begin() {
		t.Error("an open called off by a take began anyway")
	}

	p := &logPreload{done: make(chan struct{})}
	if !p.begin() {
		t.Fatal("an open nobody called off did not begin")
	}
	taken := make(chan bool)
	go func() {
		_, ok, _ := p.take()
		taken <- ok
	}()
	select {
	case <-taken:
		t.Fatal("a take returned before the open that began ended")
	case <-time.After(20 * time.Millisecond):
	}
	close(p.done)
	if ok := <-taken; !ok {
		t.Error("the first take after the open was not handed the log")
	}
	if _, ok, _ := p.take(); ok {
		t.Error("a second take was handed the log again")
	}
}

// blockingListFS holds every listing of a directory under prefix (the
// first thing logstore.Open does) until release closes, counting the
// listings in flight and telling entered of each.
type blockingListFS struct {
	vfs.FS
	prefix            string
	release           chan struct{}
	inFlight, highest atomic.Int32
	entered           chan struct{}
}

func (f *blockingListFS) ReadDir(name string) ([]string, error) {
	if strings.HasPrefix(name, f.prefix) {
		n := f.inFlight.Add(1)
		for h := f.highest.Load(); n > h && !f.highest.CompareAndSwap(h, n); h = f.highest.Load() {
		}
		select {
		case f.entered <- struct{}{}:
		default:
		}
		<-f.release
		f.inFlight.Add(-1)
	}
	return f.FS.ReadDir(name)
}

// A node opens at most LogRecoveryThreads (num.recovery.threads.per.data.dir)
// preloaded logs that need recovery at once: with one slot, a second open
// does not start while the first is under way.
func TestLogPreloadsOpenAtMostRecoveryThreads(t *testing.T) {
	for _, threads := range []int{1, 2} {
		mem := vfs.NewMem()
		fs := &blockingListFS{FS: mem, prefix: "/data/t-", release: make(chan struct{}), entered: make(chan struct{}, 4)}
		n := &Node{cfg: Config{FS: fs, DataDir: "/data", Clock: newSystemClock()}, logger: zap.NewNop(),
			logOpens: make(chan struct{}, logOpenSlots), logRecoveries: make(chan struct{}, threads)}
		pl := &logPreloads{n: n, present: map[string]bool{}, byDir: map[string]*logPreload{}}
		var preloads []*logPreload
		for i := range 4 {
			dir := fmt.Sprintf("/data/t-%d", i)
			// A log left open (by a crash): it needs recovery.
			if _, err := logstore.Open(logstore.Options{FS: mem, Dir: dir, Config: logstore.DefaultConfig()}); err != nil {
				t.Fatal(err)
			}
			p := &logPreload{dir: dir, config: logstore.DefaultConfig(), logger: zap.NewNop(), done: make(chan struct{})}
			preloads = append(preloads, p)
			go pl.open(p)
		}
		for range threads {
			<-fs.entered
		}
		select {
		case <-fs.entered:
			t.Fatalf("%d threads: a log open began while %d were under way", threads, threads)
		case <-time.After(100 * time.Millisecond):
		}
		close(fs.release)
		for _, p := range preloads {
			<-p.done
			if p.err != nil {
				t.Fatalf("open %s: %v", p.dir, p.err)
			}
			_ = p.log.Close()
		}
		if h := fs.highest.Load(); h != int32(threads) {
			t.Errorf("%d threads: %d opens at once", threads, h)
		}
	}
}
