#!/usr/bin/env python3
"""Parity and quality of `earshot score` on VADER's ICWSM-2014 sets.

Runs `earshot score` (compat and default mode) over every item of the four
human-rated sets and reports, per set:

  - parity with the reference implementation (compat mode): the share of
    items whose compound is within 5e-5 of reference_scores_*.tsv and whose
    neg/neu/pos are within 1e-3;
  - quality (both modes): Pearson r between compound and the human mean,
    and the 3-class weighted F1 with compound >= 0.05 positive, <= -0.05
    negative, gold = sign of the human mean.

Usage: bench/eval_vader.py [--earshot build/earshot] [--data DIR]
       [--show-mismatches N]
Exit status 1 when compat parity is under 99.9% overall, or when default
mode is worse than compat on any set or not better on tweets.
Standard library only.
"""
import argparse
import json
import math
import os
import subprocess
import sys

SETS = [
    ("tweets", "tweets_GroundTruth.txt"),
    ("movie", "movieReviewSnippets_GroundTruth.txt"),
    ("amazon", "amazonReviewSnippets_GroundTruth.txt"),
    ("nyt", "nytEditorialSnippets_GroundTruth.txt"),
]


def load_items(data):
    items = []  # (set, id, mean, text)
    for name, fn in SETS:
        with open(os.path.join(data, fn), "rb") as f:
            raw = f.read().decode("utf-8")
        for line in raw.split("\n"):
            line = line.rstrip("\r")
            if not line:
                continue
            i, mean, text = line.split("\t", 2)
            items.append((name, i, float(mean), text))
    return items


def load_reference(data):
    ref = {}
    with open(os.path.join(data, "reference_scores_vaderSentiment_44fc044.tsv"),
              encoding="utf-8") as f:
        next(f)
        for line in f:
            s, i, neg, neu, pos, comp = line.rstrip("\n").split("\t")
            ref[(s, i)] = (float(neg), float(neu), float(pos), float(comp))
    return ref


def run(earshot, items, compat):
    payload = "".join(
        json.dumps({"id": "%s\t%s" % (s, i), "text": t}) + "\n" for s, i, _, t in items
    ).encode("utf-8")
    cmd = [earshot, "score"] + (["--compat", "vader"] if compat else [])
    p = subprocess.run(cmd, input=payload, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode("utf-8", "replace"))
        sys.exit("earshot score exited with %d" % p.returncode)
    out = {}
    for line in p.stdout.decode("utf-8").splitlines():
        o = json.loads(line)
        s, i = o["id"].split("\t")
        out[(s, i)] = o["sentiment"]
    if len(out) != len(items):
        sys.exit("expected %d results, got %d" % (len(items), len(out)))
    return out


def pearson(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy)


def cls(v, cut):
    return 1 if v >= cut else (-1 if v <= -cut else 0)


def weighted_f1(gold, pred):
    total = len(gold)
    f1w = 0.0
    for c in (-1, 0, 1):
        tp = sum(1 for g, p in zip(gold, pred) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred) if g == c and p != c)
        support = tp + fn
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        f1w += f1 * support / total
    return f1w


def quality(items, res):
    q = {}
    for name, _ in SETS:
        sub = [(m, res[(s, i)]["compound"]) for s, i, m, _ in items if s == name]
        gold = [(m > 0) - (m < 0) for m, _ in sub]
        pred = [cls(c, 0.05) for _, c in sub]
        acc = sum(1 for g, p in zip(gold, pred) if g == p) / len(sub)
        q[name] = (pearson([m for m, _ in sub], [c for _, c in sub]),
                   weighted_f1(gold, pred), acc, len(sub))
    return q


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--earshot", default=os.path.join(here, "..", "build", "earshot"))
    ap.add_argument("--data", default="/work/shared/eval/vader")
    ap.add_argument("--show-mismatches", type=int, default=0)
    a = ap.parse_args()

    items = load_items(a.data)
    ref = load_reference(a.data)
    compat = run(a.earshot, items, True)
    default = run(a.earshot, items, False)

    ok_all = 0
    print("parity (compat mode vs reference_scores_vaderSentiment_44fc044.tsv)")
    print("%-8s %6s %8s %8s %8s" % ("set", "items", "compound", "all4", "share"))
    shown = 0
    for name, _ in SETS:
        keys = [(s, i) for s, i, _, _ in items if s == name]
        okc = ok4 = 0
        for k in keys:
            neg, neu, pos, comp = ref[k]
            r = compat[k]
            c_ok = abs(r["compound"] - comp) <= 5e-5
            a_ok = c_ok and abs(r["neg"] - neg) <= 1e-3 and abs(r["neu"] - neu) <= 1e-3 \
                and abs(r["pos"] - pos) <= 1e-3
            okc += c_ok
            ok4 += a_ok
            if not a_ok and shown < a.show_mismatches:
                shown += 1
                text = next(t for s, i, _, t in items if (s, i) == k)
                print("  MISMATCH %s %s: ours %s ref %s | %r" % (k[0], k[1], r, ref[k], text))
        ok_all += ok4
        print("%-8s %6d %8d %8d %7.3f%%" % (name, len(keys), okc, ok4, 100.0 * ok4 / len(keys)))
    share = 100.0 * ok_all / len(items)
    print("%-8s %6d %17d %7.3f%%" % ("all", len(items), ok_all, share))

    qc = quality(items, compat)
    qd = quality(items, default)
    print("\nquality (Pearson r vs human mean; 3-class weighted F1, cuts +-0.05)")
    print("%-8s %9s %9s %9s %9s %9s %9s" % ("set", "r compat", "r default", "F1 compat",
                                           "F1 deflt", "acc compat", "acc deflt"))
    good = share >= 99.9
    for name, _ in SETS:
        rc, fc, ac, _ = qc[name]
        rd, fd, ad, _ = qd[name]
        print("%-8s %9.5f %9.5f %9.5f %9.5f %9.5f %9.5f" % (name, rc, rd, fc, fd, ac, ad))
        if rd < rc or fd < fc:
            good = False
        if name == "tweets" and not (rd > rc and fd > fc):
            good = False
    print("\ntargets %s" % ("met" if good else "NOT met"))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
