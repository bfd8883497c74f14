# Part of scripts/chaos (see judge eos): a consume-transform-produce copier
# with confluent-kafka. It reads IN in group GROUP (read_committed, no auto
# commit) and copies each record's value to OUT as "IN-PARTITION:OFFSET:VALUE"
# in transactions of up to N records that also commit the group's offsets
# (send_offsets_to_transaction). After an aborted transaction it seeks back
# to the group's committed offsets; after a fatal error it starts again with
# the same transactional id. Logs JSON lines (committed, aborted, errors).
#
#     eos.py IN OUT GROUP TXID N LOG
import json
import os
import signal
import sys
import time
from confluent_kafka import Consumer, KafkaError, Producer, KafkaException, TopicPartition, OFFSET_BEGINNING

src, dst, group, txid, n, out = sys.argv[1:7]
n = int(n)
f = open(out, 'a')  # a copier started again appends


def log(d):
    d['t'] = time.time()
    f.write(json.dumps(d) + '\n')
    f.flush()


stop = False


def handler(*a):
    global stop
    stop = True


signal.signal(signal.SIGTERM, handler)
signal.signal(signal.SIGINT, handler)
brokers = os.environ['GREGOR_BROKERS']


def cb(e):
    if e.code() != -195:  # _TRANSPORT: a node killed or paused, as planned
        log({'cb': str(e), 'fatal': e.fatal()})


def producer():
    p = Producer({'bootstrap.servers': brokers, 'transactional.id': txid, 'linger.ms': 5,
                  'transaction.timeout.ms': 60000, 'error_cb': cb})
    t0 = time.time()
    while True:
        try:
            p.init_transactions(30)
            break
        except KafkaException as e:
            log({'init_err': str(e.args[0]), 'retriable': e.args[0].retriable()})
            if e.args[0].fatal():
                raise
    log({'init': time.time() - t0})
    return p


def committed(c, parts):
    # The group's coordinator may be moving (NOT_COORDINATOR, as from
    # Kafka): librdkafka hands that to committed(); ask again.
    deadline = time.time() + 120
    while True:
        try:
            return c.committed(parts, 30)
        except KafkaException as e:
            log({'committed_err': str(e.args[0]), 'retriable': e.args[0].retriable()})
            moving = e.args[0].code() in (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                                          KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError._TIMED_OUT)
            if not (moving or e.args[0].retriable()) or time.time() > deadline:
                raise
            time.sleep(0.5)


def rewind(c):
    parts = c.assignment()
    if not parts:
        return
    for tp in committed(c, parts):
        c.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
    log({'rewound': [[tp.partition, tp.offset] for tp in committed(c, parts)]})


c = Consumer({'bootstrap.servers': brokers, 'group.id': group, 'enable.auto.commit': False,
              'auto.offset.reset': 'earliest', 'isolation.level': 'read_committed',
              'session.timeout.ms': 10000, 'error_cb': cb})
c.subscribe([src], on_assign=lambda c, ps: log({'assigned': [p.partition for p in ps]}),
            on_revoke=lambda c, ps: log({'revoked': [p.partition for p in ps]}))
p = producer()
while not stop:
    batch = []
    deadline = time.time() + 0.5
    while len(batch) < n and time.time() < deadline and not stop:
        m = c.poll(0.1)
        if m is None or m.error():
            if m is not None:
                log({'consume_err': str(m.error())})
            continue
        batch.append(m)
    if not batch:
        continue
    try:
        p.begin_transaction()
        for m in batch:
            v = '%d:%d:%s' % (m.partition(), m.offset(), m.value().decode())
            while True:
                try:
                    p.produce(dst, key=m.key(), value=v.encode())
                    break
                except BufferError:
                    p.poll(0.05)
        # The offsets after the records copied, not position(assignment()):
        # a rebalance that revoked the partitions during the batch leaves
        # the assignment empty, and the copies would commit no offsets.
        nxt = {}
        for m in batch:
            nxt[(m.topic(), m.partition())] = m.offset() + 1
        p.send_offsets_to_transaction([TopicPartition(t, q, o) for (t, q), o in nxt.items()],
                                      c.consumer_group_metadata(), 30)
        while True:
            try:
                p.commit_transaction(30)
                break
            except KafkaException as e:
                err = e.args[0]
                log({'commit_err': str(err), 'retriable': err.retriable(), 'abortable': err.txn_requires_abort()})
                if err.retriable():
                    continue
                raise
        log({'committed': len(batch), 'first': [batch[0].partition(), batch[0].offset()]})
    except KafkaException as e:
        err = e.args[0]
        log({'err': str(err), 'abortable': err.txn_requires_abort(), 'fatal': err.fatal(),
             'retriable': err.retriable()})
        if err.fatal():
            p = producer()
        else:
            while True:
                try:
                    p.abort_transaction(30)
                    log({'aborted': len(batch)})
                    break
                except KafkaException as e2:
                    log({'abort_err': str(e2.args[0]), 'fatal': e2.args[0].fatal()})
                    if e2.args[0].fatal():
                        p = producer()
                        break
                    if not e2.args[0].retriable():
                        break
        rewind(c)
c.close()
log({'done': True})
