package cluster

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestControllerScripts runs testdata/controller: the controller core stepped
// with requests, heartbeats and ticks, its records and answers printed as
// text, and what a node must start and stop as the image moves on.
//
//	controller [brokers=(1, 2)] [node=1] [cluster.id=X] [num.partitions=N]
//	        [default.replication.factor=N] [delete.topic.enable=false]
//	        [session.timeout.ms=N] [heartbeat.interval.ms=N]
//	        [auto.leader.rebalance.enable=true] [imbalance.check.ms=N]
//	        [unclean.check.ms=N] [manual] [name-cluster] [key=value ...]
//	                      a fresh controller, leading over an empty image
//	                      from t=0, with static brokers (default (1); () for
//	                      none) and server.properties key=value; with
//	                      manual, proposals wait for commit or lose; with
//	                      name-cluster, it commits the cluster id first
//	                      (and the bootstrap features:
//	                      [bootstrap.transaction.version=N]
//	                      [bootstrap.gregor.replication.version=N]
//	                      [bootstrap.eligible.leader.replicas.version=N]; any
//	                      given: only those); voters=(1, 2, 3): the
//	                      quorum's voters (ControllerConfig.QuorumVoters)
//	brokers ids=(1, 2, 3) the static brokers
//	voter-features voter=N [features]
//	        one per line: FEATURE MIN-MAX
//	                      the feature ranges a voter told (features: this
//	                      build's, then those of the lines)
//	voters-to-ask         the voters whose feature ranges the controller needs
//	create-topics [validate-only] [commit-fails] [v=N]
//	        one topic per line: name [partitions=N] [rf=N]
//	        [assignment=(1;2, 2;3)] [assignment-from=N] [null-config=key]
//	        [key=value ...]   (assignment lists replicas by partition from
//	        0, or from N after it; "" is the empty name)
//	delete-topics [commit-fails] [v=N]
//	        one per line: a name, or id=N (the topic whose id ends in N)
//	create-partitions [validate-only] [commit-fails]
//	        one per line: name count=N [assignment=(1, 2)]
//	alter-configs [validate-only] [commit-fails]
//	        one resource per line: topic NAME k=v ... | broker NAME k=v ...
//	        (NAME "-" is the broker default, "")
//	incremental-alter-configs [validate-only] [commit-fails]
//	        one resource per line: topic NAME op:key[=value] ...
//	        with op one of set, delete, append, subtract
//	register broker=N incarnation=N [rack=R] [listeners=(NAME://host:port, ...)]
//	        [cluster=X] [features] [previous-epoch=N] [t=MS]
//	                      BrokerRegistration (features: with this build's
//	                      feature ranges; without, as a build before feature
//	                      levels; previous-epoch: the epoch of a clean
//	                      shutdown, default -1: an unclean one)
//	update-features [v=N] [validate-only]
//	        one per line: FEATURE level=N [type=upgrade|safe|unsafe]
//	                      UpdateFeatures
//	heartbeat broker=N offset=N [epoch=N] [want-fence] [want-shutdown] [t=MS]
//	                      BrokerHeartbeat; epoch defaults to the broker's
//	                      registered epoch
//	unregister broker=N   UnregisterBroker
//	alter-partition broker=N [epoch=N] [v=N] [t=MS]
//	        one partition per line: TOPIC P isr=(1, 2) [leader-epoch=N]
//	        [partition-epoch=N] [isr-epochs=(1:5, 2:-1)] [recovering]
//	        (epochs default to the partition's current ones)
//	elect-leaders [unclean] [all]
//	        one per line: TOPIC partitions=(0, 1)
//	alter-reassignments [v=N] [no-rf-change]
//	        one per line: TOPIC P replicas=(1, 2) | TOPIC P cancel
//	list-reassignments [all]
//	        one per line: TOPIC partitions=(0, 1)
//	tick t=MS             Tick
//	broker-failed broker=N [t=MS]
//	conns-closed broker=N [t=MS]
//	                      BrokerConnectionsClosed
//	deadline              NextDeadline
//	commit [count=N]      (manual) commit the oldest N held proposals (all)
//	lose [err=TEXT]       (manual) the oldest held proposal and every later
//	                      one are lost
//	resign                ResignLeadership
//	become-leader [t=MS]  BecomeLeader over the committed image
//	predecessor node=N since=MS [t=MS]
//	                      Predecessor: node N led the quorum's term before,
//	                      followed from MS
//	auto-create           topic names, one per line
//	apply                 raw records, one per line (see parseRecord),
//	                      committed together
//	image                 the committed image
//	working-image         the working image
//	local-changes node=(1, 2)
//	                      what each node must do since the last
//	                      local-changes
//
// Without manual, a request's records are committed unless commit-fails is
// given; then the answer for a failed commit is printed instead. An answer
// released by a later command is printed after "answer to #N CMD:", N
// numbering the requests of the script. Time is in ms (wall and monotonic
// alike); a command without t= keeps the time of the last one.
func TestControllerScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/controller", func(t *testing.T, path string) {
		s := &controllerScript{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return s.run(t, td)
		})
	})
}

