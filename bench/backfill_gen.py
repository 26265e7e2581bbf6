#!/usr/bin/env python3
"""Generate N synthetic mentions (earshot NDJSON) for the backfill benchmark.

Event times are uniform over 30 days and written in random order, so backfill
must sort them. Texts are tweet-like and mention one of 50 fictional brands
(brand00..brand49) through a handle, a hashtag or the name, with complaints,
questions, praise and chatter mixed in. Deterministic for a given N.

usage: backfill_gen.py N > mentions.ndjson
"""
import json
import random
import sys

n = int(sys.argv[1])
rng = random.Random(12345)
start = 1740787200  # 2025-03-01T00:00:00Z
span = 30 * 86400
templates = [
    "@{h} my order still hasn't arrived after 2 weeks, no response from support",
    "loving the new {n} app update, so smooth 😍 #{h}",
    "does anyone know if {n} ships to Canada?",
    "@{h} I was charged twice for the same order, please refund me",
    "just saw the {n} ad on tv lol",
    "#{h} customer service is the worst, never again",
    "@{h} thanks for sorting my issue so quickly, great service!",
    "why is the {n} website still down?? been trying all morning",
    "{n} vs the competition: a thread 🧵 https://example.invalid/t/{i}",
    "@{h} hi, could you help me change the address on my account?",
    "meh, {n} is ok I guess",
    "RT @{h}: our spring sale starts today! #{h}",
]
out = sys.stdout
buf = []
for i in range(n):
    b = rng.randrange(50)
    h = "brand%02d" % b
    name = "Brand %02d" % b
    t = start + rng.randrange(span)
    text = rng.choice(templates).format(h=h, n=name, i=i)
    m = {
        "id": str(1000000000 + i),
        "created_at": t,
        "text": text,
        "author": "user%d" % rng.randrange(200000),
        "source": "twitter",
        "url": "https://example.invalid/s/%d" % i,
        "lang": "en",
        "followers": rng.randrange(5000),
        "likes": rng.randrange(20),
        "reposts": rng.randrange(5),
    }
    buf.append(json.dumps(m, separators=(",", ":"), ensure_ascii=False))
    if len(buf) >= 10000:
        out.write("\n".join(buf) + "\n")
        buf = []
if buf:
    out.write("\n".join(buf) + "\n")
