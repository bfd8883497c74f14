package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gregor/actors"
)

// clusterSettings are the keys of a node in a cluster, Kafka's names.
type clusterSettings struct {
	ProcessRoles                      []string      // process.roles: broker, controller or both
	ControllerQuorumVoters            []quorumVoter // controller.quorum.voters; empty: a one-voter quorum of this node
	ControllerListenerNames           []string      // controller.listener.names
	BrokerRack                        string        // broker.rack
	GossipListener                    string        // gossip.listener host:port; "" runs no gossip
	GossipSeeds                       []string      // gossip.seeds
	BrokerSessionTimeoutMs            int64         // broker.session.timeout.ms
	BrokerHeartbeatIntervalMs         int64         // broker.heartbeat.interval.ms
	ControllerQuorumElectionTimeoutMs int64         // controller.quorum.election.timeout.ms
	MetadataSnapshotMaxBytes          int64         // metadata.log.max.record.bytes.between.snapshots
	MetadataLogDir                    string        // metadata.log.dir; "": the first of log.dirs
	ControllerSocketTimeoutMs         int64         // controller.socket.timeout.ms
	ControlledShutdownDrainMs         int64         // controlled.shutdown.drain.ms
	AutoLeaderRebalanceEnable         bool          // auto.leader.rebalance.enable
	LeaderImbalanceCheckIntervalSec   int64         // leader.imbalance.check.interval.seconds
}

// quorumVoter is one entry of controller.quorum.voters: id@host:port.
type quorumVoter struct {
	ID   int32
	Host string
	Port int
}

func (v quorumVoter) String() string { return fmt.Sprintf("%d@%s", v.ID, joinHostPort(v.Host, v.Port)) }

func joinHostPort(host string, port int) string {
	return listener{Host: host, Port: port}.Address()
}

// clusterConfigKeys are the keys of clustering.
var clusterConfigKeys = []configKey{
	{Name: "process.roles", Default: "broker,controller", Doc: "what this node is: broker, controller, or both",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			roles, expected, ok := parseChoiceList(v, []string{"broker", "controller"})
			c.ProcessRoles = roles
			return strings.Join(roles, ","), expected, ok
		}},
	{Name: "controller.quorum.voters", Default: "", Doc: "the metadata quorum's voters, id@host:port of their CONTROLLER listeners; empty: this node alone",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			voters, expected, ok := parseQuorumVoters(v)
			c.ControllerQuorumVoters = voters
			parts := make([]string, len(voters))
			for i, voter := range voters {
				parts[i] = voter.String()
			}
			return strings.Join(parts, ","), expected, ok
		}},
	{Name: "controller.listener.names", Default: "CONTROLLER", Doc: "names of the listeners of the metadata quorum and broker-to-controller requests",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			names, expected, ok := parseListenerNames(v)
			c.ControllerListenerNames = names
			return strings.Join(names, ","), expected, ok
		}},
	{Name: "broker.rack", Default: "", Doc: "the rack of this broker; replicas of a partition go to distinct racks",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			c.BrokerRack = strings.TrimSpace(v)
			return c.BrokerRack, "", true
		}},
	{Name: "gossip.listener", Default: "", Doc: "host:port of gossip membership (serf); empty runs no gossip",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			list, expected, ok := parseAddressList(v, true)
			if len(list) > 1 {
				return "", "one host:port", false
			}
			c.GossipListener = strings.Join(list, "")
			return c.GossipListener, expected, ok
		}},
	{Name: "gossip.seeds", Default: "", Doc: "host:port of gossip listeners to join through",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			list, expected, ok := parseAddressList(v, true)
			c.GossipSeeds = list
			return strings.Join(list, ","), expected, ok
		}},
	integerKey("broker.session.timeout.ms", strconv.Itoa(actors.DefaultBrokerSessionTimeoutMs), positive[int64](),
		func(c *brokerConfig) *int64 { return &c.BrokerSessionTimeoutMs }, "a broker silent this long is fenced"),
	integerKey("broker.heartbeat.interval.ms", strconv.Itoa(actors.DefaultBrokerHeartbeatIntervalMs), positive[int64](),
		func(c *brokerConfig) *int64 { return &c.BrokerHeartbeatIntervalMs }, "how often a broker heartbeats to the controller"),
	booleanKey("auto.leader.rebalance.enable", "true", func(c *brokerConfig) *bool { return &c.AutoLeaderRebalanceEnable },
		"the active controller moves leadership back to each partition's preferred replica (the first of its replicas, when in the ISR) every leader.imbalance.check.interval.seconds"),
	integerKey("leader.imbalance.check.interval.seconds", "300", positive[int64](),
		func(c *brokerConfig) *int64 { return &c.LeaderImbalanceCheckIntervalSec }, "how often the active controller looks for partitions not led by their preferred replica"),
	integerKey("controller.quorum.election.timeout.ms", "1000", integerRange[int64]{minimum: 10, maximum: maxOf[int64]()},
		func(c *brokerConfig) *int64 { return &c.ControllerQuorumElectionTimeoutMs }, "how long a quorum voter waits for the leader before it campaigns"),
	{Name: "metadata.log.dir", Default: "", Doc: "directory of the metadata log (__cluster_metadata); empty means the first of log.dirs",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			c.MetadataLogDir = ""
			if strings.TrimSpace(v) == "" {
				return "", "", true
			}
			paths, _, ok := parsePathList(v)
			if !ok || len(paths) != 1 {
				return "", "one directory", false
			}
			c.MetadataLogDir = paths[0]
			return c.MetadataLogDir, "", true
		}},
	byteCountKey("metadata.log.max.record.bytes.between.snapshots", "20971520", positive[int64](),
		func(c *brokerConfig) *int64 { return &c.MetadataSnapshotMaxBytes }, "metadata applied between two snapshots of the metadata log"),
	integerKey("controller.socket.timeout.ms", "30000", positive[int64](), func(c *brokerConfig) *int64 { return &c.ControllerSocketTimeoutMs },
		"how long a request to the controller may take, retries included"),
	integerKey("controlled.shutdown.drain.ms", strconv.Itoa(actors.DefaultShutdownDrainMs), atLeastZero[int64](),
		func(c *brokerConfig) *int64 { return &c.ControlledShutdownDrainMs },
		"how long at most a graceful stop keeps answering after its groups moved, until their members were told NOT_COORDINATOR; 0 closes at once"),
}