type controllerScript struct {
	c *Controller
	// mark is the image local-changes compares with.
	mark *MetadataImage
	// manual holds proposals until commit or lose.
	manual bool
	held   []ControllerProposal
	// last is the image before the next proposal to print.
	last  *MetadataImage
	nowMs int64
	// requests numbers the requests; token is the current one.
	requests int
	token    string
}

// scriptEntropy fills each read with zeros but for its last byte, a
// counter: topic ids read 00000000-…-00000001, 00000000-…-00000002, ...
type scriptEntropy struct{ n byte }

func (e *scriptEntropy) Read(p []byte) (int, error) {
	clear(p)
	e.n++
	p[len(p)-1] = e.n
	return len(p), nil
}

var errDiskFull = errors.New("disk full")

func (s *controllerScript) now() Instant { return Instant{WallMs: s.nowMs, MonoMs: s.nowMs} }

func (s *controllerScript) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd == "controller" {
		s.newController(t, td)
		var out strings.Builder
		s.drain(t, &out, false)
		return out.String()
	}
	if s.c == nil {
		td.Fatalf(t, "start with a controller command")
	}
	if arg, ok := td.Arg("t"); ok {
		s.nowMs = int64(atoi(t, arg.SingleVal(t)))
	}
	s.requests++
	s.token = fmt.Sprintf("#%d %s", s.requests, td.Cmd)
	if s.last = s.c.WorkingImage(); s.last == nil {
		s.last = s.c.Image()
	}
	var out strings.Builder
	switch td.Cmd {
	case "brokers":
		arg, _ := td.Arg("ids")
		s.c.SetStaticBrokers(int32s(t, arg.Vals))
		return ""
	case "voter-features":
		var fs []FeatureRange
		if td.HasArg("features") {
			fs = SupportedFeatures()
		}
		for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
			var f FeatureRange
			if _, err := fmt.Sscanf(line, "%s %d-%d", &f.Name, &f.MinVersion, &f.MaxVersion); err == nil {
				fs = append(fs, f)
			}
		}
		s.c.VoterFeatures(int32(intArg(t, td, "voter", -1)), fs)
		return ""
	case "voters-to-ask":
		return fmt.Sprintf("%v\n", s.c.VotersToAsk())
	case "auto-create":
		s.c.AutoCreateTopics(strings.Fields(td.Input), s.token)
	case "apply":
		s.apply(t, td)
	case "image":
		return formatImage(s.c.Image())
	case "working-image":
		return formatImage(s.c.WorkingImage())
	case "local-changes":
		return s.localChanges(t, td)
	case "tick":
		s.c.Tick(s.now())
	case "broker-failed":
		s.c.BrokerFailed(int32(intArg(t, td, "broker", -1)), s.now())
	case "conns-closed":
		s.c.BrokerConnectionsClosed(int32(intArg(t, td, "broker", -1)), s.now())
	case "deadline":
		if at, ok := s.c.NextDeadline(); ok {
			return fmt.Sprintf("next deadline %d\n", at)
		}
		return "no deadline\n"
	case "commit":
		n := intArg(t, td, "count", len(s.held))
		for _, p := range s.held[:n] {
			fmt.Fprintf(&out, "committed offset=%d\n", p.Batch.Epoch)
			s.c.Committed(p.Batch.Epoch)
		}
		s.held = s.held[n:]
	case "lose":
		err := errDiskFull
		if arg, ok := td.Arg("err"); ok {
			err = errors.New(arg.SingleVal(t))
			if arg.SingleVal(t) == "NOT_CONTROLLER" {
				err = kerr.NotController
			}
		}
		fmt.Fprintf(&out, "lost offset=%d\n", s.held[0].Batch.Epoch)
		s.c.Lost(s.held[0].Batch.Epoch, err)
		s.held = nil
	case "resign":
		s.c.ResignLeadership()
		s.held = nil
	case "become-leader":
		s.c.BecomeLeader(s.c.Image(), s.now())
	case "predecessor":
		s.c.Predecessor(s.now(), int32(intArg(t, td, "node", -1)), int64(intArg(t, td, "since", 0)))
	case "each":
		// each CMD: every input line is a request of its own (CMD with that
		// line), as a request may not name one resource twice.
		for _, line := range lines(td.Input) {
			one := *td
			one.Cmd, one.CmdArgs, one.Input = td.CmdArgs[0].Key, td.CmdArgs[1:], line
			s.handle(t, &one)
			s.drain(t, &out, td.HasArg("commit-fails"))
		}
		return out.String()
	default:
		s.handle(t, td)
	}
	s.drain(t, &out, td.HasArg("commit-fails"))
	return out.String()
}

