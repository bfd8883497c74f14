package txn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// durable is what a transactional id's record holds.
type durable struct {
	pid, prevPID, nextPID int64
	epoch                 int16
	timeoutMs             int32
	state                 State
	partitions            string
}

func durableOf(t *txnMeta) durable {
	return durable{t.producerID, t.prevProducerID, t.nextProducerID, t.epoch, t.timeoutMs, t.state, fmt.Sprint(t.partitions)}
}

// legal lists the states each state may move to in one append.
var legal = map[State][]State{
	Empty:          {Empty, Ongoing, PrepareAbort, Dead},
	Ongoing:        {Ongoing, PrepareCommit, PrepareAbort},
	PrepareCommit:  {CompleteCommit},
	PrepareAbort:   {CompleteAbort},
	CompleteCommit: {Empty, Ongoing, PrepareAbort, Dead},
	CompleteAbort:  {Empty, Ongoing, PrepareAbort, Dead},
}

// TestCoordinatorProperties drives a coordinator with random requests,
// append and marker outcomes and ticks, and checks after every step: each
// transactional id moves only along legal transitions, its producer id and
// epoch never go back, and a coordinator loaded from the acknowledged
// records holds the same state for every id with nothing pending. Half
// the seeds let completions wait for the next add (CompleteDelayMs).
func TestCoordinatorProperties(t *testing.T) {
	for seed := uint64(1); seed <= 80; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { runProperties(t, seed) })
	}
}

func runProperties(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	cfg := Config{MaxTimeoutMs: 10000, IDExpirationMs: 50000, ExpiryCheckIntervalMs: 5000}
	if seed%2 == 0 {
		cfg.CompleteDelayMs = 30 // completions wait for the next add
	}
	c := NewCoordinator(cfg)
	c.Loaded(internaltopic.Time{})
	var (
		log      []internaltopic.Record
		pending  []Append
		allocs   []AllocID
		markers  []Marker
		now      internaltopic.Time
		nextPID  = int64(100)
		nextReq  internaltopic.RequestID
		seen     = map[string]durable{}
		ids      = []string{"a", "b", "c"}
		tps      = []string{"t", "u"}
		producer = map[string][2]int64{} // id → pid, epoch the "client" holds
	)
	drain := func() {
		rd := c.Ready()
		allocs = append(allocs, rd.Allocs...)
		pending = append(pending, rd.Appends...)
		markers = append(markers, rd.Markers...)
		for _, r := range rd.Replies {
			if resp, ok := r.Response.(*kmsg.EndTxnResponse); ok && resp.ErrorCode == 0 && resp.ProducerEpoch >= 0 {
				// KIP-890: the client moves to the epoch the end gave.
				for id, m := range c.txns {
					if m.producerID == resp.ProducerID {
						producer[id] = [2]int64{resp.ProducerID, int64(resp.ProducerEpoch)}
					}
				}
			}
			if resp, ok := r.Response.(*kmsg.InitProducerIDResponse); ok && resp.ErrorCode == 0 {
				// The id is in the request; the client keeps what it got.
				for id, m := range c.txns {
					if m.producerID == resp.ProducerID {
						producer[id] = [2]int64{resp.ProducerID, int64(resp.ProducerEpoch)}
					}
				}
			}
		}
	}
	for step := 0; step < 400; step++ {
		id := ids[rng.IntN(len(ids))]
		p := producer[id]
		if rng.IntN(4) == 0 { // a stale or wrong producer now and then
			p[1] -= int64(rng.IntN(2))
		}
		nextReq++
		switch op := rng.IntN(10); {
		case op == 0:
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(id), int32(1000+rng.IntN(3000))
			c.Handle(nextReq, req, now)
		case op == 1:
			req := kmsg.NewPtrAddPartitionsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, p[0], int16(p[1])
			req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: tps[rng.IntN(2)], Partitions: []int32{int32(rng.IntN(3))}}}
			c.Handle(nextReq, req, now)
		case op == 2:
			// A partition leader adding for a KIP-890 part 2 producer.
			req := kmsg.NewPtrAddPartitionsToTxnRequest()
			req.Version = 5
			tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
			tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch = id, p[0], int16(p[1])
			tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: tps[rng.IntN(2)], Partitions: []int32{int32(rng.IntN(3))}}}
			req.Transactions = append(req.Transactions, tx)
			c.Handle(nextReq, req, now)
		case op == 3:
			req := kmsg.NewPtrEndTxnRequest()
			req.Version = int16(4 + rng.IntN(2))
			req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, p[0], int16(p[1]), rng.IntN(2) == 0
			c.Handle(nextReq, req, now)
		case op <= 5 && len(pending) > 0:
			i := rng.IntN(len(pending))
			ap := pending[i]
			pending = append(pending[:i], pending[i+1:]...)
			code := int16(0)
			if rng.IntN(5) == 0 {
				code = 19 // NOT_ENOUGH_REPLICAS
			} else {
				log = append(log, ap.Records...)
			}
			c.Appended(ap.ID, code, now)
		case op == 6 && len(allocs) > 0:
			c.ProducerIDAllocated(allocs[0], nextPID, 0, now)
			allocs, nextPID = allocs[1:], nextPID+1
		case op <= 8 && len(markers) > 0:
			i := rng.IntN(len(markers))
			m := markers[i]
			markers = append(markers[:i], markers[i+1:]...)
			code := int16(0)
			if rng.IntN(4) == 0 {
				code = 6 // NOT_LEADER_FOR_PARTITION
			}
			c.MarkerWritten(m, code, now)
		default:
			ms := int64(rng.IntN(2000))
			now = internaltopic.Time{WallMs: now.WallMs + ms, MonoMs: now.MonoMs + ms}
			c.Tick(now)
		}
		drain()
		checkProperties(t, c, log, seen, now)
		if t.Failed() {
			t.Fatalf("seed %d step %d", seed, step)
		}
	}
}

