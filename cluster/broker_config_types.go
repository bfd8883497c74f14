package cluster

// BrokerConfigType is the type DescribeConfigs gives a broker key that is not
// a broker-wide topic default (those take their topic config's type): Kafka's
// type for Kafka's keys, as its broker defines them (log.dirs is a STRING,
// process.roles a LIST, offsets.topic.replication.factor a SHORT), and the
// type of the value for gregor's own keys (gossip.seeds, log.cache.bytes).
// A key not listed is a STRING; listed says whether key is (a test keeps
// every key the broker reads listed).
func BrokerConfigType(key string) (t ConfigType, listed bool) {
	if t, ok := brokerConfigTypes[key]; ok {
		return t, true
	}
	return ConfigString, false
}

// brokerConfigTypes are the types of the broker keys gregor reads, Kafka's
// aliases of them (log.retention.hours) and the keys it lists by Kafka's
// name only (broker.id).
var brokerConfigTypes = map[string]ConfigType{
	// Kafka's keys.
	"advertised.listeners":                            ConfigString,
	"auto.create.topics.enable":                       ConfigBoolean,
	"auto.leader.rebalance.enable":                    ConfigBoolean,
	"broker.heartbeat.interval.ms":                    ConfigInt,
	"broker.id":                                       ConfigInt,
	"broker.rack":                                     ConfigString,
	"broker.session.timeout.ms":                       ConfigInt,
	"compression.type":                                ConfigString,
	"connections.max.idle.ms":                         ConfigLong,
	"controlled.shutdown.drain.ms":                    ConfigLong,
	"controller.listener.names":                       ConfigString,
	"controller.quorum.election.timeout.ms":           ConfigInt,
	"controller.quorum.voters":                        ConfigList,
	"controller.socket.timeout.ms":                    ConfigInt,
	"default.replication.factor":                      ConfigInt,
	"delete.topic.enable":                             ConfigBoolean,
	"group.consumer.heartbeat.interval.ms":            ConfigInt,
	"group.consumer.session.timeout.ms":               ConfigInt,
	"group.initial.rebalance.delay.ms":                ConfigInt,
	"group.max.session.timeout.ms":                    ConfigInt,
	"group.max.size":                                  ConfigInt,
	"group.min.session.timeout.ms":                    ConfigInt,
	"leader.imbalance.check.interval.seconds":         ConfigLong,
	"listener.security.protocol.map":                  ConfigString,
	"listeners":                                       ConfigString,
	"log.cleaner.backoff.ms":                          ConfigLong,
	"log.cleaner.enable":                              ConfigBoolean,
	"log.dir":                                         ConfigString,
	"log.dirs":                                        ConfigString,
	"log.flush.offset.checkpoint.interval.ms":         ConfigInt,
	"log.flush.scheduler.interval.ms":                 ConfigLong,
	"log.flush.start.offset.checkpoint.interval.ms":   ConfigInt,
	"log.message.timestamp.type":                      ConfigString,
	"log.retention.check.interval.ms":                 ConfigLong,
	"log.retention.hours":                             ConfigInt,
	"log.retention.minutes":                           ConfigInt,
	"log.roll.hours":                                  ConfigInt,
	"max.connections":                                 ConfigInt,
	"max.incremental.fetch.session.cache.slots":       ConfigInt,
	"metadata.log.dir":                                ConfigString,
	"metadata.log.max.record.bytes.between.snapshots": ConfigLong,
	"node.id":                                                    ConfigInt,
	"num.partitions":                                             ConfigInt,
	"num.recovery.threads.per.data.dir":                          ConfigInt,
	"offset.metadata.max.bytes":                                  ConfigInt,
	"offsets.retention.check.interval.ms":                        ConfigLong,
	"offsets.retention.minutes":                                  ConfigInt,
	"offsets.topic.num.partitions":                               ConfigInt,
	"offsets.topic.replication.factor":                           ConfigShort,
	"offsets.topic.segment.bytes":                                ConfigInt,
	"process.roles":                                              ConfigList,
	"producer.id.expiration.ms":                                  ConfigInt,
	"replica.fetch.backoff.ms":                                   ConfigInt,
	"replica.fetch.max.bytes":                                    ConfigInt,
	"replica.fetch.min.bytes":                                    ConfigInt,
	"replica.fetch.response.max.bytes":                           ConfigInt,
	"replica.fetch.wait.max.ms":                                  ConfigInt,
	"replica.high.watermark.checkpoint.interval.ms":              ConfigLong,
	"replica.lag.time.max.ms":                                    ConfigLong,
	"socket.receive.buffer.bytes":                                ConfigInt,
	"socket.request.max.bytes":                                   ConfigInt,
	"socket.send.buffer.bytes":                                   ConfigInt,
	"transaction.max.timeout.ms":                                 ConfigInt,
	"transaction.remove.expired.transaction.cleanup.interval.ms": ConfigInt,
	"transaction.state.log.min.isr":                              ConfigInt,
	"transaction.state.log.num.partitions":                       ConfigInt,
	"transaction.state.log.replication.factor":                   ConfigShort,
	"transaction.state.log.segment.bytes":                        ConfigInt,
	"transactional.id.expiration.ms":                             ConfigInt,
	// gregor's own keys, by the type of their value.
	"bootstrap.transaction.version": ConfigShort,
	"debug.listener":                ConfigString,
	"gossip.listener":               ConfigString,
	"gossip.seeds":                  ConfigList,
	"log.cache.bytes":               ConfigLong,
	"log.flush.group.commit":        ConfigBoolean,
	"log.format":                    ConfigString,
	"log.level":                     ConfigString,
	"metrics.listener":              ConfigString,
	"replica.truncate.on.fetch":     ConfigBoolean,
}