// handle gives the controller the request the command describes.
func (s *controllerScript) handle(t *testing.T, td *datadriven.TestData) {
	if !s.c.Handle(s.now(), s.request(t, td), s.token) {
		td.Fatalf(t, "the controller does not handle %s", td.Cmd)
	}
}

func (s *controllerScript) newController(t *testing.T, td *datadriven.TestData) {
	cfg := ControllerConfig{NodeID: 1, NumPartitions: 1, DefaultReplicationFactor: 1, DeleteTopicEnable: true,
		StaticBrokerConfigs: map[string]string{}, Entropy: &scriptEntropy{}, StaticBrokers: []int32{1}}
	s.manual, s.held, s.nowMs, s.requests = false, nil, 0, 0
	for _, arg := range td.CmdArgs {
		switch arg.Key {
		case "brokers":
			cfg.StaticBrokers = int32s(t, arg.Vals)
		case "node":
			cfg.NodeID = int32(atoi(t, arg.SingleVal(t)))
		case "cluster.id":
			cfg.ClusterID = arg.SingleVal(t)
		case "num.partitions":
			cfg.NumPartitions = int32(atoi(t, arg.SingleVal(t)))
		case "default.replication.factor":
			cfg.DefaultReplicationFactor = int16(atoi(t, arg.SingleVal(t)))
		case "delete.topic.enable":
			cfg.DeleteTopicEnable = arg.SingleVal(t) == "true"
		case "session.timeout.ms":
			cfg.BrokerSessionTimeoutMs = int64(atoi(t, arg.SingleVal(t)))
		case "heartbeat.interval.ms":
			cfg.BrokerHeartbeatIntervalMs = int64(atoi(t, arg.SingleVal(t)))
		case "auto.leader.rebalance.enable":
			cfg.AutoLeaderRebalanceEnable = arg.SingleVal(t) == "true"
		case "imbalance.check.ms":
			cfg.LeaderImbalanceCheckIntervalMs = int64(atoi(t, arg.SingleVal(t)))
		case "unclean.check.ms":
			cfg.UncleanLeaderElectionIntervalMs = int64(atoi(t, arg.SingleVal(t)))
		case "known":
			// known=(k1,k2): keys the brokers read from server.properties.
			cfg.BrokerConfigKeys = arg.Vals
		case "manual":
			s.manual = true
		case "name-cluster":
			cfg.NameCluster = true
		case "voters":
			cfg.QuorumVoters = int32s(t, arg.Vals)
		case "bootstrap.transaction.version", "bootstrap.gregor.replication.version", "bootstrap.eligible.leader.replicas.version":
			if cfg.BootstrapFeatures == nil {
				cfg.BootstrapFeatures = map[string]int16{}
			}
			cfg.BootstrapFeatures[strings.TrimPrefix(arg.Key, "bootstrap.")] = int16(atoi(t, arg.SingleVal(t)))
		default:
			cfg.StaticBrokerConfigs[arg.Key] = arg.SingleVal(t)
		}
	}
	s.c = NewController(cfg)
	s.c.BecomeLeader(NewMetadataImage(), s.now())
	s.mark = s.c.Image()
}

