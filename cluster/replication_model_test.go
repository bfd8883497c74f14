package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// TestReplicationProperties runs one partition over two or three brokers,
// each a replica core over a real log on its own in-memory filesystem, with a
// fetcher core per leader it follows; a naive controller keeps the partition
// record (clean elections from the ISR, AlterPartition with epoch checks,
// fencing of crashed brokers); a network serves, delays, reorders and loses
// requests, answers and metadata. rapid draws the events: produces, the
// halves of fetch round trips, ticks, AlterPartition answers, metadata
// deliveries, crashes (of the process, or of the machine, which loses what
// was not synced) and restarts, leader moves. After every event:
//
//   - no replica's high watermark passes its own log end offset, and a
//     leader's never decreases within its epoch nor (without machine
//     crashes) passes the log end offset of an ISR member (S3);
//   - two logs holding the same batch (base offset and leader epoch) agree on
//     every batch before it (S4);
//   - without machine crashes, every batch once below a leader's high
//     watermark is in every later leader's log, identical (S2), and every
//     acks=all acknowledgement names the batch there (Q3, Q11). A machine
//     crash may lose what no fsync covered (CORRECTNESS.md D2: Kafka
//     acknowledges before fsync), so those checks are off then;
//   - some batches are transactional, and markers (WriteTxnMarkers) end
//     their transactions: no replica's last stable offset, leader or
//     follower, passes a transactional batch whose marker is not in its log
//     below its high watermark (Q5: read_committed reads decided
//     transactions only, whatever replica leads next).
//
// At the end the cluster heals and converges: every replica's log is the
// leader's, batch for batch (S12), the high watermark is the log end
// offset, and the last stable offset is the first offset of the oldest
// transaction left open.
func TestReplicationProperties(t *testing.T) {
	var seen modelCoverage
	rapid.Check(t, func(rt *rapid.T) {
		c := newModelCluster(rt)
		steps := rapid.IntRange(1, 150).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			c.step()
			c.check()
		}
		c.heal()
		c.checkConverged()
		seen.add(c.seen)
	})
	// How often the runs reached the states worth reaching (CORRECTNESS.md
	// H2), for whoever changes the model.
	t.Logf("runs reaching: %+v", seen)
}

// modelCoverage counts the runs that reached a state.
type modelCoverage struct {
	Acked, Truncated, Shrunk, Expanded, LeaderMoved, MachineCrash, Fenced int
	// UnreplicatedMarker: a replica held a transaction marker its high
	// watermark had not passed, with the transaction's first batch below
	// it.
	UnreplicatedMarker int
}

func (m *modelCoverage) add(o modelCoverage) {
	for _, p := range []struct{ to, from *int }{{&m.Acked, &o.Acked}, {&m.Truncated, &o.Truncated}, {&m.Shrunk, &o.Shrunk},
		{&m.Expanded, &o.Expanded}, {&m.LeaderMoved, &o.LeaderMoved}, {&m.MachineCrash, &o.MachineCrash}, {&m.Fenced, &o.Fenced},
		{&m.UnreplicatedMarker, &o.UnreplicatedMarker}} {
		if *p.from > 0 {
			*p.to++
		}
	}
}

// modelCluster is the brokers, the controller's partition record, and what
// the checks remember.
type modelCluster struct {
	rt    *rapid.T
	nodes []*modelNode
	// record is the controller's partition record.
	record PartitionImage
	// machineCrashes says crashes may lose unsynced data; lost says one
	// happened.
	machineCrashes, lost bool
	now                  Instant
	nextID               RequestID
	// produced maps produce requests to their batch's first timestamp
	// (unique per batch) and acks.
	produced map[RequestID]producedBatch
	// acked maps offsets to the acks=all batch acknowledged there: its
	// first timestamp, and the leader epoch that acknowledged it.
	acked map[int64]ackedBatch
	// committed maps base offsets below some leader's high watermark to the
	// batch there, with the first leader epoch that had it committed.
	committed map[int64]committedBatch
	// leaderHW is the high watermark last seen per (leader, epoch).
	leaderHW map[[2]int32]int64
	// leoBefore is each broker's log end offset after its last settle.
	leoBefore map[int32]int64
	// openTxns are the producer ids of transactional batches produced,
	// which a marker may end, in order.
	openTxns []int64
	seen     modelCoverage
}

type producedBatch struct {
	ts      int64
	acksAll bool
}

type ackedBatch struct {
	ts    int64
	epoch int32
}

type committedBatch struct {
	id    batchID
	epoch int32
}

// batchID identifies a batch: where it starts and ends, its epoch, its CRC.
type batchID struct {
	base, last int64
	epoch      int32
	crc        uint32
}

func idOf(b logstore.Batch) batchID {
	return batchID{base: b.FirstOffset, last: b.LastOffset(), epoch: b.PartitionLeaderEpoch, crc: uint32(b.CRC)}
}

