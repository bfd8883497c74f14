package quorum

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"gregor/cluster"
	"gregor/logstore/raftlog"
)

// Errors of Propose, AddLearner and RemoveNode; nothing was proposed.
var (
	// ErrNotLeader: this node is not the active leader (Kafka's
	// NOT_CONTROLLER).
	ErrNotLeader = errors.New("quorum: this node is not the active leader")
	// ErrMembershipChangePending: a membership change has not been applied
	// yet; raft takes one at a time.
	ErrMembershipChangePending = errors.New("quorum: a membership change is still pending")
	// ErrProposalRefused: raft dropped the proposal (too many bytes
	// uncommitted, a leadership transfer, this node removed).
	ErrProposalRefused = errors.New("quorum: proposal refused")
	// ErrInvalidProposal: the data is not one encoded metadata batch of
	// records within the size bound.
	ErrInvalidProposal = errors.New("quorum: proposal is not one metadata batch")
)

// maxCatchUpTicks bounds the ticks one Tick takes when time jumped (a
// paused process): enough for every timeout to fire, no more.
const maxCatchUpTicks = 1000

// Quorum is the metadata quorum's core on one node: a raft node whose log
// carries metadata batches. It has no I/O, clock or goroutines; the caller
// serialises every call.
type Quorum struct {
	cfg     Config
	self    uint64
	storage *raft.MemoryStorage
	rn      *raft.RawNode

	// Time: the instant of the last Tick, the monotonic origin of the
	// tick count, and the ticks taken.
	now      cluster.Instant
	started  bool
	originMs int64
	ticks    int64

	// membership is raft's configuration as of the last entry handed out.
	membership *raftpb.ConfState
	// appliedIndex is the last entry (or snapshot) handed out in a Ready;
	// advancedIndex the last one whose Ready was advanced.
	appliedIndex, advancedIndex uint64
	// snapshotIndex is the newest snapshot's; the counters say how much was
	// applied since.
	snapshotIndex        uint64
	bytesSinceSnapshot   uint64
	entriesSinceSnapshot uint64
	snapshotWanted       bool

	// bootstrap is the snapshot a new voter starts from, to persist with
	// the first Ready; recovered is the snapshot to apply first.
	bootstrap, recovered *raftpb.Snapshot
	// outstanding is the raft Ready handed out and not yet advanced.
	outstanding *raft.Ready

	leadership Leadership
	// followed is the last leader this node followed (Leadership's
	// Predecessor).
	followed followedLeader
	// electedLogTerm is the term of the last entry of the log this node
	// was elected with, known once it is active in activeTerm.
	electedLogTerm uint64
	// activeTerm is the term in which this node leads and has handed out
	// an entry of its own term (so every earlier entry too).
	activeTerm uint64

	proposals    proposalTracker
	nextProposal ProposalID
	// lostOutcomes are fates learned outside a Ready, for the next one.
	lostOutcomes []ProposalOutcome

	lastContact  map[int32]cluster.Instant
	lastCaughtUp map[int32]cluster.Instant

	// heardSince is, for each voter, the send time of the newest marked
	// heartbeat of term heardTerm, saying heardOver of this node's
	// transfers were over, it answered (leadership_hold.go).
	heardTerm, heardOver uint64
	heardSince           map[int32]int64
	// heldUntilMs is the latest hold this node had as a leader
	// (LeadershipHoldsUntilMs): it grants no vote before then, deposed or
	// not (leadership_hold.go).
	heldUntilMs int64
	// leaseEndTick is the tick before which this node, having taken a
	// leader's message, grants no (pre-)vote but a transfer's; before the
	// first Tick, leasePending holds it (lease.go).
	leaseEndTick int64
	leasePending bool
	// preCandidateTicks counts the ticks this node has been a
	// pre-candidate (retryPreVote).
	preCandidateTicks int
	// silence counts the ticks the leader followed has been silent, and
	// preCandidateFor the ticks this node has been a pre-candidate
	// (successor.go).
	silence         leaderSilence
	preCandidateFor int
	// beatTerm is the last term in which this node, on becoming its
	// leader, sent its followers a heartbeat at once (beatOnLeading).
	beatTerm uint64

	// logLost says this voter found its log, not empty, lost entries it
	// had acknowledged (ErrLogLost); lostLogNoted that this node logged
	// finding its log lost. relearning are the learners that lost their
	// log, for the leader to remove and add again, the first one's removal
	// proposed when relearnRemoving (lost_log.go).
	logLost, lostLogNoted bool
	relearning            []int32
	relearnRemoving       bool
	// relearnIDs are the proposals of driveRelearn awaiting their fate,
	// which Ready leaves out.
	relearnIDs []ProposalID
	// lostLogNotices are this node's notices to its leader that it
	// lost its log, for the next Ready.
	lostLogNotices []*raftpb.Message
	// catchingUp says this voter started over from an empty log and has
	// not caught up yet (catch_up.go).
	catchingUp bool

	// transfers counts the leadership transfers this node started as a
	// leader; overTerm and over are the newest a leader's heartbeat (this
	// node's own too) said of its transfers: the leader of overTerm had
	// given up or ended the first over; campaign is this node's campaign
	// as a transferee (transfer_mark.go).
	transfers, overTerm, over uint64
	campaign                  transferCampaign
	// freshVoters are the voters whose last answer to this leader's
	// heartbeat said they started less than an election timeout ago.
	freshVoters map[int32]bool

	// stop is how far this node's graceful stop came, stopNotified what it
	// last told a leader of it; stoppingVoters what the voters last told
	// this leader of theirs (stopping.go).
	stop           stopStage
	stopNotified   stopNotified
	stoppingVoters map[int32]voterStop
	// resignNotices are this leader's resignation notices for the next
	// Ready, hasResigned that it resigned; resigned is the resignation of a leader this node took, not
	// yet reported in a Ready's Leadership when resignedUnreported.
	resignNotices      []*raftpb.Message
	hasResigned        bool
	resigned           resignation
	resignedUnreported bool
}