// drain prints what the controller did: each proposal's records (committed
// at once unless the script is manual, or lost when fail), then the answers.
func (s *controllerScript) drain(t *testing.T, out *strings.Builder, fail bool) {
	for {
		rd := s.c.Ready()
		if rd.Empty() {
			return
		}
		for _, p := range rd.Proposals {
			before := s.last
			s.last = p.Image
			if s.manual {
				fmt.Fprintf(out, "propose offset=%d\n", p.Batch.Epoch)
				s.held = append(s.held, p)
			}
			for _, rec := range p.Batch.Records {
				fmt.Fprintf(out, "record: %s\n", formatRecord(rec, before, p.Image))
			}
			switch {
			case s.manual:
			case fail:
				out.WriteString("commit failed\n")
				s.c.Lost(p.Batch.Epoch, errDiskFull)
			default:
				s.c.Committed(p.Batch.Epoch)
			}
		}
		for _, a := range rd.Answers {
			if a.Token != s.token {
				fmt.Fprintf(out, "answer to %s:\n", a.Token)
			}
			if a.Response != nil {
				out.WriteString(formatResponse(a.Response))
			}
			for _, r := range a.Refused {
				fmt.Fprintf(out, "refused %s: %s\n", r.Topic, r.Reason)
			}
			if a.Reason != "" {
				fmt.Fprintf(out, "reason: %s\n", a.Reason)
			}
		}
	}
}

// apply proposes raw records as the controller's own.
func (s *controllerScript) apply(t *testing.T, td *datadriven.TestData) {
	var recs []MetadataRecord
	w := s.c.WorkingImage()
	for _, line := range lines(td.Input) {
		rec := s.parseRecord(t, w, line)
		next, err := w.Apply(rec)
		if err != nil {
			td.Fatalf(t, "%s: %v", line, err)
		}
		w, recs = next, append(recs, rec)
	}
	s.c.propose(recs, w)
}

func (s *controllerScript) localChanges(t *testing.T, td *datadriven.TestData) string {
	arg, _ := td.Arg("node")
	var out strings.Builder
	for _, node := range int32s(t, arg.Vals) {
		if len(arg.Vals) > 1 {
			fmt.Fprintf(&out, "node %d:\n", node)
		}
		out.WriteString(formatLocalChanges(LocalChanges(s.mark, s.c.Image(), node)))
	}
	s.mark = s.c.Image()
	return out.String()
}

// request builds the request a command describes.
func (s *controllerScript) request(t *testing.T, td *datadriven.TestData) kmsg.Request {
	validateOnly := td.HasArg("validate-only")
	version := int16(intArg(t, td, "v", -1))
	var req kmsg.Request
	switch td.Cmd {
	case "create-topics":
		r := kmsg.NewPtrCreateTopicsRequest()
		r.ValidateOnly = validateOnly
		for _, line := range lines(td.Input) {
			r.Topics = append(r.Topics, createTopic(t, line))
		}
		req = r
	case "delete-topics":
		req = deleteTopics(t, td, version)
	case "create-partitions":
		r := kmsg.NewPtrCreatePartitionsRequest()
		r.ValidateOnly = validateOnly
		for _, line := range lines(td.Input) {
			r.Topics = append(r.Topics, createPartitions(t, line))
		}
		req = r
	case "alter-configs":
		r := kmsg.NewPtrAlterConfigsRequest()
		r.ValidateOnly = validateOnly
		for _, line := range lines(td.Input) {
			r.Resources = append(r.Resources, alterConfigs(t, line))
		}
		req = r
	case "incremental-alter-configs":
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r.ValidateOnly = validateOnly
		for _, line := range lines(td.Input) {
			r.Resources = append(r.Resources, incrementalAlterConfigs(t, line))
		}
		req = r
	case "register":
		req = registerRequest(t, td)
	case "heartbeat":
		req = s.heartbeatRequest(t, td)
	case "unregister":
		r := kmsg.NewPtrUnregisterBrokerRequest()
		r.BrokerID = int32(intArg(t, td, "broker", -1))
		req = r
	case "alter-partition":
		req = s.alterPartitionRequest(t, td, version)
	case "elect-leaders":
		req = electLeadersRequest(t, td)
	case "alter-reassignments":
		req = alterReassignmentsRequest(t, td, version)
	case "list-reassignments":
		req = listReassignmentsRequest(t, td)
	case "update-features":
		req = updateFeaturesRequest(t, td)
	case "allocate-producer-ids":
		r := kmsg.NewPtrAllocateProducerIDsRequest()
		r.BrokerID = int32(intArg(t, td, "broker", -1))
		r.BrokerEpoch = int64(intArg(t, td, "epoch", -1))
		req = r
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	if version < 0 {
		version = req.MaxVersion()
	}
	req.SetVersion(version)
	return req
}

// intArg reads an integer argument, def when absent.
func intArg(t *testing.T, td *datadriven.TestData, key string, def int) int {
	if arg, ok := td.Arg(key); ok {
		return atoi(t, arg.SingleVal(t))
	}
	return def
}
