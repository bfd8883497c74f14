package actors

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gregor/logstore/vfs"
)

// Config is what a node needs to start. The gregor command builds it from
// server.properties (Kafka's names are given beside each field).
type Config struct {
	// NodeID is node.id.
	NodeID int32
	// Roles is process.roles; the zero value is both roles.
	Roles Roles
	// ListenAddress is the host:port of the broker's listener (the one of
	// listeners not named in controller.listener.names).
	ListenAddress string
	// ListenerName is that listener's name; "" means PLAINTEXT.
	ListenerName string
	// AdvertisedHost and AdvertisedPort are advertised.listeners; empty or
	// zero take the bound address.
	AdvertisedHost string
	AdvertisedPort int32
	// ControllerListenAddress is the host:port of the CONTROLLER listener
	// (raft, broker-to-controller requests); "" for none, which a one-voter
	// quorum of this node and a broker-only node may do without.
	ControllerListenAddress string
	// ControllerListenerName is controller.listener.names' first ("": CONTROLLER).
	ControllerListenerName string
	// QuorumVoters is controller.quorum.voters; empty makes this node a
	// one-voter quorum of itself.
	QuorumVoters []QuorumVoter
	// Rack is broker.rack; "" for none.
	Rack string
	// GossipListener is gossip.listener (host:port); "" runs no gossip.
	GossipListener string
	// GossipSeeds is gossip.seeds.
	GossipSeeds []string
	// BrokerSessionTimeoutMs is broker.session.timeout.ms (0: the default).
	BrokerSessionTimeoutMs int64
	// BrokerHeartbeatIntervalMs is broker.heartbeat.interval.ms (0: the default).
	BrokerHeartbeatIntervalMs int64
	// ShutdownDrainMs is controlled.shutdown.drain.ms: how long at most a
	// graceful stop keeps answering after its controlled shutdown, for
	// group members to learn their coordinators moved
	// (shutdown_drain.go); 0: not at all.
	ShutdownDrainMs int64
	// AutoLeaderRebalanceEnable is auto.leader.rebalance.enable (off in the
	// zero value; gregor serve sets Kafka's default, on): the controller
	// elects preferred replicas every LeaderImbalanceCheckIntervalMs.
	AutoLeaderRebalanceEnable bool
	// LeaderImbalanceCheckIntervalMs is leader.imbalance.check.interval.seconds
	// in ms (0: Kafka's default, 300 s).
	LeaderImbalanceCheckIntervalMs int64
	// QuorumElectionTimeoutMs is controller.quorum.election.timeout.ms (0: 1000).
	QuorumElectionTimeoutMs int64
	// QuorumHeartbeatIntervalMs is how often the quorum leader reaches its
	// followers (and learners poll it); 0 means a tenth of the election
	// timeout.
	QuorumHeartbeatIntervalMs int64
	// MetadataSnapshotIntervalBytes is
	// metadata.log.max.record.bytes.between.snapshots; 0 means 20 MiB.
	MetadataSnapshotIntervalBytes uint64
	// ControllerRequestTimeoutMs bounds a request to the controller that
	// carries no timeout of its own; 0 means 30000.
	ControllerRequestTimeoutMs int64
	// DataDir is the first of log.dirs; MetadataLogDir is metadata.log.dir
	// ("" means DataDir: metadata_store.go).
	DataDir, MetadataLogDir string
	// AutoCreateTopics is auto.create.topics.enable.
	AutoCreateTopics bool
	// NumPartitions is num.partitions, for auto-created topics and
	// CreateTopics without a count.
	NumPartitions int32
	// DefaultReplicationFactor is default.replication.factor.
	DefaultReplicationFactor int16
	// DeleteTopicEnable is delete.topic.enable.
	DeleteTopicEnable bool
	// StaticBrokerConfigs are the server.properties settings (file, --set
	// and embedded defaults) by Kafka key. DescribeConfigs shows them, and
	// those that are broker-wide topic defaults (log.retention.ms for
	// retention.ms, message.max.bytes for max.message.bytes, ...) apply to
	// every topic without its own value.
	StaticBrokerConfigs map[string]string
	// DefaultBrokerConfigs are the defaults of the keys the node was not
	// given, by Kafka key; DescribeConfigs of the broker shows them.
	DefaultBrokerConfigs map[string]string
	// BrokerConfigKeys are every key server.properties takes, given or not
	// (the controller tells an unknown key from a static one by them).
	BrokerConfigKeys []string
	// BrokerConfigDocs describe server.properties keys, by Kafka key:
	// DescribeConfigs gives them when asked for documentation.
	BrokerConfigDocs map[string]string
	// LogRecoveryThreads is num.recovery.threads.per.data.dir: how many
	// partition logs that need recovery (not closed cleanly) the node
	// opens at once; zero means 2, Kafka's default. New logs and logs
	// closed cleanly never wait for these (logOpenSlots).
	LogRecoveryThreads int
	// CacheBytes is the size of the node's block cache (log.cache.bytes);
	// 0 disables the cache.
	CacheBytes int64
	// GroupCommit is log.flush.group.commit: acks=all replies wait for an
	// fsync covering the batch, many appends sharing one fsync.
	GroupCommit bool
	// RequestMaxBytes is socket.request.max.bytes.
	RequestMaxBytes int32
	// MaxConnections is max.connections.
	MaxConnections int
	// SocketSendBufferBytes and SocketReceiveBufferBytes are
	// socket.send.buffer.bytes and socket.receive.buffer.bytes for client
	// connections (netio.Config.SendBufferBytes, ReceiveBufferBytes).
	SocketSendBufferBytes, SocketReceiveBufferBytes int
	// ConnectionsMaxIdleMs is connections.max.idle.ms.
	ConnectionsMaxIdleMs int64
	// RetentionCheckIntervalMs is log.retention.check.interval.ms: how often
	// each partition deletes the segments its retention lets go. Zero means
	// Kafka's 300000.
	RetentionCheckIntervalMs int64
	// CleanerBackoffMs is log.cleaner.backoff.ms: how often a compacted
	// partition looks for a log to clean. Zero means Kafka's 15000.
	CleanerBackoffMs int64
	// ProducerIDExpirationMs is producer.id.expiration.ms: a partition
	// forgets a producer id with no batch for this long. Zero means
	// Kafka's 86400000.
	ProducerIDExpirationMs int64
	// DisableLogCleaner is log.cleaner.enable=false: compacted topics are
	// not cleaned (their retention still runs).
	DisableLogCleaner bool
	// FollowersAskEpochFirst is replica.truncate.on.fetch=false: after a
	// leader change this node's followers ask their leader
	// OffsetForLeaderEpoch before they fetch, instead of truncating by the
	// diverging epochs it answers (cluster.ReplicaOptions.TruncateOnFetch,
	// on by default). Its leaders answer diverging epochs either way.
	FollowersAskEpochFirst bool
	// HighWatermarkCheckpointIntervalMs is
	// replica.high.watermark.checkpoint.interval.ms: how often the
	// partitions' high watermarks are written to the log directory's
	// replication-offset-checkpoint. Zero means Kafka's 5000.
	HighWatermarkCheckpointIntervalMs int64
	// Groups are the consumer group settings.
	Groups GroupConfig
	// Txns are the transaction coordinator settings.
	Txns TxnConfig
	// MetricsListener is the host:port of the /metrics endpoint; empty
	// disables it.
	MetricsListener string
	// DebugListener is debug.listener: the host:port serving Go's pprof
	// endpoints under /debug/pprof/; empty (the default) disables it.
	DebugListener string
	// FS is the filesystem; nil means the operating system's.
	FS vfs.FS
	// BootID identifies the machine's current boot (Linux's
	// /proc/sys/kernel/random/boot_id, read when FS is nil and BootID
	// empty). A broker that crashed without the machine rebooting lost
	// nothing its logs wrote (the page cache survives it), so its next
	// process, on the same boot, registers as after a clean shutdown
	// (logstore.WriteBrokerRunning); "" counts every crash as unclean.
	BootID string
	// Clock is the time the node's shells read; nil means the system clock.
	Clock Clock
	// Entropy is the node's only source of randomness (topic and cluster
	// ids); nil means crypto/rand.
	Entropy io.Reader

	testHooks
}

