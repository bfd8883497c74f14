package cluster

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ControllerConfig is what the controller core is told when it starts.
type ControllerConfig struct {
	// NodeID is the node the controller runs on. Until brokers register
	// with the controller, it is the one broker a broker config resource
	// may name.
	NodeID int32
	// ClusterID is the cluster id this node knows (its meta.properties).
	// With NameCluster, a controller that becomes leader over an image
	// without one commits it (a ClusterIDRecord), or a new one drawn from
	// Entropy when it is "". A broker registering with another id than the image's is refused
	// (INCONSISTENT_CLUSTER_ID); one that knows none yet (a new node) is
	// not.
	ClusterID string
	// NameCluster makes the controller commit a cluster id when it becomes
	// leader over an image that has none (the first controller of a
	// quorum).
	NameCluster bool
	// BootstrapFeatures are the finalized feature levels a new cluster
	// starts at, committed with its cluster id (nil:
	// DefaultBootstrapFeatures; a level of 0 finalizes nothing). A cluster
	// named before keeps the levels its log holds.
	BootstrapFeatures map[string]int16
	// NumPartitions is num.partitions: the partition count of auto-created
	// topics and of CreateTopics without one.
	NumPartitions int32
	// DefaultReplicationFactor is default.replication.factor.
	DefaultReplicationFactor int16
	// DeleteTopicEnable is delete.topic.enable.
	DeleteTopicEnable bool
	// StaticBrokerConfigs are server.properties by Kafka key: the broker
	// defaults a CreateTopics answer shows for configs a topic does not set,
	// and the fallback of topic configs the controller reads
	// (unclean.leader.election.enable).
	StaticBrokerConfigs map[string]string
	// BrokerConfigKeys are the keys a broker reads from server.properties,
	// given or not. An AlterConfigs of another key (that is no run-time
	// one) is refused as unknown rather than as one that needs a restart.
	BrokerConfigKeys []string
	// Entropy is the controller's only source of randomness: topic ids and
	// where placement starts.
	Entropy io.Reader
	// BrokerSessionTimeoutMs is broker.session.timeout.ms: a broker whose
	// last heartbeat is older is fenced. 0 means Kafka's default, 9000.
	BrokerSessionTimeoutMs int64
	// BrokerHeartbeatIntervalMs is broker.heartbeat.interval.ms. A failure
	// reported by membership fences a broker only once it has also missed
	// its heartbeats for two intervals. 0 means Kafka's default, 2000.
	BrokerHeartbeatIntervalMs int64
	// AutoLeaderRebalanceEnable is auto.leader.rebalance.enable (Kafka's
	// default is true; the zero value leaves it off): every
	// LeaderImbalanceCheckIntervalMs, partitions not led by their preferred
	// replica get a preferred-leader election.
	AutoLeaderRebalanceEnable bool
	// LeaderImbalanceCheckIntervalMs is leader.imbalance.check.interval.seconds
	// in ms. 0 means Kafka's default, 300000.
	LeaderImbalanceCheckIntervalMs int64
	// UncleanLeaderElectionIntervalMs is unclean.leader.election.interval.ms:
	// how often leaderless partitions of topics with
	// unclean.leader.election.enable=true get an unclean election (fencing
	// and unfencing elect at once). 0 means Kafka's default, 300000.
	UncleanLeaderElectionIntervalMs int64
	// StaticBrokers are brokers that hold and lead replicas without a
	// registration: the single node, until its broker registers with the
	// controller as a cluster's brokers do. A registration of the same id
	// takes precedence.
	StaticBrokers []int32
	// QuorumVoters are the metadata quorum's voters (controller.quorum.voters).
	// A feature level above 0 is finalized only once each of them that is
	// not a registered broker (a controller-only node), this node aside,
	// told the ranges it supports (VoterFeatures) and supports the level.
	QuorumVoters []int32
}

// Kafka's defaults of the controller's timings.
const (
	defaultBrokerSessionTimeoutMs    = 9_000
	defaultBrokerHeartbeatIntervalMs = 2_000
	defaultLeaderImbalanceCheckMs    = 300_000
	defaultUncleanElectionIntervalMs = 300_000
)

const (
	// maxElectionsPerImbalanceCheck bounds the elections of one periodic
	// check (Kafka's); the next check then runs at once.
	maxElectionsPerImbalanceCheck = 1_000
	rescheduleImmediatelyDelayMs  = 10
	// noBroker is a partition's leader when it has none.
	noBroker = int32(-1)
)

