package txn

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// TestCoordinatorScripts runs testdata/*.txt: a coordinator stepped command
// by command, printing what it asks for and answers after each step. Time
// is one number (monotonic and wall ms alike). Appends are acknowledged and
// producer ids allocated (1000, 1001, ...) at once unless new had
// manual-appends or manual-allocs; markers always wait for a marker or
// markers command.
//
//	new [max-timeout=MS] [expiration=MS] [coordinator-epoch=N] [offsets-partitions=N] [complete-delay=MS] [manual-appends] [manual-allocs]
//	    [marker-versions]   (markers print their transaction version: tv=N)
//	tick T
//	init id=I txn=T [timeout=MS] [pid=P epoch=E] [v=V]
//	add id=I txn=T pid=P epoch=E partitions=T/P,... [v=V]
//	broker-add id=I txn=T pid=P epoch=E partitions=T/P,... [verify]   (v4, as brokers send it)
//	local-add id=I txn=T pid=P epoch=E partitions=T/P,...   (HandleAdd: a broker's add on the coordinator's node)
//	add-offsets id=I txn=T pid=P epoch=E group=G [v=V]
//	end id=I txn=T pid=P epoch=E (commit|abort) [v=V]
//	describe id=I txns=T,...
//	list id=I [states=S,...] [pids=P,...] [duration=MS] [pattern=RE]
//	appended id=A [error=NAME]
//	alloc id=A pid=P [error=NAME]
//	markers txn=T [partitions=T/P,...] [error=NAME]   (the txn's markers sent and not answered: all, or those)
//	seed txn=T pid=P epoch=E [state=S] [partitions=T/P,...] [tv2]   (a record in the log, for the next restart)
//	restart (a new coordinator loads every acknowledged record)
//	state
func TestCoordinatorScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := &harness{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return h.run(t, td)
		})
	})
}

type harness struct {
	c            *Coordinator
	cfg          Config
	now          internaltopic.Time
	manualAppend bool
	manualAlloc  bool
	// markerVersions prints each marker's TransactionVersion.
	markerVersions bool
	nextPID        int64
	log            []internaltopic.Record
	pending        map[internaltopic.AppendID]Append
	markers        []Marker // sent, not answered
	out            strings.Builder
}

