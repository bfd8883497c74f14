"""confluent-kafka's AdminClient (every method of Debian's 1.7) and the
Consumer's offset calls, each checked against what Apache Kafka answers.
Prints ok, or what differed."""
import sys
import time
from confluent_kafka import Consumer, Producer, TopicPartition, KafkaError, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource, ConfigSource

addr = sys.argv[1]
failures = []


def check(what, got, want):
    if got != want:
        failures.append('%s: got %r, want %r' % (what, got, want))


def outcome(futures):
    """Each future's error code name, or 'ok'."""
    out = {}
    for k, f in futures.items():
        try:
            f.result()
            out[str(k)] = 'ok'
        except Exception as e:
            out[str(k)] = e.args[0].name() if e.args and isinstance(e.args[0], KafkaError) else repr(e)
    return out


a = AdminClient({'bootstrap.servers': addr})
check('create_topics validate_only', outcome(a.create_topics([NewTopic('cf-v', 3, 1)], validate_only=True)), {'cf-v': 'ok'})
check('validated topic absent', 'cf-v' in a.list_topics(timeout=10).topics, False)
check('create_topics', outcome(a.create_topics([NewTopic('cf', 3, 1, config={'retention.ms': '100000', 'cleanup.policy': 'compact'}),
                                                 NewTopic('cf-default', -1, -1)])),
      {'cf': 'ok', 'cf-default': 'ok'})
check('create_topics refused', outcome(a.create_topics([NewTopic('cf', 3, 1), NewTopic('cf-badcfg', 1, 1, config={'no.such.config': '1'}),
                                                         NewTopic('cf-rf', 1, 3)])),
      {'cf': 'TOPIC_ALREADY_EXISTS', 'cf-badcfg': 'INVALID_CONFIG', 'cf-rf': 'INVALID_REPLICATION_FACTOR'})
check('create_partitions', outcome(a.create_partitions([NewPartitions('cf', 4)])), {'cf': 'ok'})
check('create_partitions validate_only', outcome(a.create_partitions([NewPartitions('cf', 8)], validate_only=True)), {'cf': 'ok'})
check('create_partitions refused', outcome(a.create_partitions([NewPartitions('cf', 2)])), {'cf': 'INVALID_PARTITIONS'})
check('create_partitions of no topic', outcome(a.create_partitions([NewPartitions('nope', 2)])), {'nope': 'UNKNOWN_TOPIC_OR_PART'})
# A topic one request names twice is refused once, INVALID_REQUEST, and left
# as it was, as by Kafka's controller (librdkafka cannot parse an answer that
# names a topic twice; 2.0.2 crashes on one that answers fewer topics than
# it asked for, which is what Kafka answers beside a duplicate).
check('create_topics twice', outcome(a.create_topics([NewTopic('cf-twice', 1, 1), NewTopic('cf-twice', 2, 1)])),
      {'cf-twice': 'INVALID_REQUEST'})
check('create_topics', outcome(a.create_topics([NewTopic('cf-once', 1, 1)])), {'cf-once': 'ok'})
check('create_partitions twice', outcome(a.create_partitions([NewPartitions('cf-once', 2), NewPartitions('cf-once', 3)])),
      {'cf-once': 'INVALID_REQUEST'})
check('delete_topics twice', outcome(a.delete_topics(['cf-once', 'cf-once'])), {'cf-once': 'INVALID_REQUEST'})
md = a.list_topics(timeout=10)
check('topics named twice', ('cf-twice' in md.topics, len(md.topics['cf-once'].partitions) if 'cf-once' in md.topics else 0), (False, 1))
check('delete_topics', outcome(a.delete_topics(['cf-once'])), {'cf-once': 'ok'})
md = a.list_topics(timeout=10)
check('partitions after create_partitions', len(md.topics['cf'].partitions), 4)
check('partitions of the default topic', len(md.topics['cf-default'].partitions), 1)
check('cluster', (list(md.brokers), md.controller_id), ([1], 1))


def topic_configs(name):
    return list(a.describe_configs([ConfigResource('topic', name)]).values())[0].result()


cfg = topic_configs('cf')
r = cfg['retention.ms']
check('retention.ms', (r.value, r.source, r.is_default, r.is_read_only),
      ('100000', ConfigSource.DYNAMIC_TOPIC_CONFIG.value, False, False))
check('retention.ms synonyms', [(s.name, s.source) for s in r.synonyms.values()],
      [('retention.ms', ConfigSource.DYNAMIC_TOPIC_CONFIG.value), ('log.retention.hours', ConfigSource.DEFAULT_CONFIG.value)])
check('segment.bytes', (cfg['segment.bytes'].source, cfg['segment.bytes'].is_default), (ConfigSource.DEFAULT_CONFIG.value, True))
broker = list(a.describe_configs([ConfigResource('broker', '1')]).values())[0].result()
check('broker log.dirs source', broker['log.dirs'].source, ConfigSource.STATIC_BROKER_CONFIG.value)
check('broker num.partitions', broker['num.partitions'].value, '1')
check('describe_configs of no topic', outcome(a.describe_configs([ConfigResource('topic', 'nope')])),
      {'ConfigResource(Type.TOPIC,nope)': 'UNKNOWN_TOPIC_OR_PART'})
check('alter_configs validate_only', outcome(a.alter_configs([ConfigResource('topic', 'cf', set_config={'retention.ms': '7000'})], validate_only=True)),
      {'ConfigResource(Type.TOPIC,cf)': 'ok'})
