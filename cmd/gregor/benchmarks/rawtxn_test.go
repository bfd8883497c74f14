package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The raw load generator: transactional and idempotent producers written
// directly on kmsg over one TCP connection each, for the client=kmsg-raw
// cells of BenchmarkTransactions. It is no product client: it drives one
// broker node (every partition's leader and the transaction coordinator
// must be the node it dials), sends fixed 100 B records without keys,
// headers or compression, does no batching, lingering, buffering,
// partitioning, metadata refresh or failover, and retries nothing but
// CONCURRENT_TRANSACTIONS (which a broker may answer while the previous
// transaction's markers are written; counted and reported). Every other
// error code, a missing partition, a base offset that does not rise, or a
// record not acknowledged fails the benchmark, and after every run the
// partitions' end offsets must hold exactly the records and markers sent
// (none lost, none twice) and, for transactions, the last stable offsets
// must reach them (every transaction committed). What franz-go spends per
// transactional record (~2,000 ns of CPU on this 2-core machine, against
// ~520 per idempotent record, which bounds the franz-go cells' ratio)
// mostly stays out of these cells: the figure shows what the broker can do.

// rawClientLabel is the level naming the raw load generator's cells.
const rawClientLabel = "client=kmsg-raw"

// rawInFlight is how many Produce requests an idempotent raw producer
// keeps in flight on its connection, as an idempotent producer may (5).
const rawInFlight = 5

// rawAckTimeoutMs is the Produce requests' timeout.
const rawAckTimeoutMs = 30_000

// rawTxnTimeoutMs is the transactional producers' transaction timeout.
const rawTxnTimeoutMs = 60_000

// rawForcedTxnVersion is GREGOR_BENCH_RAW_TXN_VERSION: "1" makes the raw
// transactional producers add their partitions with AddPartitionsToTxn
// (Produce up to v11, EndTxn up to v4) even where the broker finalizes
// transaction.version 2.
func rawForcedTxnVersion() string { return os.Getenv("GREGOR_BENCH_RAW_TXN_VERSION") }

// rawPart is one partition's batch of a Produce: its records and the
// sequence of its first.
type rawPart struct {
	part int32
	n    int
	seq  int32
}

// rawProducer is one producer of the load generator.
type rawProducer struct {
	c     *rawConn
	topic string
	parts int
	txnID string // "" for an idempotent producer
	// tv2: the transaction's partitions are added by its Produce v12
	// (KIP-890 part 2), and each EndTxn bumps the epoch.
	tv2                         bool
	produceV, endV, addV, initV int16
	id                          int64
	epoch                       int16
	seq                         []int32 // next sequence per partition
	next                        int     // partition of the next Produce's first record
	value                       []byte
	records                     map[int][]byte // records sections by record count
	buf                         []byte         // the batches of the Produce being built
	lastOffset                  []int64        // last base offset acknowledged per partition
	acked                       int64          // records acknowledged
	markers                     int64          // one per partition of each ended transaction
	warmRecords                 int64          // records written (and aborted) before the window
	retries                     int64          // requests told CONCURRENT_TRANSACTIONS
	// produceTime and endTime are the transactions' Produce and EndTxn
	// round trips summed (from the request's write to its answer read).
	produceTime, endTime time.Duration
}

// newRawProducer connects to t's broker, checks it leads every partition
// of topic (and, for txnID, coordinates txnID), and gets a producer id:
// transactional with txnID, idempotent without.
func newRawProducer(ctx context.Context, t *target, topic string, parts int, txnID string, value []byte) (*rawProducer, error) {
	c, err := dialRaw(t.addr, "bench-raw")
	if err != nil {
		return nil, err
	}
	p := &rawProducer{
		c: c, topic: topic, parts: parts, txnID: txnID, value: value, records: map[int][]byte{},
		seq: make([]int32, parts), lastOffset: make([]int64, parts),
	}
	for i := range p.lastOffset {
		p.lastOffset[i] = -1
	}
	if err := p.start(ctx); err != nil {
		c.close()
		return nil, err
	}
	return p, nil
}

