#!/usr/bin/env bash
# Runs the whole meson suite N times in a row while other load competes for
# the CPUs, to find tests that only fail sometimes. Not part of `make test`.
#
#   scripts/repeat-tests.sh [N] [BUILD]      (default 10, build)
#
# The load is Debian's `stress` (one CPU hog per core, and one process
# writing to disk), started before the first run and stopped after the last.
# Prints one line per run and a last line "N passed, N failed" (runs).
set -uo pipefail
n=${1:-10}
build=${2:-build}
cd "$(dirname "$0")/.."
if ! command -v stress >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "repeat-tests: needs stress (sudo apt-get install -y stress)" >&2; exit 2; }
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq stress >/dev/null
fi
[ -f "$build/build.ninja" ] || { echo "repeat-tests: $build is not set up (make build)" >&2; exit 2; }
ninja -C "$build" >/dev/null || exit 2

stress --cpu "$(nproc)" --hdd 1 --hdd-bytes 64M >/dev/null 2>&1 &
load=$!
trap 'kill "$load" 2>/dev/null; wait "$load" 2>/dev/null' EXIT

pass=0; fail=0
for i in $(seq 1 "$n"); do
  start=$(date +%s)
  if meson test -C "$build" --num-processes 2 --print-errorlogs > "$build/repeat-$i.log" 2>&1; then
    pass=$((pass + 1)); r=ok
  else
    fail=$((fail + 1)); r="FAILED ($(grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT)' "$build/repeat-$i.log" | awk '{print $2}' | tr '\n' ' '))"
  fi
  echo "run $i: $r in $(( $(date +%s) - start ))s"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
