package quorum

import (
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"gregor/logstore/raftlog"
)

// Config is what a quorum core is told when it starts.
type Config struct {
	// NodeID is this node's node.id.
	NodeID int32
	// Voters are the node ids of controller.quorum.voters. A node among
	// them starting with an empty log bootstraps the quorum with them (every
	// voter the same way); one not among them is a learner and waits for
	// the leader to add it (AddLearner) and send it a snapshot. Once the log
	// holds a membership, the log's wins.
	Voters []int32
	// ElectionTimeoutMs is controller.quorum.election.timeout.ms: how long a
	// follower hears nothing from a leader before it campaigns (raft adds a
	// random part of up to as much again), and how long a leader keeps
	// leading without hearing from a majority (check-quorum). Default 1000.
	ElectionTimeoutMs int64
	// HeartbeatIntervalMs is how often a leader reaches every follower when
	// it has nothing to append. Default ElectionTimeoutMs/10.
	HeartbeatIntervalMs int64
	// TickMs is the length of raft's logical tick; the timeouts above are
	// rounded down to whole ticks. Default HeartbeatIntervalMs.
	TickMs int64
	// SpreadTicks makes the node's ticks fall at a point within a tick set
	// by its node id (tickPhaseMs), so that voters started together do not
	// time out in the same millisecond. gregor's nodes and the simulator's
	// set it.
	SpreadTicks bool
	// CatchingUp says this voter started over from an empty log in an
	// earlier run and has not caught up since (catch_up.go): it takes no
	// part in elections until it has. A voter starting with an empty log
	// is catching up anyway.
	CatchingUp bool
	// InitialSnapshot is the data of the snapshot a voter bootstraps with:
	// an encoded cluster.MetadataBatch snapshot. Nil is the empty image,
	// which every voter of a new quorum starts from; a single node's
	// existing metadata (an image with records) may start a quorum of that
	// node alone, and New refuses it with more voters.
	InitialSnapshot []byte
	// SnapshotIntervalBytes is metadata.log.max.record.bytes.between.snapshots:
	// once this many bytes of metadata were applied since the last
	// snapshot, Ready says a snapshot is due. Default 20 MiB.
	SnapshotIntervalBytes uint64
	// SnapshotIntervalEntries makes a snapshot due after this many entries
	// too; 0 counts bytes only.
	SnapshotIntervalEntries uint64
	// SnapshotCatchUpEntries are the entries kept in memory behind a local
	// snapshot, so a follower a little behind gets entries rather than the
	// whole snapshot. Default 1000.
	SnapshotCatchUpEntries uint64
	// MaxProposalBytes bounds one proposal. Default 8 MiB, at most
	// raftlog.MaxEntryBytes.
	MaxProposalBytes int
	// MaxUncommittedBytes bounds the proposals a leader holds before they
	// commit; more are refused. Default 64 MiB.
	MaxUncommittedBytes uint64
	// MaxMessageBytes bounds the entries of one append message (one entry
	// larger goes alone). Default 1 MiB.
	MaxMessageBytes uint64
	// MaxInflightMessages bounds the append messages in flight to one
	// follower. Default 256.
	MaxInflightMessages int
	// Logger receives the raft library's log lines and the core's; nil
	// discards them.
	Logger *zap.Logger
}

