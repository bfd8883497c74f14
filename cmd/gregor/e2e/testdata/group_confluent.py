"""A confluent-kafka (librdkafka) group consumer reads part of a topic,
commits and closes; a second one in the same group resumes from the
committed offsets."""
import sys
from confluent_kafka import Consumer

addr, topic, group, n, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])


def consume(limit):
    c = Consumer({'bootstrap.servers': addr, 'group.id': group, 'enable.auto.commit': False,
                  'auto.offset.reset': 'earliest', 'session.timeout.ms': 10000})
    c.subscribe([topic])
    out = []
    idle = 0
    while len(out) < limit and idle < 30:
        m = c.poll(1)
        if m is None:
            idle += 1
            continue
        if m.error():
            print('consume error', m.error())
            continue
        out.append(m.value().decode())
        if len(out) == limit:
            break
    if out:
        c.commit(asynchronous=False)
    c.close()
    return out


got = consume(first)
rest = consume(n - first)
if len(got) != first or len(got) + len(rest) != n or set(got) & set(rest) or len(set(got) | set(rest)) != n:
    print('first', got, 'then', rest)
    sys.exit(1)
print('ok', len(got), len(rest))
