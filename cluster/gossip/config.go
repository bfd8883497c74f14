package gossip

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"go.uber.org/zap"
)

// Config configures a Node.
type Config struct {
	// NodeID is Kafka's node.id; the gossip name is derived from it.
	NodeID int32
	// Tags are what the node tells the others about itself.
	Tags Tags
	// BindAddress is gossip.listener, host:port, for both UDP and TCP;
	// port 0 picks a free one (tests).
	BindAddress string
	// AdvertiseAddress is the host:port the others reach this node at;
	// empty means the bound address (then BindAddress must not be a
	// wildcard).
	AdvertiseAddress string
	// Seeds are gossip.seeds: host:port of nodes to join through. This
	// node's own address may be among them.
	Seeds []string
	// Timings are the failure detector's; zero means LANTimings().
	Timings Timings
	// OnEvent receives the membership events, one at a time, in order, on
	// a goroutine of the Node. It may block; news about one member that
	// arrives meanwhile is coalesced. Nil: events are discarded.
	OnEvent func(Event)
	// Logger receives serf's and memberlist's log lines; nil discards. It
	// carries the node's own fields (the node's logger has node_id): the
	// gossip node adds none, so no key appears twice in a line.
	Logger *zap.Logger
	// compressed sends LZW-compressed messages as gregor did before
	// (tests: a cluster of nodes that do and nodes that do not).
	compressed bool
}

// Tags are a node's serf tags. Together they must encode in under 512 bytes
// (memberlist's MetaMaxSize).
type Tags struct {
	// ClientAddress is the advertised PLAINTEXT listener (host:port);
	// empty for a controller-only node.
	ClientAddress string
	// ControllerAddress is the CONTROLLER listener; empty for a
	// broker-only node.
	ControllerAddress string
	// Rack is broker.rack, empty when unset.
	Rack string
}

// Serf tag keys: short, as tags travel in every alive message.
const (
	tagNodeID     = "id"
	tagClient     = "client"
	tagController = "controller"
	tagRack       = "rack"
)

// encode returns the serf tags of a node.
func (t Tags) encode(nodeID int32) map[string]string {
	m := map[string]string{tagNodeID: strconv.Itoa(int(nodeID))}
	if t.ClientAddress != "" {
		m[tagClient] = t.ClientAddress
	}
	if t.ControllerAddress != "" {
		m[tagController] = t.ControllerAddress
	}
	if t.Rack != "" {
		m[tagRack] = t.Rack
	}
	return m
}

// NodeName is the gossip name of a node id.
func NodeName(nodeID int32) string { return "gregor-" + strconv.Itoa(int(nodeID)) }

// Timings are the failure detector's settings (memberlist's SWIM with
// Lifeguard) and serf's bookkeeping of departed members.
//
// A crashed node is reported failed after: the wait until some node probes it
// (up to ProbeInterval per live node, shared among them), ProbeTimeout, the
// indirect probes through other nodes (the rest of the probe interval), then
// the suspicion timeout: SuspicionMult·max(1, log10 N)·ProbeInterval, started
// up to SuspicionMaxTimeoutMult times longer when confirmations from other
// nodes are expected, and shortened as they arrive. Lifeguard stretches a
// node's own probe timeouts while it misses acks itself (an overloaded node
// suspects others less).
type Timings struct {
	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	GossipInterval          time.Duration
	PushPullInterval        time.Duration
	TCPTimeout              time.Duration
	GossipToTheDeadTime     time.Duration
	// DeadNodeReclaimTime: after this long dead, a node's name may be
	// taken by a node at another address (a restart on a new port).
	DeadNodeReclaimTime time.Duration
	// ReapInterval, ReconnectTimeout, TombstoneTimeout: serf forgets a
	// failed member after ReconnectTimeout and a left one after
	// TombstoneTimeout, checking every ReapInterval (then the Reaped
	// event); ReconnectInterval is how often it tries a failed member.
	ReapInterval      time.Duration
	ReconnectInterval time.Duration
	ReconnectTimeout  time.Duration
	TombstoneTimeout  time.Duration
	// LeavePropagateDelay is how long Leave waits for the news to spread.
	LeavePropagateDelay time.Duration
	// BroadcastTimeout bounds Leave's wait for its broadcast.
	BroadcastTimeout time.Duration
}

