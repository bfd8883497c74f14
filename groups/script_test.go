package groups

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"

	"gregor/logstore/internaltopic"
)

// TestCoordinatorScripts runs testdata/*.txt: a coordinator stepped command
// by command, printing its replies and appends after each step. Member ids
// print as m1, m2, ... in order of appearance, and commands name members so.
// Time is one number (monotonic and wall ms alike). Appends are acknowledged
// at once unless new had manual-appends; a reply shows once the appends
// before it are.
//
//	new [initial-delay=MS] [min-session=MS] [max-session=MS] [retention=MS] [max-size=N] [tombstone-bytes=N] [manual-appends]
//	topics NAME=PARTITIONS...
//	tick T
//	join id=I group=G [member=M] [instance=S] [client=C] [session=MS] [rebalance=MS] [v=V] [protocols=P,...] [topics=T,...] [type=consumer]
//	sync id=I group=G member=M gen=N [instance=S] [v=V] [assign=M:BYTES,...]
//	heartbeat id=I group=G member=M gen=N [instance=S] [v=V]
//	leave id=I group=G members=M[/S],... [v=V]
//	commit id=I group=G [member=M] [gen=N] [instance=S] [v=V] offsets=T/P=O,...
//	fetch-offsets id=I groups=G,... [topics=T/P,...] [stable] [v=V]
//	list id=I [states=S,...] [types=T,...] [v=V]
//	describe id=I groups=G,... [v=V]
//	delete-groups id=I groups=G,... [v=V]
//	offset-delete id=I group=G partitions=T/P,...
//	txn-commit id=I group=G pid=P epoch=E [member=M] [gen=N] [instance=S] [v=V] offsets=T/P=O,...
//	txn-marker pid=P [commit]   (the marker of P's transaction reached the partition: commit, else abort)
//	appended id=A [error=NAME]   (a failed append makes the coordinator revert: "reload" prints and a new one loads the log)
//	restart [compacted] (a new coordinator loads every acknowledged record; compacted: the log is
//	    compacted first, keeping the last record of each key and no tombstones)
//	state
//
// and for consumer groups (KIP-848), with member ids the scripts choose:
//
//	consumer-heartbeat id=I group=G member=M epoch=E [instance=S] [topics=T,...] [regex=R]
//	    [assignor=A] [owned=T/P,...] [rebalance=MS] [v=V]   (owned= alone: owns nothing; absent: unchanged)
//	consumer-describe id=I groups=G,...
func TestCoordinatorScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := &harness{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return h.run(t, td)
		})
	})
}