func checkProperties(t *testing.T, c *Coordinator, log []internaltopic.Record, seen map[string]durable, now internaltopic.Time) {
	t.Helper()
	for id, m := range c.txns {
		d := durableOf(m)
		if was, ok := seen[id]; ok && was != d {
			if !slicesContains(legal[was.state], d.state) && !legalThroughCompletion(log, id, was.state, d.state) {
				t.Errorf("%s: %s → %s", id, was.state, d.state)
			}
			if d.pid == was.pid && d.epoch < was.epoch || d.pid != was.pid && d.pid != was.nextPID && d.pid < was.pid {
				t.Errorf("%s: producer %d/%d after %d/%d", id, d.pid, d.epoch, was.pid, was.epoch)
			}
		}
		seen[id] = d
	}
	loaded := NewCoordinator(Config{})
	if len(log) > 0 {
		if _, err := loaded.Load(EncodeBatch(log, now.WallMs), 0); err != nil {
			t.Fatal(err)
		}
	}
	for id, m := range c.txns {
		if m.pending != nil || m.epoch < 0 {
			continue
		}
		l, ok := loaded.txns[id]
		if !ok || durableOf(l) != durableOf(m) {
			t.Errorf("%s: live %+v, loaded %+v", id, durableOf(m), l)
		}
	}
}

// legalThroughCompletion says the log's last two records of id move from
// a prepared transaction through its completion to to: a completion
// appended with the next transaction's opening (complete), each step legal.
func legalThroughCompletion(log []internaltopic.Record, id string, from, to State) bool {
	var states []State
	for _, r := range log {
		c := NewCoordinator(Config{})
		c.replay(r)
		if m, ok := c.txns[id]; ok {
			states = append(states, m.state)
		}
	}
	n := len(states)
	return n >= 2 && states[n-1] == to && slicesContains(legal[from], states[n-2]) && slicesContains(legal[states[n-2]], to)
}

func slicesContains(s []State, x State) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