// LANTimings are the production defaults, for a LAN. Measured with 3 nodes on
// loopback on a 2-core VM already running other tests (load average 6–7,
// gossip_measure_test.go): a crash was reported failed after 0.80–1.01 s
// (6 trials); 20 s with every core saturated by 4 more busy, allocating
// goroutines gave no false failure report. A probe unanswered within 100 ms
// makes a node suspect, but it has the 600 ms suspicion timeout to refute,
// and Lifeguard stretches the probes of a node that itself misses acks.
// A restart on the same address is live everywhere after about 50 ms.
// Failed members are forgotten after an hour, left ones after ten minutes.
func LANTimings() Timings {
	return Timings{
		ProbeInterval:           200 * time.Millisecond,
		ProbeTimeout:            100 * time.Millisecond,
		SuspicionMult:           3,
		SuspicionMaxTimeoutMult: 4,
		GossipInterval:          50 * time.Millisecond,
		PushPullInterval:        10 * time.Second,
		TCPTimeout:              2 * time.Second,
		GossipToTheDeadTime:     10 * time.Second,
		DeadNodeReclaimTime:     time.Second,
		ReapInterval:            5 * time.Second,
		ReconnectInterval:       10 * time.Second,
		ReconnectTimeout:        time.Hour,
		TombstoneTimeout:        10 * time.Minute,
		LeavePropagateDelay:     500 * time.Millisecond,
		BroadcastTimeout:        2 * time.Second,
	}
}

// validate reports the first bad setting.
func (cfg *Config) validate() error {
	switch {
	case cfg.NodeID < 0:
		return fmt.Errorf("node id %d is negative", cfg.NodeID)
	case cfg.BindAddress == "":
		return errors.New("no bind address (gossip.listener)")
	}
	if _, _, err := splitHostPort(cfg.BindAddress); err != nil {
		return fmt.Errorf("bind address: %w", err)
	}
	if cfg.AdvertiseAddress != "" {
		if _, _, err := splitHostPort(cfg.AdvertiseAddress); err != nil {
			return fmt.Errorf("advertise address: %w", err)
		}
	}
	t := cfg.Timings
	if t.ProbeInterval <= 0 || t.ProbeTimeout <= 0 || t.ProbeTimeout >= t.ProbeInterval || t.SuspicionMult < 1 ||
		t.SuspicionMaxTimeoutMult < 1 || t.GossipInterval <= 0 || t.DeadNodeReclaimTime <= 0 || t.ReapInterval <= 0 {
		return fmt.Errorf("bad timings %+v", t)
	}
	return nil
}

// splitHostPort parses host:port with a numeric port.
func splitHostPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	return host, port, nil
}

// serfConfig builds serf's and memberlist's configuration.
func (cfg *Config) serfConfig(events chan serf.Event, guard *conflictGuard, logs *levelWriter) *serf.Config {
	t := cfg.Timings
	ml := memberlist.DefaultLANConfig()
	host, port, _ := splitHostPort(cfg.BindAddress)
	ml.BindAddr, ml.BindPort = host, port
	if cfg.AdvertiseAddress != "" {
		ml.AdvertiseAddr, ml.AdvertisePort, _ = splitHostPort(cfg.AdvertiseAddress)
	}
	ml.ProbeInterval, ml.ProbeTimeout = t.ProbeInterval, t.ProbeTimeout
	ml.SuspicionMult, ml.SuspicionMaxTimeoutMult = t.SuspicionMult, t.SuspicionMaxTimeoutMult
	ml.GossipInterval, ml.PushPullInterval, ml.TCPTimeout = t.GossipInterval, t.PushPullInterval, t.TCPTimeout
	ml.GossipToTheDeadTime, ml.DeadNodeReclaimTime = t.GossipToTheDeadTime, t.DeadNodeReclaimTime
	ml.Alive, ml.Merge = guard, guard
	// No LZW compression of gossip messages: memberlist builds a new LZW
	// writer (a 64 KiB table, allocated and cleared) for every message it
	// sends, a few hundred bytes each, several times a second per peer.
	// Peers decode compressed messages whatever this says, so nodes with
	// and without it mix.
	ml.EnableCompression = cfg.compressed
	std := newStdLogger(logs)
	ml.LogOutput, ml.Logger = nil, std

	sc := serf.DefaultConfig()
	sc.NodeName = NodeName(cfg.NodeID)
	sc.Tags = cfg.Tags.encode(cfg.NodeID)
	sc.EventCh = events
	sc.MemberlistConfig = ml
	sc.LogOutput, sc.Logger = nil, std
	sc.ReapInterval, sc.ReconnectInterval = t.ReapInterval, t.ReconnectInterval
	sc.ReconnectTimeout, sc.TombstoneTimeout = t.ReconnectTimeout, t.TombstoneTimeout
	sc.LeavePropagateDelay, sc.BroadcastTimeout = t.LeavePropagateDelay, t.BroadcastTimeout
	sc.EnableNameConflictResolution = true // serf's own check, behind the guard
	sc.DisableCoordinates = true           // no network coordinates needed
	return sc
}