func (p *rawProducer) start(ctx context.Context) error {
	var err error
	if p.initV, err = p.c.version(kmsg.InitProducerID, 4); err != nil {
		return err
	}
	produceMax, err := p.c.version(kmsg.Produce, 12)
	if err != nil {
		return err
	}
	p.produceV = min(produceMax, 11)
	if p.txnID != "" {
		if p.endV, err = p.c.version(kmsg.EndTxn, 5); err != nil {
			return err
		}
		p.tv2 = p.c.finalized["transaction.version"] >= 2 && produceMax >= 12 && p.endV >= 5 && rawForcedTxnVersion() != "1"
		if p.tv2 {
			p.produceV = 12
		} else {
			p.endV = min(p.endV, 4)
			// v3 is the last version a client sends (v4 and on
			// batch transactions, for brokers).
			if p.addV, err = p.c.version(kmsg.AddPartitionsToTxn, 3); err != nil {
				return err
			}
		}
	}
	node, err := p.leaderOfAll(ctx)
	if err != nil {
		return err
	}
	if p.txnID != "" {
		if err := p.findCoordinator(ctx, node); err != nil {
			return err
		}
	}
	return p.initProducerID(ctx)
}

// leaderOfAll checks every partition of the topic is led by one node, the
// one dialled, and returns its id.
func (p *rawProducer) leaderOfAll(ctx context.Context) (int32, error) {
	v, err := p.c.version(kmsg.Metadata, 12)
	if err != nil {
		return 0, err
	}
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(v)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(p.topic)
	req.Topics = append(req.Topics, rt)
	resp := &kmsg.MetadataResponse{}
	if err := p.c.roundTrip(req, resp); err != nil {
		return 0, fmt.Errorf("Metadata: %w", err)
	}
	if len(resp.Brokers) != 1 {
		return 0, fmt.Errorf("the raw load generator drives one node; the metadata lists %d brokers", len(resp.Brokers))
	}
	node := resp.Brokers[0].NodeID
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != p.parts {
		return 0, fmt.Errorf("Metadata of %s: %+v", p.topic, resp.Topics)
	}
	for _, part := range resp.Topics[0].Partitions {
		if part.ErrorCode != 0 || part.Leader != node {
			return 0, fmt.Errorf("%s-%d: leader %d, error %v; want node %d", p.topic, part.Partition, part.Leader, codeErr(part.ErrorCode), node)
		}
	}
	return node, nil
}