// parseQuorumVoters reads id@host:port,... (empty: none).
func parseQuorumVoters(value string) ([]quorumVoter, string, bool) {
	const expected = "a comma-separated list of id@host:port (e.g. 1@127.0.0.1:9093,2@127.0.0.1:9094), each id once"
	if strings.TrimSpace(value) == "" {
		return nil, expected, true
	}
	var voters []quorumVoter
	for _, part := range strings.Split(value, ",") {
		idText, addr, found := strings.Cut(strings.TrimSpace(part), "@")
		id, err := strconv.ParseInt(idText, 10, 32)
		host, port, ok := parseHostPort(addr)
		if !found || err != nil || id < 0 || !ok || host == "" || port == 0 {
			return nil, expected, false
		}
		if slices.ContainsFunc(voters, func(v quorumVoter) bool { return v.ID == int32(id) }) {
			return nil, expected, false
		}
		voters = append(voters, quorumVoter{ID: int32(id), Host: host, Port: port})
	}
	return voters, expected, true
}

// parseListenerNames reads a non-empty list of listener names.
func parseListenerNames(value string) ([]string, string, bool) {
	const expected = "a comma-separated list of listener names (letters, digits, _)"
	var names []string
	for _, part := range strings.Split(value, ",") {
		name := strings.ToUpper(strings.TrimSpace(part))
		if !isListenerName(name) || slices.Contains(names, name) {
			return nil, expected, false
		}
		names = append(names, name)
	}
	return names, expected, true
}

// parseAddressList reads host:port,... with a host and a port; empty is
// none when allowEmpty.
func parseAddressList(value string, allowEmpty bool) ([]string, string, bool) {
	const expected = "a comma-separated list of host:port"
	if strings.TrimSpace(value) == "" {
		return nil, expected, allowEmpty
	}
	var list []string
	for _, part := range strings.Split(value, ",") {
		host, port, ok := parseHostPort(strings.TrimSpace(part))
		if !ok || port == 0 {
			return nil, expected, false
		}
		list = append(list, joinHostPort(host, port))
	}
	return list, expected, true
}

// hasRole says process.roles has role.
func (c *brokerConfig) hasRole(role string) bool { return slices.Contains(c.ProcessRoles, role) }

// isControllerListener says a listener is named in controller.listener.names.
func (c *brokerConfig) isControllerListener(l listener) bool {
	return slices.Contains(c.ControllerListenerNames, l.Name)
}

// controllerProtocols adds PLAINTEXT for controller listeners that
// listener.security.protocol.map does not name (Kafka's default map has no
// CONTROLLER entry).
func (c *brokerConfig) controllerProtocols() map[string]string {
	m := make(map[string]string, len(c.ListenerSecurityProtocolMap)+len(c.ControllerListenerNames))
	for k, v := range c.ListenerSecurityProtocolMap {
		m[k] = v
	}
	for _, name := range c.ControllerListenerNames {
		if _, ok := m[name]; !ok {
			m[name] = supportedSecurityProtocol
		}
	}
	return m
}

