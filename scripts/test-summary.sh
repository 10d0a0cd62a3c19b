#!/usr/bin/env bash
# Prints "N passed, N failed" over the meson test logs of the given build dirs.
pass=0; fail=0
for d in "$@"; do
  f="$d/meson-logs/testlog.json"
  [ -f "$f" ] || continue
  p=$(grep -c '"result": "OK"' "$f" || true)
  t=$(grep -c '"result": ' "$f" || true)
  pass=$((pass + p)); fail=$((fail + t - p))
done
echo "$pass passed, $fail failed"
