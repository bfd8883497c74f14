"""confluent-kafka's idempotent producer: produce count records per
partition, values "p-i", in order; print ok when every one is delivered."""
import os
import sys
from confluent_kafka import Producer

addr, topic, partitions, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conf = {'bootstrap.servers': addr, 'enable.idempotence': True, 'acks': 'all',
        'linger.ms': 0, 'batch.num.messages': 3, 'retry.backoff.ms': 10,
        'reconnect.backoff.ms': 10, 'reconnect.backoff.max.ms': 100,
        'message.timeout.ms': 60000}
if os.environ.get('RDKAFKA_DEBUG'):
    conf['debug'] = os.environ['RDKAFKA_DEBUG']
p = Producer(conf)
errors = []
delivered = [0]


def done(err, msg):
    if err:
        errors.append(err)
    else:
        delivered[0] += 1


for i in range(count):
    for part in range(partitions):
        p.produce(topic, value=('%d-%d' % (part, i)).encode(), partition=part, on_delivery=done)
    p.poll(0)
if p.flush(60) != 0 or errors:
    print('produce failed', delivered[0], errors[:5])
    sys.exit(1)
print('ok', delivered[0])
