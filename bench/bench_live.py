#!/usr/bin/env python3
"""Load benchmark of `earshot run` with an SSE feed (issue 5).

A local SSE server on 127.0.0.1 pushes RATE mentions/s for DURATION s into
`earshot run` (two topics, a `file` sink). Every mention is a complaint
addressed to the owned @acme, so each one produces exactly one complaint
alert. The mention id embeds the time it was sent (microseconds since the
epoch, plus a 5-digit sequence so ids stay unique and sortable); a reader
process tails the alert file as it grows and takes, for every alert, the
time from the send to the moment the alert line could be read.

Reported: mentions sent, complaint alerts seen (nothing dropped means
equal, each id once), the achieved send rate, latency percentiles (after
the warm-up and overall), and VmRSS of earshot sampled every second (flat
after warm-up means the last samples are not above the first post-warm-up
ones by more than noise).

    bench/bench_live.py [--earshot build/earshot] [--rate 20000] [--duration 60]
                        [--warmup 10] [--json]

The machine is shared; run it a couple of times and keep the best.
"""
import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TEXT = "@acme lost my bag again, worst airline ever, I want a refund now #%d"
# Mentions that are not complaints (with --complaint-every N > 1).
CALM = "flying with acme air today, the sky is grey #%d"


def server(port_q, stats_q, rate, duration, every):
    """Accept one connection and stream events at `rate` per second."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    port_q.put(ls.getsockname()[1])
    c, _ = ls.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
              b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n:hello\n\n")
    t0 = time.time()
    sent = 0
    created = int(t0)
    tmpl = ('event: update\nid: %d\ndata: {"id":"%d%05d","created_at":%d,'
            '"author":"u%d","text":"' + TEXT + '"}\n\n')
    calm = ('event: update\nid: %d\ndata: {"id":"%d%05d","created_at":%d,'
            '"author":"u%d","text":"' + CALM + '"}\n\n')
    end = t0 + duration
    while True:
        now = time.time()
        if now >= end:
            break
        due = int((now - t0) * rate) - sent
        if due <= 0:
            time.sleep(0.001)
            continue
        if due > 2000:
            due = 2000
        us = int(now * 1e6)
        sec = int(now)
        parts = []
        for i in range(due):
            k = sent + i
            t = tmpl if k % every == 0 else calm
            parts.append(t % (k, us, k % 100000, sec, k % 997, k))
        c.sendall("".join(parts).encode())
        sent += due
    stats_q.put((sent, time.time() - t0))
    # Keep the stream open (heartbeats) until told to stop.
    try:
        while True:
            time.sleep(0.5)
            c.sendall(b":thump\n")
    except (BrokenPipeError, ConnectionResetError, OSError):
        pass


def reader(path, stop, out_q, warm_until):
    """Tail the alert file; latency of every complaint alert, in ms."""
    while not os.path.exists(path) and not stop.is_set():
        time.sleep(0.001)
    lat_all, lat_warm = [], []
    ids = set()
    dup = 0
    key = '"mentions":[{"id":"'
    buf = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                if stop.is_set():
                    break
                time.sleep(0.0005)
                continue
            now_us = time.time() * 1e6
            buf += chunk
            lines = buf.split(b"\n")
            buf = lines.pop()
            for ln in lines:
                s = ln.decode("utf-8", "replace")
                if '"kind":"complaint"' not in s:
                    continue
                i = s.find(key)
                if i < 0:
                    continue
                j = s.find('"', i + len(key))
                mid = s[i + len(key):j]
                if mid in ids:
                    dup += 1
                ids.add(mid)
                sent_us = int(mid[:-5])
                ms = (now_us - sent_us) / 1000.0
                lat_all.append(ms)
                if sent_us / 1e6 >= warm_until:
                    lat_warm.append(ms)
    out_q.put((len(ids), dup, lat_all, lat_warm))


def feed_counters(errpath):
    """decoded and duplicate from the last stats line of feed `live`."""
    decoded = dup = None
    with open(errpath, errors="replace") as f:
        for ln in f:
            if "[feed:live] received" in ln:
                part = ln.split("received", 1)[1]
                fields = {}
                for p in part.split(",")[1:4]:
                    w = p.strip().split(" ")
                    if len(w) > 1:
                        fields[w[0]] = w[1]
                decoded = int(fields.get("decoded", "0"))
                dup = int(fields.get("duplicate", "0"))
    return decoded, dup


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        return None
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--earshot", default=os.path.join(ROOT, "build", "earshot"))
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--complaint-every", type=int, default=1,
                    help="only every Nth mention is a complaint (1: all)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="earshot-bench-live-")
    alerts = os.path.join(work, "alerts.ndjson")
    port_q, stats_q, out_q = mp.Queue(), mp.Queue(), mp.Queue()
    srv = mp.Process(target=server, args=(port_q, stats_q, a.rate, a.duration, a.complaint_every),
                 daemon=True)
    srv.start()
    port = port_q.get()
    cfg = os.path.join(work, "earshot.yaml")
    with open(cfg, "w") as f:
        f.write("""state: %s/state.db