// countingReader yields 0, 1, 2, ... as entropy, so member ids repeat.
type countingReader struct{ n byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

type harness struct {
	c       *Coordinator
	cfg     Config
	now     internaltopic.Time
	manual  bool
	topics  []Topic
	log     []testBatch // acknowledged batches
	pending map[internaltopic.AppendID]Append
	aliases map[string]string // member id → alias
	ids     map[string]string // alias → member id
}

func (h *harness) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "new" && h.c == nil {
		td.Fatalf(t, "%s before new", td.Cmd)
	}
	var id internaltopic.RequestID
	td.MaybeScanArgs(t, "id", &id)
	switch td.Cmd {
	case "new":
		h.newCoordinator(t, td)
	case "topics":
		h.setTopics(t, td, true)
	case "topics-unheard":
		// The topics change while no coordinator of the partition
		// hears it: the next restart loads with them.
		h.setTopics(t, td, false)
	case "tick":
		var ms int64
		if len(td.CmdArgs) != 1 {
			td.Fatalf(t, "tick T")
		}
		ms, _ = strconv.ParseInt(td.CmdArgs[0].Key, 10, 64)
		if ms < h.now.MonoMs {
			td.Fatalf(t, "time goes back from %d to %d", h.now.MonoMs, ms)
		}
		h.now = internaltopic.Time{WallMs: ms, MonoMs: ms}
		h.c.Tick(h.now)
	case "join":
		h.c.Handle(id, h.joinRequest(t, td), Client{ID: h.str(td, "client", "c"), Host: "/127.0.0.1"}, h.now)
	case "sync":
		h.c.Handle(id, h.syncRequest(t, td), Client{}, h.now)
	case "heartbeat":
		req := kmsg.NewPtrHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.InstanceID = h.version(t, td, 4), h.str(td, "group", ""), h.member(td), h.instance(td)
		td.ScanArgs(t, "gen", &req.Generation)
		h.c.Handle(id, req, Client{}, h.now)
	case "leave":
		h.c.Handle(id, h.leaveRequest(t, td), Client{}, h.now)
	case "commit":
		h.c.Handle(id, h.commitRequest(t, td), Client{}, h.now)
	case "txn-commit":
		h.c.Handle(id, h.txnCommitRequest(t, td), Client{}, h.now)
	case "txn-marker":
		var pid int64
		td.ScanArgs(t, "pid", &pid)
		commit := td.HasArg("commit")
		h.log = append(h.log, testBatch{producer: &Producer{ID: pid}, marker: true, commit: commit})
		h.c.TransactionMarker(pid, commit)
	case "fetch-offsets":
		h.c.Handle(id, h.fetchRequest(t, td), Client{}, h.now)
	case "list":
		req := kmsg.NewPtrListGroupsRequest()
		req.Version, req.StatesFilter, req.TypesFilter = h.version(t, td, 5), h.list(td, "states"), h.list(td, "types")
		h.c.Handle(id, req, Client{}, h.now)
	case "describe":
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version, req.Groups = h.version(t, td, 6), h.list(td, "groups")
		h.c.Handle(id, req, Client{}, h.now)
	case "delete-groups":
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Version, req.Groups = h.version(t, td, 2), h.list(td, "groups")
		h.c.Handle(id, req, Client{}, h.now)
	case "offset-delete":
		h.c.Handle(id, h.offsetDeleteRequest(td), Client{}, h.now)
	case "appended":
		var aid internaltopic.AppendID
		td.ScanArgs(t, "id", &aid)
		ap, ok := h.pending[aid]
		if !ok {
			td.Fatalf(t, "no pending append %d", aid)
		}
		delete(h.pending, aid)
		code := int16(0)
		if name := h.str(td, "error", ""); name != "" {
			code = errCode(t, td, name)
		} else {
			h.log = append(h.log, testBatch{records: ap.Records, producer: ap.Producer})
		}
		h.c.Appended(aid, code, h.now)
	case "restart":
		if td.HasArg("compacted") {
			h.compact()
		}
		h.restart(t)
	case "state":
		return h.state()
	default:
		consumerCommand(t, h, td, id)
	}
	return h.ready(t)
}

func (h *harness) newCoordinator(t *testing.T, td *datadriven.TestData) {
	cfg := Config{InitialRebalanceDelayMs: -1, Entropy: &countingReader{}}
	td.MaybeScanArgs(t, "initial-delay", &cfg.InitialRebalanceDelayMs)
	td.MaybeScanArgs(t, "min-session", &cfg.MinSessionTimeoutMs)
	td.MaybeScanArgs(t, "max-session", &cfg.MaxSessionTimeoutMs)
	td.MaybeScanArgs(t, "retention", &cfg.OffsetsRetentionMs)
	td.MaybeScanArgs(t, "max-size", &cfg.MaxSize)
	td.MaybeScanArgs(t, "tombstone-bytes", &cfg.MaxTombstoneBatchBytes)
	td.MaybeScanArgs(t, "heartbeat-interval", &cfg.Consumer.HeartbeatIntervalMs)
	td.MaybeScanArgs(t, "consumer-session", &cfg.Consumer.SessionTimeoutMs)
	*h = harness{cfg: cfg, manual: td.HasArg("manual-appends"), pending: map[internaltopic.AppendID]Append{},
		aliases: map[string]string{}, ids: map[string]string{}}
	h.c = NewCoordinator(cfg)
	h.c.Loaded(h.now)
}

