"""Kills a random node of a `gregor cluster up` cluster (SIGKILL) every
10-20 s and starts it again with `gregor cluster up --dir DIR` after DOWN
seconds, for DURATION seconds; logs JSON lines (kill, up) to OUT.

    chaos.py DIR DURATION DOWN OUT [PICK]

PICK, a shell command printing a node number, chooses the victim instead of
chance (run picks the transaction coordinator's node with coord). The
gregor binary is $GREGOR, else gregor on $PATH; $SEED seeds the choices."""
import json
import os
import random
import subprocess
import sys
import time

d, dur, down, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
pick = sys.argv[5] if len(sys.argv) > 5 else ''
g = os.environ.get('GREGOR', 'gregor')
nodes = int(next(l.split('=')[1] for l in open(f'{d}/cluster.properties') if l.startswith('nodes=')))
random.seed(int(os.environ.get('SEED', '1')))
f = open(out, 'w')


def log(x):
    x['t'] = time.time()
    f.write(json.dumps(x) + '\n')
    f.flush()


end = time.time() + dur
while time.time() < end:
    time.sleep(random.uniform(10, 20))
    n = random.randint(1, nodes)
    if pick:
        chosen = subprocess.run(pick, shell=True, capture_output=True, text=True).stdout.strip()
        n = int(chosen) if chosen.isdigit() else n
    pid = int(open(f'{d}/node-{n}/gregor.pid').read())
    os.kill(pid, 9)
    log({'kill': n, 'pid': pid})
    time.sleep(down)
    t0 = time.time()
    r = subprocess.run([g, 'cluster', 'up', '--dir', d, '--timeout', '60s'], capture_output=True, text=True)
    log({'up': n, 'rc': r.returncode, 'took': time.time() - t0, 'err': r.stderr[-500:]})
log({'end': True})
