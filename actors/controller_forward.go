package actors

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/cluster/quorum"
)

// imageWaitTimeout bounds how long an answer from the controller waits for
// this node's routes to show what it reports.
const imageWaitTimeout = 10 * time.Second

// forwardToController sends a request a client sent this broker for the
// controller (an admin request, DescribeQuorum) to the active controller,
// and relays its answer once this node's routes show what it reports: a
// client that created a topic through any broker can use it there at once.
// Every request is answered within its timeout: REQUEST_TIMED_OUT when no
// controller answered (the quorum cannot commit), the controller's answer
// at the latest when the timeout ends (the routes lag).
func (r *router) forwardToController(req kmsg.Request, respond func(kmsg.Response)) {
	n := r.node
	timeout := n.controllerTimeout(req)
	deadlineMs := n.cfg.Clock.Now().MonoMs + timeout.Milliseconds()
	fwd := cloneRequest(req) // the client's request keeps its version
	n.sendToControllerWithin(fwd, timeout, func(resp kmsg.Response, err error) {
		if err != nil {
			r.logger.Info("no controller answered a client's request", zap.String("api", apiName(req.Key())), zap.Error(err))
			respond(unansweredResponse(req, err))
			return
		}
		remaining := time.Duration(deadlineMs-n.cfg.Clock.Now().MonoMs) * time.Millisecond
		n.routes.waitFor(imageShows(req, resp), min(imageWaitTimeout, max(remaining, 0)), func() { respond(resp) })
	})
}

// unansweredResponse answers a request no controller answered.
func unansweredResponse(req kmsg.Request, err error) kmsg.Response {
	if dq, ok := req.(*kmsg.DescribeQuorumRequest); ok {
		return describeQuorum(dq, quorum.Status{LeaderID: -1, Role: quorum.RoleObserver}, Config{})
	}
	return cluster.ControllerErrorResponse(req, kerr.RequestTimedOut.Code, err.Error())
}

// cloneRequest copies a request through its encoding.
func cloneRequest(req kmsg.Request) kmsg.Request {
	out := kmsg.RequestForKey(req.Key())
	if out == nil {
		return req
	}
	out.SetVersion(req.GetVersion())
	if err := out.ReadFrom(req.AppendTo(nil)); err != nil {
		return req
	}
	return out
}

// imageShows says when an image shows what the controller's answer to req
// reports: created topics and partitions exist, deleted topics are gone.
func imageShows(req kmsg.Request, resp kmsg.Response) func(*cluster.MetadataImage) bool {
	switch r := resp.(type) {
	case *kmsg.CreateTopicsResponse:
		if q, ok := req.(*kmsg.CreateTopicsRequest); ok && q.ValidateOnly {
			break
		}
		return func(img *cluster.MetadataImage) bool {
			for _, t := range r.Topics {
				if t.ErrorCode != 0 {
					continue
				}
				it, ok := img.Topic(t.Topic)
				if !ok || (t.TopicID != [16]byte{} && it.ID != t.TopicID) || it.PartitionCount() < t.NumPartitions {
					return false
				}
			}
			return true
		}
	case *kmsg.CreatePartitionsResponse:
		q, ok := req.(*kmsg.CreatePartitionsRequest)
		if !ok || q.ValidateOnly {
			break
		}
		// The answer has a topic once, where the request may have it twice
		// (answered INVALID_REQUEST): its count is the request's by name.
		counts := make(map[string]int32, len(q.Topics))
		for _, t := range q.Topics {
			counts[t.Topic] = t.Count
		}
		return func(img *cluster.MetadataImage) bool {
			for _, t := range r.Topics {
				if t.ErrorCode != 0 {
					continue
				}
				if it, ok := img.Topic(t.Topic); !ok || it.PartitionCount() < counts[t.Topic] {
					return false
				}
			}
			return true
		}
	case *kmsg.DeleteTopicsResponse:
		return func(img *cluster.MetadataImage) bool {
			for _, t := range r.Topics {
				if t.ErrorCode != 0 {
					continue
				}
				if _, ok := img.TopicByID(t.TopicID); ok && t.TopicID != [16]byte{} {
					return false
				}
				if t.Topic != nil {
					if _, ok := img.Topic(*t.Topic); ok {
						return false
					}
				}
			}
			return true
		}
	case *kmsg.UnregisterBrokerResponse:
		q, ok := req.(*kmsg.UnregisterBrokerRequest)
		if !ok || r.ErrorCode != 0 {
			break
		}
		return func(img *cluster.MetadataImage) bool {
			_, registered := img.Broker(q.BrokerID)
			return !registered
		}
	}
	return func(*cluster.MetadataImage) bool { return true }
}

// imageWaiters are answers waiting until the published image shows what
// they report (routeTable.waitFor).
type imageWaiters struct {
	mu   sync.Mutex
	list []*imageWaiter
}

type imageWaiter struct {
	shows func(*cluster.MetadataImage) bool
	done  func()
	fired atomic.Bool
	// timer is set after the waiter is listed, while published may fire
	// it on another goroutine.
	timer atomic.Pointer[time.Timer]
}

func (w *imageWaiter) fire() {
	if !w.fired.Swap(true) {
		if t := w.timer.Load(); t != nil {
			t.Stop()
		}
		w.done()
	}
}

// waitFor runs done once the published image shows what shows looks for,
// or after timeout. done runs on any goroutine and must not block.
func (t *routeTable) waitFor(shows func(*cluster.MetadataImage) bool, timeout time.Duration, done func()) {
	if shows(t.load().image) {
		done()
		return
	}
	w := &imageWaiter{shows: shows, done: done}
	t.waiters.mu.Lock()
	t.waiters.list = append(t.waiters.list, w)
	t.waiters.mu.Unlock()
	w.timer.Store(time.AfterFunc(timeout, w.fire))
	if shows(t.load().image) { // published meanwhile
		w.fire()
	}
}

// published fires the waiters the image satisfies, and forgets every fired
// one.
func (w *imageWaiters) published(img *cluster.MetadataImage) {
	w.mu.Lock()
	var fire []*imageWaiter
	kept := w.list[:0]
	for _, x := range w.list {
		switch {
		case x.fired.Load():
		case x.shows(img):
			fire = append(fire, x)
		default:
			kept = append(kept, x)
		}
	}
	clear(w.list[len(kept):])
	w.list = kept
	w.mu.Unlock()
	for _, x := range fire {
		x.fire()
	}
}