func (h *harness) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "new" && h.c == nil {
		td.Fatalf(t, "%s before new", td.Cmd)
	}
	h.out.Reset()
	var id internaltopic.RequestID
	td.MaybeScanArgs(t, "id", &id)
	switch td.Cmd {
	case "new":
		h.cfg = Config{}
		td.MaybeScanArgs(t, "max-timeout", &h.cfg.MaxTimeoutMs)
		td.MaybeScanArgs(t, "expiration", &h.cfg.IDExpirationMs)
		td.MaybeScanArgs(t, "coordinator-epoch", &h.cfg.CoordinatorEpoch)
		td.MaybeScanArgs(t, "offsets-partitions", &h.cfg.OffsetsPartitions)
		td.MaybeScanArgs(t, "complete-delay", &h.cfg.CompleteDelayMs)
		h.manualAppend, h.manualAlloc = td.HasArg("manual-appends"), td.HasArg("manual-allocs")
		h.markerVersions = td.HasArg("marker-versions")
		h.nextPID, h.log, h.pending, h.markers = 1000, nil, map[internaltopic.AppendID]Append{}, nil
		h.c = NewCoordinator(h.cfg)
		h.c.Loaded(h.now)
	case "tick":
		ms, _ := strconv.ParseInt(td.CmdArgs[0].Key, 10, 64)
		if ms < h.now.MonoMs {
			td.Fatalf(t, "time goes back from %d to %d", h.now.MonoMs, ms)
		}
		h.now = internaltopic.Time{WallMs: ms, MonoMs: ms}
		h.c.Tick(h.now)
	case "init":
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version, req.TransactionalID = h.version(t, td, 5), kmsg.StringPtr(h.str(td, "txn", ""))
		req.TransactionTimeoutMillis = 60000
		td.MaybeScanArgs(t, "timeout", &req.TransactionTimeoutMillis)
		td.MaybeScanArgs(t, "pid", &req.ProducerID)
		td.MaybeScanArgs(t, "epoch", &req.ProducerEpoch)
		h.c.Handle(id, req, h.now)
	case "add":
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version, req.TransactionalID = h.version(t, td, 3), h.str(td, "txn", "")
		td.ScanArgs(t, "pid", &req.ProducerID)
		td.ScanArgs(t, "epoch", &req.ProducerEpoch)
		for _, tp := range h.partitions(t, td) {
			rt := kmsg.NewAddPartitionsToTxnRequestTopic()
			rt.Topic, rt.Partitions = tp.Topic, []int32{tp.Partition}
			req.Topics = append(req.Topics, rt)
		}
		h.c.Handle(id, req, h.now)
	case "broker-add":
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = 5
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.VerifyOnly = h.str(td, "txn", ""), td.HasArg("verify")
		td.ScanArgs(t, "pid", &tx.ProducerID)
		td.ScanArgs(t, "epoch", &tx.ProducerEpoch)
		for _, tp := range h.partitions(t, td) {
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic, rt.Partitions = tp.Topic, []int32{tp.Partition}
			tx.Topics = append(tx.Topics, rt)
		}
		req.Transactions = append(req.Transactions, tx)
		h.c.Handle(id, req, h.now)
	case "topics":
		// The topics of the coordinator's image: NAME=PARTITIONS.
		counts := map[string]int32{}
		for _, a := range td.CmdArgs {
			n, err := strconv.Atoi(a.Vals[0])
			if err != nil {
				td.Fatalf(t, "topics NAME=PARTITIONS")
			}
			counts[a.Key] = int32(n)
		}
		h.c.SetTopics(counts)
	case "local-add":
		var pid int64
		var epoch int16
		td.ScanArgs(t, "pid", &pid)
		td.ScanArgs(t, "epoch", &epoch)
		h.c.HandleAdd(id, h.str(td, "txn", ""), pid, epoch, h.partitions(t, td), h.now)
	case "add-offsets":
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.Version, req.TransactionalID, req.Group = h.version(t, td, 4), h.str(td, "txn", ""), h.str(td, "group", "")
		td.ScanArgs(t, "pid", &req.ProducerID)
		td.ScanArgs(t, "epoch", &req.ProducerEpoch)
		h.c.Handle(id, req, h.now)
	case "end":
		req := kmsg.NewPtrEndTxnRequest()
		req.Version, req.TransactionalID, req.Commit = h.version(t, td, 4), h.str(td, "txn", ""), td.HasArg("commit")
		td.ScanArgs(t, "pid", &req.ProducerID)
		td.ScanArgs(t, "epoch", &req.ProducerEpoch)
		h.c.Handle(id, req, h.now)
	case "describe":
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = h.list(td, "txns")
		h.c.Handle(id, req, h.now)
	case "list":
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version, req.StateFilters = 2, h.list(td, "states")
		for _, p := range h.list(td, "pids") {
			n, _ := strconv.ParseInt(p, 10, 64)
			req.ProducerIDFilters = append(req.ProducerIDFilters, n)
		}
		td.MaybeScanArgs(t, "duration", &req.DurationFilterMillis)
		if td.HasArg("pattern") {
			req.TransactionalIDPattern = kmsg.StringPtr(h.str(td, "pattern", ""))
		}
		h.c.Handle(id, req, h.now)
	case "appended":
		var aid internaltopic.AppendID
		td.ScanArgs(t, "id", &aid)
		ap, ok := h.pending[aid]
		if !ok {
			td.Fatalf(t, "no pending append %d", aid)
		}
		delete(h.pending, aid)
		code := h.errCode(t, td)
		if code == 0 {
			h.log = append(h.log, ap.Records...)
		}
		h.c.Appended(aid, code, h.now)
	case "alloc":
		var aid AllocID
		var pid int64 = -1
		td.ScanArgs(t, "id", &aid)
		td.MaybeScanArgs(t, "pid", &pid)
		h.c.ProducerIDAllocated(aid, pid, h.errCode(t, td), h.now)
	case "markers":
		h.answerMarkers(t, td)
	case "seed":
		st, ok := StateNamed(h.str(td, "state", "Empty"))
		if !ok {
			td.Fatalf(t, "unknown state")
		}
		m := &txnMeta{id: h.str(td, "txn", ""), prevProducerID: -1, nextProducerID: -1, timeoutMs: 60000, state: st,
			startWallMs: h.now.WallMs, lastUpdateWallMs: h.now.WallMs, tv2: td.HasArg("tv2")}
		td.ScanArgs(t, "pid", &m.producerID)
		td.ScanArgs(t, "epoch", &m.epoch)
		m.addPartitions(h.partitions(t, td))
		h.log = append(h.log, metadataRecord(m))
		return ""
	case "restart":
		h.c = NewCoordinator(h.cfg)
		h.pending, h.markers = map[internaltopic.AppendID]Append{}, nil
		if len(h.log) > 0 {
			if _, err := h.c.Load(EncodeBatch(h.log, h.now.WallMs), 0); err != nil {
				td.Fatalf(t, "load: %v", err)
			}
		}
		h.c.Loaded(h.now)
		fmt.Fprintf(&h.out, "loaded %d records\n", h.c.LoadedRecords())
	case "state":
		for _, x := range h.c.sorted() {
			fmt.Fprintln(&h.out, describeMeta(x))
		}
		return h.out.String()
	default:
		td.Fatalf(t, "unknown command %s", td.Cmd)
	}
	h.drain(t)
	if next := h.c.NextDeadlineMs(); next < 1<<62 {
		fmt.Fprintf(&h.out, "next-deadline=%d\n", next)
	}
	return h.out.String()
}

