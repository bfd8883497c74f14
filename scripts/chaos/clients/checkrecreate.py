# checkrecreate.py OUT: what a topic deleted and created again holds (scripts/chaos/run5 recreate)
import sys, collections, re
out = sys.argv[1]
t = dict(l.split() for l in open(out + '/times'))
T1, T2 = int(t['T1']), int(t['T2'])
acks = {}; errs = collections.Counter(); err_t = []
for l in open(out + '/prod.txt'):
    f = l.split(' ', 4)
    if f[0] == 'ack':
        acks[f[3]] = (int(f[1]), int(f[2]), int(f[4]))
    else:
        errs[re.sub(r'\d+', 'N', f[3].strip())[:150]] += 1; err_t.append(int(f[2]))
fresh = {}
for l in open(out + '/fresh.txt'):
    p, o, v = l.split()
    fresh[v] = (int(p), int(o))
old_in_new = [v for v in fresh if v in acks and acks[v][2] < T1]
new_acked = {v: a for v, a in acks.items() if a[2] > T2}
missing = [v for v, a in new_acked.items() if v not in fresh]
byp = collections.defaultdict(list)
for v, (p, o) in fresh.items(): byp[p].append(o)
gaps = {p: (min(os), max(os), len(os)) for p, os in byp.items()}
reads = {}; cerr = collections.Counter(); first_new_read = None
for i in (1, 2):
    for l in open(f'{out}/cons-{i}.txt'):
        f = l.split(' ', 4)
        if f[0] == 'rec':
            reads[f[3]] = (int(f[1]), int(f[2])); ts = int(f[4])
            if ts > T2 and f[3] in new_acked and (first_new_read is None or ts < first_new_read): first_new_read = ts
        else:
            cerr[re.sub(r'\d+', 'N', f[2].strip())[:150]] += 1
notread = [v for v in new_acked if v not in reads] if reads else ['(no group ran)']
first_new_ack = min((a[2] for a in new_acked.values()), default=None)
last_old_ack = max((a[2] for a in acks.values() if a[2] < T1), default=None)
print(f'acked {len(acks)} (before delete {sum(1 for a in acks.values() if a[2] < T1)}, between {sum(1 for a in acks.values() if T1 <= a[2] <= T2)}, after recreate {len(new_acked)}); produce errors {sum(errs.values())}')
print(f'new topic (fresh read): {len(fresh)} records, per partition (min,max,count) {sorted(gaps.items())}')
print(f'OLD DATA IN NEW TOPIC: {len(old_in_new)} {old_in_new[:5]}; acked after recreate missing from new topic: {len(missing)} {missing[:5]}; not read by group: {len(notread)} {notread[:5]}')
print(f'delete->recreate {T2-T1} ms; first ack after recreate +{(first_new_ack or 0)-T2} ms; first group read of new data +{(first_new_read or 0)-T2} ms; last old ack {T1-(last_old_ack or 0)} ms before delete')
for e, n in errs.most_common(8): print(f'  producer error x{n}: {e}')
for e, n in cerr.most_common(12): print(f'  consumer error x{n}: {e}')