// withDefaults fills unset fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.NodeID < 0 {
		return c, fmt.Errorf("node.id %d is negative", c.NodeID)
	}
	if len(c.Voters) == 0 {
		return c, errors.New("controller.quorum.voters is empty")
	}
	voters := slices.Sorted(slices.Values(c.Voters))
	for i, v := range voters {
		if v < 0 || (i > 0 && v == voters[i-1]) {
			return c, fmt.Errorf("controller.quorum.voters %v: ids must be distinct and not negative", c.Voters)
		}
	}
	c.Voters = voters
	if c.ElectionTimeoutMs == 0 {
		c.ElectionTimeoutMs = 1000
	}
	if c.HeartbeatIntervalMs == 0 {
		c.HeartbeatIntervalMs = max(1, c.ElectionTimeoutMs/10)
	}
	if c.TickMs == 0 {
		c.TickMs = c.HeartbeatIntervalMs
	}
	if c.TickMs <= 0 || c.HeartbeatIntervalMs < c.TickMs || c.ElectionTimeoutMs/c.TickMs <= c.HeartbeatIntervalMs/c.TickMs {
		return c, fmt.Errorf("tick %d ms, heartbeat %d ms, election timeout %d ms: need tick ≤ heartbeat < election timeout in whole ticks",
			c.TickMs, c.HeartbeatIntervalMs, c.ElectionTimeoutMs)
	}
	if c.SnapshotIntervalBytes == 0 {
		c.SnapshotIntervalBytes = 20 << 20
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = 1000
	}
	if c.MaxProposalBytes <= 0 {
		c.MaxProposalBytes = 8 << 20
	}
	c.MaxProposalBytes = min(c.MaxProposalBytes, raftlog.MaxEntryBytes)
	if c.MaxUncommittedBytes == 0 {
		c.MaxUncommittedBytes = 64 << 20
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 1 << 20
	}
	if c.MaxInflightMessages <= 0 {
		c.MaxInflightMessages = 256
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c, nil
}

// electionTicks and heartbeatTicks are the timeouts in raft ticks.
func (c Config) electionTicks() int  { return int(c.ElectionTimeoutMs / c.TickMs) }
func (c Config) heartbeatTicks() int { return int(c.HeartbeatIntervalMs / c.TickMs) }

// raftID is a node's raft id: raft reserves 0, Kafka's node ids start at 0.
func raftID(node int32) uint64 { return uint64(node) + 1 }

// nodeID is the node of a raft id; raft's "none" (0) is -1.
func nodeID(id uint64) int32 { return int32(id) - 1 }

func raftIDs(nodes []int32) []uint64 {
	out := make([]uint64, len(nodes))
	for i, n := range nodes {
		out[i] = raftID(n)
	}
	return out
}

func nodeIDs(ids []uint64) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = nodeID(id)
	}
	slices.Sort(out)
	return out
}

// zapRaftLogger gives the raft library a zap logger. Raft's Fatal would end
// the process; here it panics, as a broken invariant in a core does.
type zapRaftLogger struct{ s *zap.SugaredLogger }

// newRaftLogger names raft's lines "raft" and tells their reader that the
// ids in them are raft's (node id + 1, since raft takes no id 0): "4 cast
// MsgVote for 2" is node 3 voting for node 1.
func newRaftLogger(l *zap.Logger) zapRaftLogger {
	return zapRaftLogger{l.Named("raft").With(zap.String("ids", "raft id = node id + 1")).Sugar()}
}

func (l zapRaftLogger) Debug(v ...any)                 { l.s.Debug(v...) }
func (l zapRaftLogger) Debugf(format string, v ...any) { l.s.Debugf(format, v...) }
func (l zapRaftLogger) Info(v ...any)                  { l.s.Info(v...) }
func (l zapRaftLogger) Infof(format string, v ...any)  { l.s.Infof(format, v...) }
func (l zapRaftLogger) Warning(v ...any)               { l.s.Warn(v...) }
func (l zapRaftLogger) Warningf(format string, v ...any) {
	l.s.Warnf(format, v...)
}
func (l zapRaftLogger) Error(v ...any)                 { l.s.Error(v...) }
func (l zapRaftLogger) Errorf(format string, v ...any) { l.s.Errorf(format, v...) }
func (l zapRaftLogger) Fatal(v ...any)                 { l.s.Panic(v...) }
func (l zapRaftLogger) Fatalf(format string, v ...any) { l.s.Panicf(format, v...) }
func (l zapRaftLogger) Panic(v ...any)                 { l.s.Panic(v...) }
func (l zapRaftLogger) Panicf(format string, v ...any) { l.s.Panicf(format, v...) }
