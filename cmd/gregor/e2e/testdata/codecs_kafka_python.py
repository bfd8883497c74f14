"""kafka-python through every codec: for each, produce records with keys and
headers (acks=all, batches of many records), read them back from the start,
and print ok only when every record came back unchanged and in order."""
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition

addr, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for codec in ('gzip', 'snappy', 'lz4', 'zstd'):
    topic = '%s-%s' % (prefix, codec)
    p = KafkaProducer(bootstrap_servers=addr, acks='all', compression_type=codec, linger_ms=50)
    futures = [p.send(topic, key=b'k%d' % i, value=(b'%s-%d ' % (codec.encode(), i)) * 20,
                      headers=[('h', b'%d' % i)], partition=0) for i in range(n)]
    p.flush()
    for f in futures:
        f.get(timeout=30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=addr, auto_offset_reset='earliest',
                      consumer_timeout_ms=10000, group_id=None)
    c.assign([TopicPartition(topic, 0)])
    got = []
    for m in c:
        got.append((m.offset, m.key, m.value, m.headers))
        if len(got) == n:
            break
    c.close()
    want = [(i, b'k%d' % i, (b'%s-%d ' % (codec.encode(), i)) * 20, [('h', b'%d' % i)]) for i in range(n)]
    if got != want:
        print(codec, 'got', len(got), 'records, first differing:',
              next((g, w) for g, w in zip(got + [None] * n, want) if g != w))
        sys.exit(1)
print('ok', n)