// setTopics reads NAME=PARTITIONS or NAME=(PARTITIONS,ID) arguments (the
// id's first byte; by default the argument's place, from 1) and tells the
// core, if tell.
func (h *harness) setTopics(t *testing.T, td *datadriven.TestData, tell bool) {
	h.topics = nil
	for i, a := range td.CmdArgs {
		n, err := strconv.Atoi(a.Vals[0])
		id := i + 1
		if len(a.Vals) > 1 && err == nil {
			id, err = strconv.Atoi(a.Vals[1])
		}
		if err != nil || len(a.Vals) > 2 {
			td.Fatalf(t, "topics NAME=PARTITIONS or NAME=(PARTITIONS,ID)")
		}
		h.topics = append(h.topics, Topic{Name: a.Key, ID: [16]byte{byte(id)}, Partitions: int32(n)})
	}
	if tell {
		h.c.SetTopics(h.topics, h.now)
	}
}

func (h *harness) restart(t *testing.T) {
	if len(h.pending) > 0 {
		t.Fatalf("restart with appends pending")
	}
	h.c = NewCoordinator(h.cfg)
	if len(h.log) > 0 {
		var p []byte
		offsets := int64(0)
		for _, b := range h.log {
			p = append(p, b.encode(offsets, h.now.WallMs)...)
			offsets += int64(max(len(b.records), 1))
		}
		next, err := h.c.Load(p, 0)
		if err != nil || next != offsets {
			t.Fatalf("load: next %d, %v", next, err)
		}
	}
	h.c.SetTopics(h.topics, h.now)
	h.c.Loaded(h.now)
}

func (h *harness) str(td *datadriven.TestData, key, def string) string {
	for _, a := range td.CmdArgs {
		if a.Key == key {
			return strings.Join(a.Vals, ",")
		}
	}
	return def
}

func (h *harness) list(td *datadriven.TestData, key string) []string {
	for _, a := range td.CmdArgs {
		if a.Key == key {
			var out []string
			for _, v := range a.Vals {
				out = append(out, strings.Split(v, ",")...)
			}
			return out
		}
	}
	return nil
}

func (h *harness) version(t *testing.T, td *datadriven.TestData, def int16) int16 {
	td.MaybeScanArgs(t, "v", &def)
	return def
}

// member resolves the member= alias ("" when absent).
func (h *harness) member(td *datadriven.TestData) string { return h.resolve(h.str(td, "member", "")) }

func (h *harness) resolve(alias string) string {
	if id, ok := h.ids[alias]; ok {
		return id
	}
	return alias
}

func (h *harness) instance(td *datadriven.TestData) *string {
	if s := h.str(td, "instance", ""); s != "" {
		return &s
	}
	return nil
}

// alias names a member id the coordinator made (they hold a dash) in
// output; ids a script chose print as they are.
func (h *harness) alias(id string) string {
	if id == "" {
		return `""`
	}
	if !strings.Contains(id, "-") {
		return id
	}
	if a, ok := h.aliases[id]; ok {
		return a
	}
	a := fmt.Sprintf("m%d", len(h.aliases)+1)
	h.aliases[id], h.ids[a] = a, id
	return a
}

func (h *harness) joinRequest(t *testing.T, td *datadriven.TestData) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.MemberID, req.InstanceID = h.version(t, td, 9), h.str(td, "group", ""), h.member(td), h.instance(td)
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 20000
	td.MaybeScanArgs(t, "session", &req.SessionTimeoutMillis)
	td.MaybeScanArgs(t, "rebalance", &req.RebalanceTimeoutMillis)
	req.ProtocolType = h.str(td, "type", "consumer")
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = h.list(td, "topics")
	for _, p := range h.list(td, "protocols") {
		req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: meta.AppendTo(nil)})
	}
	if req.Protocols == nil && !td.HasArg("protocols") {
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	}
	return req
}

func (h *harness) syncRequest(t *testing.T, td *datadriven.TestData) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version, req.Group, req.MemberID, req.InstanceID = h.version(t, td, 5), h.str(td, "group", ""), h.member(td), h.instance(td)
	td.ScanArgs(t, "gen", &req.Generation)
	for _, a := range h.list(td, "assign") {
		m, b, _ := strings.Cut(a, ":")
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: h.resolve(m), MemberAssignment: []byte(b)})
	}
	return req
}