// New starts the core from what the durable log recovered. A voter whose
// log is empty bootstraps the quorum: its first Ready persists a snapshot at
// index 1 holding the voters and cfg.InitialSnapshot. A learner whose log is
// empty waits for the leader.
func New(cfg Config, durable raftlog.State) (*Quorum, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	q := &Quorum{
		cfg:          cfg,
		self:         raftID(cfg.NodeID),
		storage:      raft.NewMemoryStorage(),
		leadership:   Leadership{LeaderID: -1, Predecessor: -1},
		followed:     followedLeader{leader: -1},
		lastContact:  map[int32]cluster.Instant{},
		lastCaughtUp: map[int32]cluster.Instant{},
		freshVoters:  map[int32]bool{},

		stoppingVoters: map[int32]voterStop{},
	}
	snap := durable.Snapshot
	if durable.Empty() && slices.Contains(cfg.Voters, cfg.NodeID) {
		data := cfg.InitialSnapshot
		if data == nil {
			data = cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Snapshot: true})
		}
		b, err := decodeSnapshotData(data)
		if err != nil {
			return nil, fmt.Errorf("initial snapshot: %w", err)
		}
		if len(b.Records) > 0 && len(cfg.Voters) > 1 {
			// The other voters would bootstrap from another image at the
			// same index, and the quorum would diverge.
			return nil, fmt.Errorf("existing metadata can start a quorum of this node alone, not of voters %v", cfg.Voters)
		}
		snap = &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{
			Index: new(uint64(1)), Term: new(uint64(1)),
			ConfState: &raftpb.ConfState{Voters: raftIDs(cfg.Voters)},
		}}
		q.bootstrap = snap
		q.catchingUp = true
	}
	if cfg.CatchingUp && slices.Contains(cfg.Voters, cfg.NodeID) {
		q.catchingUp = true
	}
	if err := q.seedStorage(snap, durable); err != nil {
		return nil, err
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        q.self,
		ElectionTick:              cfg.electionTicks(),
		HeartbeatTick:             cfg.heartbeatTicks(),
		Storage:                   q.storage,
		Applied:                   q.appliedIndex,
		MaxSizePerMsg:             cfg.MaxMessageBytes,
		MaxUncommittedEntriesSize: cfg.MaxUncommittedBytes,
		MaxInflightMsgs:           cfg.MaxInflightMessages,
		CheckQuorum:               true,
		PreVote:                   true,
		DisableProposalForwarding: true,
		StepDownOnRemoval:         true,
		Logger:                    newRaftLogger(cfg.Logger),
	})
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	q.rn = rn
	if voters := q.membership.GetVoters(); len(voters) == 1 && voters[0] == q.self {
		// A quorum of one need not wait an election timeout to lead.
		_ = rn.Campaign()
	}
	return q, nil
}

