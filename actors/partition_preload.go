package actors

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore"
)

// A restarted broker opens (recovers) its partition logs while it catches
// up with the metadata log, instead of after: its replicas still start
// only on the caught-up image (replica_manager_hold.go), but a log they
// find already open costs them nothing, so a node with large logs serves
// as soon as it is unfenced. The replica manager preloads the logs of the
// replicas its held images assign the node whose directories exist; a
// replica the caught-up image starts claims its preloaded log by
// directory and topic id, and the logs nobody claims are closed before
// anything else touches their directories.

// defaultLogRecoveryThreads is Kafka's num.recovery.threads.per.data.dir
// default: the partition logs a node recovers at once, preloaded or not.
const defaultLogRecoveryThreads = 2

// logOpenSlots bounds the partition logs a node opens at once that need no
// recovery: new ones (a topic created or grown, a replica moved here) and
// those closed cleanly. Kafka's recovery threads bound only the loading of
// logs at startup, and a new partition's log is made at once; here such
// opens never wait behind a log being recovered (a slot of the node's
// LogRecoveryThreads), only behind other quick opens, a few file
// operations and fsyncs each, so that a topic of thousands of partitions
// does not hold thousands of threads in fsync at once.
const logOpenSlots = 16

// logOpenSlot takes the slot an open of the log in dir holds and returns
// its release: one of the node's log-open slots for a new log or one
// closed cleanly, else (the log needs recovery, logstore.NeedsRecovery)
// one of its LogRecoveryThreads. It looks at the directory while holding a
// log-open slot, so that no more than those look at once.
func (n *Node) logOpenSlot(dir string) (release func()) {
	n.logOpens <- struct{}{}
	if !logstore.NeedsRecovery(n.cfg.FS, dir) {
		return func() { <-n.logOpens }
	}
	<-n.logOpens
	n.logRecoveries <- struct{}{}
	return func() { <-n.logRecoveries }
}

// logPreload is one log opened ahead of its partition actor. done closes
// when the open finished (or was called off before it began); log and err
// are set before.
type logPreload struct {
	dir     string
	topicID cluster.TopicID
	config  logstore.Config
	logger  *zap.Logger
	done    chan struct{}
	log     *logstore.Log
	err     error

	mu sync.Mutex
	// started says the open began; taken that the log was handed over or
	// the open called off.
	started, taken bool
}

// take hands the log over, once, waiting for an open that began: a second
// call (a partition actor restarted by supervision), or one that comes
// before the open began (it waits for one of the node's log-open slots),
// gets ok false, and the caller opens the log itself, as it would without
// preloading.
func (p *logPreload) take() (log *logstore.Log, ok bool, err error) {
	p.mu.Lock()
	if p.taken || !p.started {
		p.taken = true
		p.mu.Unlock()
		return nil, false, nil
	}
	p.taken = true
	p.mu.Unlock()
	<-p.done
	return p.log, true, p.err
}

// begin says whether the open may begin (it was not called off), and marks
// it begun.
func (p *logPreload) begin() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started = !p.taken
	return p.started
}

// discard calls the open off, or waits for it if it began and closes its
// log, unless the log was taken.
func (p *logPreload) discard() {
	if log, ok, err := p.take(); ok && err == nil {
		if err := log.Close(); err != nil {
			p.logger.Warn("close preloaded log", zap.Error(err))
		}
	}
}

// logPreloads are the logs a holding replica manager opens, by directory.
// Only the manager's goroutine calls its methods; each open runs on a
// goroutine of its own, holding a slot (logOpenSlot) shared with the logs
// partition actors open themselves.
type logPreloads struct {
	n *Node
	// present are the directories in the log dir when the node started:
	// only existing logs are worth opening early.
	present map[string]bool
	byDir   map[string]*logPreload
}

// newLogPreloads starts preloading for a broker that holds its images.
func (n *Node) newLogPreloads() *logPreloads {
	pl := &logPreloads{n: n, present: map[string]bool{}, byDir: map[string]*logPreload{}}
	names, err := n.cfg.FS.ReadDir(n.cfg.DataDir)
	if err != nil {
		n.logger.Warn("list log dir: no logs preloaded", zap.Error(err))
	}
	for _, name := range names {
		pl.present[filepath.Join(n.cfg.DataDir, name)] = true
	}
	return pl
}