type modelNode struct {
	*testNode
	down bool
	// fetchers are this broker's fetchers by leader, with what each has
	// on the wire.
	fetchers map[int32]*modelFetcher
	// alterResults are the controller's answers not yet delivered.
	alterResults []AlterPartitionResult
	// record is the partition record this broker applied last.
	record PartitionImage
}

type modelFetcher struct {
	f *Fetcher
	// A request is on the wire until served; its answer (or error) until
	// delivered.
	fetchReq    *kmsg.FetchRequest
	fetchResp   *kmsg.FetchResponse
	fetchErr    error
	fetchServed bool
	epochsReq   *kmsg.OffsetForLeaderEpochRequest
	epochsResp  *kmsg.OffsetForLeaderEpochResponse
	epochsErr   error
	epochServed bool
}

var modelPartition = FetcherPartition{Topic: "t", TopicID: TopicID{1}, Partition: 0}

var errModelLost = errors.New("request lost")

func newModelCluster(rt *rapid.T) *modelCluster {
	n := rapid.IntRange(2, 3).Draw(rt, "brokers")
	c := &modelCluster{rt: rt, machineCrashes: rapid.Bool().Draw(rt, "machine crashes"),
		produced: map[RequestID]producedBatch{}, acked: map[int64]ackedBatch{}, committed: map[int64]committedBatch{}, leaderHW: map[[2]int32]int64{}, leoBefore: map[int32]int64{}}
	c.record = PartitionImage{Leader: 1}
	for id := int32(1); id <= int32(n); id++ {
		c.record.Replicas = append(c.record.Replicas, id)
	}
	c.record.ISR = slices.Clone(c.record.Replicas)
	cfg := testReplicaConfig()
	cfg.MinInsyncReplicas = rapid.IntRange(1, n).Draw(rt, "min.insync.replicas")
	// Followers truncate by OffsetForLeaderEpoch first, or by their
	// leader's diverging epochs as they fetch: all alike, or each broker
	// its own way (a cluster whose replicas differ in TruncateOnFetch;
	// leaders answer diverging epochs either way).
	mixed := rapid.Bool().Draw(rt, "mixed truncate on fetch")
	truncateOnFetch := rapid.Bool().Draw(rt, "truncate on fetch")
	for id := int32(1); id <= int32(n); id++ {
		opts := ReplicaOptions{ReplicaLagTimeMaxMs: 1000, TruncateOnFetch: truncateOnFetch}
		if mixed {
			opts.TruncateOnFetch = rapid.Bool().Draw(rt, fmt.Sprintf("broker %d truncates on fetch", id))
		}
		tn, err := newTestNode(id, vfs.NewMem(), cfg, opts, c.record, 0, c.now)
		if err != nil {
			rt.Fatal(err)
		}
		c.nodes = append(c.nodes, &modelNode{testNode: tn, fetchers: map[int32]*modelFetcher{}, record: c.record})
	}
	for _, mn := range c.nodes {
		c.settle(mn)
	}
	return c
}

func (c *modelCluster) node(id int32) *modelNode { return c.nodes[id-1] }

func (c *modelCluster) drawNode(label string) *modelNode {
	return c.nodes[rapid.IntRange(0, len(c.nodes)-1).Draw(c.rt, label)]
}

func (c *modelCluster) id() RequestID {
	c.nextID++
	return c.nextID
}

// logf notes an event of the run, with the brokers' views.
func (c *modelCluster) logf(format string, args ...any) {
	var views []string
	for _, mn := range c.nodes {
		if mn.down {
			views = append(views, fmt.Sprintf("%d:down", mn.id))
			continue
		}
		views = append(views, fmt.Sprintf("%d:%s hw=%d leo=%d isr=%v pe=%d", mn.id, roleLine(mn.r), mn.r.HighWatermark(), mn.r.LogEndOffset(), mn.r.ISR(), mn.r.PartitionEpoch()))
	}
	c.rt.Logf("%s | record leader=%d epoch=%d isr=%v pe=%d | %v", fmt.Sprintf(format, args...), c.record.Leader, c.record.LeaderEpoch, c.record.ISR, c.record.PartitionEpoch, views)
}

// checkProducerStates checks that every running replica's producer state
// (the core's, kept as it appends and truncates) is the one its log holds.
func (c *modelCluster) checkProducerStates() {
	for _, mn := range c.nodes {
		if mn.down {
			continue
		}
		if got, want := mn.r.Producers(), mn.log.ProducerStates(); !reflect.DeepEqual(got, want) {
			c.rt.Fatalf("node %d: the core knows producers %v, its log %v", mn.id, got.IDs(), want.IDs())
		}
	}
}

