#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a bounded time (docs/fuzzing.md).
#
#   scripts/fuzz.sh [BUILD-DIR]          (default build-fuzz; `make fuzz` builds it)
#   FUZZ_SECONDS=60 scripts/fuzz.sh      seconds per target (default 30)
#   FUZZ_TARGETS="sign jwt" scripts/fuzz.sh   only these targets
#
# Each target starts from a fresh copy of its committed seed corpus
# (tests/fuzz/corpus/<name>/ -> BUILD/fuzz-corpus/<name>/, so the tree is never
# written to), with tests/fuzz/dict/<name>.dict when there is one, and writes
# crash, leak, timeout and OOM inputs into BUILD/artifacts/<name>/ and its log
# into BUILD/fuzz-logs/<name>.log. Exits 1 when any target found something
# (or did not run), after running all of them.
set -uo pipefail

cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
seconds=${FUZZ_SECONDS:-30}
targets=${FUZZ_TARGETS:-$(ls tests/fuzz/corpus)}
rss_mb=${FUZZ_RSS_MB:-2048}

case $seconds in '' | *[!0-9]*) echo "fuzz.sh: FUZZ_SECONDS must be a number" >&2; exit 2 ;; esac
[ -d "$build" ] || { echo "fuzz.sh: no $build; run make fuzz" >&2; exit 2; }
build=$(cd "$build" && pwd)

# Options per target: the longest input worth trying.
max_len() {
    case $1 in
    config | jwks) echo 8192 ;;
    *) echo 4096 ;;
    esac
}

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}

failed=0
printf '%-12s %-8s %12s %8s %8s %10s  %s\n' target result runs cov ft corpus notes
for t in $targets; do
    bin=$build/tests/fuzz/fuzz_$t
    seeds=tests/fuzz/corpus/$t
    work=$build/fuzz-corpus/$t
    art=$build/artifacts/$t
    log=$build/fuzz-logs/$t.log
    if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
        printf '%-12s %-8s %s\n' "$t" MISSING "no $bin or no $seeds"
        failed=1
        continue
    fi
    rm -rf "$work"
    mkdir -p "$work" "$art" "$(dirname "$log")"
    cp "$seeds"/* "$work"/
    dict=()
    [ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="$PWD/tests/fuzz/dict/$t.dict")
    # -max_total_time also bounds the first pass over the corpus; timeout(1)
    # is the guard should a target hang where libFuzzer cannot see it.
    (cd "$build" && timeout -k 10 $((seconds + 120)) "$bin" \
        -max_total_time="$seconds" -timeout=5 -rss_limit_mb="$rss_mb" \
        -malloc_limit_mb="$rss_mb" -detect_leaks=1 -max_len="$(max_len "$t")" \
        -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" "$work") \
        >"$log" 2>&1
    rc=$?
    last=$(grep -aE '^#[0-9]+' "$log" | tail -n 1)
    runs=$(grep -a 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    [ -n "$runs" ] || runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$last")
    what=""
    if grep -aq 'ERROR: libFuzzer: timeout' "$log"; then what=TIMEOUT
    elif grep -aqE 'ERROR: libFuzzer: (out-of-memory|malloc limit)' "$log"; then what=OOM
    elif grep -aq 'ERROR: LeakSanitizer' "$log"; then what=LEAK
    elif grep -aqE 'ERROR: (AddressSanitizer|libFuzzer)|runtime error:|property failed' "$log"; then what=CRASH
    elif [ "$rc" -ne 0 ]; then what="EXIT-$rc"
    fi
    if [ -n "$what" ]; then
        failed=1
        found=$(grep -aoE "Test unit written to .*" "$log" | tail -n 1 | sed 's/Test unit written to //')
        why=$(grep -aE 'property failed|SUMMARY:|ERROR:' "$log" | head -n 1 | cut -c1-160)
        printf '%-12s %-8s %12s %8s %8s %10s  %s\n' "$t" "$what" "${runs:-?}" "${cov:-?}" \
            "${ft:-?}" "${corp:-?}" "${found:-no artifact} (log $log)"
        [ -n "$why" ] && printf '%-12s   %s\n' "" "$why"
    else
        printf '%-12s %-8s %12s %8s %8s %10s  %s\n' "$t" ok "${runs:-?}" "${cov:-?}" \
            "${ft:-?}" "${corp:-?}" "$(ls "$seeds" | wc -l) seeds, ${seconds}s"
    fi
done
exit $failed
