#!/usr/bin/env python3
"""Backfill end to end: N generated mentions with shuffled event times and
50 topics through `earshot backfill`, reporting mentions/s and peak RSS.

usage: bench/bench_backfill.py [N] [--stdin]
  N        mentions (default 1,000,000)
  --stdin  generate into a pipe instead of a file (for 10,000,000+, where
           the file would be several GB); the rate then includes nothing of
           the generator, which runs in another process, but the generator
           may be the bottleneck, so only peak RSS is meaningful that way.
Run from the repository root after building (build/earshot).
"""
import os
import resource
import subprocess
import sys
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1000000
use_stdin = "--stdin" in sys.argv
earshot = os.path.join(root, "build", "earshot")
config = os.path.join(root, "bench", "backfill50.yaml")
outdir = os.path.join(root, "bench", "out")
os.makedirs(outdir, exist_ok=True)
gen = [sys.executable, os.path.join(root, "bench", "backfill_gen.py"), str(n)]

cmd = [earshot, "backfill", "-c", config, "--no-progress", "-o", os.devnull]
if use_stdin:
    g = subprocess.Popen(gen, stdout=subprocess.PIPE)
    t0 = time.monotonic()
    p = subprocess.run(cmd + ["-"], stdin=g.stdout, stderr=subprocess.PIPE, text=True)
    g.wait()
else:
    data = os.path.join(outdir, "mentions-%d.ndjson" % n)
    if not os.path.exists(data):
        with open(data, "w") as f:
            subprocess.run(gen, stdout=f, check=True)
    t0 = time.monotonic()
    p = subprocess.run(cmd + [data], stderr=subprocess.PIPE, text=True)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
rss_mib = ru.ru_maxrss / 1024.0
cpu = ru.ru_utime + ru.ru_stime
if p.returncode != 0:
    sys.stderr.write(p.stderr)
    sys.exit(p.returncode)
print(p.stderr.strip().splitlines()[-1])
# CPU time says what one core sustains even when the machine is shared;
# wall time is what a user waits.
print("mentions: %d  wall: %.2f s (%.0f mentions/s)  cpu: %.2f s (%.0f mentions/s)  "
      "peak RSS: %.0f MiB" % (n, wall, n / wall, cpu, n / cpu, rss_mib))