// drain carries out the coordinator's effects until it has none left.
func (h *harness) drain(t *testing.T) {
	for {
		rd := h.c.Ready()
		if rd.Empty() {
			return
		}
		for _, id := range rd.Allocs {
			if h.manualAlloc {
				fmt.Fprintf(&h.out, "alloc %d\n", id)
				continue
			}
			fmt.Fprintf(&h.out, "alloc %d -> %d\n", id, h.nextPID)
			h.nextPID++
			h.c.ProducerIDAllocated(id, h.nextPID-1, 0, h.now)
		}
		for _, ap := range rd.Appends {
			fmt.Fprintf(&h.out, "append %d:\n", ap.ID)
			for _, r := range ap.Records {
				fmt.Fprintf(&h.out, "  %s\n", describeRecord(t, r))
			}
			if h.manualAppend {
				h.pending[ap.ID] = ap
				continue
			}
			h.log = append(h.log, ap.Records...)
			h.c.Appended(ap.ID, 0, h.now)
		}
		for _, m := range rd.Markers {
			outcome := "abort"
			if m.Commit {
				outcome = "commit"
			}
			fmt.Fprintf(&h.out, "marker %s %s/%d pid=%d epoch=%d coordinator-epoch=%d txn=%s", outcome, m.Topic, m.Partition,
				m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.TransactionalID)
			if h.markerVersions {
				fmt.Fprintf(&h.out, " tv=%d", m.TransactionVersion)
			}
			fmt.Fprintln(&h.out)
			h.markers = append(h.markers, m)
		}
		for _, a := range rd.Added {
			var tps []string
			for _, tp := range a.Partitions {
				tps = append(tps, fmt.Sprintf("%s/%d", tp.Topic, tp.Partition))
			}
			fmt.Fprintf(&h.out, "added pid=%d epoch=%d %s\n", a.ProducerID, a.ProducerEpoch, strings.Join(tps, ","))
		}
		for _, r := range rd.Replies {
			if r.Response == nil {
				fmt.Fprintf(&h.out, "reply %d: local-add %s\n", r.ID, errName(r.Code))
				continue
			}
			fmt.Fprintf(&h.out, "reply %d: %s\n", r.ID, describeResponse(r.Response))
		}
	}
}

func (h *harness) answerMarkers(t *testing.T, td *datadriven.TestData) {
	txnID, code := h.str(td, "txn", ""), h.errCode(t, td)
	only := map[TopicPartition]bool{}
	for _, tp := range h.partitions(t, td) {
		only[tp] = true
	}
	var keep, answer []Marker
	for _, m := range h.markers {
		if m.TransactionalID == txnID && (len(only) == 0 || only[TopicPartition{m.Topic, m.Partition}]) {
			answer = append(answer, m)
		} else {
			keep = append(keep, m)
		}
	}
	h.markers = keep
	if len(answer) == 0 {
		td.Fatalf(t, "no markers of %s waiting", txnID)
	}
	for _, m := range answer {
		h.c.MarkerWritten(m, code, h.now)
	}
}

func (h *harness) str(td *datadriven.TestData, key, def string) string {
	for _, a := range td.CmdArgs {
		if a.Key == key && len(a.Vals) > 0 {
			return a.Vals[0]
		}
	}
	return def
}

func (h *harness) list(td *datadriven.TestData, key string) []string {
	for _, a := range td.CmdArgs {
		if a.Key == key {
			var out []string
			for _, v := range a.Vals {
				if v != "" {
					out = append(out, strings.Split(v, ",")...)
				}
			}
			return out
		}
	}
	return nil
}

func (h *harness) version(t *testing.T, td *datadriven.TestData, def int16) int16 {
	v := def
	td.MaybeScanArgs(t, "v", &v)
	return v
}

func (h *harness) partitions(t *testing.T, td *datadriven.TestData) []TopicPartition {
	var out []TopicPartition
	for _, s := range h.list(td, "partitions") {
		topic, p, ok := strings.Cut(s, "/")
		n, err := strconv.Atoi(p)
		if !ok || err != nil {
			td.Fatalf(t, "bad partition %q", s)
		}
		out = append(out, TopicPartition{topic, int32(n)})
	}
	return out
}

func (h *harness) errCode(t *testing.T, td *datadriven.TestData) int16 {
	name := h.str(td, "error", "")
	if name == "" {
		return 0
	}
	for code := int16(-1); code < 200; code++ {
		if e := kerr.ErrorForCode(code); e != nil && e.Error() != "" && strings.HasPrefix(e.Error(), name+":") {
			return code
		}
	}
	td.Fatalf(t, "unknown error %s", name)
	return 0
}