log:
  level: info
topics:
  - name: acme
    query: '@acme OR "acme air"'
    owned: ["@acme"]
  - name: globex
    query: 'globex OR @globex'
    owned: ["@globex"]
feeds:
  - name: live
    type: sse
    format: earshot
    url: http://127.0.0.1:%d/stream
    idle_timeout: 1h
sinks:
  - name: archive
    type: file
    path: %s
""" % (work, port, alerts))
    lex = os.path.join(ROOT, "lexicons")
    err = open(os.path.join(work, "stderr.log"), "w")
    want = None
    t_start = time.time()
    errpath = os.path.join(work, "stderr.log")
    proc = subprocess.Popen([a.earshot, "run", "-c", cfg, "--lexicons", lex,
                             "--stats-interval", "1s"],
                            stdout=subprocess.DEVNULL, stderr=err)
    stop = mp.Event()
    rd = mp.Process(target=reader, args=(alerts, stop, out_q, t_start + a.warmup), daemon=True)
    rd.start()

    rss = []
    sent = None
    deadline = t_start + a.duration + 120
    while time.time() < deadline:
        time.sleep(1.0)
        r = rss_kb(proc.pid)
        if r is not None:
            rss.append((round(time.time() - t_start), r))
        if sent is None and not stats_q.empty():
            sent, took = stats_q.get()
            drain_from = time.time()
            want = (sent + a.complaint_every - 1) // a.complaint_every
        if sent is not None:
            # Drained: the file holds an alert per mention (or it stopped
            # growing for 10 s).
            n = 0
            try:
                with open(alerts, "rb") as f:
                    n = sum(1 for _ in f)
            except OSError:
                pass
            dec, _ = feed_counters(errpath)
            if (n >= want and dec is not None and dec >= sent) or time.time() - drain_from > 30:
                break
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    time.sleep(0.2)
    stop.set()
    seen, dup, lat_all, lat_warm = out_q.get()
    rd.join(5)
    srv.terminate()

    warm_rss = [r for t, r in rss if t >= a.warmup and t <= a.duration]
    decoded, dup_feed = feed_counters(errpath)
    res = {
        "rate_target": a.rate,
        "duration_s": a.duration,
        "sent": sent,
        "send_rate": round(sent / took) if sent else None,
        "complaint_every": a.complaint_every,
        "decoded_by_feed": decoded,
        "duplicates_by_feed": dup_feed,
        "complaint_alerts": seen,
        "complaint_alerts_expected": want,
        "duplicate_alerts": dup,
        "dropped": (sent - decoded) if sent is not None and decoded is not None else None,
        "alerts_missing": (want - seen) if want is not None else None,
        "latency_ms_after_warmup": {
            "p50": round(pct(lat_warm, 50), 2), "p99": round(pct(lat_warm, 99), 2),
            "max": round(max(lat_warm), 2) if lat_warm else None},
        "latency_ms_all": {
            "p50": round(pct(lat_all, 50), 2), "p99": round(pct(lat_all, 99), 2),
            "max": round(max(lat_all), 2) if lat_all else None},
        "rss_kb_after_warmup": {
            "first": warm_rss[0] if warm_rss else None,
            "last": warm_rss[-1] if warm_rss else None,
            "min": min(warm_rss) if warm_rss else None,
            "max": max(warm_rss) if warm_rss else None},
        "rss_kb_samples": [r for _, r in rss],
        "exit": proc.returncode,
        "workdir": work,
    }
    if a.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            if k != "rss_kb_samples":
                print("%-24s %s" % (k, v))
        print("rss_kb_samples          ", " ".join(str(r) for r in res["rss_kb_samples"]))
    if res["dropped"] == 0 and res["alerts_missing"] == 0 and dup == 0:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
