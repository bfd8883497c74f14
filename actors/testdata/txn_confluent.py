"""confluent-kafka's transactional producer against gregor: consume ck-in
(2 partitions, 40 records each, values "p-i") in a group, copy each batch
to ck-out in a transaction with the group's offsets
(send_offsets_to_transaction), committing and aborting in turn; then check
that a read_committed consumer sees exactly the committed copies, a
read_uncommitted one sees every copy, and the group's committed offsets are
those of the last committed transaction. Prints ok, or what went wrong."""
import os
import sys
import uuid
from confluent_kafka import Consumer, Producer, TopicPartition

addr = sys.argv[1]
debug = {'debug': os.environ['RDKAFKA_DEBUG']} if os.environ.get('RDKAFKA_DEBUG') else {}
TOTAL = 80

consumer = Consumer(dict(debug, **{
    'bootstrap.servers': addr, 'group.id': 'ck-group', 'auto.offset.reset': 'earliest',
    'enable.auto.commit': False, 'isolation.level': 'read_committed'}))
consumer.assign([TopicPartition('ck-in', 0, 0), TopicPartition('ck-in', 1, 0)])
producer = Producer(dict(debug, **{
    'bootstrap.servers': addr, 'transactional.id': 'ck-txn', 'transaction.timeout.ms': 30000}))
producer.init_transactions(30)

committed, aborted, read, n = [], [], 0, 0
committed_positions = None
while read < TOTAL:
    msgs = consumer.consume(num_messages=7, timeout=5)
    if not msgs:
        print('no input read after %d of %d records' % (read, TOTAL))
        sys.exit(1)
    for m in msgs:
        if m.error():
            print('consume error: %s' % m.error())
            sys.exit(1)
    read += len(msgs)
    commit = n % 3 != 1  # every third transaction aborts
    n += 1
    producer.begin_transaction()
    values = []
    for m in msgs:
        v = ('%s-%s' % ('c' if commit else 'a', m.value().decode())).encode()
        producer.produce('ck-out', value=v, partition=m.partition())
        values.append(v)
    positions = consumer.position(consumer.assignment())
    producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
    if commit:
        producer.commit_transaction(30)
        committed += values
        committed_positions = {(p.topic, p.partition): p.offset for p in positions}
    else:
        producer.flush(30)  # else the abort drops what is still queued
        producer.abort_transaction(30)
        aborted += values


def read_all(isolation, want):
    c = Consumer(dict(debug, **{
        'bootstrap.servers': addr, 'group.id': 'ck-check-' + uuid.uuid4().hex,
        'auto.offset.reset': 'earliest', 'enable.auto.commit': False, 'isolation.level': isolation,
        'enable.partition.eof': True}))
    c.assign([TopicPartition('ck-out', 0, 0), TopicPartition('ck-out', 1, 0)])
    got, eof = [], set()
    while len(eof) < 2:
        m = c.poll(10)
        if m is None:
            print('%s: nothing more after %d records' % (isolation, len(got)))
            sys.exit(1)
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
                continue
            print('%s: %s' % (isolation, m.error()))
            sys.exit(1)
        got.append(m.value())
    c.close()
    if sorted(got) != sorted(want):
        print('%s read %d records, want %d: extra %s, missing %s' % (
            isolation, len(got), len(want), sorted(set(got) - set(want))[:5], sorted(set(want) - set(got))[:5]))
        sys.exit(1)


read_all('read_committed', committed)
read_all('read_uncommitted', committed + aborted)
check = Consumer({'bootstrap.servers': addr, 'group.id': 'ck-group'})
offsets = check.committed([TopicPartition('ck-in', 0), TopicPartition('ck-in', 1)], timeout=10)
got = {(p.topic, p.partition): p.offset for p in offsets}
if got != committed_positions:
    print('group offsets %s, want those of the last committed transaction %s' % (got, committed_positions))
    sys.exit(1)
print('ok: %d transactions, %d records committed, %d aborted' % (n, len(committed), len(aborted)))