// retriable runs ask until it returns a code other than one of retry (the
// coordinator loading or not found yet), for up to 30 s, and returns that
// code. Before the window only.
func retriable(ctx context.Context, ask func() (int16, error), retry ...int16) (int16, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, err := ask()
		if err != nil {
			return 0, err
		}
		again := false
		for _, r := range retry {
			again = again || code == r
		}
		if !again || time.Now().After(deadline) || ctx.Err() != nil {
			return code, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// findCoordinator checks the transactional id's coordinator is node.
func (p *rawProducer) findCoordinator(ctx context.Context, node int32) error {
	v, err := p.c.version(kmsg.FindCoordinator, 4)
	if err != nil {
		return err
	}
	var coordinator int32
	code, err := retriable(ctx, func() (int16, error) {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.SetVersion(v)
		req.CoordinatorType = 1 // transaction
		req.CoordinatorKey = p.txnID
		req.CoordinatorKeys = []string{p.txnID}
		resp := &kmsg.FindCoordinatorResponse{}
		if err := p.c.roundTrip(req, resp); err != nil {
			return 0, err
		}
		code, id := resp.ErrorCode, resp.NodeID
		if v >= 4 {
			if len(resp.Coordinators) != 1 {
				return 0, fmt.Errorf("FindCoordinator: %d coordinators for one key", len(resp.Coordinators))
			}
			code, id = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
		}
		coordinator = id
		return code, nil
	}, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code)
	if err != nil {
		return fmt.Errorf("FindCoordinator: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("FindCoordinator: %w", codeErr(code))
	}
	if coordinator != node {
		return fmt.Errorf("coordinator of %s is node %d, not the node dialled (%d)", p.txnID, coordinator, node)
	}
	return nil
}

func (p *rawProducer) initProducerID(ctx context.Context) error {
	code, err := retriable(ctx, func() (int16, error) {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.SetVersion(p.initV)
		req.TransactionTimeoutMillis = -1
		if p.txnID != "" {
			req.TransactionalID = kmsg.StringPtr(p.txnID)
			req.TransactionTimeoutMillis = rawTxnTimeoutMs
		}
		resp := &kmsg.InitProducerIDResponse{}
		if err := p.c.roundTrip(req, resp); err != nil {
			return 0, err
		}
		p.id, p.epoch = resp.ProducerID, resp.ProducerEpoch
		return resp.ErrorCode, nil
	}, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code, kerr.ConcurrentTransactions.Code)
	if err != nil {
		return fmt.Errorf("InitProducerId: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("InitProducerId: %w", codeErr(code))
	}
	if p.id < 0 || p.epoch < 0 {
		return fmt.Errorf("InitProducerId: producer id %d, epoch %d", p.id, p.epoch)
	}
	return nil
}

// warmUp writes one record to partition part before the window, in a
// transaction it aborts for a transactional producer: the coordinator
// loaded and the connection's first requests made.
func (p *rawProducer) warmUp(part int) error {
	p.next = part
	p.warmRecords++
	if p.txnID == "" {
		return p.produceIdempotent(1)
	}
	return p.transaction(1, false)
}

// plan assigns k records to the partitions, round robin from p.next, and
// takes their sequences.
func (p *rawProducer) plan(k int) []rawPart {
	out := make([]rawPart, 0, min(k, p.parts))
	for i := range min(k, p.parts) {
		part := (p.next + i) % p.parts
		n := k / p.parts
		if i < k%p.parts {
			n++
		}
		out = append(out, rawPart{part: int32(part), n: n, seq: p.seq[part]})
		p.seq[part] += int32(n)
	}
	p.next = (p.next + k) % p.parts
	return out
}

// produceRequest is the Produce of parts' batches, acks=all.
func (p *rawProducer) produceRequest(parts []rawPart) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(p.produceV)
	req.Acks, req.TimeoutMillis = -1, rawAckTimeoutMs
	if p.txnID != "" {
		req.TransactionID = kmsg.StringPtr(p.txnID)
	}
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = p.topic
	ts := time.Now().UnixMilli()
	p.buf = p.buf[:0]
	starts := make([]int, len(parts))
	for i, part := range parts {
		records, ok := p.records[part.n]
		if !ok {
			records = rawRecords(p.value, part.n)
			p.records[part.n] = records
		}
		starts[i] = len(p.buf)
		p.buf = appendBatch(p.buf, records, part.n, p.id, p.epoch, part.seq, p.txnID != "", ts)
	}
	for i, part := range parts {
		end := len(p.buf)
		if i+1 < len(parts) {
			end = starts[i+1]
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = part.part, p.buf[starts[i]:end]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// checkProduce checks a Produce answer for parts: every partition answered
// once, acknowledged at a base offset above the last one, or (retry, for
// a transactional producer) told CONCURRENT_TRANSACTIONS, which it
// returns to send again. Any other answer is an error.
func (p *rawProducer) checkProduce(resp *kmsg.ProduceResponse, parts []rawPart, retry bool) ([]rawPart, error) {
	if len(resp.Topics) != 1 || resp.Topics[0].Topic != p.topic {
		return nil, fmt.Errorf("Produce answer names %d topics, want %s alone", len(resp.Topics), p.topic)
	}
	answered := resp.Topics[0].Partitions
	if len(answered) != len(parts) {
		return nil, fmt.Errorf("Produce answer has %d partitions, want %d", len(answered), len(parts))
	}
	var again []rawPart
	for _, part := range parts {
		found := false
		for _, a := range answered {
			if a.Partition != part.part {
				continue
			}
			if found {
				return nil, fmt.Errorf("Produce answer has %s-%d twice", p.topic, part.part)
			}
			found = true
			switch {
			case a.ErrorCode == kerr.ConcurrentTransactions.Code && retry:
				again = append(again, part)
			case a.ErrorCode != 0:
				return nil, fmt.Errorf("Produce to %s-%d (producer %d epoch %d seq %d): %w", p.topic, part.part, p.id, p.epoch, part.seq, codeErr(a.ErrorCode))
			case a.BaseOffset <= p.lastOffset[part.part]:
				return nil, fmt.Errorf("Produce to %s-%d acknowledged at offset %d, after %d", p.topic, part.part, a.BaseOffset, p.lastOffset[part.part])
			default:
				p.lastOffset[part.part] = a.BaseOffset
				p.acked += int64(part.n)
			}
		}
		if !found {
			return nil, fmt.Errorf("Produce answer lacks %s-%d", p.topic, part.part)
		}
	}
	return again, nil
}

// produceIdempotent writes k records in Produces of txnRecords records
// over the partitions, rawInFlight of them in flight.
func (p *rawProducer) produceIdempotent(k int) error {
	var inFlight [][]rawPart
	for sent := 0; sent < k || len(inFlight) > 0; {
		for len(inFlight) < rawInFlight && sent < k {
			n := min(txnRecords, k-sent)
			parts := p.plan(n)
			if err := p.c.send(p.produceRequest(parts)); err != nil {
				return fmt.Errorf("Produce: %w", err)
			}
			inFlight = append(inFlight, parts)
			sent += n
		}
		resp := &kmsg.ProduceResponse{Version: p.produceV}
		if err := p.c.recv(resp); err != nil {
			return fmt.Errorf("Produce: %w", err)
		}
		if _, err := p.checkProduce(resp, inFlight[0], false); err != nil {
			return err
		}
		inFlight = inFlight[1:]
	}
	return nil
}

// rawBackoff is the wait before a request told CONCURRENT_TRANSACTIONS is
// sent again: the retry-th (from 1), doubling from 1 ms up to 32 ms.
func rawBackoff(retry int) time.Duration {
	return time.Millisecond << min(retry-1, 5)
}

// rawMaxRetries bounds a request's retries (about 30 s of backoff).
const rawMaxRetries = 1000

// transaction writes k records in one transaction (one Produce over the
// partitions) and ends it: committed, or aborted.
func (p *rawProducer) transaction(k int, commit bool) error {
	parts := p.plan(k)
	if !p.tv2 {
		if err := p.addPartitions(parts); err != nil {
			return err
		}
	}
	pending := parts
	for retry := 0; len(pending) > 0; retry++ {
		if retry > 0 {
			if retry > rawMaxRetries {
				return errors.New("Produce: still CONCURRENT_TRANSACTIONS after 1000 retries")
			}
			p.retries++
			time.Sleep(rawBackoff(retry))
		}
		resp := &kmsg.ProduceResponse{}
		start := time.Now()
		if err := p.c.roundTrip(p.produceRequest(pending), resp); err != nil {
			return fmt.Errorf("Produce: %w", err)
		}
		p.produceTime += time.Since(start)
		var err error
		if pending, err = p.checkProduce(resp, pending, true); err != nil {
			return err
		}
	}
	if err := p.endTxn(commit); err != nil {
		return err
	}
	p.markers += int64(len(parts))
	return nil
}

// addPartitions adds parts to the transaction (transaction.version 1).
func (p *rawProducer) addPartitions(parts []rawPart) error {
	for retry := 0; ; retry++ {
		if retry > 0 {
			if retry > rawMaxRetries {
				return errors.New("AddPartitionsToTxn: still CONCURRENT_TRANSACTIONS after 1000 retries")
			}
			p.retries++
			time.Sleep(rawBackoff(retry))
		}
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.SetVersion(p.addV)
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = p.txnID, p.id, p.epoch
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic = p.topic
		for _, part := range parts {
			rt.Partitions = append(rt.Partitions, part.part)
		}
		req.Topics = append(req.Topics, rt)
		resp := &kmsg.AddPartitionsToTxnResponse{}
		if err := p.c.roundTrip(req, resp); err != nil {
			return fmt.Errorf("AddPartitionsToTxn: %w", err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != len(parts) {
			return fmt.Errorf("AddPartitionsToTxn answer: %+v, want the %d partitions added", resp.Topics, len(parts))
		}
		again := false
		for _, a := range resp.Topics[0].Partitions {
			switch a.ErrorCode {
			case 0:
			case kerr.ConcurrentTransactions.Code:
				again = true
			default:
				return fmt.Errorf("AddPartitionsToTxn of %s-%d: %w", p.topic, a.Partition, codeErr(a.ErrorCode))
			}
		}
		if !again {
			return nil
		}
	}
}

// endTxn ends the transaction; under transaction.version 2 the answer's
// producer id and epoch (bumped) are the next transaction's, whose
// sequences start at 0.
func (p *rawProducer) endTxn(commit bool) error {
	for retry := 0; ; retry++ {
		if retry > 0 {
			if retry > rawMaxRetries {
				return errors.New("EndTxn: still CONCURRENT_TRANSACTIONS after 1000 retries")
			}
			p.retries++
			time.Sleep(rawBackoff(retry))
		}
		req := kmsg.NewPtrEndTxnRequest()
		req.SetVersion(p.endV)
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = p.txnID, p.id, p.epoch, commit
		resp := &kmsg.EndTxnResponse{}
		start := time.Now()
		if err := p.c.roundTrip(req, resp); err != nil {
			return fmt.Errorf("EndTxn: %w", err)
		}
		p.endTime += time.Since(start)
		switch resp.ErrorCode {
		case 0:
		case kerr.ConcurrentTransactions.Code:
			continue
		default:
			return fmt.Errorf("EndTxn (commit %v, producer %d epoch %d): %w", commit, p.id, p.epoch, codeErr(resp.ErrorCode))
		}
		if p.tv2 {
			if resp.ProducerID < 0 || resp.ProducerEpoch < 0 || (resp.ProducerID == p.id && resp.ProducerEpoch <= p.epoch) {
				return fmt.Errorf("EndTxn v%d answered producer %d epoch %d after %d epoch %d: no bump", p.endV, resp.ProducerID, resp.ProducerEpoch, p.id, p.epoch)
			}
			p.id, p.epoch = resp.ProducerID, resp.ProducerEpoch
			clear(p.seq)
		}
		return nil
	}
}

// rawRun is what one raw run's producers did, beside its window.
type rawRun struct {
	w        window
	switches int64 // the broker processes' context switches in the window
	retries  int64 // requests told CONCURRENT_TRANSACTIONS
	txns     int64
	// produceTime and endTime are the window's transactional Produce and
	// EndTxn round trips summed.
	produceTime, endTime time.Duration
}

func (r *rawRun) add(o rawRun) {
	r.w.add(o.w)
	r.switches += o.switches
	r.retries += o.retries
	r.txns += o.txns
	r.produceTime += o.produceTime
	r.endTime += o.endTime
}

// report adds retries/txn (requests told CONCURRENT_TRANSACTIONS per
// transaction) and the mean Produce and EndTxn round trips of the
// transactions, produce-us and endtxn-us: where a transaction's wall time
// goes. Nothing for idempotent runs.
func (r *rawRun) report(b *testing.B) {
	if r.txns == 0 {
		return
	}
	b.ReportMetric(float64(r.retries)/float64(r.txns), "retries/txn")
	b.ReportMetric(float64(r.produceTime.Microseconds())/float64(r.txns), "produce-us")
	b.ReportMetric(float64(r.endTime.Microseconds())/float64(r.txns), "endtxn-us")
}

// produceRaw writes set to topic (parts partitions) with producers raw
// producers at once, each a share of the records: in transactions of
// txnRecords records (txn), or idempotently. The window covers the
// producers' work alone (their connections, producer ids and warm-up
// before it); every answer is checked, and after it the partitions' end
// offsets must hold exactly what was written, and for transactions their
// last stable offsets must reach them.
func produceRaw(b *testing.B, t *target, topic string, parts int, set recordSet, txn bool, producers int) rawRun {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	value := make([]byte, set.size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	ps := make([]*rawProducer, producers)
	for i := range ps {
		var txnID string
		if txn {
			txnID = fmt.Sprint("bench-raw-", time.Now().UnixNano(), "-", i)
		}
		p, err := newRawProducer(ctx, t, topic, parts, txnID, value)
		if err != nil {
			t.fail(b, "%s: raw producer: %v", t.name, err)
		}
		defer p.c.close()
		if err := p.warmUp(i % parts); err != nil {
			t.fail(b, "%s: raw producer warm-up: %v", t.name, err)
		}
		p.produceTime, p.endTime, p.retries = 0, 0, 0 // the window's alone
		ps[i] = p
	}
	errs := make([]error, producers)
	var switches int64
	w := measure(b, t, true, func() {
		before := contextSwitches(t.processes())
		defer func() { switches = contextSwitches(t.processes()) - before }()
		var wg sync.WaitGroup
		for i, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from, to := i*set.n/producers, (i+1)*set.n/producers
				if !txn {
					errs[i] = p.produceIdempotent(to - from)
					return
				}
				for at := from; at < to; at += txnRecords {
					if errs[i] = p.transaction(min(txnRecords, to-at), true); errs[i] != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
	})
	run := rawRun{w: w, switches: switches}
	var acked, expected int64
	for i, p := range ps {
		if errs[i] != nil {
			t.fail(b, "%s: raw producer %d: %v", t.name, i, errs[i])
		}
		acked += p.acked - p.warmRecords
		expected += p.acked + p.markers
		run.retries += p.retries
		run.produceTime += p.produceTime
		run.endTime += p.endTime
	}
	if acked != int64(set.n) {
		t.fail(b, "%s: %d records acknowledged, want %d", t.name, acked, set.n)
	}
	if txn {
		run.txns = int64((set.n + txnRecords - 1) / txnRecords)
	}
	if err := checkEndOffsets(ctx, t, topic, expected, txn); err != nil {
		t.fail(b, "%s: %v", t.name, err)
	}
	return run
}

// checkEndOffsets waits until topic's end offsets sum to want, the
// records and transaction markers written (markers are written after
// their EndTxn is answered), and, for transactions, every partition's last
// stable offset reaches its end (every transaction ended). A sum above
// want, or still short after 30 s, is an error.
func checkEndOffsets(ctx context.Context, t *target, topic string, want int64, txn bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ends, err := t.admin.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return fmt.Errorf("end offsets of %s: %w", topic, err)
		}
		var sum int64
		for _, o := range ends[topic] {
			sum += o.Offset
		}
		if sum > want {
			return fmt.Errorf("%s holds %d offsets, more than the %d records and markers written", topic, sum, want)
		}
		settled := sum == want
		if settled && txn {
			stable, err := t.admin.ListCommittedOffsets(ctx, topic)
			if err == nil {
				err = stable.Error()
			}
			if err != nil {
				return fmt.Errorf("last stable offsets of %s: %w", topic, err)
			}
			for p, o := range ends[topic] {
				settled = settled && stable[topic][p].Offset == o.Offset
			}
		}
		if settled {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s holds %d offsets after 30 s, want %d records and markers (or transactions still open)", topic, sum, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// benchRaw is a raw cell of one mode (txn100 or idempotent) alone.
func benchRaw(b *testing.B, t *target, set recordSet, mode string, producers int) {
	b.StopTimer()
	b.ResetTimer()
	b.SetBytes(set.payload())
	var total rawRun
	for i := 0; i < b.N; i++ {
		topic := t.createTopic(b, "rawtxn", 6)
		total.add(produceRaw(b, t, topic, 6, set, mode == "txn100", producers))
		t.deleteTopic(b, topic)
	}
	report(b, t, set, total.w)
	records := float64(set.n) * float64(b.N)
	b.ReportMetric(float64(total.w.client.Nanoseconds())/records, "client-ns/rec")
	if len(t.processes()) != 0 {
		// The broker's context switches per transaction, or per 100
		// idempotent records (one Produce).
		unit := "switches/txn"
		if mode != "txn100" {
			unit = "switches/100rec"
		}
		b.ReportMetric(float64(total.switches)/(records/txnRecords), unit)
	}
	total.report(b)
}

// benchRawRatio is the raw ratio cell: in every iteration the idempotent
// producers, then the transactional ones, the same records each, on the
// same broker; the ratio of their throughputs, and each mode's costs.
func benchRawRatio(b *testing.B, t *target, set recordSet, producers int) {
	b.StopTimer()
	b.ResetTimer()
	b.SetBytes(2 * set.payload())
	var idem, txn rawRun
	for i := 0; i < b.N; i++ {
		for _, m := range []struct {
			txn bool
			run *rawRun
		}{{false, &idem}, {true, &txn}} {
			topic := t.createTopic(b, "rawtxn", 6)
			m.run.add(produceRaw(b, t, topic, 6, set, m.txn, producers))
			t.deleteTopic(b, topic)
		}
	}
	reportTxnRatio(b, t, float64(set.n)*float64(b.N), idem.w, txn.w, idem.w.client, txn.w.client, idem.switches, txn.switches)
	txn.report(b)
}