// seedStorage loads the snapshot, entries and hard state raft restarts from.
func (q *Quorum) seedStorage(snap *raftpb.Snapshot, durable raftlog.State) error {
	if snap != nil {
		if _, err := decodeSnapshotData(snap.GetData()); err != nil {
			return fmt.Errorf("snapshot %d: %w", snap.GetMetadata().GetIndex(), err)
		}
		if err := q.storage.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("load snapshot %d: %w", snap.GetMetadata().GetIndex(), err)
		}
		q.recovered = snap
		q.appliedIndex = snap.GetMetadata().GetIndex()
		q.advancedIndex, q.snapshotIndex = q.appliedIndex, q.appliedIndex
	}
	q.membership = cloneConfState(snap.GetMetadata().GetConfState())
	if err := q.storage.Append(durable.Entries); err != nil {
		return fmt.Errorf("load entries: %w", err)
	}
	if durable.HardState != nil {
		if err := q.storage.SetHardState(durable.HardState); err != nil {
			return fmt.Errorf("load hard state: %w", err)
		}
	}
	if voters := nodeIDs(q.membership.GetVoters()); len(voters) > 0 && !slices.Equal(voters, q.cfg.Voters) {
		q.cfg.Logger.Info("the metadata log's voters differ from controller.quorum.voters; the log's hold",
			zapInt32s("log_voters", voters), zapInt32s("configured_voters", q.cfg.Voters))
	}
	return nil
}

// Tick tells the core the time. Raft's logical clock advances by the whole
// ticks of TickMs elapsed on the monotonic clock since the first Tick
// (shifted by the node's tick phase with Config.SpreadTicks).
func (q *Quorum) Tick(now cluster.Instant) {
	if !q.started {
		q.started, q.originMs, q.now = true, now.MonoMs, now
		if q.cfg.SpreadTicks {
			q.originMs -= tickPhaseMs(q.cfg.NodeID, q.cfg.TickMs)
		}
		return
	}
	if now.MonoMs < q.now.MonoMs {
		now.MonoMs = q.now.MonoMs // monotonic time never goes back
	}
	q.now = now
	if q.leasePending {
		q.leasePending = false
		q.leaseFrom(now.MonoMs)
	}
	due := (now.MonoMs - q.originMs) / q.cfg.TickMs
	n := min(due-q.ticks, maxCatchUpTicks)
	q.ticks = due
	for range n {
		q.rn.Tick()
		q.campaignAsSuccessor()
		q.countPreCandidacy()
		q.retryPreVote()
	}
	q.driveRelearn()
}

// preVoteRetries is how many ticks in a row a pre-candidate asks for
// pre-votes again (retryPreVote).
const preVoteRetries = 3

// retryPreVote asks the voters for their pre-votes again on each of the
// preVoteRetries ticks after the one this node became a pre-candidate in,
// after following a leader in its term (a leader went silent). A voter
// whose check-quorum
// lease had part of a tick left when the first request came ignores it
// (its ticks fall elsewhere within a tick: tickPhaseMs), and raft asks
// again only at its next randomized election timeout, up to two election
// timeouts later: a failover of the controller's node then took a second
// more. Asking again decides nothing: each voter grants or ignores the
// request as before.
func (q *Quorum) retryPreVote() {
	st := q.rn.BasicStatus()
	if st.RaftState != raft.StatePreCandidate || q.followed.leader < 0 || q.followed.term != st.GetTerm() {
		q.preCandidateTicks = 0
		return
	}
	// The first tick is the one raft's own timeout made this node a
	// pre-candidate in: it asked then.
	q.preCandidateTicks++
	if q.preCandidateTicks > 1 && q.preCandidateTicks <= 1+preVoteRetries {
		if err := q.rn.Campaign(); err != nil {
			panic(fmt.Sprintf("quorum: ask for pre-votes again: %v", err))
		}
	}
}

// tickPhaseMs is where within a tick a node's ticks fall, spread over the
// tick by node id (the fractional part of id times the golden ratio). Raft
// draws each voter's election timeout in whole ticks, so voters started
// together (gregor cluster up) whose ticks fell in the same millisecond
// timed out together one time in ElectionTick when their leader died, and
// split the vote: another election timeout without a controller. Apart by
// a part of a tick, the first to campaign is heard before the other's
// timeout ends.
func tickPhaseMs(node int32, tickMs int64) int64 {
	const golden = 0.6180339887498949
	frac := float64(node) * golden
	frac -= math.Floor(frac)
	return int64(frac * float64(tickMs))
}

