package gossip

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"

	"github.com/hashicorp/serf/serf"
	"go.uber.org/zap"
)

// ErrNameConflict says another live node gossips under this node's name,
// that is with the same node id, from another address.
var ErrNameConflict = errors.New("gossip: another live node has this node id")

// serfEventBuffer is the capacity of serf's event channel. serf sends to it
// blocking; the drain goroutine empties it at once, so it only absorbs
// bursts.
const serfEventBuffer = 1024

// Status is a member's state as serf sees it.
type Status int

// The statuses of a member.
const (
	StatusAlive Status = iota + 1
	StatusLeaving
	StatusLeft
	StatusFailed
)

// String is the status as logs name it ("alive", ...).
func (s Status) String() string {
	switch s {
	case StatusAlive:
		return "alive"
	case StatusLeaving:
		return "leaving"
	case StatusLeft:
		return "left"
	case StatusFailed:
		return "failed"
	}
	return "unknown"
}

// Member is a node as gossip knows it.
type Member struct {
	NodeID int32
	// Name is the gossip name, NodeName(NodeID).
	Name string
	Tags Tags
	// GossipAddress is where the member gossips (host:port).
	GossipAddress string
	Status        Status
}

// Node is this node's membership in the cluster's gossip.
type Node struct {
	cfg    Config
	log    *zap.Logger
	serf   *serf.Serf
	guard  *conflictGuard
	events *eventQueue
	logs   *levelWriter
	// stop ends the goroutines; stopped closes once both ended.
	stop     chan struct{}
	stopped  sync.WaitGroup
	shutOnce sync.Once
	shutErr  error
}

// Start binds the gossip listener and starts serf, alone: Join brings the
// node into the cluster.
func Start(cfg Config) (*Node, error) {
	if cfg.Timings == (Timings{}) {
		cfg.Timings = LANTimings()
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("gossip config: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	n := &Node{
		cfg:    cfg,
		log:    logger,
		events: newEventQueue(),
		logs:   newLevelWriter(logger),
		stop:   make(chan struct{}),
	}
	n.guard = &conflictGuard{name: NodeName(cfg.NodeID), log: logger, report: n.reportConflict}
	ch := make(chan serf.Event, serfEventBuffer)
	sc := cfg.serfConfig(ch, n.guard, n.logs)
	s, err := serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.BindAddress, err)
	}
	n.serf = s
	local := s.Memberlist().LocalNode()
	n.guard.setSelf(local.Addr, local.Port)
	n.stopped.Add(2)
	go n.drain(ch)
	go n.deliver()
	n.log.Info("gossip started", zap.String("name", sc.NodeName), zap.String("gossip_address", n.Address()))
	return n, nil
}

// Address is the host:port the node gossips at (with the port picked when
// BindAddress asked for 0).
func (n *Node) Address() string {
	local := n.serf.Memberlist().LocalNode()
	return net.JoinHostPort(local.Addr.String(), strconv.Itoa(int(local.Port)))
}

// Join contacts the seeds (Config.Seeds when none are given; this node's own
// address is skipped) and merges their view of the cluster. It returns how
// many seeds answered. A seed that answered is enough; when none did, the
// error says why. When a live node already has this node id, Join fails with
// ErrNameConflict and this node stays out of the cluster: Shutdown it.
func (n *Node) Join(seeds ...string) (int, error) {
	if len(seeds) == 0 {
		seeds = n.cfg.Seeds
	}
	self := n.Address()
	var others []string
	for _, s := range seeds {
		if s != self && s != n.cfg.BindAddress && s != n.cfg.AdvertiseAddress {
			others = append(others, s)
		}
	}
	if len(others) == 0 {
		return 0, nil
	}
	contacted, err := n.serf.Join(others, false)
	if conflict := n.guard.conflict(); conflict != "" {
		return contacted, fmt.Errorf("%w: node id %d also gossips from %s", ErrNameConflict, n.cfg.NodeID, conflict)
	}
	if err != nil {
		return contacted, fmt.Errorf("join %v: %w", others, err)
	}
	return contacted, nil
}

// SetTags changes this node's tags; the others get an Updated event.
func (n *Node) SetTags(tags Tags) error {
	if err := n.serf.SetTags(tags.encode(n.cfg.NodeID)); err != nil {
		return fmt.Errorf("set gossip tags: %w", err)
	}
	n.cfg.Tags = tags
	return nil
}

// LiveMembers returns the members that are alive, this node included, by
// node id.
func (n *Node) LiveMembers() []Member {
	var live []Member
	for _, m := range n.serf.Members() {
		if m.Status != serf.StatusAlive {
			continue
		}
		if member, ok := n.member(m); ok {
			live = append(live, member)
		}
	}
	slices.SortFunc(live, func(a, b Member) int { return int(a.NodeID) - int(b.NodeID) })
	return live
}

// GoneMembers returns the members gossip holds failed or departed (until
// it forgets them), by node id: a controller that becomes active learns
// from them of failures reported before it led.
func (n *Node) GoneMembers() []Member {
	var gone []Member
	for _, m := range n.serf.Members() {
		if m.Status != serf.StatusFailed && m.Status != serf.StatusLeft {
			continue
		}
		if member, ok := n.member(m); ok {
			gone = append(gone, member)
		}
	}
	slices.SortFunc(gone, func(a, b Member) int { return int(a.NodeID) - int(b.NodeID) })
	return gone
}

// Leave tells the cluster this node is going: the others get a Left event
// instead of a Failed one. It waits for the news to spread (a fraction of
// a second), then the node should Shutdown.
func (n *Node) Leave() error {
	if err := n.serf.Leave(); err != nil {
		return fmt.Errorf("leave gossip: %w", err)
	}
	return nil
}

// Shutdown stops gossip at once (without Leave the others see a failure)
// and returns when every goroutine of the node has ended. Events not yet
// delivered are dropped.
func (n *Node) Shutdown() error {
	n.shutOnce.Do(func() {
		n.shutErr = n.serf.Shutdown()
		n.logs.muted.Store(true)
		close(n.stop)
		n.stopped.Wait()
		n.log.Info("gossip stopped")
	})
	return n.shutErr
}

// ShutdownWithoutLeave is Shutdown for a node that stops gossip without a
// leave on purpose (the others see a failure): serf's warning about the
// missing leave is logged as news.
func (n *Node) ShutdownWithoutLeave() error {
	n.logs.unannounced.Store(true)
	return n.Shutdown()
}

// member converts a serf member; false for a node without a valid node id
// tag (not one of ours).
func (n *Node) member(m serf.Member) (Member, bool) {
	id, err := strconv.ParseInt(m.Tags[tagNodeID], 10, 32)
	if err != nil || id < 0 || m.Name != NodeName(int32(id)) {
		n.log.Warn("ignoring gossip member without a node id", zap.String("name", m.Name), zap.Any("tags", m.Tags))
		return Member{}, false
	}
	return Member{
		NodeID: int32(id),
		Name:   m.Name,
		Tags: Tags{
			ClientAddress:     m.Tags[tagClient],
			ControllerAddress: m.Tags[tagController],
			Rack:              m.Tags[tagRack],
		},
		GossipAddress: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
		Status:        statusOf(m.Status),
	}, true
}

func statusOf(s serf.MemberStatus) Status {
	switch s {
	case serf.StatusAlive:
		return StatusAlive
	case serf.StatusLeaving:
		return StatusLeaving
	case serf.StatusLeft:
		return StatusLeft
	case serf.StatusFailed:
		return StatusFailed
	}
	return 0
}
