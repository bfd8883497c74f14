package actors

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/netio"
)

// errNoController: no active controller answered within the request's
// timeout.
var errNoController = errors.New("no active controller answered")

// sendToController sends a request for the controller (a broker's
// BrokerRegistration, BrokerHeartbeat or AlterPartition; an admin request
// a client sent this broker) to the active controller: this node's when it
// is active, else over the CONTROLLER listener of the leader the local
// quorum knows (the voters in turn while it knows none), with one
// netio.Client per voter. NOT_CONTROLLER answers and connection failures
// are retried against the next controller until the request's own timeout
// (TimeoutMillis, or controller request timeout) ends. done runs once, on
// any goroutine, never blocking; on the last failure it gets the last
// answer if there was one, else an error.
func (n *Node) sendToController(req kmsg.Request, done func(kmsg.Response, error)) {
	n.sendToControllerWithin(req, n.controllerTimeout(req), done)
}

// controllerTimeout is how long a request for the controller may take: its
// own timeout (TimeoutMillis), else the controller request timeout.
func (n *Node) controllerTimeout(req kmsg.Request) time.Duration {
	if ms := requestTimeoutMs(req); ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return time.Duration(n.cfg.ControllerRequestTimeoutMs) * time.Millisecond
}

// sendToControllerWithin is sendToController with a timeout of the
// caller's. It returns the call, which the caller cancels when it no
// longer wants the answer.
func (n *Node) sendToControllerWithin(req kmsg.Request, timeout time.Duration, done func(kmsg.Response, error)) *controllerCall {
	return n.sendToControllerFrom(req, timeout, func(resp kmsg.Response, err error, _ int32) { done(resp, err) })
}

// sendToControllerFrom is sendToControllerWithin whose done also gets the
// node whose controller answered (-1 when none did): this node's own when
// it is cfg.NodeID.
func (n *Node) sendToControllerFrom(req kmsg.Request, timeout time.Duration, done func(kmsg.Response, error, int32)) *controllerCall {
	c := &controllerCall{node: n, req: req, done: done, avoid: -1,
		deadlineMs: n.cfg.Clock.Now().MonoMs + timeout.Milliseconds(), retired: make(chan struct{})}
	c.try()
	return c
}

// controllerCall is one request on its way to the active controller.
type controllerCall struct {
	node       *Node
	req        kmsg.Request
	deadlineMs int64
	done       func(kmsg.Response, error, int32)
	finished   atomic.Bool
	attempts   int
	// avoid is the voter that last failed or answered NOT_CONTROLLER.
	avoid   int32
	last    kmsg.Response
	lastErr error
	// retired is closed once the call makes no more attempts.
	retired    chan struct{}
	retireOnce sync.Once
}

// cancel ends the call without an answer, as a broker lifecycle does with
// a heartbeat it superseded (cluster.BrokerLifecycle.QuorumLeader): done
// never runs, and no attempt starts after (one on its way is ignored).
// Else the call would go on asking controllers until its deadline.
func (c *controllerCall) cancel() { c.finished.Store(true) }

// retire notes that the call makes no more attempts.
func (c *controllerCall) retire() { c.retireOnce.Do(func() { close(c.retired) }) }

// try sends the request to the controller that seems active now.
func (c *controllerCall) try() {
	n := c.node
	if c.finished.Load() {
		c.retire()
		return
	}
	remainingMs := c.deadlineMs - n.cfg.Clock.Now().MonoMs
	if remainingMs <= 0 || n.stopping.Load() {
		c.finish(c.last, c.lastErr)
		return
	}
	if n.controllerActive.Load() {
		// The local controller answers once its records commit, or fails
		// them when it loses its leadership; a quorum that can commit
		// nothing may keep it waiting past the deadline, which ends the
		// call there.
		expire := time.AfterFunc(time.Duration(remainingMs)*time.Millisecond, func() {
			c.finish(nil, fmt.Errorf("the local controller did not commit within %d ms", remainingMs))
		})
		n.dispatchToController(c.req, true, func(resp kmsg.Response) {
			expire.Stop()
			c.answered(resp, nil, n.cfg.NodeID)
		})
		return
	}
	target := c.target()
	client := n.controllers.client(target)
	if client == nil {
		c.retry()
		return
	}
	timeout := time.Duration(min(remainingMs, n.cfg.ControllerRequestTimeoutMs)) * time.Millisecond
	err := client.Send(c.req, timeout, func(r *netio.Response, err error) {
		var body kmsg.Response
		if err == nil {
			body = r.Body
		}
		c.answered(body, err, target)
	})
	if err != nil {
		c.answered(nil, err, target)
	}
}