// NextTickMs is the monotonic time at which the next tick falls: when the
// caller should call Tick again. Before the first Tick it is 0 (now).
func (q *Quorum) NextTickMs() int64 {
	if !q.started {
		return 0
	}
	return q.originMs + (q.ticks+1)*q.cfg.TickMs
}

// Step takes one raft message from another node, arrived at now (the time
// it is stepped; ticks stay Tick's).
func (q *Quorum) Step(now cluster.Instant, m *raftpb.Message) error {
	if m.GetTo() != q.self {
		return fmt.Errorf("quorum: message for node %d delivered to node %d", nodeID(m.GetTo()), q.cfg.NodeID)
	}
	if m.GetFrom() == raft.None || m.GetFrom() == q.self {
		return fmt.Errorf("quorum: message from node %d delivered to node %d", nodeID(m.GetFrom()), q.cfg.NodeID)
	}
	if q.logLost {
		return ErrLogLost
	}
	q.lastContact[nodeID(m.GetFrom())] = q.now
	m, err := q.lostLogHeartbeat(m)
	if err != nil {
		return err
	}
	if q.lostLogNotice(m) {
		q.driveRelearn()
		return nil
	}
	if q.takeStopNotice(m) || q.takeResignNotice(m) {
		return nil
	}
	defer q.driveRelearn()
	if q.catchUpIgnores(m) || q.ignoresVoteRequest(m) || q.yieldsNoPreVote(m) || q.staleGrant(m) ||
		q.staleTimeoutNow(m) || m.GetType() == raftpb.MsgTransferLeader {
		// A transfer starts only through TransferLeadership, on the
		// leader; no node forwards one.
		return nil
	}
	q.takeLease(m, now.MonoMs)
	q.takeTransfersOver(m)
	q.heardFromLeader(m)
	term := q.rn.BasicStatus().GetTerm()
	err = q.rn.Step(unmarkTransferVote(q.heartbeatAnswered(m)))
	q.startedCampaign(m, term)
	if errors.Is(err, raft.ErrStepPeerNotFound) {
		// A late answer from a node no longer in the quorum.
		return nil
	}
	return err
}

// StepBytes takes one serialized raft message (MarshalMessage's bytes),
// arrived at now.
func (q *Quorum) StepBytes(now cluster.Instant, p []byte) error {
	m := &raftpb.Message{}
	if err := proto.Unmarshal(p, m); err != nil {
		return fmt.Errorf("quorum: decode raft message: %w", err)
	}
	return q.Step(now, m)
}

// MarshalMessage serializes a raft message for the wire.
func MarshalMessage(m *raftpb.Message) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// Propose proposes one encoded metadata batch (cluster.AppendMetadataBatch,
// not a snapshot). Its fate arrives in a later Ready's Proposals. Only the
// active leader proposes; any other node gets ErrNotLeader.
func (q *Quorum) Propose(data []byte) (ProposalID, error) {
	if !q.activeLeader() {
		return 0, ErrNotLeader
	}
	if len(data) > q.cfg.MaxProposalBytes {
		return 0, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidProposal, len(data), q.cfg.MaxProposalBytes)
	}
	b, n, err := cluster.DecodeMetadataBatch(data)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%w: %v", ErrInvalidProposal, err)
	case n != len(data) || b.Snapshot:
		return 0, fmt.Errorf("%w: a snapshot, or bytes after the batch", ErrInvalidProposal)
	}
	if err := q.rn.Propose(data); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrProposalRefused, err)
	}
	return q.track(metadataProposal, data), nil
}

// AddLearner proposes adding node as a learner: it receives the log and
// votes in nothing. The leader does this when a broker that is not a voter
// registers. Its fate arrives in Proposals, the new membership in
// Membership.
func (q *Quorum) AddLearner(node int32) (ProposalID, error) {
	if err := q.checkMembershipChange(); err != nil {
		return 0, err
	}
	if q.isMember(node) {
		return 0, fmt.Errorf("quorum: node %d is already a voter or learner", node)
	}
	return q.proposeMembership(raftpb.ConfChangeAddLearnerNode, node)
}

// RemoveNode proposes removing node (a learner, or a voter other than the
// last one) from the quorum.
func (q *Quorum) RemoveNode(node int32) (ProposalID, error) {
	if err := q.checkMembershipChange(); err != nil {
		return 0, err
	}
	if !q.isMember(node) {
		return 0, fmt.Errorf("quorum: node %d is not a member", node)
	}
	if voters := q.membership.GetVoters(); len(voters) == 1 && voters[0] == raftID(node) {
		return 0, fmt.Errorf("quorum: node %d is the last voter", node)
	}
	return q.proposeMembership(raftpb.ConfChangeRemoveNode, node)
}