// MaxPartitionsPerTopic bounds the partitions one request can create.
const MaxPartitionsPerTopic = 10_000

// errNotController is the cause of answers failed when the controller
// resigns.
var errNotController = errors.New("the controller lost its leadership before the change was committed")

// Controller decides every change of the metadata. It runs on the metadata
// quorum's leader only (Active): it validates each input against its working
// image (the committed image plus its own records not yet committed),
// returns the records to commit (Proposals, in order) and holds the answer
// until they are committed. It changes nothing durable itself: the caller
// commits the records (appends them to the metadata log) and says so with
// Committed, or Lost.
//
// Inputs: Handle (a request from a client or a broker), AutoCreateTopics,
// Tick (the time), BrokerFailed (a hint from membership),
// BrokerConnectionsClosed (evidence from the shell); leadership: BecomeLeader, ResignLeadership;
// outcomes: Committed, Lost. After any of them, Ready returns what to do.
//
// It has no I/O, clock or goroutines; the caller serialises every call.
type Controller struct {
	cfg ControllerConfig
	// active says this controller leads the metadata quorum.
	active bool
	// committed is the image of every committed record; working adds the
	// records proposed since.
	committed, working *MetadataImage
	// proposals are batches proposed and not yet committed, in offset
	// order.
	proposals []proposal
	// answers wait for the records they depend on, in order.
	answers []pendingAnswer
	out     ControllerReady
	// sessions are the brokers' heartbeat sessions, in memory only: a new
	// controller gives every registered broker a fresh one.
	sessions map[int32]*brokerSession
	static   []int32
	// nextBalanceMs and nextUncleanMs are when the periodic preferred and
	// unclean elections run next (monotonic ms).
	nextBalanceMs, nextUncleanMs int64
	// nowMs is the latest monotonic time Tick or Handle told; quietUntilMs
	// is when the controller may again propose of its own accord after a
	// lost batch (Lost).
	nowMs, quietUntilMs int64
	// leadership bounds the broker leases this controller grants
	// (broker_lease.go, LeadershipHolds).
	leadership leadershipHold
	// predecessor is the quorum leader of the term before this
	// controller's, whose broker it fences sooner (Predecessor).
	predecessor predecessorLeader
	// voterFeatures are the feature ranges each quorum voter told
	// (VoterFeatures), in memory only.
	voterFeatures map[int32][]FeatureRange
}

type proposal struct {
	batch MetadataBatch
	image *MetadataImage
}

type pendingAnswer struct {
	token any
	// req is the request answered, nil for AutoCreateTopics.
	req kmsg.Request
	// epoch is the image epoch that includes every record the answer
	// depends on: it is released once the committed image reaches it.
	epoch    int64
	response kmsg.Response
	refused  []TopicRefusal
	reason   string
	// fail builds the answer when the records it depends on are lost; nil
	// fails the whole request.
	fail func(code int16, cause error) kmsg.Response
}

// ControllerReady is what the caller must do after feeding the controller:
// commit the proposals in order, then send the answers.
type ControllerReady struct {
	// Proposals are batches of records to commit, in order; each batch's
	// Epoch is the metadata offset of its first record.
	Proposals []ControllerProposal
	// Answers are responses to send, in the order their inputs came.
	Answers []ControllerAnswer
}

// Empty says there is nothing to do.
func (r ControllerReady) Empty() bool { return len(r.Proposals) == 0 && len(r.Answers) == 0 }

// ControllerProposal is a batch of records to commit.
type ControllerProposal struct {
	Batch MetadataBatch
	// Image is the committed image once this batch (and every batch before
	// it) is committed.
	Image *MetadataImage
}

// ControllerAnswer is a response to send, with the token its input came
// with.
type ControllerAnswer struct {
	Token any
	// Response answers the request; nil for AutoCreateTopics.
	Response kmsg.Response
	// Refused lists the topics AutoCreateTopics did not create, and why.
	Refused []TopicRefusal
	// Reason explains a refusal whose response has no message field
	// (BrokerRegistration, BrokerHeartbeat), for the log; "" otherwise.
	Reason string
	// ImageEpoch is the image epoch that includes everything the answer
	// reports: a broker answering a client waits until its own image
	// reaches it.
	ImageEpoch int64
}

// TopicRefusal is a topic the controller refused to create, and why.
type TopicRefusal struct {
	Topic  string
	Reason string
}

// decision is what an input decided: records to propose and the answer to
// release once they commit.
type decision struct {
	records []MetadataRecord
	// image is the working image with records applied; nil: apply them.
	image    *MetadataImage
	response kmsg.Response
	refused  []TopicRefusal
	reason   string
	fail     func(code int16, cause error) kmsg.Response
}