func (h *harness) leaveRequest(t *testing.T, td *datadriven.TestData) *kmsg.LeaveGroupRequest {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version, req.Group = h.version(t, td, 5), h.str(td, "group", "")
	for _, m := range h.list(td, "members") {
		alias, inst, hasInst := strings.Cut(m, "/")
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = h.resolve(alias)
		if hasInst {
			lm.InstanceID = &inst
		}
		req.Members = append(req.Members, lm)
	}
	if req.Version < 3 && len(req.Members) > 0 {
		req.MemberID = req.Members[0].MemberID
	}
	return req
}

// partitions reads T/P[=O] items.
func partitions(t *testing.T, td *datadriven.TestData, items []string) (tps []topicPartition, offsets []int64) {
	for _, item := range items {
		tpStr, off, hasOff := strings.Cut(item, "=")
		topic, p, ok := strings.Cut(tpStr, "/")
		pn, err := strconv.Atoi(p)
		if !ok || err != nil {
			td.Fatalf(t, "bad partition %q", item)
		}
		o := int64(-1)
		if hasOff {
			o, _ = strconv.ParseInt(off, 10, 64)
		}
		tps, offsets = append(tps, topicPartition{topic: topic, partition: int32(pn)}), append(offsets, o)
	}
	return tps, offsets
}

func (h *harness) commitRequest(t *testing.T, td *datadriven.TestData) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.MemberID, req.InstanceID = h.version(t, td, 9), h.str(td, "group", ""), h.member(td), h.instance(td)
	td.MaybeScanArgs(t, "gen", &req.Generation)
	tps, offsets := partitions(t, td, h.list(td, "offsets"))
	for i, tp := range tps {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != tp.topic {
			req.Topics = append(req.Topics, kmsg.OffsetCommitRequestTopic{Topic: tp.topic})
		}
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = tp.partition, offsets[i]
		req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, p)
	}
	return req
}

func (h *harness) fetchRequest(t *testing.T, td *datadriven.TestData) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.RequireStable = h.version(t, td, 9), td.HasArg("stable")
	var topics []kmsg.OffsetFetchRequestGroupTopic
	if td.HasArg("topics") {
		topics = []kmsg.OffsetFetchRequestGroupTopic{}
		tps, _ := partitions(t, td, h.list(td, "topics"))
		for _, tp := range tps {
			if n := len(topics); n == 0 || topics[n-1].Topic != tp.topic {
				topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: tp.topic})
			}
			topics[len(topics)-1].Partitions = append(topics[len(topics)-1].Partitions, tp.partition)
		}
	}
	for _, g := range h.list(td, "groups") {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.Topics = g, topics
		req.Groups = append(req.Groups, rg)
	}
	if req.Version < 8 {
		req.Group = req.Groups[0].Group
		for _, tp := range topics {
			req.Topics = append(req.Topics, kmsg.OffsetFetchRequestTopic{Topic: tp.Topic, Partitions: tp.Partitions})
		}
		if topics == nil {
			req.Topics = nil
		}
		req.Groups = nil
	}
	return req
}

func (h *harness) offsetDeleteRequest(td *datadriven.TestData) *kmsg.OffsetDeleteRequest {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = h.str(td, "group", "")
	for _, item := range h.list(td, "partitions") {
		topic, p, _ := strings.Cut(item, "/")
		pn, _ := strconv.Atoi(p)
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != topic {
			req.Topics = append(req.Topics, kmsg.OffsetDeleteRequestTopic{Topic: topic})
		}
		req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: int32(pn)})
	}
	return req
}