func (q *Quorum) checkMembershipChange() error {
	if !q.activeLeader() {
		return ErrNotLeader
	}
	if q.proposals.membershipPending() || q.advancedIndex < q.appliedIndex {
		return ErrMembershipChangePending
	}
	return nil
}

func (q *Quorum) proposeMembership(typ raftpb.ConfChangeType, node int32) (ProposalID, error) {
	cc := &raftpb.ConfChange{Type: typ.Enum(), NodeId: new(raftID(node))}
	if err := q.rn.ProposeConfChange(cc); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrProposalRefused, err)
	}
	return q.track(membershipProposal, nil), nil
}

func (q *Quorum) track(kind proposalKind, data []byte) ProposalID {
	q.nextProposal++
	p := &proposal{id: q.nextProposal, kind: kind, data: data}
	q.lostOutcomes = append(q.lostOutcomes, q.proposals.add(p, q.activeTerm)...)
	return p.id
}

func (q *Quorum) isMember(node int32) bool {
	id := raftID(node)
	return slices.Contains(q.membership.GetVoters(), id) || slices.Contains(q.membership.GetLearners(), id)
}

// activeLeader says whether this node leads, in the term it became active
// in, right now (not only as of the last Ready).
func (q *Quorum) activeLeader() bool {
	if !q.leadership.Active {
		return false
	}
	st := q.rn.BasicStatus()
	return st.RaftState == raft.StateLeader && st.GetTerm() == q.activeTerm
}

// TransferLeadership asks the leader to hand leadership to voter to, as a
// controller does before it shuts down: raft brings to up to date, then
// tells it to campaign at once. Proposals are refused meanwhile; if to does
// not take over within an election timeout, this node leads on.
func (q *Quorum) TransferLeadership(to int32) error {
	if q.rn.BasicStatus().RaftState != raft.StateLeader {
		return ErrNotLeader
	}
	if to == q.cfg.NodeID || !slices.Contains(q.membership.GetVoters(), raftID(to)) {
		return fmt.Errorf("quorum: node %d is not another voter", to)
	}
	before := q.rn.BasicStatus().LeadTransferee
	q.rn.TransferLeader(raftID(to))
	if after := q.rn.BasicStatus().LeadTransferee; after != raft.None && after != before {
		q.transfers++ // raft started a transfer (transfer_mark.go)
	}
	return nil
}

// HandOffLeadership hands the leadership on, as a controller shutting down
// gracefully does, so that the quorum need not wait an election timeout to
// miss this node (a voter that is down would take no leadership, and the
// quorum refuses proposals while a transfer is under way). It picks, in
// this order (stopping.go):
//
//   - a voter heard from within the last election timeout (raft's
//     recently active) that is not stopping, and of those one that did not
//     say in its last answer to a heartbeat that it started less than an
//     election timeout ago, when there is one (such a voter drops a
//     transfer's MsgTimeoutNow: transfer_mark.go);
//   - a voter heard from lately that is stopping while its broker awaits a
//     controller's answer, when such voters and those not stopping (heard
//     from lately, this node not counted) still make a majority: a leader
//     without one commits nothing, so no controller would answer;
//   - a voter not known to stop that was not heard from lately;
//
// and among equals the one furthest along (the one raft brings up to date
// soonest; the lowest id of equals). When there is none (every other
// voter is stopping, and either needs no controller or would lead no
// majority), it hands the leadership to no one and resigns: the other
// members learn that no node leads (Leadership.Resigned).
//
// It returns the voter picked, or -1 when this node does not lead, no
// other voter exists, or it resigned. The leadership moved once a Ready's
// Leadership names another leader; if it did not within an election
// timeout, this node leads on.
func (q *Quorum) HandOffLeadership() (int32, error) {
	to, err := q.handOffLeadershipExcept(-1, false)
	if to < 0 && err == nil && q.Status().Role == RoleLeader && len(q.membership.GetVoters()) > 1 {
		q.resign()
	}
	return to, err
}

