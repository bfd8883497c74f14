"""kafka-python's KafkaAdminClient and KafkaConsumer calls a user makes, each
checked against what Apache Kafka answers. Prints ok, or what differed."""
import sys
import time
from kafka import KafkaAdminClient, KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import (NewTopic, NewPartitions, ConfigResource, ConfigResourceType, ACL, ACLFilter,
                         ACLOperation, ACLPermissionType, ResourcePattern, ResourcePatternFilter,
                         ResourceType, ACLResourcePatternType)
from kafka.errors import TopicAlreadyExistsError, SecurityDisabledError, GroupLoadInProgressError, \
    GroupIdNotFoundError, NoError, InvalidRequestError
from kafka.structs import OffsetAndMetadata

addr = sys.argv[1]
failures = []


def check(what, got, want):
    if got != want:
        failures.append('%s: got %r, want %r' % (what, got, want))


a = KafkaAdminClient(bootstrap_servers=addr)
a.create_topics([NewTopic('kp', 3, 1, topic_configs={'retention.ms': '100000'})])
a.create_topics([NewTopic('kp-validate', 3, 1)], validate_only=True)
try:
    a.create_topics([NewTopic('kp', 3, 1)])
    failures.append('creating kp twice succeeded')
except TopicAlreadyExistsError:
    pass
# KRaft's metadata log has the name __cluster_metadata: Kafka refuses it.
try:
    a.create_topics([NewTopic('__cluster_metadata', 1, 1)])
    failures.append('creating __cluster_metadata succeeded')
except InvalidRequestError:
    pass
check('list_topics', sorted(t for t in a.list_topics() if not t.startswith('__')), ['kp'])
(desc,) = a.describe_topics(['kp'])
check('describe_topics partitions', sorted(p['partition'] for p in desc['partitions']), [0, 1, 2])
check('describe_topics leaders', set(p['leader'] for p in desc['partitions']), {1})
cluster = a.describe_cluster()
check('describe_cluster brokers', [b['node_id'] for b in cluster['brokers']], [1])
check('describe_cluster controller', cluster['controller_id'], 1)
a.create_partitions({'kp': NewPartitions(4)})
res = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'kp', configs={'retention.ms': None})])
entries = res[0].resources[0][4]
check('describe_configs retention.ms', [(e[0], e[1], e[3]) for e in entries], [('retention.ms', '100000', 1)])
a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, 'kp', configs={'retention.ms': '500000'})])
res = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'kp', configs={'retention.ms': None})])
check('retention.ms after alter_configs', res[0].resources[0][4][0][1], '500000')
# A resource or topic one request names twice is refused, INVALID_REQUEST, and
# left as it was, as by Kafka (which entry should win is not said).
resp = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, 'kp', configs={'retention.ms': '600000'}),
                        ConfigResource(ConfigResourceType.TOPIC, 'kp', configs={'retention.ms': '700000'})])
check('alter_configs of a topic twice', [r[0] for r in resp.resources], [InvalidRequestError.errno] * 2)
res = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'kp', configs={'retention.ms': None})])
check('retention.ms after alter_configs twice', res[0].resources[0][4][0][1], '500000')
try:
    a.delete_topics(['kp', 'kp'])
    failures.append('deleting kp twice in one request succeeded')
except InvalidRequestError:
    pass
check('kp after deleting it twice in one request', 'kp' in a.list_topics(), True)

p = KafkaProducer(bootstrap_servers=addr, acks='all')
for i in range(20):
    p.send('kp', key=b'k%d' % i, value=b'v%d' % i, partition=i % 4,
           timestamp_ms=1700000000000 + i * 1000, headers=[('h', b'x')])
p.flush()
c = KafkaConsumer(bootstrap_servers=addr, group_id='kpg', enable_auto_commit=False,
                  auto_offset_reset='earliest')