func (c *modelCluster) step() {
	defer c.checkProducerStates()
	switch rapid.IntRange(0, 14).Draw(c.rt, "event") {
	case 0, 1:
		c.produce()
	case 14:
		c.marker()
	case 2, 3:
		c.serve(c.drawNode("serve"), false)
	case 4, 5:
		c.deliver(c.drawNode("deliver"))
	case 6:
		c.serve(c.drawNode("lose"), true)
	case 7, 8:
		c.tick(rapid.Int64Range(0, 700).Draw(c.rt, "advance ms"))
	case 9:
		c.answerAlter(c.drawNode("alter"))
	case 10:
		c.syncMetadata(c.drawNode("metadata"))
	case 11:
		if mn := c.drawNode("crash"); !mn.down {
			c.crash(mn, c.machineCrashes && rapid.Bool().Draw(c.rt, "machine crash"))
		}
	case 12:
		if mn := c.drawNode("restart"); mn.down {
			c.restart(mn)
		}
	case 13:
		c.moveLeader(c.drawNode("new leader"))
	}
}

// produce sends a batch to the broker the controller names leader (it may
// not know yet), with acks=all or acks=1.
func (c *modelCluster) produce() {
	if c.record.Leader < 0 || c.node(c.record.Leader).down {
		return
	}
	mn := c.node(c.record.Leader)
	id := c.id()
	acks := rapid.SampledFrom([]int16{1, -1}).Draw(c.rt, "acks")
	ts := 1_000_000 + int64(id)
	c.produced[id] = producedBatch{ts: ts, acksAll: acks == -1}
	records := testBatch(c.rt, rapid.IntRange(1, 3).Draw(c.rt, "records"), ts, ts, 0)
	// Each batch from a producer of its own: the replicas' producer states
	// must agree with their logs (checkProducerStates).
	binary.BigEndian.PutUint64(records[43:], uint64(id))
	binary.BigEndian.PutUint32(records[53:], 0)
	binary.BigEndian.PutUint16(records[51:], 0)
	// Some open a transaction of their producer (one batch each).
	txn := rapid.IntRange(0, 2).Draw(c.rt, "transactional") == 0
	if txn {
		binary.BigEndian.PutUint16(records[21:], binary.BigEndian.Uint16(records[21:])|0x10)
		c.openTxns = append(c.openTxns, int64(id))
	}
	logstore.ChecksumBatch(records)
	mn.r.Produce(id, ProduceRequest{Records: records, Acks: acks, TimeoutMs: 5_000}, Instant{WallMs: ts, MonoMs: c.now.MonoMs})
	c.settle(mn)
	c.logf("produce %d acks=%d txn=%t to %d", id, acks, txn, mn.id)
}

// marker has the transaction coordinator end one of the transactions
// produced: a commit or abort marker to the broker the controller names
// leader. A transaction's marker may be sent again (the coordinator retries
// until the high watermark passed one); a leader writes a marker for a
// producer with no transaction open anyway.
func (c *modelCluster) marker() {
	if len(c.openTxns) == 0 || c.record.Leader < 0 || c.node(c.record.Leader).down {
		return
	}
	mn := c.node(c.record.Leader)
	i := rapid.IntRange(0, len(c.openTxns)-1).Draw(c.rt, "transaction")
	pid := c.openTxns[i]
	if rapid.Bool().Draw(c.rt, "marker ends it") {
		c.openTxns = slices.Delete(c.openTxns, i, i+1)
	}
	commit := rapid.Bool().Draw(c.rt, "commit")
	mn.r.Produce(c.id(), ProduceRequest{Acks: -1, Marker: &TxnMarker{ProducerID: pid, Commit: commit}}, c.now)
	c.settle(mn)
	c.logf("marker commit=%t for producer %d to %d", commit, pid, mn.id)
}

// settle carries out a broker's effects and routes what comes of them:
// acknowledgements to the checks, its fetch state to its fetchers, the
// fetchers' outcomes back to it; requests wait on the wire.
func (c *modelCluster) settle(mn *modelNode) {
	for round := 0; ; round++ {
		if round > 100 {
			c.rt.Fatalf("node %d does not settle", mn.id)
		}
		mn.carryOut()
		if mn.fatal != nil {
			c.rt.Fatalf("node %d: %v", mn.id, mn.fatal)
		}
		for _, rep := range mn.produceReplies {
			if p, ok := c.produced[rep.ID]; ok && rep.ErrorCode == 0 && p.acksAll {
				c.acked[rep.BaseOffset] = ackedBatch{ts: p.ts, epoch: mn.r.LeaderEpoch()}
				c.seen.Acked++
				c.rt.Logf("node %d acknowledged produce %d at %d (hw %d, isr %v, pending %v)", mn.id, rep.ID, rep.BaseOffset, mn.r.HighWatermark(), mn.r.ISR(), mn.r.PendingISR())
			}
		}
		mn.produceReplies, mn.woken = nil, nil
		for _, e := range mn.takeEffects() {
			if strings.HasPrefix(e, "truncate") && mn.log.LogEndOffset() < c.leoBefore[mn.id] {
				c.seen.Truncated++
			}
			if strings.Contains(e, " idle ") && mn.r.Leader() >= 0 && mn.r.Leader() != mn.id {
				c.seen.Fenced++
			}
		}
		c.leoBefore[mn.id] = mn.log.LogEndOffset()
		c.feedFetchers(mn)
		if !c.takeOutcomes(mn) {
			return
		}
	}
}