// handOffLeadershipExcept is HandOffLeadership choosing among the voters
// other than except too, and only among those heard from lately when
// activeOnly; it never resigns.
func (q *Quorum) handOffLeadershipExcept(except int32, activeOnly bool) (int32, error) {
	st := q.Status()
	if st.Role != RoleLeader {
		return -1, nil
	}
	active := map[int32]bool{}
	q.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if pr.RecentActive {
			active[nodeID(id)] = true
		}
	})
	// pick is the voter furthest along among the others heard from lately
	// (any, unless onlyActive), not starting lately when settled, at stop
	// stage stage.
	pick := func(onlyActive, settled bool, stage stopStage) int32 {
		to, best := int32(-1), int64(-1)
		for _, v := range st.Voters {
			if v.NodeID != st.NodeID && v.NodeID != except && (!onlyActive || active[v.NodeID]) &&
				(!settled || !q.freshVoters[v.NodeID]) && q.stoppingVoters[v.NodeID].stage == stage && v.LogEndOffset > best {
				to, best = v.NodeID, v.LogEndOffset
			}
		}
		return to
	}
	to := pick(true, true, stopNone)
	if to < 0 {
		to = pick(true, false, stopNone)
	}
	if to < 0 && q.quorumOutlivesStops(st, active) {
		to = pick(true, false, stopAwaitsController)
	}
	if to < 0 && !activeOnly {
		to = pick(false, false, stopNone)
	}
	if to < 0 {
		return -1, nil
	}
	return to, q.TransferLeadership(to)
}

// ReportUnreachable tells raft the last message to node could not be sent,
// so the leader probes it instead of streaming.
func (q *Quorum) ReportUnreachable(node int32) { q.rn.ReportUnreachable(raftID(node)) }

// ReportSnapshot tells raft whether a snapshot message (MsgSnap) to node
// was delivered; the caller must report every one it was handed.
func (q *Quorum) ReportSnapshot(node int32, delivered bool) {
	status := raft.SnapshotFinish
	if !delivered {
		status = raft.SnapshotFailure
	}
	q.rn.ReportSnapshot(raftID(node), status)
}

// Snapshot takes a snapshot at the applied offset (AppliedOffset) holding
// data, the encoded image as of that offset (a cluster.MetadataBatch
// snapshot), and drops from memory the entries it covers but the last
// SnapshotCatchUpEntries. The caller makes it the durable log's start with
// raftlog.Log.Compact. Call it after Advance, when a Ready says SnapshotDue
// or whenever it likes.
func (q *Quorum) Snapshot(data []byte) (*raftpb.Snapshot, error) {
	if q.outstanding != nil {
		return nil, errors.New("quorum: snapshot while a Ready is not advanced")
	}
	if q.appliedIndex <= q.snapshotIndex {
		return nil, fmt.Errorf("quorum: nothing applied since the snapshot at %d", q.snapshotIndex)
	}
	if _, err := decodeSnapshotData(data); err != nil {
		return nil, fmt.Errorf("quorum: snapshot data: %w", err)
	}
	snap, err := q.storage.CreateSnapshot(q.appliedIndex, q.membership, data)
	if err != nil {
		return nil, fmt.Errorf("quorum: snapshot at %d: %w", q.appliedIndex, err)
	}
	if q.appliedIndex > q.cfg.SnapshotCatchUpEntries {
		if err := q.storage.Compact(q.appliedIndex - q.cfg.SnapshotCatchUpEntries); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return nil, fmt.Errorf("quorum: compact the log in memory: %w", err)
		}
	}
	q.snapshotIndex = q.appliedIndex
	q.bytesSinceSnapshot, q.entriesSinceSnapshot, q.snapshotWanted = 0, 0, false
	return snap, nil
}

// AppliedOffset is the metadata offset (raft index) of the last entry or
// snapshot handed out: the offset of the image once the caller applied
// every Ready.
func (q *Quorum) AppliedOffset() int64 { return int64(q.appliedIndex) }

func cloneConfState(cs *raftpb.ConfState) *raftpb.ConfState {
	if cs == nil {
		return &raftpb.ConfState{}
	}
	return proto.Clone(cs).(*raftpb.ConfState)
}

// decodeSnapshotData decodes a snapshot's data: one metadata batch
// snapshot; empty data is the empty image.
func decodeSnapshotData(data []byte) (cluster.MetadataBatch, error) {
	if len(data) == 0 {
		return cluster.MetadataBatch{Snapshot: true}, nil
	}
	b, n, err := cluster.DecodeMetadataBatch(data)
	switch {
	case err != nil:
		return b, err
	case n != len(data):
		return b, fmt.Errorf("%d bytes after the snapshot batch", len(data)-n)
	case !b.Snapshot:
		return b, errors.New("a batch of records, not a snapshot")
	}
	return b, nil
}