// Roles is process.roles.
type Roles struct {
	// Broker serves clients and hosts partitions; Controller votes in the
	// metadata quorum and may become the active controller.
	Broker, Controller bool
}

// QuorumVoter is one entry of controller.quorum.voters: id@host:port.
type QuorumVoter struct {
	NodeID int32
	// Address is the voter's CONTROLLER listener, host:port.
	Address string
}

// Defaults of the broker's timings with the controller. Kafka's are 2000
// and 9000; gregor's fence a silent broker (with gossip's early report)
// within about two seconds.
const (
	DefaultBrokerHeartbeatIntervalMs = 500
	DefaultBrokerSessionTimeoutMs    = 6000
)

// DefaultShutdownDrainMs is controlled.shutdown.drain.ms's default: a
// heartbeat interval of classic members (3 s in sarama, the Java client,
// librdkafka) and of KIP-848 members (5 s), so each heartbeats once.
const DefaultShutdownDrainMs = 5000

// withProcessDefaults fills what a zero Config leaves to the process: the
// real filesystem, clock and entropy, and Kafka's default number of logs
// opened at once.
func (c Config) withProcessDefaults() Config {
	if c.FS == nil {
		c.FS = vfs.OS
		if c.BootID == "" {
			c.BootID = machineBootID()
		}
	}
	if c.Clock == nil {
		c.Clock = newSystemClock()
	}
	if c.Entropy == nil {
		c.Entropy = rand.Reader
	}
	if c.LogRecoveryThreads <= 0 {
		c.LogRecoveryThreads = defaultLogRecoveryThreads
	}
	return c
}

