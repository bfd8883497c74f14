package gossip

import (
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"
)

// conflictGuard is memberlist's alive and merge delegate: it refuses news of
// a live node that has this node's name (so its node id) at another address.
// A joining duplicate is refused by both sides: its own merge of the
// cluster's state fails (Join returns ErrNameConflict), and the running node
// ignores its claim. serf's own name conflict resolution stays on behind it.
type conflictGuard struct {
	name   string
	log    *zap.Logger
	report func(other Member)

	mu       sync.Mutex
	selfIP   net.IP
	selfPort uint16
	known    bool
	// seen are the other addresses that claimed the name, for reporting
	// each once; last is the latest.
	seen map[string]bool
	last string
}

// setSelf records this node's address, known once memberlist is up; until
// then the only alive message about the name is this node's own.
func (g *conflictGuard) setSelf(ip net.IP, port uint16) {
	g.mu.Lock()
	g.selfIP, g.selfPort, g.known = ip, port, true
	g.mu.Unlock()
}

// NotifyAlive implements memberlist.AliveDelegate.
func (g *conflictGuard) NotifyAlive(peer *memberlist.Node) error { return g.check(peer) }

// NotifyMerge implements memberlist.MergeDelegate.
func (g *conflictGuard) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := g.check(p); err != nil {
			return err
		}
	}
	return nil
}

// check refuses a live or suspect node with our name at another address.
func (g *conflictGuard) check(p *memberlist.Node) error {
	if p.Name != g.name || (p.State != memberlist.StateAlive && p.State != memberlist.StateSuspect) {
		return nil
	}
	g.mu.Lock()
	if !g.known || (g.selfIP.Equal(net.IP(p.Addr)) && g.selfPort == p.Port) {
		g.mu.Unlock()
		return nil
	}
	other := net.JoinHostPort(net.IP(p.Addr).String(), strconv.Itoa(int(p.Port)))
	self := net.JoinHostPort(g.selfIP.String(), strconv.Itoa(int(g.selfPort)))
	first := !g.seen[other]
	if g.seen == nil {
		g.seen = make(map[string]bool)
	}
	g.seen[other] = true
	g.last = other
	g.mu.Unlock()
	if first {
		g.log.Error("two live nodes claim one node id: refusing the other", zap.String("name", g.name),
			zap.String("our_address", self), zap.String("other_address", other))
		g.report(Member{Name: p.Name, GossipAddress: other, Status: StatusAlive})
	}
	return fmt.Errorf("%w: %s at %s, and this node at %s", ErrNameConflict, g.name, other, self)
}

// conflict is the latest other address that claimed our name, "" if none.
func (g *conflictGuard) conflict() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}
