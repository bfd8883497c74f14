#!/usr/bin/env python3
"""burstcheck.py OUTDIR: the check of scripts/chaos/judge admin.

Compares every broker's metadata (verify.txt) with the answers the kadm
workers got (burst.txt): brokers that disagree, partitions without a leader
or out of sync, topics answered deleted but present, answered created but
absent, present after a failed create (allowed when the answer was lost),
grown but not to 6 partitions; then the answers counted by kind."""
import sys, collections
d = sys.argv[1]
last = collections.defaultdict(list)
for l in open(d + '/burst.txt'):
    f = l.split(None, 4)
    last[f[1]].append((f[0], f[4].strip()))
nodes = collections.defaultdict(dict)
for l in open(d + '/verify.txt'):
    f = l.rstrip('\n').split(' ', 4)
    nodes[f[1]][f[2]] = (int(f[3]), f[4] if len(f) > 4 else '')
names = set(last) | set(t for n in nodes.values() for t in n)
bad = collections.Counter(); ex = collections.defaultdict(list)
for t in sorted(names):
    ops = last.get(t, [])
    views = {n: nodes[n].get(t) for n in nodes}
    if len(set(views.values())) > 1:
        bad['nodes disagree'] += 1; ex['nodes disagree'].append((t, views, ops))
    v = list(views.values())[0]
    if v and v[1]:
        bad['partition problems'] += 1; ex['partition problems'].append((t, v, ops))
    created = any(o == 'create' and (r == 'OK' or 'ALREADY_EXISTS' in r) for o, r in ops)
    deleted = any(o == 'delete' and r == 'OK' for o, r in ops)
    grown = any(o == 'addparts' and r == 'OK' for o, r in ops)
    gone = any(o == 'delete' and r.startswith('UNKNOWN_TOPIC_OR_PARTITION') for o, r in ops)
    if created and gone and not v:
        # The delete's first answer was lost (its node killed); the
        # client's retry found the topic gone.
        bad['deleted, the retry answered UNKNOWN_TOPIC_OR_PARTITION (allowed)'] += 1
        continue
    if deleted and v: bad['deleted but present'] += 1; ex['deleted but present'].append((t, v, ops))
    elif created and not deleted and not v: bad['acked create but absent'] += 1; ex['acked create but absent'].append((t, ops))
    elif v and not created: bad['present after failed create (allowed if the answer was unknown)'] += 1; ex['present after failed create (allowed if the answer was unknown)'].append((t, v, ops))
    if v and grown and v[0] != 6: bad['grown but not 6'] += 1; ex['grown but not 6'].append((t, v, ops))
    if v and v[0] not in (3, 6): bad['odd partition count'] += 1; ex['odd partition count'].append((t, v, ops))
print('topics named', len(names), 'present', sum(1 for t in names if list(nodes.values())[0].get(t)), {n: len(x) for n, x in nodes.items()})
for k, n in bad.items():
    print(k, n)
    for e in ex[k][:4]: print('   ', e)
print('results by op:')
c = collections.Counter((o, r.split('"')[0].split(':')[0][:60]) for ops in last.values() for o, r in ops)
for k, n in sorted(c.items()): print('  ', n, k)