tps = [TopicPartition('kp', i) for i in range(4)]
c.assign(tps)
check('beginning_offsets', c.beginning_offsets(tps), {tp: 0 for tp in tps})
check('end_offsets', c.end_offsets(tps), {tp: 5 for tp in tps})
# Partition i holds the records at 1700000000000 + (i + 4k) s, k = 0..4.
times = c.offsets_for_times({tp: 1700000005000 for tp in tps})
check('offsets_for_times', {tp.partition: (o.offset, o.timestamp) for tp, o in times.items()},
      {0: (2, 1700000008000), 1: (1, 1700000005000), 2: (1, 1700000006000), 3: (1, 1700000007000)})
check('offsets_for_times past the last', c.offsets_for_times({tps[0]: 1800000000000}), {tps[0]: None})
c.seek(tps[0], 2)
check('position after seek', c.position(tps[0]), 2)
c.pause(tps[1])
check('paused', c.paused(), {tps[1]})
read = {}
deadline = time.time() + 20
while sum(read.values()) < 13 and time.time() < deadline:
    for tp, recs in c.poll(timeout_ms=1000).items():
        read[tp.partition] = read.get(tp.partition, 0) + len(recs)
        for r in recs:
            check('headers', r.headers, [('h', b'x')])
check('records read (partition 1 paused, 0 from offset 2)', read, {0: 3, 2: 5, 3: 5})
c.resume(tps[1])
check('paused after resume', c.paused(), set())
c.commit({tps[0]: OffsetAndMetadata(3, 'meta')})
check('committed', c.committed(tps[0]), 3)
c.seek_to_end(tps[2])
check('position at end', c.position(tps[2]), 5)
c.seek_to_beginning(tps[2])
check('position at beginning', c.position(tps[2]), 0)
check('partitions_for_topic', c.partitions_for_topic('kp'), {0, 1, 2, 3})
c.close()

# ListGroups answers COORDINATOR_LOAD_IN_PROGRESS while a group coordinator
# loads, as Kafka's does (the first group request created
# __consumer_offsets a moment ago); the Java admin client retries it.
for _ in range(50):
    try:
        groups = a.list_consumer_groups()
        break
    except GroupLoadInProgressError:
        time.sleep(0.1)
check('list_consumer_groups', groups, [('kpg', '')])
(g,) = a.describe_consumer_groups(['kpg'])
check('describe_consumer_groups', (g.group, g.state, g.members), ('kpg', 'Empty', []))
check('list_consumer_group_offsets', a.list_consumer_group_offsets('kpg'),
      {tps[0]: OffsetAndMetadata(3, 'meta')})
check('list_consumer_group_offsets of named partitions',
      a.list_consumer_group_offsets('kpg', partitions=[tps[0], tps[3]]),
      {tps[0]: OffsetAndMetadata(3, 'meta'), tps[3]: OffsetAndMetadata(-1, '')})
check('delete_consumer_groups', a.delete_consumer_groups(['kpg', 'nogroup']),
      [('kpg', NoError), ('nogroup', GroupIdNotFoundError)])

# No authorizer: ACL calls get SECURITY_DISABLED, as from Kafka without one.
any_filter = ACLFilter(principal=None, host='*', operation=ACLOperation.ANY,
                       permission_type=ACLPermissionType.ANY,
                       resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
try:
    a.describe_acls(any_filter)
    failures.append('describe_acls succeeded')
except SecurityDisabledError:
    pass
acl = ACL(principal='User:alice', host='*', operation=ACLOperation.READ, permission_type=ACLPermissionType.ALLOW,
          resource_pattern=ResourcePattern(ResourceType.TOPIC, 'kp'))
created = a.create_acls([acl])
check('create_acls', (created['succeeded'], [e for _, e in created['failed']]), ([], [SecurityDisabledError]))
check('delete_acls', [e for _, _, e in a.delete_acls([any_filter])], [SecurityDisabledError])

a.delete_topics(['kp'])
if failures:
    print('\n'.join(failures))
    sys.exit(1)
print('ok')
