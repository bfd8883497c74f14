"""confluent-kafka (librdkafka) across a leader move: produce a first half,
wait for a line on stdin (the test moves the leader meanwhile), produce the
second half with the same producer, and read every record of this client
back with one consumer that was reading before the move."""
import sys
from confluent_kafka import Producer, Consumer, TopicPartition

addr, topic, prefix, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
p = Producer({'bootstrap.servers': addr, 'acks': 'all', 'enable.idempotence': False,
              'linger.ms': 0, 'retry.backoff.ms': 50, 'topic.metadata.refresh.interval.ms': 1000})
c = Consumer({'bootstrap.servers': addr, 'group.id': 'e2e-move', 'enable.auto.commit': False,
              'topic.metadata.refresh.interval.ms': 1000})
c.assign([TopicPartition(topic, 0, 0)])
errors = []
want = []
got = []


def produce(lo, hi):
    for i in range(lo, hi):
        v = '%s-%d' % (prefix, i)
        want.append(v)
        p.produce(topic, value=v.encode(), partition=0,
                  on_delivery=lambda err, msg: err and errors.append(err))
    if p.flush(60) != 0 or errors:
        print('produce failed', errors, flush=True)
        sys.exit(1)


def consume_until(count):
    while len(got) < count:
        m = c.poll(30)
        if m is None:
            print('consumed', got, 'want', want, flush=True)
            sys.exit(1)
        if m.error():
            continue
        v = m.value().decode()
        if v.startswith(prefix + '-') and v not in got:
            got.append(v)


produce(0, n // 2)
consume_until(n // 2)
print('first half', flush=True)
sys.stdin.readline()
produce(n // 2, n)
consume_until(n)
c.close()
if got != want:
    print('got', got, 'want', want, flush=True)
    sys.exit(1)
print('ok', len(got), flush=True)