// withClusterDefaults fills the clustering fields a zero Config leaves
// unset.
func (c Config) withClusterDefaults() Config {
	if !c.Roles.Broker && !c.Roles.Controller {
		c.Roles = Roles{Broker: true, Controller: true}
	}
	if c.ListenerName == "" {
		c.ListenerName = "PLAINTEXT"
	}
	if c.ControllerListenerName == "" {
		c.ControllerListenerName = "CONTROLLER"
	}
	if c.BrokerSessionTimeoutMs <= 0 {
		c.BrokerSessionTimeoutMs = DefaultBrokerSessionTimeoutMs
	}
	if c.BrokerHeartbeatIntervalMs <= 0 {
		c.BrokerHeartbeatIntervalMs = DefaultBrokerHeartbeatIntervalMs
	}
	if c.QuorumElectionTimeoutMs <= 0 {
		c.QuorumElectionTimeoutMs = 1000
	}
	if c.ControllerRequestTimeoutMs <= 0 {
		c.ControllerRequestTimeoutMs = 30_000
	}
	return c
}

// Check reports what NewNode refuses in c before it opens anything: static
// broker configs with invalid values, and clustering settings that
// contradict each other (process.roles, node.id, controller.quorum.voters,
// listeners).
func (c Config) Check() error {
	c = c.withClusterDefaults()
	if err := validateStaticBrokerConfigs(c.StaticBrokerConfigs); err != nil {
		return err
	}
	return c.checkCluster()
}

// checkCluster checks the clustering settings against each other.
func (c Config) checkCluster() error {
	voters := c.voterIDs()
	voter := slices.Contains(voters, c.NodeID)
	switch {
	case !c.Roles.Controller && len(c.QuorumVoters) == 0:
		return fmt.Errorf("process.roles is broker only: controller.quorum.voters must name the controllers")
	case c.Roles.Controller && !voter:
		return fmt.Errorf("process.roles has controller, but node.id %d is not in controller.quorum.voters %v", c.NodeID, voters)
	case !c.Roles.Controller && voter:
		return fmt.Errorf("node.id %d is in controller.quorum.voters %v, but process.roles has no controller", c.NodeID, voters)
	case len(voters) > 1 && voter && c.ControllerListenAddress == "":
		return fmt.Errorf("node %d is a voter of controller.quorum.voters %v, and needs a %s listener in listeners", c.NodeID, voters, c.ControllerListenerName)
	case c.Roles.Broker && c.ListenAddress == "":
		return fmt.Errorf("process.roles has broker, but listeners has no broker listener")
	}
	for _, v := range c.QuorumVoters {
		if _, _, ok := splitAddress(v.Address); !ok || v.NodeID < 0 {
			return fmt.Errorf("controller.quorum.voters: %d@%s is not id@host:port", v.NodeID, v.Address)
		}
	}
	return nil
}

// machineBootID is Linux's id of the current boot, "" where there is none.
func machineBootID() string {
	p, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(p))
}
