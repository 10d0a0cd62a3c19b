# bench/lib.sh — helpers shared by Portico's bench scripts (source it).
# Everything listens on 127.0.0.1; every process started is stopped on exit.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
RUN=${RUN:-/tmp/portico-bench}
mkdir -p "$RUN"
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "bench: $1 is missing (apt-get install -y $2)" >&2; exit 1; }; }
[ "${BENCH_NEEDS_WRK:-yes}" = no ] || need wrk wrk  # instructions.sh drives curl only
need curl curl

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_http URL [status] — poll until URL answers (bounded: 10 s)
wait_http() {
  for _ in $(seq 1 500); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)
    [ "$code" = "${2:-200}" ] && return 0
    sleep 0.02
  done
  echo "bench: $1 never answered ${2:-200}" >&2; exit 1
}

# wrk_run NAME URL CONNS SECS [extra wrk args...] — prints one result row:
# NAME req/s p50_ms p99_ms non2xx errors
wrk_run() {
  local name=$1 url=$2 conns=$3 secs=$4; shift 4
  local out
  out=$(timeout $((secs + 30)) wrk -t2 -c"$conns" -d"${secs}s" --timeout 5s --latency "$@" "$url")
  local rps p50 p99 non2xx errs
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out"); non2xx=${non2xx:-0}
  errs=$(awk '/Socket errors/ {gsub(",","",$0); print $4+$6+$8+$10}' <<<"$out"); errs=${errs:-0}
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "$non2xx" "$errs"
}

# "1.23ms" / "850.00us" / "1.02s" -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN { n=v; sub(/[a-z]+$/,"",n); u=v; sub(/^[0-9.]+/,"",u);
    if (u=="us") n/=1000; else if (u=="s") n*=1000; else if (u=="m") n*=60000; printf "%.2f", n }'
}

# peak_rss_mib PID — the kernel's high-water mark of the process
peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# cpu_ticks PID — utime+stime of the process (all threads), in clock ticks
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