check('retention.ms after validate_only', topic_configs('cf')['retention.ms'].value, '100000')
# AlterConfigs replaces the topic's configs: cleanup.policy goes back to its default.
check('alter_configs', outcome(a.alter_configs([ConfigResource('topic', 'cf', set_config={'retention.ms': '5000'})])),
      {'ConfigResource(Type.TOPIC,cf)': 'ok'})
cfg = topic_configs('cf')
check('after alter_configs', (cfg['retention.ms'].value, cfg['cleanup.policy'].value), ('5000', 'delete'))
check('alter_configs refused', outcome(a.alter_configs([ConfigResource('topic', 'cf', set_config={'retention.ms': 'abc'})])),
      {'ConfigResource(Type.TOPIC,cf)': 'INVALID_CONFIG'})
check('alter_configs of a broker', outcome(a.alter_configs([ConfigResource('broker', '1', set_config={'log.retention.ms': '86400000'})])),
      {'ConfigResource(Type.BROKER,1)': 'ok'})
# That broker's own value, over the cluster-wide default (Kafka's DYNAMIC_BROKER_CONFIG).
r = list(a.describe_configs([ConfigResource('broker', '1')]).values())[0].result()['log.retention.ms']
check('broker log.retention.ms', (r.value, r.source), ('86400000', ConfigSource.DYNAMIC_BROKER_CONFIG.value))
check('alter_configs of a broker min.insync.replicas', outcome(a.alter_configs([ConfigResource('broker', '1', set_config={'min.insync.replicas': '2'})])),
      {'ConfigResource(Type.BROKER,1)': 'INVALID_CONFIG'})

# Records at known timestamps, one batch per codec, headers and keys.
codecs = ['none', 'gzip', 'snappy', 'lz4', 'zstd']
for n, codec in enumerate(codecs):
    p = Producer({'bootstrap.servers': addr, 'compression.type': codec, 'linger.ms': 5})
    for i in range(5):
        p.produce('cf', key=b'k', value=(codec + str(i)).encode(), partition=0,
                  timestamp=1700000000000 + n * 100000 + i * 1000, headers=[('h1', b'v1'), ('h2', None)])
    check('unflushed ' + codec, p.flush(30), 0)

c = Consumer({'bootstrap.servers': addr, 'group.id': 'cfg', 'auto.offset.reset': 'earliest', 'enable.auto.commit': False})
tp0, tp1 = TopicPartition('cf', 0), TopicPartition('cf', 1)
check('watermarks', c.get_watermark_offsets(tp0, timeout=10), (0, 25))
check('watermarks of an empty partition', c.get_watermark_offsets(tp1, timeout=10), (0, 0))
query = [TopicPartition('cf', 0, 1700000202500), TopicPartition('cf', 1, 1700000000000)]
check('offsets_for_times', [(x.partition, x.offset) for x in c.offsets_for_times(query, timeout=10)], [(0, 13), (1, -1)])
check('offsets_for_times past the last', c.offsets_for_times([TopicPartition('cf', 0, 1800000000000)], timeout=10)[0].offset, -1)
check('offsets_for_times latest', c.offsets_for_times([TopicPartition('cf', 0, -1)], timeout=10)[0].offset, 25)
check('offsets_for_times earliest', c.offsets_for_times([TopicPartition('cf', 0, -2)], timeout=10)[0].offset, 0)
c.assign([TopicPartition('cf', 0, 3)])
seen = []
deadline = time.time() + 20
while len(seen) < 22 and time.time() < deadline:
    m = c.poll(1)
    if m is None:
        continue
    if m.error():
        failures.append('poll: %s' % m.error())
        continue
    seen.append((m.offset(), m.value(), m.headers(), m.timestamp()))
check('records read', [s[0] for s in seen], list(range(3, 25)))
check('first record', seen[0] if seen else None, (3, b'none3', [('h1', b'v1'), ('h2', None)], (1, 1700000003000)))
check('last record', seen[-1] if seen else None, (24, b'zstd4', [('h1', b'v1'), ('h2', None)], (1, 1700000404000)))
c.seek(TopicPartition('cf', 0, 1))
m = c.poll(10)
check('after seek', m and (m.offset(), m.value()), (1, b'none1'))
check('position', [x.offset for x in c.position([tp0])], [2])
c.commit(offsets=[TopicPartition('cf', 0, 7)], asynchronous=False)
check('committed', [x.offset for x in c.committed([tp0, tp1], timeout=10)], [7, -1001])
c.incremental_unassign([TopicPartition('cf', 0)])
check('assignment after incremental_unassign', c.assignment(), [])
c.incremental_assign([TopicPartition('cf', 1, OFFSET_BEGINNING)])
check('assignment after incremental_assign', [(x.topic, x.partition) for x in c.assignment()], [('cf', 1)])
check('metadata of no topic', c.list_topics('nope', timeout=10).topics['nope'].error.code(), KafkaError.UNKNOWN_TOPIC_OR_PART)
c.close()

check('list_groups', [g.id for g in a.list_groups(timeout=10)], ['cfg'])
check('delete_topics', outcome(a.delete_topics(['cf', 'nope'])), {'cf': 'ok', 'nope': 'UNKNOWN_TOPIC_OR_PART'})
if failures:
    print('\n'.join(failures))
    sys.exit(1)
print('ok')