// ready prints and carries out the coordinator's effects: appends (each
// acknowledged at once unless appends are manual), then replies.
func (h *harness) ready(t *testing.T) string {
	var b strings.Builder
	for {
		rd := h.c.Ready()
		if rd.Empty() {
			break
		}
		for _, ap := range rd.Appends {
			if ap.Producer != nil {
				fmt.Fprintf(&b, "append %d (transactional, producer %d/%d):\n", ap.ID, ap.Producer.ID, ap.Producer.Epoch)
			} else {
				fmt.Fprintf(&b, "append %d:\n", ap.ID)
			}
			for _, r := range ap.Records {
				fmt.Fprintf(&b, "  %s\n", h.describeRecord(t, r))
			}
		}
		for _, r := range rd.Replies {
			fmt.Fprintf(&b, "%s\n", h.describeReply(r))
		}
		if rd.Reload {
			// The shell's part: drop the appends not acknowledged and
			// start over from the log.
			fmt.Fprintf(&b, "reload (%d appends dropped)\n", len(h.pending))
			clear(h.pending)
			h.restart(t)
			continue
		}
		for _, ap := range rd.Appends {
			if h.manual {
				h.pending[ap.ID] = ap
				continue
			}
			h.log = append(h.log, testBatch{records: ap.Records, producer: ap.Producer})
			h.c.Appended(ap.ID, 0, h.now)
		}
	}
	if next := h.c.NextDeadlineMs(); next != math.MaxInt64 && next < h.now.MonoMs+DefaultOffsetsRetentionCheckIntervalMs {
		fmt.Fprintf(&b, "next-deadline=%d\n", next)
	}
	return b.String()
}

func errName(code int16) string {
	if code == 0 {
		return "none"
	}
	if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return ke.Message
	}
	return fmt.Sprintf("code %d", code)
}

func errCode(t *testing.T, td *datadriven.TestData, name string) int16 {
	for code := int16(-1); code < 200; code++ {
		if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok && ke.Message == name {
			return code
		}
	}
	td.Fatalf(t, "unknown Kafka error %q", name)
	return 0
}

