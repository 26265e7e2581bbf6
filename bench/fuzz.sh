#!/usr/bin/env bash
# Run every libFuzzer target for SECONDS (default 60) on a scratch copy of
# its committed corpus, two at a time, and report per target whether it
# found anything. Needs a fuzz build:
#   CC=clang cmake -S . -B build-fuzz -DES_FUZZ=ON -DES_SANITIZE=ON -DES_BENCH=OFF
#   cmake --build build-fuzz -j
# usage: bench/fuzz.sh [BUILD_DIR] [SECONDS]
set -u
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
secs=${2:-60}
out=$(mktemp -d)
run_one() {
  local name=$1 bin=$build/tests/fuzz/$1 corpus=tests/fuzz/corpus/$1
  local d; d=$(mktemp -d)
  cp -r "$corpus"/. "$d"/ 2>/dev/null
  "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/$name-" "$d" > "$out/$name.log" 2>&1
  local rc=$?
  local runs; runs=$(grep -o 'Done [0-9]* runs' "$out/$name.log" | grep -o '[0-9]*')
  printf '%-14s %s  runs=%s\n' "$name" "$([ $rc -eq 0 ] && echo clean || echo "FOUND (rc=$rc, see $out/$name.log)")" "${runs:-?}"
  rm -rf "$d"
}
targets=$(ls "$build"/tests/fuzz/ | grep -E '^fuzz_[a-z_]+$' | grep -v _replay)
set -- $targets
while [ $# -gt 0 ]; do
  run_one "$1" &
  if [ $# -gt 1 ]; then run_one "$2" & fi
  wait
  shift; [ $# -gt 0 ] && shift
done
