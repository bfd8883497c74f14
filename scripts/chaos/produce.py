# Part of scripts/chaos (see run): one process of a chaos scenario.
# Idempotent acks=all producer: writes seq numbers continuously; logs every
# delivery report (acked: partition offset seq; failed: error) as JSON lines.
import sys, time, json, os, signal
from confluent_kafka import Producer
topic, out, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
extra = dict(a.split('=', 1) for a in sys.argv[4:])
conf = {'bootstrap.servers': os.environ['GREGOR_BROKERS'], 'enable.idempotence': True, 'acks': 'all',
        'linger.ms': 5, 'message.timeout.ms': 120000, 'error_cb': None}
errs = open(out + '.errors', 'w')
def on_error(e):
    errs.write(json.dumps({'t': time.time(), 'err': str(e), 'fatal': e.fatal(), 'retriable': e.retriable()}) + '\n'); errs.flush()
conf['error_cb'] = on_error
conf.update(extra)
p = Producer(conf)
f = open(out, 'w')
stop = False
def handler(*a):
    global stop; stop = True
signal.signal(signal.SIGTERM, handler); signal.signal(signal.SIGINT, handler)
def dr(err, msg):
    seq = int(msg.value())
    if err is not None:
        f.write(json.dumps({'t': time.time(), 'seq': seq, 'err': str(err)}) + '\n')
    else:
        f.write(json.dumps({'t': time.time(), 'seq': seq, 'p': msg.partition(), 'o': msg.offset()}) + '\n')
seq = 0
start = time.time()
while not stop:
    target = int((time.time() - start) * rate)
    while seq < target and not stop:
        try:
            p.produce(topic, key=str(seq % 97).encode(), value=str(seq).encode(), on_delivery=dr)
            seq += 1
        except BufferError:
            p.poll(0.05)
    p.poll(0.01)
left = p.flush(150)
f.write(json.dumps({'t': time.time(), 'done': seq, 'unflushed': left}) + '\n')
f.close()