func (h *harness) describeRecord(t *testing.T, r internaltopic.Record) string {
	switch keyVersion(r.Key) {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(r.Key); err != nil {
			t.Fatal(err)
		}
		if r.Value == nil {
			return fmt.Sprintf("delete offset %s %s/%d", k.Group, k.Topic, k.Partition)
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(r.Value); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("offset %s %s/%d=%d", k.Group, k.Topic, k.Partition, v.Offset)
	case keyGroupMetadata:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			t.Fatal(err)
		}
		if r.Value == nil {
			return fmt.Sprintf("delete group %s", k.Group)
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(r.Value); err != nil {
			t.Fatal(err)
		}
		var members []string
		for _, m := range v.Members {
			s := h.alias(m.MemberID)
			if m.InstanceID != nil {
				s += "/" + *m.InstanceID
			}
			if len(m.Assignment) > 0 {
				s += "=" + string(m.Assignment)
			}
			members = append(members, s)
		}
		leader := "-"
		if v.Leader != nil {
			leader = h.alias(*v.Leader)
		}
		proto := "-"
		if v.Protocol != nil {
			proto = *v.Protocol
		}
		return fmt.Sprintf("group %s gen=%d protocol=%s leader=%s members=[%s]", k.Group, v.Generation, proto, leader, strings.Join(members, " "))
	}
	return describeConsumerRecord(t, h, r)
}

func (h *harness) describeReply(r Reply) string {
	id := fmt.Sprintf("id=%d", r.ID)
	switch resp := r.Response.(type) {
	case *kmsg.JoinGroupResponse:
		if resp.ErrorCode != 0 {
			return fmt.Sprintf("join-reply %s error=%s member=%s", id, errName(resp.ErrorCode), h.alias(resp.MemberID))
		}
		s := fmt.Sprintf("join-reply %s member=%s gen=%d leader=%s protocol=%s", id, h.alias(resp.MemberID), resp.Generation, h.alias(resp.LeaderID), deref(resp.Protocol))
		if resp.SkipAssignment {
			s += " skip-assignment"
		}
		if len(resp.Members) > 0 {
			var ms []string
			for _, m := range resp.Members {
				ms = append(ms, h.alias(m.MemberID))
			}
			s += " members=[" + strings.Join(ms, " ") + "]"
		}
		return s
	case *kmsg.SyncGroupResponse:
		if resp.ErrorCode != 0 {
			return fmt.Sprintf("sync-reply %s error=%s", id, errName(resp.ErrorCode))
		}
		return fmt.Sprintf("sync-reply %s protocol=%s assignment=%q", id, deref(resp.Protocol), resp.MemberAssignment)
	case *kmsg.HeartbeatResponse:
		return fmt.Sprintf("heartbeat-reply %s error=%s", id, errName(resp.ErrorCode))
	case *kmsg.LeaveGroupResponse:
		s := fmt.Sprintf("leave-reply %s error=%s", id, errName(resp.ErrorCode))
		for _, m := range resp.Members {
			s += fmt.Sprintf(" %s=%s", h.alias(m.MemberID), errName(m.ErrorCode))
		}
		return s
	case *kmsg.OffsetCommitResponse:
		s := "commit-reply " + id
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s/%d=%s", t.Topic, p.Partition, errName(p.ErrorCode))
			}
		}
		return s
	case *kmsg.TxnOffsetCommitResponse:
		s := "txn-commit-reply " + id
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s/%d=%s", t.Topic, p.Partition, errName(p.ErrorCode))
			}
		}
		return s
	case *kmsg.OffsetFetchResponse:
		return describeOffsetFetch(id, resp)
	case *kmsg.ListGroupsResponse:
		s := fmt.Sprintf("list-reply %s error=%s", id, errName(resp.ErrorCode))
		for _, g := range resp.Groups {
			s += fmt.Sprintf(" %s:%s:%s:%s", g.Group, g.GroupState, g.GroupType, g.ProtocolType)
		}
		return s
	case *kmsg.DescribeGroupsResponse:
		var lines []string
		for _, g := range resp.Groups {
			s := fmt.Sprintf("describe-reply %s group=%s error=%s state=%s type=%s protocol=%s", id, g.Group, errName(g.ErrorCode), g.State, g.ProtocolType, g.Protocol)
			for _, m := range g.Members {
				s += fmt.Sprintf(" %s(%s,%q)", h.alias(m.MemberID), m.ClientID, m.MemberAssignment)
			}
			lines = append(lines, s)
		}
		return strings.Join(lines, "\n")
	case *kmsg.DeleteGroupsResponse:
		s := "delete-groups-reply " + id
		for _, g := range resp.Groups {
			s += fmt.Sprintf(" %s=%s", g.Group, errName(g.ErrorCode))
		}
		return s
	case *kmsg.OffsetDeleteResponse:
		s := fmt.Sprintf("offset-delete-reply %s error=%s", id, errName(resp.ErrorCode))
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s/%d=%s", t.Topic, p.Partition, errName(p.ErrorCode))
			}
		}
		return s
	}
	return describeConsumerReply(h, r)
}

func describeOffsetFetch(id string, resp *kmsg.OffsetFetchResponse) string {
	part := func(topic string, p int32, off int64, code int16) string {
		if code != 0 {
			return fmt.Sprintf(" %s/%d=%s", topic, p, errName(code))
		}
		return fmt.Sprintf(" %s/%d=%d", topic, p, off)
	}
	if resp.Version < 8 {
		s := fmt.Sprintf("fetch-offsets-reply %s error=%s", id, errName(resp.ErrorCode))
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				s += part(t.Topic, p.Partition, p.Offset, p.ErrorCode)
			}
		}
		return s
	}
	var lines []string
	for _, g := range resp.Groups {
		s := fmt.Sprintf("fetch-offsets-reply %s group=%s error=%s", id, g.Group, errName(g.ErrorCode))
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				s += part(t.Topic, p.Partition, p.Offset, p.ErrorCode)
			}
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// state prints every group: state, generation, members (leader first
// marked *), pending ids and offsets.
func (h *harness) state() string {
	var b strings.Builder
	for _, g := range h.c.sortedGroups() {
		if g.kind == kindConsumer {
			b.WriteString(describeConsumerState(h, g))
			continue
		}
		fmt.Fprintf(&b, "group %s: %s gen=%d", g.id, g.state, g.generation)
		if g.protocolName != "" {
			fmt.Fprintf(&b, " protocol=%s", g.protocolName)
		}
		var ms []string
		for _, m := range g.members {
			s := h.alias(m.id)
			if m.id == g.leader {
				s = "*" + s
			}
			if m.instanceID != nil {
				s += "/" + *m.instanceID
			}
			if m.join != nil {
				s += "(joining)"
			}
			if m.sync != nil {
				s += "(syncing)"
			}
			if m.heartbeatDeadlineMs != noDeadline {
				s += fmt.Sprintf("@%d", m.heartbeatDeadlineMs)
			}
			ms = append(ms, s)
		}
		fmt.Fprintf(&b, " members=[%s]", strings.Join(ms, " "))
		if len(g.pending) > 0 {
			var ps []string
			for id := range g.pending {
				ps = append(ps, h.alias(id))
			}
			sort.Strings(ps)
			fmt.Fprintf(&b, " pending=%v", ps)
		}
		b.WriteString(offsetsString(g))
		b.WriteString("\n")
	}
	return b.String()
}

