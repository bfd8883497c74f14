package actors

import (
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxProducerIDWaiters bounds the InitProducerId requests waiting for a new
// block of producer ids; past it a request fails at once.
const maxProducerIDWaiters = 10_000

// errProducerIDsBusy: too many requests wait for a block of producer ids.
var errProducerIDsBusy = errors.New("too many requests wait for a block of producer ids")

// producerIDBlock is the node's current block of producer ids, allocated by
// the controller (AllocateProducerIDs, a ProducerIdsRecord in the metadata
// log), and the requests waiting for the next one.
type producerIDBlock struct {
	mu sync.Mutex
	// next is the next id to hand out, end the first id past the block.
	next, end int64
	// asking says an AllocateProducerIDs is on its way.
	asking  bool
	waiting []func(int64, error)
}

// allocateProducerID hands out the next producer id of the node's current
// block, asking the controller for a new block when it runs out. done runs
// once, on any goroutine; it never blocks the caller.
func (n *Node) allocateProducerID(done func(id int64, err error)) {
	b := &n.producerIDs
	b.mu.Lock()
	if b.next < b.end {
		id := b.next
		b.next++
		b.mu.Unlock()
		done(id, nil)
		return
	}
	if len(b.waiting) >= maxProducerIDWaiters {
		b.mu.Unlock()
		done(-1, errProducerIDsBusy)
		return
	}
	b.waiting = append(b.waiting, done)
	ask := !b.asking
	b.asking = true
	b.mu.Unlock()
	if ask {
		n.askForProducerIDs()
	}
}

// askForProducerIDs sends AllocateProducerIDs to the active controller with
// this broker's id and epoch (-1 while it is not registered: a single node's
// static broker).
func (n *Node) askForProducerIDs() {
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = n.cfg.NodeID, -1
	if reg, ok := n.routes.load().image.Broker(n.cfg.NodeID); ok {
		req.BrokerEpoch = reg.Epoch
	}
	n.sendToController(req, func(resp kmsg.Response, err error) {
		if err == nil {
			r, ok := resp.(*kmsg.AllocateProducerIDsResponse)
			switch {
			case !ok:
				err = fmt.Errorf("AllocateProducerIDs answered with %T", resp)
			case r.ErrorCode != 0:
				err = fmt.Errorf("AllocateProducerIDs: %w", kerr.ErrorForCode(r.ErrorCode))
			case r.ProducerIDLen <= 0 || r.ProducerIDStart < 0:
				err = fmt.Errorf("AllocateProducerIDs answered an empty block at %d", r.ProducerIDStart)
			default:
				if n.producerIDs.gotBlock(r.ProducerIDStart, r.ProducerIDStart+int64(r.ProducerIDLen)) {
					n.askForProducerIDs()
				}
				return
			}
		}
		n.producerIDs.failed(err)
	})
}

// gotBlock takes a new block and hands its first ids to the waiters; it
// reports whether waiters are left for the next block (more waiters than
// one block holds), which it then counts as asked for.
func (b *producerIDBlock) gotBlock(start, end int64) bool {
	b.mu.Lock()
	b.next, b.end, b.asking = start, end, false
	var served []func(int64, error)
	var ids []int64
	for len(b.waiting) > 0 && b.next < b.end {
		served, ids = append(served, b.waiting[0]), append(ids, b.next)
		b.waiting, b.next = b.waiting[1:], b.next+1
	}
	more := len(b.waiting) > 0
	b.asking = more
	b.mu.Unlock()
	for i, done := range served {
		done(ids[i], nil)
	}
	return more
}

// failed fails every waiter; the next request asks again.
func (b *producerIDBlock) failed(err error) {
	b.mu.Lock()
	waiting := b.waiting
	b.waiting, b.asking = nil, false
	b.mu.Unlock()
	for _, done := range waiting {
		done(-1, err)
	}
}