// add starts opening the logs of the replicas a held image started on the
// node (the images a restarted node holds arrive one by one as it replays
// the metadata log and catches up) that exist on disk and are not opening
// yet.
func (pl *logPreloads) add(image *cluster.MetadataImage, started []cluster.LocalReplica) {
	if pl == nil {
		return
	}
	queued := 0
	for _, r := range started {
		dir := pl.n.partitionDir(r.Topic, r.Partition.Partition)
		if !pl.present[dir] || pl.byDir[dir] != nil {
			continue
		}
		p := &logPreload{dir: dir, topicID: r.TopicID, config: pl.n.topicSettings(image, r.Topic).Log,
			logger: pl.n.logger.With(zap.String("topic", r.Topic), zap.Int32("partition", r.Partition.Partition)), done: make(chan struct{})}
		pl.byDir[dir] = p
		queued++
		go pl.open(p)
	}
	if queued > 0 {
		pl.n.logger.Info("opening partition logs while catching up with the metadata log", zap.Int("logs", queued))
	}
}

// open opens one preloaded log, holding one of the slots meanwhile.
func (pl *logPreloads) open(p *logPreload) {
	n := pl.n
	defer n.logOpenSlot(p.dir)()
	defer close(p.done)
	if !p.begin() {
		return
	}
	p.log, p.err = logstore.Open(logstore.Options{FS: n.cfg.FS, Dir: p.dir, Config: p.config, Cache: n.blockCache(),
		BlockPool: n.blocks, HoldBudget: n.held, RawWrites: &n.rawWrites, Logger: p.logger, NowMs: n.cfg.Clock.Now().WallMs, TopicID: p.topicID})
}

// claim hands the preloaded log of dir to the replica of topicID starting
// there, nil when there is none (or it is another topic's).
func (pl *logPreloads) claim(dir string, topicID cluster.TopicID) *logPreload {
	if pl == nil {
		return nil
	}
	p, ok := pl.byDir[dir]
	if !ok {
		return nil
	}
	delete(pl.byDir, dir)
	if p.topicID != topicID {
		p.discard()
		return nil
	}
	return p
}

// discard closes the preloaded log of dir, if any, once its open ended:
// call it before the directory is renamed or removed.
func (pl *logPreloads) discard(dir string) {
	if pl == nil {
		return
	}
	if p, ok := pl.byDir[dir]; ok {
		delete(pl.byDir, dir)
		p.discard()
	}
}

// discardAll closes every log not claimed, once its open ended.
func (pl *logPreloads) discardAll() {
	if pl == nil {
		return
	}
	for dir, p := range pl.byDir {
		delete(pl.byDir, dir)
		p.discard()
	}
}

// openLog is the partition's log: the one preloaded for it, reconfigured
// to the topic's settings now, or else opened here.
func (a *partitionActor) openLog(pa partitionAssignment, nowMs int64) (*logstore.Log, error) {
	if pa.preload != nil {
		if log, ok, err := pa.preload.take(); ok && err == nil {
			if err := log.SetConfig(pa.settings.Log); err == nil {
				return log, nil
			}
			// A setting an open log cannot take (its cache block size):
			// open it again with it.
			if err := log.Close(); err != nil {
				a.logger.Warn("close preloaded log", zap.Error(err))
			}
		}
	}
	// A log taken from its preload above holds no slot; one opened here
	// takes one, so a node recovers at most LogRecoveryThreads at once.
	dir := a.node.partitionDir(pa.topic, pa.image.Partition)
	defer a.node.logOpenSlot(dir)()
	opts := logstore.Options{
		FS: a.node.cfg.FS, Dir: dir, Config: pa.settings.Log, TopicID: pa.topicID,
		Cache: a.node.blockCache(), BlockPool: a.node.blocks, HoldBudget: a.node.held, RawWrites: &a.node.rawWrites, Logger: a.logger, NowMs: nowMs,
	}
	log, err := logstore.Open(opts)
	if !errors.Is(err, logstore.ErrInconsistentTopicID) {
		return log, err
	}
	// The directory holds another topic's log under this one's name (the
	// node's stray check missed it: its id was recorded after the check,
	// or the directory appeared later): never this replica's. It goes
	// aside, kept, and the replica starts empty and fetches from its
	// leader.
	stray, rerr := a.node.renameStray(dir)
	if stray == "" {
		return nil, fmt.Errorf("%w; renaming it aside: %w", err, rerr)
	}
	a.logger.Warn("stray partition directory renamed aside: it holds another topic's log; its data is kept and the replica starts empty",
		zap.String("dir", dir), zap.String("renamed", stray), zap.Error(err), zap.NamedError("rename_error", rerr))
	return logstore.Open(opts)
}
