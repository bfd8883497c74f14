"""confluent-kafka (librdkafka) transactions across the loss of their
coordinator: commit transactions of N records until a line on stdin (the
test kills the coordinator's node and starts it again meanwhile), keep
committing until told so by a second line, then read the topic with
read_committed and check that every committed transaction's records are
there once, in order per partition, and no aborted one's. Retriable errors
are retried, abortable ones abort the transaction (its records must not be
read), as an application following librdkafka's transactions guide does.
Prints 'committed K' after each commit and 'ok' at the end."""
import select
import sys
import time
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

addr, topic, partitions, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = Producer({'bootstrap.servers': addr, 'transactional.id': 'e2e-confluent-txn', 'linger.ms': 5,
              'transaction.timeout.ms': 60000, 'message.timeout.ms': 60000})
p.init_transactions(60)
committed, aborted = [], []
seq = 0
lines = 0


def stdin_lines():
    """Counts the lines the test wrote to stdin so far (without blocking)."""
    global lines
    while select.select([sys.stdin], [], [], 0)[0]:
        if not sys.stdin.readline():
            break
        lines += 1
    return lines


def transaction(values):
    p.begin_transaction()
    for i, v in enumerate(values):
        p.produce(topic, value=v.encode(), partition=(seq + i) % partitions)
    while True:
        try:
            p.commit_transaction(60)
            return True
        except KafkaException as e:
            err = e.args[0]
            if err.retriable():
                continue
            if err.txn_requires_abort():
                p.abort_transaction(60)
                return False
            raise


deadline = time.time() + 150
while stdin_lines() < 2:
    if time.time() > deadline:
        print('no second line on stdin', flush=True)
        sys.exit(1)
    values = ['v-%06d' % (seq + i) for i in range(n)]
    try:
        ok = transaction(values)
    except KafkaException as e:
        err = e.args[0]
        if err.fatal():
            print('fatal', err, flush=True)
            sys.exit(1)
        # A retriable or abortable error outside the commit (begin,
        # produce): the transaction is aborted, then the next one begins.
        while True:
            try:
                p.abort_transaction(60)
                break
            except KafkaException as e2:
                if not e2.args[0].retriable():
                    raise
        ok = False
    (committed if ok else aborted).append(values)
    seq += n
    if ok:
        print('committed', len(committed), flush=True)

c = Consumer({'bootstrap.servers': addr, 'group.id': 'e2e-confluent-txn-check', 'isolation.level': 'read_committed',
              'enable.auto.commit': False, 'enable.partition.eof': True})
c.assign([TopicPartition(topic, q, 0) for q in range(partitions)])
got, eof = [], set()
while len(eof) < partitions:
    m = c.poll(30)
    if m is None:
        print('read timed out with', len(got), 'records', flush=True)
        sys.exit(1)
    if m.error():
        if m.error().code() == -191:  # _PARTITION_EOF
            eof.add(m.partition())
            continue
        print('consume error', m.error(), flush=True)
        sys.exit(1)
    eof.discard(m.partition())
    got.append((m.partition(), m.value().decode()))
c.close()
want = sorted(v for values in committed for v in values)
values = sorted(v for _, v in got)
if values != want:
    lost = sorted(set(want) - set(values))[:5]
    extra = sorted(set(values) - set(want))[:5]
    print('read %d records, want %d: lost %s, extra or aborted %s' % (len(values), len(want), lost, extra), flush=True)
    sys.exit(1)
for q in range(partitions):
    mine = [v for part, v in got if part == q]
    if mine != sorted(mine):
        print('partition', q, 'out of order', flush=True)
        sys.exit(1)
print('ok', len(committed), 'committed', len(aborted), 'aborted', flush=True)
