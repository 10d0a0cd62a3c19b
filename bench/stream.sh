#!/usr/bin/env bash
# bench/stream.sh — streaming on a proxy route (issue 16): memory and CPU per
# MiB streamed, and how many open event streams one worker holds.
#
# bff-mobile (workers: 1, access log off, max_body 2GiB) in front of
# build/bench/stream-bench (one epoll thread on loopback), all on this
# machine's 2 cores.
#   download   curl -o /dev/null of SIZE_MIB MiB (Content-Length) through the
#              gateway, after a 64 MiB warm-up not measured; `direct` is the
#              same download from the service without the gateway
#   upload     stream-bench upload: SIZE_MIB MiB as fast as the socket takes
#              them, with Content-Length and chunked
# Rows: MiB, seconds, MiB/s, the gateway's CPU (utime+stime from /proc, all
# threads) in ms and in ms per MiB, its VmRSS before and after and the growth
# of its VmHWM (the peak, reset to VmRSS before each row) over the row, in KiB.
#   sse K      K event streams open at once through one worker, a fresh
#              gateway for each K: its VmRSS before and with all K open, KiB
#              per stream, the time to open them, and the time from the
#              service sending one event to each stream until the last of the
#              K got it. Each stream holds two of the gateway's descriptors
#              (client and service), so K stays under half of ulimit -n: the
#              script raises it to 65536 where it may (on the machine of
#              BENCHMARKS.md the hard limit is 20000, hence 9000 at most by
#              default). The route's
#              max_streams, the service's max_in_flight and
#              limits.max_connections are 30000, its connect_timeout 5s (past
#              a SYN retransmit when thousands of connections open at once).
# Usage: bench/stream.sh [--label L] [--out FILE]
#   env: SIZE_MIB (1024), KS ("1000 5000 9000"), BUILD
#   --label L writes bench/results/stream-L.txt as well
BENCH_NEEDS_WRK=no
source "$(dirname "$0")/lib.sh"
SIZE_MIB=${SIZE_MIB:-1024}
KS=${KS-"1000 5000 9000"}
LABEL=
OUT=${OUT:-}
while [ $# -gt 0 ]; do
  case $1 in
    --label) LABEL=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "stream.sh: unknown argument $1 (--label L, --out FILE)" >&2; exit 2 ;;
  esac
done
[ -n "$LABEL" ] && [ -z "$OUT" ] && OUT=$BENCH_DIR/results/stream-$LABEL.txt

SB=$BUILD/bench/stream-bench
GWBIN=$BUILD/bff-mobile/bff-mobile
[ -x "$SB" ] && [ -x "$GWBIN" ] || { echo "stream.sh: build first (ninja -C $BUILD)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
for K in $KS; do
  [ $((2 * K + 100)) -le "$NOFILE" ] || echo "stream.sh: sse $K needs about $((2 * K + 100)) descriptors, ulimit -n is $NOFILE" >&2
done
TICK_MS=$(awk -v t="$(getconf CLK_TCK)" 'BEGIN { print 1000 / t }')

"$SB" upstream > "$RUN/stream-up.out" 2> "$RUN/stream-up.err" &
PIDS+=($!)
UP=
for _ in $(seq 1 250); do
  UP=$(awk '/^port / {print $2}' "$RUN/stream-up.out" 2>/dev/null || true)
  [ -n "$UP" ] && break
  sleep 0.02
done
[ -n "$UP" ] || { echo "stream.sh: stream-bench upstream did not start" >&2; exit 1; }

# start_gw — a fresh gateway (GW, P, A) on the service
start_gw() {
  P=$(free_port); A=$(free_port)
  cat > "$RUN/stream.yaml" <<YAML
listen: 127.0.0.1:$P
admin_listen: 127.0.0.1:$A
workers: 1
access_log: false
limits: { max_body: 2GiB, max_connections: 30000 }
services:
  up: { url: "http://127.0.0.1:$UP", connect_timeout: 5s, timeout: 30s, idle_timeout: 60s, max_in_flight: 30000, retries: 0 }
routes:
  - path: /s
    service: up
    auth: none
    max_streams: 30000
YAML
  "$GWBIN" --config "$RUN/stream.yaml" >> "$RUN/stream-gw.log" 2>&1 &
  GW=$!
  PIDS+=($GW)
  wait_http "http://127.0.0.1:$A/readyz"
}
stop_gw() { kill -TERM "$GW"; wait "$GW" 2>/dev/null || true; }
: > "$RUN/stream-gw.log"
start_gw

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

ROWS=()
row() { ROWS+=("$1"); printf '%s\n' "$1"; }

# measure NAME MIB CMD... — runs CMD, prints a row of the gateway's figures
measure() {
  local name=$1 mib=$2; shift 2
  local r0 h0 c0 t0 t1 c1 r1 h1
  echo 5 > "/proc/$GW/clear_refs" 2>/dev/null || true   # VmHWM := VmRSS (own process or root)
  r0=$(rss_kib "$GW"); h0=$(hwm_kib "$GW"); c0=$(cpu_ticks "$GW"); t0=$(date +%s.%N)
  "$@" > "$RUN/stream-cmd.out" || { echo "stream.sh: $name failed: $(cat "$RUN/stream-cmd.out")" >&2; exit 1; }
  t1=$(date +%s.%N); c1=$(cpu_ticks "$GW"); r1=$(rss_kib "$GW"); h1=$(hwm_kib "$GW")
  row "$(awk -v n="$name" -v m="$mib" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" \
    -v tick="$TICK_MS" -v r0="$r0" -v r1="$r1" -v h0="$h0" -v h1="$h1" 'BEGIN {
      s = t1 - t0; cpu = (c1 - c0) * tick;
      printf "%s\t%d\t%.2f\t%.0f\t%.0f\t%.2f\t%d\t%d\t%d", n, m, s, m / s, cpu, cpu / m, r0, r1, h1 - h0 }')"
}

