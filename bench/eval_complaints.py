#!/usr/bin/env python3
"""Measure complaint detection the way the issue states it.

Runs `earshot score` over a labelled CSV (id,text,label[,domain]; label 1 =
complaint), feeding NDJSON {"id", "text"} on stdin and reading "intent" and
"complaint" back, then reports:

  - macro-F1 over the two classes (complaint <=> intent == "complaint"),
  - precision, recall and F1 of each class,
  - ROC AUC of the "complaint" score,
  - the same per half of the file (split by a hash of the id), so that rules
    tuned on half A can be checked on half B,
  - with --by-domain, recall/precision per domain column.

Usage:
  bench/eval_complaints.py [--earshot build/earshot] [--csv FILE]
                           [--by-domain] [--errors N] [--half A|B]

Only the Python standard library is used. The data is read in place and
never copied into the repository.
"""

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CSV = "/work/shared/eval/complaints/dev.csv"
DEFAULT_BIN = os.path.join(HERE, "..", "build", "earshot")


def half_of(row_id):
    """A stable split that does not depend on the id's parity or order."""
    return "AB"[hashlib.md5(row_id.encode()).digest()[0] & 1]


def run_earshot(binary, rows):
    lines = "".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows)
    proc = subprocess.run([binary, "score"], input=lines.encode(), capture_output=True)
    if proc.returncode != 0:
        sys.exit("earshot score failed (%d): %s" % (proc.returncode, proc.stderr.decode()[:2000]))
    out = {}
    for n, line in enumerate(proc.stdout.decode().splitlines(), 1):
        obj = json.loads(line)
        if "intent" not in obj or "complaint" not in obj:
            sys.exit("output line %d has no intent/complaint: %s" % (n, line[:200]))
        out[str(obj["id"])] = obj
    missing = [r["id"] for r in rows if r["id"] not in out]
    if missing:
        sys.exit("%d inputs have no output (first: %s)" % (len(missing), missing[0]))
    return out


def auc(pairs):
    """ROC AUC by ranks (ties count one half): P(score of a complaint >
    score of a non-complaint)."""
    pos = [s for s, y in pairs if y]
    neg = sorted(s for s, y in pairs if not y)
    if not pos or not neg:
        return float("nan")
    import bisect

    total = 0.0
    for s in pos:
        lo = bisect.bisect_left(neg, s)
        hi = bisect.bisect_right(neg, s)
        total += lo + 0.5 * (hi - lo)
    return total / (len(pos) * len(neg))


def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def report(name, items):
    """items: list of (predicted_complaint, score, label)."""
    tp = sum(1 for p, _, y in items if p and y)
    fp = sum(1 for p, _, y in items if p and not y)
    fn = sum(1 for p, _, y in items if not p and y)
    tn = len(items) - tp - fp - fn
    pc, rc, fc = prf(tp, fp, fn)
    pn, rn, fnn = prf(tn, fn, fp)
    a = auc([(s, y) for _, s, y in items])
    print("%-8s n=%-5d macro-F1 %.3f | complaint P %.3f R %.3f F1 %.3f | "
          "not P %.3f R %.3f F1 %.3f | AUC %.3f"
          % (name, len(items), (fc + fnn) / 2, pc, rc, fc, pn, rn, fnn, a))
    return (fc + fnn) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--earshot", default=DEFAULT_BIN)
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--by-domain", action="store_true")
    ap.add_argument("--errors", type=int, default=0, help="print N misclassified texts")
    ap.add_argument("--half", choices=["A", "B"], help="print errors from this half only")
    args = ap.parse_args()

    with open(args.csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = run_earshot(args.earshot, rows)

    items = []
    for r in rows:
        o = out[r["id"]]
        items.append((o["intent"] == "complaint", float(o["complaint"]), r["label"] == "1", r))

    kinds = {}
    for _, _, _, r in items:
        k = out[r["id"]]["intent"]
        kinds[k] = kinds.get(k, 0) + 1
    print("file: %s (%d texts, %d complaints)" % (args.csv, len(rows),
                                                 sum(1 for x in items if x[2])))
    print("intents: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    macro = report("all", [x[:3] for x in items])
    for h in "AB":
        report("half " + h, [x[:3] for x in items if half_of(x[3]["id"]) == h])
    if args.by_domain:
        doms = sorted({x[3].get("domain", "") for x in items})
        for d in doms:
            sub = [x for x in items if x[3].get("domain", "") == d]
            pos = sum(1 for x in sub if x[2])
            pred = sum(1 for x in sub if x[0])
            hit = sum(1 for x in sub if x[0] and x[2])
            print("  %-14s n=%-4d complaints %-4d predicted %-4d correct %-4d"
                  % (d, len(sub), pos, pred, hit))
    if args.errors:
        shown = 0
        for p, s, y, r in items:
            if p != y and (args.half is None or half_of(r["id"]) == args.half):
                print("%s %.2f %s | %s" % ("FN" if y else "FP", s, r.get("domain", ""),
                                           r["text"].replace("\n", " ")[:160]))
                shown += 1
                if shown >= args.errors:
                    break
    return 0 if macro >= 0 else 1


if __name__ == "__main__":
    sys.exit(main())