// NewController makes an inactive controller: it answers NOT_CONTROLLER
// until BecomeLeader.
func NewController(cfg ControllerConfig) *Controller {
	if cfg.BrokerSessionTimeoutMs <= 0 {
		cfg.BrokerSessionTimeoutMs = defaultBrokerSessionTimeoutMs
	}
	if cfg.BrokerHeartbeatIntervalMs <= 0 {
		cfg.BrokerHeartbeatIntervalMs = defaultBrokerHeartbeatIntervalMs
	}
	if cfg.LeaderImbalanceCheckIntervalMs <= 0 {
		cfg.LeaderImbalanceCheckIntervalMs = defaultLeaderImbalanceCheckMs
	}
	if cfg.UncleanLeaderElectionIntervalMs <= 0 {
		cfg.UncleanLeaderElectionIntervalMs = defaultUncleanElectionIntervalMs
	}
	c := &Controller{cfg: cfg, voterFeatures: map[int32][]FeatureRange{}}
	c.SetStaticBrokers(cfg.StaticBrokers)
	return c
}

// SetStaticBrokers replaces the brokers that hold replicas without a
// registration (ControllerConfig.StaticBrokers).
func (c *Controller) SetStaticBrokers(brokers []int32) {
	c.static = slices.Compact(slices.Sorted(slices.Values(brokers)))
}

// Active says the controller leads: it decides instead of answering
// NOT_CONTROLLER.
func (c *Controller) Active() bool { return c.active }

// Image is the committed image (nil before the first BecomeLeader).
func (c *Controller) Image() *MetadataImage { return c.committed }

// WorkingImage is the committed image plus the records proposed since.
func (c *Controller) WorkingImage() *MetadataImage { return c.working }

// BecomeLeader makes the controller active over committed, the image of
// every committed record (the caller has applied the whole log). Every
// registered broker gets a fresh session from now, so a new controller does
// not fence the brokers that heartbeated to its predecessor.
func (c *Controller) BecomeLeader(committed *MetadataImage, now Instant) {
	if c.active {
		c.ResignLeadership()
	}
	c.active = true
	c.committed, c.working = committed, committed
	c.predecessor = predecessorLeader{node: noBroker}
	c.sessions = map[int32]*brokerSession{}
	for b := range committed.Brokers() {
		s := newBrokerSession(now)
		if b.Fenced {
			// It may have been fenced behind its back under the last
			// controller: it unfences once past everything committed.
			s.unfenceFrom = committed.Epoch - 1
		}
		c.sessions[b.ID] = s
	}
	c.nextBalanceMs = now.MonoMs + c.cfg.LeaderImbalanceCheckIntervalMs
	c.nextUncleanMs = now.MonoMs + c.cfg.UncleanLeaderElectionIntervalMs
	if c.cfg.NameCluster && committed.ClusterID() == "" {
		// The first controller of a quorum names the cluster.
		id := c.cfg.ClusterID
		if id == "" {
			var raw [16]byte
			if _, err := io.ReadFull(c.cfg.Entropy, raw[:]); err != nil {
				panic(fmt.Sprintf("controller: draw a cluster id: %v", err))
			}
			id = base64.RawURLEncoding.EncodeToString(raw[:])
		}
		// A new cluster starts at its bootstrap feature levels
		// (metadata_features.go); an older log without them keeps level 0.
		recs := append([]MetadataRecord{ClusterIDRecord{ClusterID: id}}, bootstrapFeatureRecords(c.cfg.BootstrapFeatures)...)
		c.propose(recs, nil)
	}
}

// ResignLeadership makes the controller inactive: every answer still
// waiting for records fails with NOT_CONTROLLER, and the working image and
// the sessions are dropped. Records already proposed may still commit (the
// next leader applies them); the caller must not report them. The failed
// answers report nothing of those records: they carry the committed
// image's epoch, so that nobody waits for an image that may never come.
func (c *Controller) ResignLeadership() {
	if !c.active {
		return
	}
	for _, a := range c.answers {
		c.out.Answers = append(c.out.Answers, ControllerAnswer{Token: a.token, ImageEpoch: c.committed.Epoch,
			Response: errorResponse(a.req, kerr.NotController.Code, errNotController.Error())})
	}
	c.active = false
	c.answers, c.proposals, c.out.Proposals = nil, nil, nil
	c.working, c.sessions = nil, nil
}