func offsetsString(g *group) string {
	tps := g.sortedOffsets()
	if len(tps) == 0 {
		return ""
	}
	parts := make([]string, 0, len(tps))
	for _, tp := range tps {
		parts = append(parts, fmt.Sprintf("%s/%d=%d", tp.topic, tp.partition, g.offsets[tp].offset))
	}
	return " offsets=[" + strings.Join(parts, " ") + "]"
}

// testBatch is one batch of the scripts' log: an append's records (of a
// producer's transaction when producer is set), or a transaction marker.
type testBatch struct {
	records  []internaltopic.Record
	producer *Producer
	marker   bool
	commit   bool
}

// compact keeps the last record of each key of the log's plain batches and
// drops the tombstones, as compaction leaves a log once
// delete.retention.ms passed; transactional batches and markers stay.
func (h *harness) compact() {
	last := map[string]int{}
	n := 0
	for _, b := range h.log {
		if b.producer != nil || b.marker {
			n += max(len(b.records), 1)
			continue
		}
		for _, r := range b.records {
			last[string(r.Key)] = n
			n++
		}
	}
	var out []testBatch
	n = 0
	for _, b := range h.log {
		if b.producer != nil || b.marker {
			out = append(out, b)
			n += max(len(b.records), 1)
			continue
		}
		var kept []internaltopic.Record
		for _, r := range b.records {
			if last[string(r.Key)] == n && r.Value != nil {
				kept = append(kept, r)
			}
			n++
		}
		if len(kept) > 0 {
			out = append(out, testBatch{records: kept})
		}
	}
	h.log = out
}

// encode writes the batch at base offset first.
func (b testBatch) encode(first, nowMs int64) []byte {
	var p []byte
	switch {
	case b.marker:
		key := []byte{0, 0, 0, 0}
		if b.commit {
			key[3] = 1
		}
		p = EncodeTxnBatch([]internaltopic.Record{{Key: key, Value: []byte{0, 0, 0, 0, 0, 0}}}, nowMs, *b.producer)
		p[22] |= batchAttrControl // attributes: the low byte of the int16 at 21
	case b.producer != nil:
		p = EncodeTxnBatch(b.records, nowMs, *b.producer)
	default:
		p = EncodeBatch(b.records, nowMs)
	}
	binary.BigEndian.PutUint64(p, uint64(first))
	logstore.ChecksumBatch(p)
	return p
}

func (h *harness) txnCommitRequest(t *testing.T, td *datadriven.TestData) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.Group, req.MemberID, req.InstanceID = h.version(t, td, 4), h.str(td, "group", ""), h.member(td), h.instance(td)
	req.TransactionalID = "t"
	td.ScanArgs(t, "pid", &req.ProducerID)
	td.ScanArgs(t, "epoch", &req.ProducerEpoch)
	td.MaybeScanArgs(t, "gen", &req.Generation)
	tps, offsets := partitions(t, td, h.list(td, "offsets"))
	for i, tp := range tps {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != tp.topic {
			req.Topics = append(req.Topics, kmsg.TxnOffsetCommitRequestTopic{Topic: tp.topic})
		}
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = tp.partition, offsets[i]
		req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, p)
	}
	return req
}
