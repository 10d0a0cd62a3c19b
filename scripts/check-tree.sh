#!/usr/bin/env bash
# Fails when the work tree holds what it should not: anything a build or test
# run left that git neither tracks nor ignores, a tracked file changed by the
# run, or a tracked file over 256 KiB that is not listed as a deliberate
# fixture in .ci/large-files (one path a line). Run by .ci/run after the tests.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0

dirty=$(git status --porcelain --untracked-files=all)
if [ -n "$dirty" ]; then
  echo "check-tree: the work tree is not clean after the run (ignore or stop generating these):" >&2
  echo "$dirty" | head -50 >&2
  status=1
fi

allowed=()
[ -f .ci/large-files ] && mapfile -t allowed < <(grep -v '^\s*\(#\|$\)' .ci/large-files)
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  size=$(stat -c %s "$f")
  [ "$size" -le 262144 ] && continue
  ok=0
  for a in "${allowed[@]}"; do [ "$a" = "$f" ] && ok=1; done
  if [ $ok -eq 0 ]; then
    echo "check-tree: $f is $((size / 1024)) KiB (over 256 KiB) and not listed in .ci/large-files" >&2
    status=1
  fi
done < <(git ls-files -z)

[ $status -eq 0 ] && echo "check-tree: clean (no untracked, modified or oversized files)"
exit $status
