# Part of scripts/chaos (see run): one process of a chaos scenario.
# Checks a kcat run: python3 checkkcat.py DIR (the records fed to the kcat producer DIR/gen.count, its exit DIR/kcatp.rc and errors DIR/kcatp.stderr, the consumers DIR/cons-*.log)
import sys, json, glob, collections
d = sys.argv[1]
n = int(open(f'{d}/gen.count').read())
rc = open(f'{d}/kcatp.rc').read().strip()
perr = [l for l in open(f'{d}/kcatp.stderr') if 'delivery' in l.lower()]
consumed, conflict, order_viol, t_new = {}, 0, 0, []
byp = collections.defaultdict(dict)
for fn in glob.glob(f'{d}/cons-*.log'):
    last = {}
    for line in open(fn):
        parts = line.split()
        if len(parts) != 4: continue
        p, o, s, t = int(parts[0]), int(parts[1]), int(parts[2]), float(parts[3])
        if (p, o) in byp[p] and byp[p][(p, o)] != s: conflict += 1
        byp[p][(p, o)] = s
        if s not in consumed: t_new.append(t)
        consumed[s] = (p, o)
seqs_at = collections.Counter((p, o) for s, (p, o) in consumed.items())
dups = sum(1 for s in range(n) if False)
missing = [s for s in range(n) if s not in consumed]
bad_order = 0
for p, m in byp.items():
    l = sorted(m.items())
    for (k1, s1), (k2, s2) in zip(l, l[1:]):
        if s2 <= s1: bad_order += 1
# duplicates: same seq at two offsets
occ = collections.Counter()
for p, m in byp.items():
    for k, s in m.items(): occ[s] += 1
dupseq = sum(1 for s, c in occ.items() if c > 1)
ts = sorted(t_new)
gaps = sorted(((round(b - a, 2), round(a - ts[0], 1)) for a, b in zip(ts, ts[1:])), reverse=True)[:5]
print(f'produced={n} {rc} delivery failures reported={len(perr)} consumed distinct={len(consumed)} missing={len(missing)} dup seqs={dupseq} out-of-order={bad_order} conflicts={conflict}')
print(' missing sample:', missing[:10])
print(' longest consumer progress gaps (s, at):', gaps)
for l in perr[:5]: print('  kcat-p:', l.strip()[:200])
for fn in glob.glob(f'{d}/kcatc-*.stderr'):
    c = collections.Counter(l.strip()[:110] for l in open(fn) if 'ERROR' in l or 'rror' in l)
    print(' ', fn.split('/')[-1], c.most_common(4))
