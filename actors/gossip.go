package actors

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.uber.org/zap"

	"gregor/cluster/gossip"
)

// Membership is what the node needs of gossip membership (implemented by
// cluster/gossip's Node): the members alive as gossip sees them, and a
// way out.
type Membership interface {
	LiveMembers() []gossip.Member
	GoneMembers() []gossip.Member
	Leave() error
	Shutdown() error
	ShutdownWithoutLeave() error
}

// gossipJoinRetry is how often a node that reached none of gossip.seeds
// tries again (the others may not be up yet).
const gossipJoinRetry = time.Second

// startGossip starts gossip when gossip.listener is set: the node's tags
// are its client and CONTROLLER addresses and rack, and a bridge hands
// every membership event to the controller actor as a hint, never blocking
// gossip (an actor's mailbox takes it at once). A second live node with
// this node's id fails the node.
func (n *Node) startGossip() error {
	cfg := n.cfg
	if cfg.GossipListener == "" {
		return nil
	}
	tags := gossip.Tags{Rack: cfg.Rack}
	if cfg.Roles.Broker {
		host, port := n.advertised()
		tags.ClientAddress = net.JoinHostPort(host, strconv.Itoa(int(port)))
	}
	if cfg.Roles.Controller {
		tags.ControllerAddress = cfg.voterAddress(cfg.NodeID)
	}
	controller := n.controller
	g, err := gossip.Start(gossip.Config{
		NodeID: cfg.NodeID, Tags: tags, BindAddress: cfg.GossipListener, Seeds: cfg.GossipSeeds,
		Logger: n.logger.Named("gossip"),
		OnEvent: func(e gossip.Event) {
			if e.Kind == gossip.NameConflict && e.Member.NodeID == cfg.NodeID {
				n.logger.Error("gossip: another live node has this node's id", zap.String("gossip_address", e.Member.GossipAddress))
			}
			if controller != nil {
				n.system.Root.Send(controller, &membershipEvent{event: e})
			}
		},
	})
	if err != nil {
		return err
	}
	n.gossip = g
	var m Membership = g
	n.gossipStarted.Store(&m)
	stopped := n.failed
	join := func() bool {
		_, err := g.Join()
		switch {
		case err == nil:
			return true
		case errors.Is(err, gossip.ErrNameConflict):
			n.fail(fmt.Errorf("node.id %d is taken by another live node: %w: stop it, or give this node a node.id of its own (--set node.id=N)", cfg.NodeID, err))
			return true
		}
		n.logger.Debug("gossip seeds not reached yet", zap.Error(err))
		return false
	}
	if join() {
		return n.Err()
	}
	n.gossipStop = make(chan struct{})
	go func(quit chan struct{}) {
		t := time.NewTicker(gossipJoinRetry)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-stopped:
				return
			case <-t.C:
				if join() {
					return
				}
			}
		}
	}(n.gossipStop)
	return nil
}

// leaveGossip starts leaving gossip (the others see a departure, not a
// failure) and returns a channel closed once the leave is done. Leave waits
// for its news to spread (LeavePropagateDelay, ~0.5 s): a graceful stop
// starts it once the controlled shutdown moved the broker's leadership,
// and stops its listener and actors meanwhile.
func (n *Node) leaveGossip() <-chan struct{} {
	done := make(chan struct{})
	g := n.gossip
	if g == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		if err := g.Leave(); err != nil {
			n.logger.Info("gossip leave", zap.Error(err))
		}
	}()
	return done
}

// stopGossip shuts gossip down, after the leave a graceful stop started
// (left; nil: none, the others see a failure; unannounced says that is on
// purpose).
func (n *Node) stopGossip(left <-chan struct{}, unannounced bool) {
	if n.gossipStop != nil {
		close(n.gossipStop)
		n.gossipStop = nil
	}
	if n.gossip == nil {
		return
	}
	if left != nil {
		<-left
	}
	shutdown := n.gossip.Shutdown
	if unannounced {
		shutdown = n.gossip.ShutdownWithoutLeave
	}
	if err := shutdown(); err != nil {
		n.logger.Info("gossip shutdown", zap.Error(err))
	}
}