// Committed reports that the batch proposed at offset (its Batch.Epoch) is
// committed. Batches commit in the order they were proposed; a report out
// of that order is a broken invariant of the caller.
func (c *Controller) Committed(offset int64) {
	if !c.active {
		return
	}
	if len(c.proposals) == 0 || c.proposals[0].batch.Epoch != offset {
		panic(fmt.Sprintf("controller: batch at offset %d committed, but the next proposed batch is %s", offset, c.nextProposalText()))
	}
	p := c.proposals[0]
	c.proposals = c.proposals[1:]
	c.committed = p.image
	c.release()
}

func (c *Controller) nextProposalText() string {
	if len(c.proposals) == 0 {
		return "none"
	}
	return fmt.Sprintf("at offset %d", c.proposals[0].batch.Epoch)
}

// lostQuietMs is how long after a lost batch the controller proposes
// nothing of its own accord (Tick's fences and periodic elections). The
// rolled-back working image makes the same fence or election due again at
// once, and a quorum that refuses proposals for a while (its leader handing
// the leadership on, up to an election timeout) would otherwise be asked
// again and again within the same instant (swarm seed 96948, compaction
// profile at 5 minutes: L2).
const lostQuietMs = 100

// Lost reports that the batch proposed at offset, and every batch proposed
// after it, will never commit (the write failed). Their answers fail: with
// err's Kafka code when it wraps a *kerr.Error, else KAFKA_STORAGE_ERROR.
// The working image goes back to the last batch that may still commit, and
// for lostQuietMs Tick proposes nothing.
func (c *Controller) Lost(offset int64, err error) {
	if !c.active {
		return
	}
	i := slices.IndexFunc(c.proposals, func(p proposal) bool { return p.batch.Epoch == offset })
	if i < 0 {
		panic(fmt.Sprintf("controller: batch at offset %d lost, but no batch was proposed there", offset))
	}
	c.proposals = c.proposals[:i]
	c.quietUntilMs = c.nowMs + lostQuietMs
	c.working = c.committed
	if i > 0 {
		c.working = c.proposals[i-1].image
	}
	code := kerr.KafkaStorageError.Code
	var kafkaErr *kerr.Error
	if errors.As(err, &kafkaErr) {
		code = kafkaErr.Code
	}
	n := len(c.answers)
	for n > 0 && c.answers[n-1].epoch > offset {
		n--
	}
	for _, a := range c.answers[n:] {
		resp := a.response
		if a.fail != nil {
			resp = a.fail(code, err)
		} else if a.req != nil {
			resp = errorResponse(a.req, code, err.Error())
		}
		c.out.Answers = append(c.out.Answers, ControllerAnswer{Token: a.token, Response: resp, Refused: a.refused, ImageEpoch: c.working.Epoch})
	}
	c.answers = c.answers[:n]
	for _, s := range c.sessions {
		if s.shutdownOffset >= offset {
			s.shutdownOffset = -1
		}
	}
}

// Ready returns what to do since the last call, and forgets it.
func (c *Controller) Ready() ControllerReady {
	r := c.out
	c.out = ControllerReady{}
	return r
}

// Handle decides a request the controller serves: CreateTopics,
// DeleteTopics, CreatePartitions, AlterConfigs, IncrementalAlterConfigs,
// BrokerRegistration, BrokerHeartbeat, UnregisterBroker, AlterPartition,
// ElectLeaders, AlterPartitionReassignments, ListPartitionReassignments and
// AllocateProducerIDs.
// Its answer comes out of Ready with token once the records it depends on
// are committed. It reports false for any other request.
func (c *Controller) Handle(now Instant, req kmsg.Request, token any) bool {
	if !servedByController(req) {
		return false
	}
	c.nowMs = max(c.nowMs, now.MonoMs)
	if !c.active {
		c.out.Answers = append(c.out.Answers, ControllerAnswer{Token: token,
			Response: errorResponse(req, kerr.NotController.Code, "this node's controller is not the active controller")})
		return true
	}
	var d decision
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		d = c.createTopics(r)
	case *kmsg.DeleteTopicsRequest:
		d = c.deleteTopics(r)
	case *kmsg.CreatePartitionsRequest:
		d = c.createPartitions(r)
	case *kmsg.AlterConfigsRequest:
		d = c.alterConfigs(r)
	case *kmsg.IncrementalAlterConfigsRequest:
		d = c.incrementalAlterConfigs(r)
	case *kmsg.BrokerRegistrationRequest:
		d = c.registerBroker(now, r)
	case *kmsg.BrokerHeartbeatRequest:
		d = c.brokerHeartbeat(now, r)
	case *kmsg.UnregisterBrokerRequest:
		d = c.unregisterBroker(r)
	case *kmsg.AlterPartitionRequest:
		d = c.alterPartition(r)
	case *kmsg.ElectLeadersRequest:
		d = c.electLeaders(r)
	case *kmsg.AlterPartitionAssignmentsRequest:
		d = c.alterPartitionReassignments(r)
	case *kmsg.ListPartitionReassignmentsRequest:
		d = c.listPartitionReassignments(r)
	case *kmsg.AllocateProducerIDsRequest:
		d = c.allocateProducerIDs(r)
	case *kmsg.UpdateFeaturesRequest:
		d = c.updateFeatures(r)
	}
	c.submit(token, req, d)
	return true
}

