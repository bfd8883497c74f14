"""Round trip through confluent-kafka (librdkafka) with every codec."""
import sys
from confluent_kafka import Producer, Consumer, TopicPartition

addr, topic = sys.argv[1], sys.argv[2]
want = []
for codec in ['none', 'gzip', 'snappy', 'lz4', 'zstd']:
    p = Producer({'bootstrap.servers': addr, 'acks': 'all', 'compression.type': codec,
                  'enable.idempotence': False})
    errors = []
    for i in range(3):
        # Compressible: librdkafka sends a batch uncompressed when its
        # codec would not make it smaller.
        v = '%s-%d-%s' % (codec, i, 'x' * 300)
        want.append(v)
        p.produce(topic, value=v.encode(), partition=0,
                  on_delivery=lambda err, msg: err and errors.append(err))
    if p.flush(30) != 0 or errors:
        print('produce failed', errors)
        sys.exit(1)
c = Consumer({'bootstrap.servers': addr, 'group.id': 'e2e', 'enable.auto.commit': False})
c.assign([TopicPartition(topic, 0, 0)])
got = []
while len(got) < len(want):
    m = c.poll(10)
    if m is None:
        break
    if m.error():
        print('consume error', m.error())
        continue
    got.append(m.value().decode())
c.close()
if got != want:
    print('got', got, 'want', want)
    sys.exit(1)
print('ok', len(got))
