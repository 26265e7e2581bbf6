#!/bin/sh
# Score `earshot spikes` (default settings) on the NAB realTweets series.
#
#   bench/nab.sh [BUILD_DIR] [-- extra earshot spikes options]
#
# BUILD_DIR defaults to build/. The NAB data and scorer live in
# ../shared/eval/nab relative to the source tree (override with NAB_DIR).
# Prints the scorer's per-series table and the normalized total; with
# extra options (e.g. -- --set volume_spike.threshold=6) it shows what a
# setting would score, for exploring, not for changing the defaults per file.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
nab=${NAB_DIR:-$here/../shared/eval/nab}
bin=$build/earshot
if [ ! -x "$bin" ]; then
    echo "nab.sh: $bin not found; build first (cmake --build $build)" >&2
    exit 2
fi
if [ ! -d "$nab/data/realTweets" ]; then
    echo "nab.sh: NAB data not found in $nab (set NAB_DIR)" >&2
    exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
"$bin" spikes "$@" "$nab"/data/realTweets/*.csv > "$tmp/alerts.ndjson"
# One "file,timestamp" line per firing alert, for the scorer.
python3 - "$tmp/alerts.ndjson" > "$tmp/alerts.csv" <<'PY'
import json, sys
print("file,timestamp")
for line in open(sys.argv[1]):
    a = json.loads(line)
    if a.get("status") == "firing":
        print("%s,%s" % (a["series"], a["at"]))
PY
echo "alerts: $(($(wc -l < "$tmp/alerts.csv") - 1))"
python3 "$nab/score.py" "$tmp/alerts.csv"