func servedByController(req kmsg.Request) bool {
	switch req.(type) {
	case *kmsg.CreateTopicsRequest, *kmsg.DeleteTopicsRequest, *kmsg.CreatePartitionsRequest,
		*kmsg.AlterConfigsRequest, *kmsg.IncrementalAlterConfigsRequest,
		*kmsg.BrokerRegistrationRequest, *kmsg.BrokerHeartbeatRequest, *kmsg.UnregisterBrokerRequest,
		*kmsg.AlterPartitionRequest, *kmsg.ElectLeadersRequest,
		*kmsg.AlterPartitionAssignmentsRequest, *kmsg.ListPartitionReassignmentsRequest,
		*kmsg.AllocateProducerIDsRequest, *kmsg.UpdateFeaturesRequest:
		return true
	}
	return false
}

// submit proposes a decision's records and queues its answer behind them.
func (c *Controller) submit(token any, req kmsg.Request, d decision) {
	if len(d.records) > 0 {
		c.propose(d.records, d.image)
	}
	c.answers = append(c.answers, pendingAnswer{token: token, req: req, epoch: c.working.Epoch,
		response: d.response, refused: d.refused, reason: d.reason, fail: d.fail})
	c.release()
}

// propose appends a batch to the working image; next is the image with
// recs applied, nil to apply them here.
func (c *Controller) propose(recs []MetadataRecord, next *MetadataImage) {
	if next == nil {
		next = mustApply(c.working, recs)
	}
	b := MetadataBatch{Epoch: c.working.Epoch, Records: recs}
	c.proposals = append(c.proposals, proposal{batch: b, image: next})
	c.out.Proposals = append(c.out.Proposals, ControllerProposal{Batch: b, Image: next})
	c.working = next
}

// release moves the answers whose records are committed to Ready.
func (c *Controller) release() {
	n := 0
	for n < len(c.answers) && c.answers[n].epoch <= c.committed.Epoch {
		a := c.answers[n]
		c.out.Answers = append(c.out.Answers, ControllerAnswer{Token: a.token, Response: a.response,
			Refused: a.refused, Reason: a.reason, ImageEpoch: a.epoch})
		n++
	}
	c.answers = c.answers[n:]
}

// apiError is a Kafka error code with the message a client is shown.
type apiError struct {
	code int16
	msg  string
}

func newAPIError(err *kerr.Error, format string, args ...any) *apiError {
	return &apiError{code: err.Code, msg: fmt.Sprintf(format, args...)}
}

// mustApply applies records the controller has just validated to its
// working image; failing is a bug in the validation.
func mustApply(w *MetadataImage, recs []MetadataRecord) *MetadataImage {
	next, err := w.Apply(recs...)
	if err != nil {
		panic(fmt.Sprintf("controller: validated records do not apply: %v", err))
	}
	return next
}

// newTopicID draws a topic id that is not zero and not in use.
func (c *Controller) newTopicID(w *MetadataImage) (TopicID, error) {
	for range 8 {
		var id TopicID
		if _, err := io.ReadFull(c.cfg.Entropy, id[:]); err != nil {
			return id, err
		}
		if _, used := w.TopicByID(id); !used && id != (TopicID{}) {
			return id, nil
		}
	}
	return TopicID{}, fmt.Errorf("no unused topic id in 8 draws")
}

// randomIndex draws an index below n from the entropy; with one choice or
// none it draws nothing.
func (c *Controller) randomIndex(n int) (int, error) {
	if n <= 1 {
		return 0, nil
	}
	var b [4]byte
	if _, err := io.ReadFull(c.cfg.Entropy, b[:]); err != nil {
		return 0, err
	}
	return int((uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) % uint32(n)), nil
}