func errName(code int16) string {
	if code == 0 {
		return "OK"
	}
	name, _, _ := strings.Cut(kerr.ErrorForCode(code).Error(), ":")
	return name
}

func describeMeta(t *txnMeta) string {
	var tps []string
	for _, tp := range t.partitions {
		tps = append(tps, fmt.Sprintf("%s/%d", tp.Topic, tp.Partition))
	}
	s := fmt.Sprintf("%s: %s pid=%d epoch=%d timeout=%d partitions=[%s]", t.id, t.shownState(), t.producerID, t.epoch,
		t.timeoutMs, strings.Join(tps, " "))
	if t.prevProducerID >= 0 {
		s += fmt.Sprintf(" prev-pid=%d", t.prevProducerID)
	}
	if t.nextProducerID >= 0 {
		s += fmt.Sprintf(" next-pid=%d", t.nextProducerID)
	}
	if t.tv2 {
		s += " tv2"
	}
	if t.pending != nil {
		s += " pending=" + t.pending.state.String()
	}
	return s
}

func describeRecord(t *testing.T, r internaltopic.Record) string {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(r.Key); err != nil {
		t.Fatalf("bad key: %v", err)
	}
	if r.Value == nil {
		return "tombstone " + k.TransactionalID
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(r.Value); err != nil {
		t.Fatalf("bad value: %v", err)
	}
	var tps []string
	for _, tp := range v.Topics {
		for _, p := range tp.Partitions {
			tps = append(tps, fmt.Sprintf("%s/%d", tp.Topic, p))
		}
	}
	s := fmt.Sprintf("%s v%d: %s pid=%d epoch=%d timeout=%d partitions=[%s] start=%d", k.TransactionalID, v.Version,
		State(v.State), v.ProducerID, v.ProducerEpoch, v.TimeoutMillis, strings.Join(tps, " "), v.StartTimestamp)
	if v.Version >= 1 {
		s += fmt.Sprintf(" prev-pid=%d next-pid=%d", v.PreviousProducerID, v.NextProducerID)
	}
	return s
}

func describeResponse(resp kmsg.Response) string {
	switch r := resp.(type) {
	case *kmsg.InitProducerIDResponse:
		return fmt.Sprintf("init %s pid=%d epoch=%d", errName(r.ErrorCode), r.ProducerID, r.ProducerEpoch)
	case *kmsg.AddPartitionsToTxnResponse:
		var parts []string
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, fmt.Sprintf("%s/%d=%s", t.Topic, p.Partition, errName(p.ErrorCode)))
			}
		}
		for _, tx := range r.Transactions {
			for _, t := range tx.Topics {
				for _, p := range t.Partitions {
					parts = append(parts, fmt.Sprintf("%s:%s/%d=%s", tx.TransactionalID, t.Topic, p.Partition, errName(p.ErrorCode)))
				}
			}
		}
		return "add " + strings.Join(parts, " ")
	case *kmsg.AddOffsetsToTxnResponse:
		return "add-offsets " + errName(r.ErrorCode)
	case *kmsg.EndTxnResponse:
		if r.Version >= 5 {
			return fmt.Sprintf("end %s pid=%d epoch=%d", errName(r.ErrorCode), r.ProducerID, r.ProducerEpoch)
		}
		return "end " + errName(r.ErrorCode)
	case *kmsg.DescribeTransactionsResponse:
		var b strings.Builder
		b.WriteString("describe")
		for _, s := range r.TransactionStates {
			if s.ErrorCode != 0 {
				fmt.Fprintf(&b, "\n  %s %s", s.TransactionalID, errName(s.ErrorCode))
				continue
			}
			var tps []string
			for _, t := range s.Topics {
				for _, p := range t.Partitions {
					tps = append(tps, fmt.Sprintf("%s/%d", t.Topic, p))
				}
			}
			fmt.Fprintf(&b, "\n  %s %s pid=%d epoch=%d timeout=%d start=%d partitions=[%s]", s.TransactionalID, s.State,
				s.ProducerID, s.ProducerEpoch, s.TimeoutMillis, s.StartTimestamp, strings.Join(tps, " "))
		}
		return b.String()
	case *kmsg.ListTransactionsResponse:
		var parts []string
		for _, s := range r.TransactionStates {
			parts = append(parts, fmt.Sprintf("%s(%d,%s)", s.TransactionalID, s.ProducerID, s.TransactionState))
		}
		sort.Strings(parts)
		s := fmt.Sprintf("list %s [%s]", errName(r.ErrorCode), strings.Join(parts, " "))
		if len(r.UnknownStateFilters) > 0 {
			s += fmt.Sprintf(" unknown-states=%v", r.UnknownStateFilters)
		}
		return s
	}
	return fmt.Sprintf("%T", resp)
}