// target is the voter to ask: the quorum's leader as this node knows it,
// else the next voter in turn (this node's own id too: the voter of that
// id may be another process, when this one is a duplicate); -1 when there
// is none to ask (this node is the only voter, not yet active).
func (c *controllerCall) target() int32 {
	n := c.node
	if leader := n.quorumLeader.Load(); leader >= 0 && leader != c.avoid && n.cfg.voterAddress(leader) != "" {
		return leader
	}
	voters := n.cfg.QuorumVoters
	for range voters {
		v := voters[int(n.controllers.next.Add(1))%len(voters)].NodeID
		if v != c.avoid {
			return v
		}
	}
	return -1
}

// answered takes an attempt's outcome: done, or another attempt (none once
// the call finished: its deadline passed).
func (c *controllerCall) answered(resp kmsg.Response, err error, from int32) {
	if c.finished.Load() {
		c.retire()
		return
	}
	if err == nil && resp != nil && !notControllerAnswer(resp) {
		c.finishFrom(resp, nil, from)
		return
	}
	if resp != nil {
		c.last = resp
	}
	c.lastErr = err
	if err != nil && !netio.IsRetriable(err) && !errors.Is(err, netio.ErrNotServedByPeer) {
		c.finish(nil, err)
		return
	}
	c.avoid = from
	if err == nil && from == c.node.quorumLeader.Load() {
		// The quorum's leader answered NOT_CONTROLLER: its controller is
		// not active yet (or not sure it leads). Ask it again rather than
		// a voter that may be the silent one it replaced.
		c.avoid = -1
	}
	c.retry()
}

// retry tries again after a backoff that doubles, from 25 ms up to 500 ms,
// and never past the deadline (where try finishes the call).
func (c *controllerCall) retry() {
	c.attempts++
	backoff := min(25*time.Millisecond<<min(c.attempts, 5), 500*time.Millisecond)
	remaining := time.Duration(c.deadlineMs-c.node.cfg.Clock.Now().MonoMs) * time.Millisecond
	time.AfterFunc(max(min(backoff, remaining), 0), c.try)
}

func (c *controllerCall) finish(resp kmsg.Response, err error) { c.finishFrom(resp, err, -1) }

// finishFrom ends the call with the answer of node from's controller (-1
// when it is no answer that counts).
func (c *controllerCall) finishFrom(resp kmsg.Response, err error, from int32) {
	c.retire()
	if c.finished.Swap(true) {
		return
	}
	if resp == nil && err == nil {
		err = fmt.Errorf("%w: %s", errNoController, apiName(c.req.Key()))
	} else if resp == nil {
		err = fmt.Errorf("%w: %s: %v", errNoController, apiName(c.req.Key()), err)
	}
	c.done(resp, err, from)
}

// dispatchToController hands a request to this node's controller (or, for
// DescribeQuorum, to its quorum actor). local says the requester is on this
// node (see controllerRequest).
func (n *Node) dispatchToController(req kmsg.Request, local bool, respond func(kmsg.Response)) {
	if dq, ok := req.(*kmsg.DescribeQuorumRequest); ok {
		n.system.Root.Send(n.quorum, &describeQuorumLocal{req: dq, respond: respond})
		return
	}
	if n.controller == nil {
		respond(notControllerResponse(req, "this node is not a controller"))
		return
	}
	n.system.Root.Send(n.controller, &controllerRequest{body: req, local: local, respond: respond})
}

// controllerClients are the node's connections to the voters' CONTROLLER
// listeners, made when first needed.
type controllerClients struct {
	node    *Node
	mu      sync.Mutex
	clients map[int32]*netio.Client
	closed  bool
	next    atomic.Int32
}

func (cc *controllerClients) client(voter int32) *netio.Client {
	addr := cc.node.cfg.voterAddress(voter)
	if voter < 0 || addr == "" {
		return nil
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.closed {
		return nil
	}
	if c, ok := cc.clients[voter]; ok {
		return c
	}
	c, err := netio.NewClient(netio.ClientConfig{Address: addr, ClientID: "gregor-broker-" + strconv.Itoa(int(cc.node.cfg.NodeID)),
		ReconnectBackoffMaxMs: 500, RequestSent: cc.node.metrics.requestSent}, cc.node.logger.Named("controller_client"))
	if err != nil {
		cc.node.logger.Error("controller client not made", zap.String("address", addr), zap.Error(err))
		return nil
	}
	if cc.clients == nil {
		cc.clients = map[int32]*netio.Client{}
	}
	cc.clients[voter] = c
	return c
}

func (cc *controllerClients) close() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.closed = true
	for _, c := range cc.clients {
		_ = c.Close()
	}
}
