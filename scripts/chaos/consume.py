# Part of scripts/chaos (see run): one process of a chaos scenario.
# One member of a consumer group: logs every record (partition offset seq),
# assignments and errors as JSON lines; stops on SIGTERM.
import sys, time, json, os, signal
from confluent_kafka import Consumer, KafkaError
topic, group, out = sys.argv[1], sys.argv[2], sys.argv[3]
extra = dict(a.split('=', 1) for a in sys.argv[4:])
f = open(out, 'w')
def log(d):
    d['t'] = time.time(); f.write(json.dumps(d) + '\n')
def on_error(e):
    log({'error': str(e), 'fatal': e.fatal(), 'retriable': e.retriable()}); f.flush()
conf = {'bootstrap.servers': os.environ['GREGOR_BROKERS'], 'group.id': group, 'auto.offset.reset': 'earliest',
        'enable.auto.commit': True, 'auto.commit.interval.ms': 1000, 'session.timeout.ms': 10000,
        'heartbeat.interval.ms': 1000, 'error_cb': on_error}
conf.update(extra)
stop = False
def handler(*a):
    global stop; stop = True
signal.signal(signal.SIGTERM, handler); signal.signal(signal.SIGINT, handler)
c = Consumer(conf)
c.subscribe([topic], on_assign=lambda c, ps: log({'assign': [p.partition for p in ps]}),
            on_revoke=lambda c, ps: log({'revoke': [p.partition for p in ps]}))
single = os.environ.get('POLL') == '1'
while not stop:
    if single:
        m = c.poll(0.2)
        msgs = [m] if m is not None else []
    else:
        msgs = c.consume(500, 0.2)
    for m in msgs:
        if m.error():
            log({'merror': str(m.error()), 'code': m.error().code()})
            continue
        f.write('%d %d %s %.3f\n' % (m.partition(), m.offset(), m.value().decode(), time.time()))
    f.flush()
c.close()
log({'closed': True}); f.close()