// clusterNodeConfig fills the node's clustering settings, checking what no
// single key can: one broker listener and at most one controller listener,
// a voter's controller listener where the voters say it is.
func clusterNodeConfig(c *brokerConfig, cfg *actors.Config) error {
	cfg.Roles = actors.Roles{Broker: c.hasRole("broker"), Controller: c.hasRole("controller")}
	var broker, controller []listener
	for _, l := range c.Listeners {
		if c.isControllerListener(l) {
			controller = append(controller, l)
		} else {
			broker = append(broker, l)
		}
	}
	switch {
	case cfg.Roles.Broker && len(broker) != 1:
		return fmt.Errorf("listeners: a broker serves exactly one listener besides %s for now, got %d (%s)",
			strings.Join(c.ControllerListenerNames, ","), len(broker), listenersString(c.Listeners))
	case len(controller) > 1:
		return fmt.Errorf("listeners: gregor serves one controller listener, got %s", listenersString(controller))
	}
	if len(broker) == 1 {
		cfg.ListenAddress, cfg.ListenerName = broker[0].Address(), broker[0].Name
		for _, a := range c.AdvertisedListeners {
			if a.Name == broker[0].Name {
				cfg.AdvertisedHost, cfg.AdvertisedPort = a.Host, int32(a.Port)
			}
		}
	}
	cfg.ControllerListenerName = c.ControllerListenerNames[0]
	if len(controller) == 1 {
		cfg.ControllerListenAddress, cfg.ControllerListenerName = controller[0].Address(), controller[0].Name
	}
	for _, v := range c.ControllerQuorumVoters {
		cfg.QuorumVoters = append(cfg.QuorumVoters, actors.QuorumVoter{NodeID: v.ID, Address: joinHostPort(v.Host, v.Port)})
		if v.ID == c.NodeID && len(controller) == 1 && v.Port != controller[0].Port {
			return fmt.Errorf("controller.quorum.voters places node %d at %s, but its %s listener is %s", v.ID, joinHostPort(v.Host, v.Port),
				controller[0].Name, controller[0].Address())
		}
	}
	cfg.Rack, cfg.GossipListener, cfg.GossipSeeds = c.BrokerRack, c.GossipListener, c.GossipSeeds
	cfg.BrokerSessionTimeoutMs, cfg.BrokerHeartbeatIntervalMs = c.BrokerSessionTimeoutMs, c.BrokerHeartbeatIntervalMs
	cfg.QuorumElectionTimeoutMs = c.ControllerQuorumElectionTimeoutMs
	cfg.QuorumHeartbeatIntervalMs = max(1, c.ControllerQuorumElectionTimeoutMs/10)
	cfg.MetadataSnapshotIntervalBytes = uint64(c.MetadataSnapshotMaxBytes)
	cfg.MetadataLogDir = c.MetadataLogDir
	cfg.ControllerRequestTimeoutMs = c.ControllerSocketTimeoutMs
	cfg.ShutdownDrainMs = c.ControlledShutdownDrainMs
	cfg.AutoLeaderRebalanceEnable = c.AutoLeaderRebalanceEnable
	cfg.LeaderImbalanceCheckIntervalMs = c.LeaderImbalanceCheckIntervalSec * 1000
	return nil
}

// checkQuorumBootstrap refuses Kafka 4's controller.quorum.bootstrap.servers
// (a dynamic quorum, KIP-853) naming controllers other than this node's own
// CONTROLLER listener while controller.quorum.voters is empty: gregor's
// quorum is static, and such a node would start as a cluster of its own,
// beside the others it was meant to join. Naming only itself (Kafka's stock
// single-node server.properties) is a cluster of one, as gregor starts
// without voters: noted, not refused.
func (c *brokerConfig) checkQuorumBootstrap(latest map[string]configSetting) error {
	const key = "controller.quorum.bootstrap.servers"
	s, ok := latest[key]
	if !ok || strings.TrimSpace(s.Value) == "" || len(c.ControllerQuorumVoters) > 0 {
		return nil
	}
	var own []listener
	if c.hasRole("controller") {
		own = slices.DeleteFunc(slices.Clone(c.Listeners), func(l listener) bool { return !c.isControllerListener(l) })
	}
	parts := strings.Split(s.Value, ",")
	for _, part := range parts {
		_, port, ok := parseHostPort(strings.TrimSpace(part))
		if len(parts) == 1 && ok && len(own) == 1 && port == own[0].Port {
			return nil
		}
	}
	return fmt.Errorf("%s=%s (from %s) names other controllers, but gregor's metadata quorum is static (no KIP-853): "+
		"set controller.quorum.voters=ID@HOST:PORT,... (each voter's node id and CONTROLLER listener) on every node instead; "+
		"without it this node would start a cluster of its own", key, s.Value, s.Source)
}
