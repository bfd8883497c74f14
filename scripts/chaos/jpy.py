# Part of scripts/chaos (see judge mix): confluent-kafka (librdkafka) clients
# that log in the format of scripts/chaos/clients, which judge.py reads.
#
#   jpy.py prod TOPIC OUT RATE     idempotent acks=all producer: "ack P OFFSET VALUE MS", "err VALUE MS MSG"
#   jpy.py cons TOPIC GROUP OUT    a group member: "setup 0 [P...] MS", "revoked MS", "rec P OFFSET VALUE MS", "err MS MSG"
#   jpy.py kcons TOPIC GROUP OUT   the same with kafka-python (metadata refreshed every 5 s, to see added partitions)
#   jpy.py stamp OUT               kcat's "P OFFSET VALUE" lines on stdin to "rec P OFFSET VALUE MS"
#
# Brokers come from $GREGOR_BROKERS; stops on SIGTERM.
import sys, time, os, signal


def ms():
    return int(time.time() * 1000)


stop = False


def handler(*a):
    global stop
    stop = True


signal.signal(signal.SIGTERM, handler)
signal.signal(signal.SIGINT, handler)
mode = sys.argv[1]
if mode == 'stamp':
    out = open(sys.argv[2], 'w')
    for line in sys.stdin:
        out.write('rec %s %d\n' % (line.rstrip('\n'), ms()))
        out.flush()
    sys.exit(0)
brokers = os.environ['GREGOR_BROKERS']
if mode == 'kcons':
    # kafka-python (not librdkafka): a group member, the same lines as cons.
    from kafka import KafkaConsumer, ConsumerRebalanceListener
    topic, group, out = sys.argv[2], sys.argv[3], open(sys.argv[4], 'w')

    class Listener(ConsumerRebalanceListener):
        def on_partitions_assigned(self, ps):
            out.write('setup 0 %s %d\n' % (sorted(p.partition for p in ps), ms()))

        def on_partitions_revoked(self, ps):
            out.write('revoked %d\n' % ms())

    c = KafkaConsumer(bootstrap_servers=brokers.split(','), group_id=group, auto_offset_reset='earliest',
                      enable_auto_commit=True, auto_commit_interval_ms=1000, session_timeout_ms=10000,
                      heartbeat_interval_ms=1000, metadata_max_age_ms=5000)
    c.subscribe([topic], listener=Listener())
    while not stop:
        try:
            batches = c.poll(timeout_ms=200)
        except Exception as e:
            out.write('err %d %s\n' % (ms(), str(e).replace(' ', '_')))
            continue
        for recs in batches.values():
            for m in recs:
                out.write('rec %d %d %s %d\n' % (m.partition, m.offset, m.value.decode(), ms()))
        out.flush()
    c.close()
    out.close()
    sys.exit(0)
from confluent_kafka import Producer, Consumer
if mode == 'prod':
    topic, out, rate = sys.argv[2], open(sys.argv[3], 'w'), float(sys.argv[4])

    def err(e):
        out.write('err - %d %s\n' % (ms(), str(e).replace(' ', '_')))

    p = Producer({'bootstrap.servers': brokers, 'enable.idempotence': True, 'acks': 'all', 'linger.ms': 5,
                  'message.timeout.ms': 300000, 'error_cb': err})

    def dr(e, m):
        if e is not None:
            out.write('err %s %d %s\n' % (m.value().decode(), ms(), str(e).replace(' ', '_')))
        else:
            out.write('ack %d %d %s %d\n' % (m.partition(), m.offset(), m.value().decode(), ms()))

    seq, start = 0, time.time()
    while not stop:
        while seq < int((time.time() - start) * rate) and not stop:
            try:
                p.produce(topic, key=('k%d' % (seq % 1000)).encode(), value=('v%d' % seq).encode(), on_delivery=dr)
                seq += 1
            except BufferError:
                p.poll(0.05)
        p.poll(0.01)
        out.flush()
    left = p.flush(300)
    out.close()
    sys.stderr.write('producer sent %d, unflushed %d\n' % (seq, left))
elif mode == 'cons':
    topic, group, out = sys.argv[2], sys.argv[3], open(sys.argv[4], 'w')

    def err(e):
        out.write('err %d %s\n' % (ms(), str(e).replace(' ', '_')))

    c = Consumer({'bootstrap.servers': brokers, 'group.id': group, 'auto.offset.reset': 'earliest',
                  'enable.auto.commit': True, 'auto.commit.interval.ms': 1000, 'session.timeout.ms': 10000,
                  'heartbeat.interval.ms': 1000, 'error_cb': err})
    c.subscribe([topic], on_assign=lambda c, ps: out.write('setup 0 %s %d\n' % ([p.partition for p in ps], ms())),
                on_revoke=lambda c, ps: out.write('revoked %d\n' % ms()))
    while not stop:
        for m in c.consume(500, 0.2):
            if m.error():
                err(m.error())
                continue
            out.write('rec %d %d %s %d\n' % (m.partition(), m.offset(), m.value().decode(), ms()))
        out.flush()
    c.close()
    out.close()
else:
    sys.exit('jpy.py prod|cons|kcons|stamp')