// feedFetchers hands the broker's fetch state to the fetcher of its leader
// (made on demand) and takes it from the others.
func (c *modelCluster) feedFetchers(mn *modelNode) {
	st := mn.r.FetchState()
	for _, leader := range sortedLeaders(mn.fetchers) {
		if leader != st.Leader {
			mn.fetchers[leader].f.RemovePartition(modelPartition)
		}
	}
	if st.Leader < 0 || st.Leader == mn.id {
		return
	}
	mf := mn.fetchers[st.Leader]
	if mf == nil {
		if st.Phase == FollowerIdle {
			return
		}
		mf = &modelFetcher{f: NewFetcher(FetcherConfig{NodeID: mn.id, Leader: st.Leader, BackoffMs: 100, BrokerEpoch: int64(100 + mn.id)})}
		mn.fetchers[st.Leader] = mf
	}
	mf.f.SetPartition(modelPartition, st, c.now)
}

// takeOutcomes puts the fetchers' requests on the wire and hands their
// outcomes to the broker's core; it says whether there were outcomes.
func (c *modelCluster) takeOutcomes(mn *modelNode) bool {
	any := false
	for _, leader := range sortedLeaders(mn.fetchers) {
		mf := mn.fetchers[leader]
		rd := mf.f.Ready()
		if rd.Fetch != nil {
			if mf.fetchReq != nil {
				c.rt.Fatalf("node %d: two fetches in flight to %d", mn.id, leader)
			}
			mf.fetchReq, mf.fetchServed = rd.Fetch, false
		}
		if rd.OffsetForLeaderEpoch != nil {
			if mf.epochsReq != nil {
				c.rt.Fatalf("node %d: two OffsetForLeaderEpoch in flight to %d", mn.id, leader)
			}
			mf.epochsReq, mf.epochServed = rd.OffsetForLeaderEpoch, false
		}
		for _, o := range rd.Outcomes {
			any = true
			if o.Fetch != nil {
				mn.r.FetchedFromLeader(*o.Fetch, c.now)
			} else {
				mn.r.EpochEndOffsetFetched(*o.EpochEnd, c.now)
			}
		}
	}
	return any
}

