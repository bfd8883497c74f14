"""Round trip through kafka-python: produce with acks=all, read back from the start."""
import sys
from kafka import KafkaProducer, KafkaConsumer

addr, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = KafkaProducer(bootstrap_servers=addr, acks='all', compression_type='gzip')
for i in range(n):
    p.send(topic, key=b'k%d' % i, value=b'py-%d' % i).get(timeout=30)
p.flush()
c = KafkaConsumer(topic, bootstrap_servers=addr, auto_offset_reset='earliest',
                  consumer_timeout_ms=10000, group_id=None)
got = []
for m in c:
    got.append(m.value.decode())
    if len(got) == n:
        break
want = ['py-%d' % i for i in range(n)]
if got != want:
    print('got', got, 'want', want)
    sys.exit(1)
print('ok', len(got))
