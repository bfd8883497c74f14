# Part of scripts/chaos (see run): one process of a chaos scenario.
# Transactional producer: transactions of N records (seq values), logs per
# transaction: committed / aborted with seqs and errors; recreates the
# producer after a fatal error.
import sys, time, json, os, signal
from confluent_kafka import Producer, KafkaException
topic, out, txid, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
extra = dict(a.split('=', 1) for a in sys.argv[5:])
f = open(out, 'w')
def log(d):
    d['t'] = time.time(); f.write(json.dumps(d) + '\n'); f.flush()
stop = False
def handler(*a):
    global stop; stop = True
signal.signal(signal.SIGTERM, handler); signal.signal(signal.SIGINT, handler)
def mk():
    conf = {'bootstrap.servers': os.environ['GREGOR_BROKERS'], 'transactional.id': txid, 'linger.ms': 5,
            'transaction.timeout.ms': 60000, 'error_cb': lambda e: log({'cb': str(e), 'fatal': e.fatal()})}
    conf.update(extra)
    p = Producer(conf)
    t0 = time.time()
    while True:
        try:
            p.init_transactions(30); break
        except KafkaException as e:
            log({'init_err': str(e.args[0]), 'retriable': e.args[0].retriable()})
            if e.args[0].fatal(): raise
    log({'init': time.time() - t0})
    return p
p = mk()
seq = 0
while not stop:
    seqs = list(range(seq, seq + n)); seq += n
    t0 = time.time()
    try:
        p.begin_transaction()
        for s in seqs:
            while True:
                try:
                    p.produce(topic, key=str(s % 97).encode(), value=str(s).encode()); break
                except BufferError:
                    p.poll(0.05)
        while True:
            try:
                p.commit_transaction(30); break
            except KafkaException as e:
                err = e.args[0]
                log({'commit_err': str(err), 'retriable': err.retriable(), 'abortable': err.txn_requires_abort(), 'fatal': err.fatal()})
                if err.retriable(): continue
                raise
        log({'committed': [seqs[0], seqs[-1]], 'took': time.time() - t0})
    except KafkaException as e:
        err = e.args[0]
        log({'err': str(err), 'abortable': err.txn_requires_abort(), 'fatal': err.fatal(), 'retriable': err.retriable(), 'seqs': [seqs[0], seqs[-1]]})
        if err.fatal():
            log({'recreate': True}); p = mk(); continue
        while True:
            try:
                p.abort_transaction(30); log({'aborted': [seqs[0], seqs[-1]]}); break
            except KafkaException as e2:
                err2 = e2.args[0]
                log({'abort_err': str(err2), 'retriable': err2.retriable(), 'fatal': err2.fatal()})
                if err2.fatal():
                    log({'recreate': True}); p = mk(); break
                if not err2.retriable(): break
log({'done': seq})