func sortedLeaders(m map[int32]*modelFetcher) []int32 {
	var ks []int32
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// drawFetcher draws one of a broker's fetchers with something on the wire.
func (c *modelCluster) drawFetcher(mn *modelNode, label string) *modelFetcher {
	var busy []*modelFetcher
	for _, leader := range sortedLeaders(mn.fetchers) {
		if mf := mn.fetchers[leader]; mf.fetchReq != nil || mf.epochsReq != nil {
			busy = append(busy, mf)
		}
	}
	if len(busy) == 0 {
		return nil
	}
	return busy[rapid.IntRange(0, len(busy)-1).Draw(c.rt, label)]
}

// serve has the leader answer a request of the broker's (or the network lose
// it: the fetcher then times out).
func (c *modelCluster) serve(mn *modelNode, lose bool) {
	mf := c.drawFetcher(mn, "request")
	if mf == nil || mn.down {
		return
	}
	leader := c.node(mf.f.cfg.Leader)
	if rapid.Bool().Draw(c.rt, "fetch or epochs") && mf.fetchReq != nil && !mf.fetchServed {
		mf.fetchServed = true
		switch {
		case lose:
			mf.fetchErr = errModelLost
		case leader.down:
			mf.fetchErr = errors.New("connection refused")
		default:
			mf.fetchResp = c.serveFetch(leader, mf.fetchReq)
		}
	} else if mf.epochsReq != nil && !mf.epochServed {
		mf.epochServed = true
		switch {
		case lose:
			mf.epochsErr = errModelLost
		case leader.down:
			mf.epochsErr = errors.New("connection refused")
		default:
			mf.epochsResp = c.serveEpochs(leader, mf.epochsReq)
		}
	}
}

// serveFetch is a leader answering a follower's Fetch, as the broker's
// router will: each partition to the replica core, a read at once (no
// waiting), the records as the log holds them.
func (c *modelCluster) serveFetch(leader *modelNode, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	for _, t := range req.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			id := c.id()
			leader.r.Fetch(id, FetchPartition{FetchOffset: p.FetchOffset, PartitionMaxBytes: p.PartitionMaxBytes, CurrentLeaderEpoch: p.CurrentLeaderEpoch,
				Follower: &FollowerFetch{ReplicaID: req.ReplicaState.ID, LogStartOffset: p.LogStartOffset, FetchedAtMs: c.now.MonoMs, BrokerEpoch: req.ReplicaState.Epoch,
					LastFetchedEpoch: p.LastFetchedEpoch}}, ReadUncommitted)
			c.settle(leader)
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rep := takeFetchReply(leader, id)
			if rep == nil {
				c.rt.Fatalf("leader %d did not answer fetch %d", leader.id, id)
			}
			rp.ErrorCode, rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = rep.ErrorCode, rep.HighWatermark, rep.LastStableOffset, rep.LogStartOffset
			if d := rep.Diverging; d != nil {
				rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = d.Epoch, d.EndOffset
			}
			if rep.Records != nil {
				b, err := rep.Records.Bytes()
				rep.Records.Release()
				if err != nil {
					c.rt.Fatal(err)
				}
				rp.RecordBatches = b
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func takeFetchReply(mn *modelNode, id RequestID) *FetchReply {
	for i, rep := range mn.fetchReplies {
		if rep.ID == id {
			mn.fetchReplies = slices.Delete(mn.fetchReplies, i, i+1)
			return &rep
		}
	}
	return nil
}

// serveEpochs is a leader answering OffsetForLeaderEpoch.
func (c *modelCluster) serveEpochs(leader *modelNode, req *kmsg.OffsetForLeaderEpochRequest) *kmsg.OffsetForLeaderEpochResponse {
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			id := c.id()
			leader.r.OffsetForLeaderEpoch(id, OffsetForLeaderEpochRequest{CurrentLeaderEpoch: p.CurrentLeaderEpoch, LeaderEpoch: p.LeaderEpoch})
			c.settle(leader)
			var rep *EpochEndReply
			for i, e := range leader.epochEnds {
				if e.ID == id {
					rep = &e
					leader.epochEnds = slices.Delete(leader.epochEnds, i, i+1)
					break
				}
			}
			if rep == nil {
				c.rt.Fatalf("leader %d did not answer OffsetForLeaderEpoch %d", leader.id, id)
			}
			rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, rep.ErrorCode, rep.LeaderEpoch, rep.EndOffset
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// deliver hands a served request's answer to the broker's fetcher.
func (c *modelCluster) deliver(mn *modelNode) {
	mf := c.drawFetcher(mn, "answer")
	if mf == nil || mn.down {
		return
	}
	if mf.fetchReq != nil && mf.fetchServed && (mf.epochsReq == nil || !mf.epochServed || rapid.Bool().Draw(c.rt, "fetch first")) {
		resp, err := mf.fetchResp, mf.fetchErr
		mf.fetchReq, mf.fetchResp, mf.fetchErr = nil, nil, nil
		mf.f.FetchCompleted(resp, err, c.now)
	} else if mf.epochsReq != nil && mf.epochServed {
		resp, err := mf.epochsResp, mf.epochsErr
		mf.epochsReq, mf.epochsResp, mf.epochsErr = nil, nil, nil
		mf.f.EpochEndOffsetsCompleted(resp, err, c.now)
	} else {
		return
	}
	c.settle(mn)
	c.logf("delivered to %d from %d", mn.id, mf.f.cfg.Leader)
}

// tick moves time on for every broker and fetcher.
func (c *modelCluster) tick(ms int64) {
	c.now = Instant{WallMs: c.now.WallMs + ms, MonoMs: c.now.MonoMs + ms}
	for _, mn := range c.nodes {
		if mn.down {
			continue
		}
		mn.now = c.now
		mn.r.Tick(c.now)
		for _, leader := range sortedLeaders(mn.fetchers) {
			mn.fetchers[leader].f.Tick(c.now)
		}
		c.settle(mn)
	}
}

// answerAlter has the controller decide the broker's oldest AlterPartition
// (Kafka's rules, simplified: the sender must lead at the record's epochs,
// the new ISR holds the leader and no fenced broker) and answers it.
func (c *modelCluster) answerAlter(mn *modelNode) {
	if len(mn.alters) == 0 {
		if len(mn.alterResults) > 0 && !mn.down {
			res := mn.alterResults[0]
			mn.alterResults = mn.alterResults[1:]
			mn.r.AlterPartitionCompleted(res, c.now)
			c.settle(mn)
		}
		return
	}
	req := mn.alters[0]
	mn.alters = mn.alters[1:]
	res := AlterPartitionResult{Seq: req.Seq}
	switch {
	case c.record.Leader != mn.id || req.LeaderEpoch != c.record.LeaderEpoch:
		res.ErrorCode = kerr.FencedLeaderEpoch.Code
	case req.PartitionEpoch != c.record.PartitionEpoch:
		res.ErrorCode = kerr.InvalidUpdateVersion.Code
	case !slices.Contains(req.ISR, mn.id):
		res.ErrorCode = kerr.InvalidRequest.Code
	case slices.ContainsFunc(req.ISR, func(id int32) bool { return c.node(id).down }):
		res.ErrorCode = kerr.IneligibleReplica.Code
	default:
		if len(req.ISR) < len(c.record.ISR) {
			c.seen.Shrunk++
		} else {
			c.seen.Expanded++
		}
		c.record.ISR = slices.Clone(req.ISR)
		c.record.PartitionEpoch++
		res.ISR, res.LeaderEpoch, res.PartitionEpoch = slices.Clone(c.record.ISR), c.record.LeaderEpoch, c.record.PartitionEpoch
	}
	if res.ErrorCode != 0 {
		res.LeaderEpoch, res.PartitionEpoch = -1, -1
	}
	mn.alterResults = append(mn.alterResults, res)
	c.logf("controller answered %d's AlterPartition %v: %s", mn.id, req.ISR, errName(res.ErrorCode))
}

// syncMetadata delivers the controller's record to a broker.
func (c *modelCluster) syncMetadata(mn *modelNode) {
	if mn.down {
		return
	}
	mn.record = c.record
	mn.r.PartitionChanged(clonePartition(c.record), c.now)
	c.settle(mn)
	c.logf("metadata to %d", mn.id)
}

func clonePartition(p PartitionImage) PartitionImage {
	p.Replicas, p.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
	return p
}

// elect gives the partition a new leader epoch with a leader from the live
// ISR (prefer, if it is one), or none.
func (c *modelCluster) elect(prefer int32) {
	var live []int32
	for _, id := range c.record.ISR {
		if !c.node(id).down {
			live = append(live, id)
		}
	}
	switch {
	case slices.Contains(live, prefer):
		c.record.Leader = prefer
	case len(live) > 0:
		c.record.Leader = live[0]
	default:
		c.record.Leader = -1
	}
	c.record.LeaderEpoch++
	c.record.PartitionEpoch++
}

// crash takes a broker down; the controller fences it: out of the ISR
// unless it is the last member (KIP-966 keeps the ISR non-empty), and a new
// leader if it led.
func (c *modelCluster) crash(mn *modelNode, machine bool) {
	mn.crash(!machine)
	mn.down = true
	mn.fetchers, mn.alters, mn.alterResults = map[int32]*modelFetcher{}, nil, nil
	mn.produceReplies, mn.fetchReplies, mn.epochEnds, mn.woken = nil, nil, nil, nil
	if machine {
		c.lost = true
		c.seen.MachineCrash++
	}
	changed := false
	if len(c.record.ISR) > 1 && slices.Contains(c.record.ISR, mn.id) {
		c.record.ISR = slices.DeleteFunc(slices.Clone(c.record.ISR), func(id int32) bool { return id == mn.id })
		changed = true
	}
	if c.record.Leader == mn.id {
		c.elect(-1)
	} else if changed {
		c.record.PartitionEpoch++
	}
	c.logf("crash %d machine=%t", mn.id, machine)
}

// restart brings a broker back with the controller's record (a broker
// catches up with the metadata log before it starts its replicas); a
// partition without a leader gets it back if it is in the ISR.
func (c *modelCluster) restart(mn *modelNode) {
	if c.record.Leader < 0 && slices.Contains(c.record.ISR, mn.id) {
		mn.down = false
		c.elect(mn.id)
		mn.down = true
	}
	mn.record = c.record
	if err := mn.restart(clonePartition(c.record)); err != nil {
		c.rt.Fatalf("restart node %d: %v", mn.id, err)
	}
	mn.down = false
	mn.now = c.now
	c.settle(mn)
	c.logf("restart %d", mn.id)
}

// moveLeader moves leadership to another live ISR member (a preferred or
// controlled leader change).
func (c *modelCluster) moveLeader(to *modelNode) {
	if to.down || to.id == c.record.Leader || !slices.Contains(c.record.ISR, to.id) {
		return
	}
	c.elect(to.id)
	c.seen.LeaderMoved++
	c.logf("leader moves to %d", to.id)
}

// check verifies the invariants after an event.
func (c *modelCluster) check() {
	logs := map[int32][]logstore.Batch{}
	for _, mn := range c.nodes {
		if mn.down {
			continue
		}
		bs, err := mn.logBatches()
		if err != nil {
			c.rt.Fatalf("node %d: %v", mn.id, err)
		}
		logs[mn.id] = bs
		if hw, leo := mn.r.HighWatermark(), mn.r.LogEndOffset(); hw > leo || leo != mn.log.LogEndOffset() {
			c.rt.Fatalf("node %d: high watermark %d, log end offset %d (log says %d)", mn.id, hw, leo, mn.log.LogEndOffset())
		}
	}
	c.checkLeaders(logs)
	c.checkLogMatching(logs)
	c.checkStableOffsets(logs)
}

// checkStableOffsets checks every running replica's last stable offset: no
// transactional batch below it lacks its marker below the high watermark.
func (c *modelCluster) checkStableOffsets(logs map[int32][]logstore.Batch) {
	for _, mn := range c.nodes {
		if mn.down {
			continue
		}
		lso, hw := mn.r.LastStableOffset(), mn.r.HighWatermark()
		bs := logs[mn.id]
		for i, b := range bs {
			if b.Attributes&0x30 != 0x10 {
				continue
			}
			marker := int64(-1)
			for _, m := range bs[i+1:] {
				if m.ProducerID == b.ProducerID && m.Attributes&0x20 != 0 {
					marker = m.FirstOffset
					break
				}
			}
			if marker >= hw && b.FirstOffset < hw {
				c.seen.UnreplicatedMarker++
			}
			if b.FirstOffset < lso && (marker < 0 || marker >= hw) {
				c.rt.Fatalf("node %d (%s): last stable offset %d passes producer %d's transaction at %d, whose marker is at %d, high watermark %d",
					mn.id, roleLine(mn.r), lso, b.ProducerID, b.FirstOffset, marker, hw)
			}
		}
	}
}

// firstOpenTxn is the first offset of the oldest transaction a log holds
// with no marker after it, or the log end offset.
func firstOpenTxn(bs []logstore.Batch, end int64) int64 {
	for i, b := range bs {
		if b.Attributes&0x30 != 0x10 {
			continue
		}
		if !slices.ContainsFunc(bs[i+1:], func(m logstore.Batch) bool { return m.ProducerID == b.ProducerID && m.Attributes&0x20 != 0 }) {
			return b.FirstOffset
		}
	}
	return end
}

// checkLeaders checks S3 and S2 on the brokers that lead by their own
// record, and remembers what they committed.
func (c *modelCluster) checkLeaders(logs map[int32][]logstore.Batch) {
	for _, mn := range c.nodes {
		if mn.down || !mn.r.IsLeader() {
			continue
		}
		key := [2]int32{mn.id, mn.r.LeaderEpoch()}
		hw := mn.r.HighWatermark()
		if last, ok := c.leaderHW[key]; ok && hw < last {
			c.rt.Fatalf("leader %d at epoch %d: high watermark went back from %d to %d", mn.id, key[1], last, hw)
		}
		c.leaderHW[key] = hw
		if c.lost {
			continue
		}
		for _, id := range mn.r.ISR() {
			if other := c.node(id); !other.down && other.log.LogEndOffset() < hw {
				c.rt.Fatalf("leader %d: high watermark %d past ISR member %d's log end offset %d", mn.id, hw, id, other.log.LogEndOffset())
			}
		}
		// A leader that has not learnt yet that it was deposed holds
		// nothing of later epochs: only leaders at or past the epoch that
		// committed or acknowledged a batch must hold it.
		epoch := mn.r.LeaderEpoch()
		byBase := map[int64]batchID{}
		for _, b := range logs[mn.id] {
			byBase[b.FirstOffset] = idOf(b)
			if b.LastOffset() < hw {
				if prev, ok := c.committed[b.FirstOffset]; ok && prev.id != idOf(b) {
					c.rt.Fatalf("leader %d: committed batch at %d was %+v (epoch %d), is %+v", mn.id, b.FirstOffset, prev.id, prev.epoch, idOf(b))
				}
				if _, ok := c.committed[b.FirstOffset]; !ok {
					c.committed[b.FirstOffset] = committedBatch{id: idOf(b), epoch: epoch}
				}
			}
		}
		for base, want := range c.committed {
			if want.epoch <= epoch && base >= mn.log.LogStartOffset() && byBase[base] != want.id {
				c.rt.Fatalf("leader %d at epoch %d lost batch %+v committed at epoch %d (has %+v)", mn.id, epoch, want.id, want.epoch, byBase[base])
			}
		}
		for off, a := range c.acked {
			if a.epoch <= epoch && c.batchTimestamp(logs[mn.id], off) != a.ts {
				c.rt.Fatalf("leader %d at epoch %d lost the acks=all batch acknowledged at %d at epoch %d (has %+v)", mn.id, epoch, off, a.epoch, byBase[off])
			}
		}
	}
}

func (c *modelCluster) batchTimestamp(bs []logstore.Batch, base int64) int64 {
	for _, b := range bs {
		if b.FirstOffset == base {
			return b.FirstTimestamp
		}
	}
	return -1
}

// checkLogMatching checks S4 on every pair of live logs: the same batch
// (base offset and epoch) in both means the same batches before it.
func (c *modelCluster) checkLogMatching(logs map[int32][]logstore.Batch) {
	ids := make([]int32, 0, len(logs))
	for id := range logs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, a := range ids {
		for _, b := range ids[i+1:] {
			la, lb := logs[a], logs[b]
			byBase := map[int64]int{}
			for j, x := range lb {
				byBase[x.FirstOffset] = j
			}
			for j := len(la) - 1; j >= 0; j-- {
				k, ok := byBase[la[j].FirstOffset]
				if !ok || lb[k].PartitionLeaderEpoch != la[j].PartitionLeaderEpoch {
					continue
				}
				// The latest batch both hold with the same epoch: every
				// earlier batch the two hold must match.
				for jj := 0; jj <= j; jj++ {
					if kk, ok := byBase[la[jj].FirstOffset]; ok && idOf(lb[kk]) != idOf(la[jj]) {
						c.rt.Fatalf("logs of %d and %d agree at %d (epoch %d) but differ at %d: %+v vs %+v",
							a, b, la[j].FirstOffset, la[j].PartitionLeaderEpoch, la[jj].FirstOffset, idOf(la[jj]), idOf(lb[kk]))
					}
				}
				break
			}
		}
	}
}

// heal restarts every broker, gives the partition a leader, delivers the
// metadata and runs replication until nothing changes.
func (c *modelCluster) heal() {
	for _, mn := range c.nodes {
		if mn.down {
			c.restart(mn)
		}
	}
	if c.record.Leader < 0 {
		c.elect(-1)
	}
	for round := 0; round < 400; round++ {
		for _, mn := range c.nodes {
			if mn.record.PartitionEpoch != c.record.PartitionEpoch || mn.record.LeaderEpoch != c.record.LeaderEpoch {
				c.syncMetadata(mn)
			}
			for len(mn.alters) > 0 || len(mn.alterResults) > 0 {
				c.answerAlter(mn)
			}
			for _, leader := range sortedLeaders(mn.fetchers) {
				mf := mn.fetchers[leader]
				if mf.fetchReq != nil && !mf.fetchServed {
					mf.fetchServed, mf.fetchResp = true, c.serveFetch(c.node(leader), mf.fetchReq)
				}
				if mf.epochsReq != nil && !mf.epochServed {
					mf.epochServed, mf.epochsResp = true, c.serveEpochs(c.node(leader), mf.epochsReq)
				}
				if mf.fetchReq != nil {
					resp := mf.fetchResp
					mf.fetchReq, mf.fetchResp, mf.fetchErr = nil, nil, nil
					mf.f.FetchCompleted(resp, nil, c.now)
				}
				if mf.epochsReq != nil {
					resp := mf.epochsResp
					mf.epochsReq, mf.epochsResp, mf.epochsErr = nil, nil, nil
					mf.f.EpochEndOffsetsCompleted(resp, nil, c.now)
				}
				c.settle(mn)
			}
		}
		c.tick(150)
		c.check()
	}
}

// checkConverged checks S12 after healing: every replica holds the leader's
// log, and the high watermark is its end.
func (c *modelCluster) checkConverged() {
	leader := c.node(c.record.Leader)
	if !leader.r.IsLeader() {
		c.rt.Fatalf("node %d does not lead after healing", leader.id)
	}
	want, err := leader.logBatches()
	if err != nil {
		c.rt.Fatal(err)
	}
	if hw, leo := leader.r.HighWatermark(), leader.log.LogEndOffset(); hw != leo {
		c.rt.Fatalf("leader %d: high watermark %d, log end offset %d after healing (ISR %v, pending %v)", leader.id, hw, leo, leader.r.ISR(), leader.r.PendingISR())
	}
	for _, mn := range c.nodes {
		if lso, open := mn.r.LastStableOffset(), firstOpenTxn(want, leader.log.LogEndOffset()); lso != max(open, mn.log.LogStartOffset()) {
			c.rt.Fatalf("node %d: last stable offset %d after healing, the oldest open transaction at %d", mn.id, lso, open)
		}
	}
	for _, mn := range c.nodes {
		got, err := mn.logBatches()
		if err != nil {
			c.rt.Fatal(err)
		}
		if !slices.EqualFunc(got, want, func(a, b logstore.Batch) bool { return idOf(a) == idOf(b) }) {
			c.rt.Fatalf("node %d's log %s differs from leader %d's %s", mn.id, mn.logLine(), leader.id, leader.logLine())
		}
	}
	if len(c.record.ISR) != len(c.nodes) {
		c.rt.Fatalf("ISR %v after healing", c.record.ISR)
	}
}