# the direct row: the service to curl without the gateway (its speed here)
direct() {
  local t
  t=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$UP/bytes/$((SIZE_MIB * 1048576))")
  row "$(awk -v m="$SIZE_MIB" -v t="$t" 'BEGIN { printf "direct\t%d\t%.2f\t%.0f\t-\t-\t-\t-\t-", m, t, m / t }')"
}

dl() { curl -sS -o /dev/null -w '%{http_code} %{size_download}\n' "http://127.0.0.1:$P/s/bytes/$(($1 * 1048576))" |
  awk -v want=$(($1 * 1048576)) '{ if ($1 != 200 || $2 != want) { print "got " $0; exit 1 } print }'; }
ul() { "$SB" upload "$P" /s/sink $(($1 * 1048576)) "${2:-}"; }

HEADER="row	MiB	s	MiB/s	cpu_ms	cpu_ms/MiB	rss0_KiB	rss1_KiB	hwm_growth_KiB"
{
  echo "# bench/stream.sh $(date -u +%Y-%m-%dT%H:%MZ) SIZE_MIB=$SIZE_MIB KS=\"$KS\""
  echo "# $(uname -r), $(nproc) cores, ulimit -n $NOFILE, $("$GWBIN" --version 2>/dev/null | head -1), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
} | tee "$RUN/stream-head.txt"
echo "$HEADER"
dl 64 > /dev/null; ul 64 > /dev/null; ul 64 chunked > /dev/null   # warm-up, not measured
direct
measure download "$SIZE_MIB" dl "$SIZE_MIB"
measure upload-cl "$SIZE_MIB" ul "$SIZE_MIB"
measure upload-chunked "$SIZE_MIB" ul "$SIZE_MIB" chunked

SSE_HEADER="sse_K	open	failed	rss0_KiB	rss_open_KiB	KiB/stream	open_s	event_reached	event_ms	rss_after_KiB"
echo "$SSE_HEADER"
SSE_ROWS=()
for K in $KS; do
  stop_gw; start_gw   # each K on a fresh gateway: rss0 is its RSS before any stream
  r=$("$SB" sse "$P" /s/sse "$K" "$UP" "$GW") || {
    echo "stream.sh: sse $K: not every stream got the event; the gateway said:" >&2
    grep -v '"level":"info"' "$RUN/stream-gw.log" | tail -5 >&2; }
  SSE_ROWS+=("$r")
  echo "$r"
done

if [ -n "$OUT" ]; then
  {
    cat "$RUN/stream-head.txt"
    echo "$HEADER"
    printf '%s\n' "${ROWS[@]}"
    echo "$SSE_HEADER"
    printf '%s\n' "${SSE_ROWS[@]}"
  } > "$OUT"
  echo "written: $OUT"
fi
