"""Three confluent-kafka (librdkafka) consumers of one group with the
cooperative-sticky assignor: they join one by one, then the second closes.
Checks, after each step once the group settled: every partition owned by
exactly one member, the shares even, and the partitions a member kept never
revoked (a cooperative rebalance only revokes what moves); at no time is a
partition assigned to a member while another still owns it. Records are
committed as they are read (synchronously, on revocation too): at the end
every record was read and the group's committed offsets are the end
offsets. A commit refused with REBALANCE_IN_PROGRESS (the group completing
a rebalance, as Kafka's classic groups answer) is made again once the
member polled, as an application does. Prints ok; a member that fails
reports it and the script exits (the members' threads are daemons, so a
failed check never waits on a consumer nobody polls)."""
import sys
import threading
import time
import traceback
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

addr, topic, group, parts, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
lock = threading.Lock()
owner = {}          # partition -> member owning it
owned = {}          # member -> set of partitions
revoked = {}        # member -> partitions revoked since the last check
problems = []
seen = set()
refusals = []       # commits refused with REBALANCE_IN_PROGRESS, made again


def member(name, stop):
    try:
        run_member(name, stop)
    except Exception:
        with lock:
            problems.append('%s failed: %s' % (name, traceback.format_exc()))


def refused_for_rebalance(e):
    return e.args and e.args[0].code() == KafkaError.REBALANCE_IN_PROGRESS


def run_member(name, stop):
    c = Consumer({'bootstrap.servers': addr, 'group.id': group, 'enable.auto.commit': False,
                  'auto.offset.reset': 'earliest', 'session.timeout.ms': 10000,
                  'heartbeat.interval.ms': 500, 'partition.assignment.strategy': 'cooperative-sticky'})

    def on_assign(c, ps):
        with lock:
            for tp in ps:
                if tp.partition in owner:
                    problems.append('%s assigned %d while %s owns it' % (name, tp.partition, owner[tp.partition]))
                owner[tp.partition] = name
                owned.setdefault(name, set()).add(tp.partition)

    def on_revoke(c, ps):
        try:
            c.commit(asynchronous=False)
        except Exception as e:  # nothing consumed since the last commit
            if 'NO_OFFSET' not in str(e):
                problems.append('%s commit on revoke: %s' % (name, e))
        with lock:
            for tp in ps:
                owner.pop(tp.partition, None)
                owned.get(name, set()).discard(tp.partition)
                revoked.setdefault(name, set()).add(tp.partition)

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    uncommitted = False  # a commit was refused for a rebalance
    while not stop.is_set():
        m = c.poll(0.2)
        if m is not None and m.error():
            problems.append('%s: %s' % (name, m.error()))
            continue
        if m is not None:
            with lock:
                seen.add(m.value())
        try:
            if uncommitted:
                # The offsets stored for every partition it owns (each
                # record's as it was handed over), the refused ones too.
                c.commit(asynchronous=False)
            elif m is not None:
                c.commit(message=m, asynchronous=False)
            uncommitted = False
        except KafkaException as e:
            if e.args and e.args[0].code() == KafkaError._NO_OFFSET:
                uncommitted = False  # committed already, on revocation
            elif refused_for_rebalance(e):
                uncommitted = True
                with lock:
                    refusals.append(name)
            else:
                raise
    c.close()


def settled(names, timeout=60):
    """Waits until exactly names own every partition, evenly."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with lock:
            shares = [len(owned.get(x, ())) for x in names]
            if len(owner) == parts and set(owner.values()) == set(names) and max(shares) - min(shares) <= 1:
                return {x: set(owned[x]) for x in names}
        time.sleep(0.1)
    print('not settled on', names, 'owner', owner)
    print('\n'.join(problems))
    sys.exit(1)


stops, threads = {}, {}


def join(name):
    """Waits for member name's thread to close its consumer and end."""
    threads[name].join(60)
    if threads[name].is_alive():
        print('%s did not close within 60 s' % name)
        print('\n'.join(problems))
        sys.exit(1)


def start(name):
    stops[name] = threading.Event()
    threads[name] = threading.Thread(target=member, args=(name, stops[name]), daemon=True)
    threads[name].start()


start('m0')
before = settled(['m0'])
for joined, group_now in (('m1', ['m0', 'm1']), ('m2', ['m0', 'm1', 'm2'])):
    with lock:
        revoked.clear()
    start(joined)
    after = settled(group_now)
    for x in before:
        lost = before[x] - after[x]
        with lock:
            extra = revoked.get(x, set()) - lost
        if extra:
            problems.append('%s revoked %s it kept when %s joined' % (x, sorted(extra), joined))
    before = after
with lock:
    revoked.clear()
stops['m1'].set()
join('m1')
after = settled(['m0', 'm2'])
for x in ('m0', 'm2'):
    with lock:
        extra = revoked.get(x, set())
    if extra:
        problems.append('%s revoked %s when m1 left' % (x, sorted(extra)))
deadline = time.time() + 60
while time.time() < deadline:
    with lock:
        if len(seen) == n:
            break
    time.sleep(0.1)
for x in ('m0', 'm2'):
    stops[x].set()
    join(x)

check = Consumer({'bootstrap.servers': addr, 'group.id': group})
committed = check.committed([TopicPartition(topic, p) for p in range(parts)], timeout=10)
ends = [check.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(parts)]
check.close()
if [tp.offset for tp in committed] != ends:
    problems.append('committed %s, end offsets %s' % ([tp.offset for tp in committed], ends))
if len(seen) != n:
    problems.append('read %d distinct records of %d' % (len(seen), n))
if problems:
    print('\n'.join(problems))
    sys.exit(1)
print('ok', len(seen), 'records;', len(refusals), 'commits refused for a rebalance and made again')
