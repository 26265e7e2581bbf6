#!/bin/sh
# earshot run, end to end, through a file feed: N mentions (two topics) ->
# pipeline -> a `file` sink, with --exit-when-done. Prints mentions/s, alerts/s
# and peak RSS. Usage: bench/bench_run.sh [BUILD_DIR] [MENTIONS] [COMPLAINT_EVERY]
#   COMPLAINT_EVERY=0: no complaint mentions (measures feed + pipeline);
#   COMPLAINT_EVERY=k: every k-th mention is a complaint (one alert each, so
#   this measures the spool-first alert path).
set -eu
BUILD=${1:-build}
N=${2:-200000}
EVERY=${3:-0}
SRC=$(cd "$(dirname "$0")/.." && pwd)
EARSHOT=$(cd "$BUILD" && pwd)/earshot
T=$(mktemp -d /tmp/es_bench_run.XXXXXX)
trap 'rm -rf "$T"' EXIT
python3 - "$T/m.ndjson" "$N" "$EVERY" <<'PY'
import sys
path, n, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as f:
    for i in range(n):
        t = 1748736000 + i // 20
        brand = "@acme" if i % 2 else "#globex"
        if every and i % every == 0:
            text = "%s my order %d never arrived, worst service ever, I want a refund" % (brand, i)
        else:
            text = "%s thanks, the new app is nice, see you at the store on friday" % brand
        f.write('{"id":"m%d","created_at":%d,"author":"u%d","text":"%s"}\n' % (i, t, i % 5000, text))
PY
cat > "$T/run.yaml" <<YAML
state: $T/state.db
lexicons: $SRC/lexicons
topics:
  - name: acme
    query: '@acme'
  - name: globex
    query: '#globex'
feeds:
  - name: input
    type: file
    path: $T/m.ndjson
sinks:
  - name: archive
    type: file
    path: $T/alerts.ndjson
YAML
start=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$T/rss" "$EARSHOT" run -c "$T/run.yaml" --exit-when-done \
    --log-level warn 2> "$T/log" || { cat "$T/log"; exit 1; }
end=$(date +%s.%N)
alerts=$(wc -l < "$T/alerts.ndjson" 2>/dev/null || echo 0)
python3 - "$start" "$end" "$N" "$alerts" "$(tail -1 "$T/rss")" <<'PY'
import sys
s, e, n, a, rss = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
d = e - s
print("%d mentions, %d alerts in %.2f s: %.0f mentions/s, %.0f alerts/s, peak RSS %.1f MiB"
      % (n, a, d, n / d, a / d, rss / 1024.0))
PY
