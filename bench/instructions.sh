#!/usr/bin/env bash
# bench/instructions.sh — instructions per request, a figure that moves far
# less with the machine's load than req/s or CPU time: bff-mobile (workers: 1,
# HS256 JWT verified on every request, access log off: bench/yardstick.yaml.in)
# runs under `valgrind --tool=callgrind` on the yardstick's nginx upstreams,
# and curl sends requests one after the other over ONE keep-alive connection
# to the proxy route /orders/o-1 and to the order screen
# /v1/order-screen/o-1, with the yardstick's Authorization header. Prints,
# per route, the user-space instructions (callgrind's Ir) per request and
# their split by object: bff-mobile itself (Portico's code), libmicrohttpd,
# libcurl, libc, libcrypto, libjson-c, ld.so/vDSO, other. About 30 s.
#
#   bench/instructions.sh                            # build/bff-mobile/bff-mobile
#   bench/instructions.sh --binary OTHER/bff-mobile  # another build (an A/B is two runs)
#   bench/instructions.sh --label 2026-12-02-main    # also writes bench/results/instructions-2026-12-02-main.txt
#   OUT=file.txt bench/instructions.sh               # also writes file.txt
# env: BUILD (default build/), BFF (the binary, as --binary), YARDSTICK
#      (default /tmp/yardstick, a copy of ../shared/bench), N (measured
#      requests per round, default 1000), WARM (default 100), ROUNDS
#      (default 3), CPU, PIN=no, SHARED_UPSTREAMS=1 (see below), JWT_SECRET.
# Needs valgrind (apt-get install -y valgrind), curl, and the yardstick's
# nginx. perf stat -e instructions would be faster where the machine has a
# PMU (this VM has none: "<not supported>"), but it cannot split by library.
#
# Method. One bff-mobile process. For each route: a batch of WARM requests
# not measured (callgrind translating new code, the upstream pool, the
# verified-token cache), then ROUNDS rounds of two batches, each on a fresh
# connection: A of WARM requests, B of WARM+N. After each batch, once the
# gateway has closed the client's connection (no socket left on its port),
# `callgrind_control -d` dumps the counters, which also zeroes them; a round
# gives (Ir(B) - Ir(A)) / N and the table shows the median round.
# Chosen over the difference of two whole runs (N2 and N1 requests, each
# from start to exit) because a dump cuts the count inside the process at
# a point where it is idle in epoll_wait (callgrind_control goes through
# vgdb, which reaches a process blocked in a system call), so start-up, the
# config and JWKS, the readiness polls (their number depends on timing),
# warm-up and exit never enter the figure, and one valgrind start serves
# every round of both routes. The difference of A and B cancels what a
# connection costs once (accept, first request, close) and the first
# requests on a connection, cheaper than the steady state.
#
# Determinism. How many event-loop rounds a request takes (curl and
# Portico's worker woken once more or not) depends on whether the upstream's
# answer or the other thread's hand-over is already there when the gateway
# looks, i.e. on timing: run freely on this 2-core machine shared with
# builds, one round of 1,000 proxied requests varied by up to 1 % and the
# order screen's libcurl share by 4 %. So the gateway, the upstream nginx
# and curl all run on one CPU (CPU, default the last one) under SCHED_FIFO
# (chrt -f 1, when permitted: root or CAP_SYS_NICE): each then runs until it
# blocks, so the order of events no longer depends on speed or on other
# load. Three runs of the script agreed within 0.01 % (proxy route) and
# 0.1 % (order screen). Without chrt the script says so and pins only;
# PIN=no pins nothing, a different regime (about 3 % fewer instructions
# here, the answer often being there already): compare like with like.
# For the same reason the upstream is an nginx of our own (the yardstick's
# start-upstreams.sh and config, on free ports, started pinned, stopped on
# exit by its pid): the shared one on :19101-19103 serves other benchmarks
# too and cannot be pinned. SHARED_UPSTREAMS=1 uses it anyway (started if
# it does not answer, then stopped on exit).
#
# What is counted: user-space instructions of all of the gateway's threads.
# Not counted: the kernel (system calls, TCP). Under valgrind there is no
# vDSO, so clock_gettime is a system call and its vDSO instructions (native
# runs) are not in the figure. glibc and OpenSSL pick code paths by CPUID,
# which valgrind passes on from the host, minus what it cannot emulate:
# compare figures of one machine and one valgrind version, e.g. two builds
# measured back to back. Callgrind counts every iteration of a rep-prefixed
# string instruction: glibc's memset and memcpy use rep stosb/movsb above
# 2 KiB, so they weigh one Ir per byte (libmicrohttpd's two clears of its
# connection pool per request are 49,000 of the proxy route's Ir).
#
# The split is the self cost per object, read straight from the dump files
# and checked against their summary line. Not callgrind_annotate: in
# valgrind 3.19 it counts the cost line of a call still on the stack at a
# dump (calls=0) as self cost (`clone` shows 100 %), and its lines for
# inlined code carry no object. PLT stubs, which callgrind leaves without
# an object (???), go to the object whose mapping holds them. The dump files
# stay in $RUN/instructions/ for a look by hand (callgrind_annotate
# --inclusive=no, after `sed -i 's/^calls=0 /calls=1 /'`).
BENCH_NEEDS_WRK=no
source "$(dirname "$0")/lib.sh"
YARDSTICK=${YARDSTICK:-/tmp/yardstick}
SECRET=${JWT_SECRET:-bench-secret-please-change-0123456789}  # the yardstick's, 37 bytes
N=${N:-1000}
ROUNDS=${ROUNDS:-3}
CPU=${CPU:-$(($(nproc) - 1))}
WARM=${WARM:-100}
BFF=${BFF:-$BUILD/bff-mobile/bff-mobile}
LABEL=
OUT=${OUT:-}
ARGS=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --binary) BFF=$2; shift 2 ;;
    --label) LABEL=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "instructions.sh: unknown argument $1 (--binary PATH, --label LABEL, --out FILE)" >&2; exit 2 ;;
  esac
done
[ -n "$LABEL" ] && [ -z "$OUT" ] && OUT=$BENCH_DIR/results/instructions-$LABEL.txt
need valgrind valgrind
need callgrind_control valgrind
need taskset util-linux
PIN_CMD=(); SCHED="not pinned (PIN=no)"
if [ "${PIN:-yes}" != no ]; then
  PIN_CMD=(taskset -c "$CPU"); SCHED="pinned to CPU $CPU, SCHED_OTHER (chrt -f not permitted: expect ~1 % spread)"
  if chrt -f 1 true 2>/dev/null; then PIN_CMD+=(chrt -f 1); SCHED="pinned to CPU $CPU, SCHED_FIFO"; fi
fi
[ -x "$BFF" ] || { echo "instructions.sh: no binary at $BFF (ninja -C build, or --binary PATH)" >&2; exit 1; }
[ -x "$YARDSTICK/start-upstreams.sh" ] || { echo "instructions.sh: no yardstick at $YARDSTICK (cp -r ../shared/bench $YARDSTICK; ./setup.sh)" >&2; exit 1; }
BFF=$(realpath "$BFF")
T0=$(date +%s.%N)
D=$RUN/instructions
rm -rf "$D"; mkdir -p "$D"

# The upstreams: an nginx of our own on free ports, or the shared one (see
# "Determinism" above); stopped on exit by the pid in its pid file if started here.
UPSTREAM_PID=
stop_upstreams() {
  [ -n "$UPSTREAM_PID" ] || return 0
  kill -TERM "$UPSTREAM_PID" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$UPSTREAM_PID" 2>/dev/null || return 0; sleep 0.05; done
}
trap 'cleanup; stop_upstreams' EXIT
if [ "${SHARED_UPSTREAMS:-0}" = 1 ]; then
  UP=(19101 19102 19103); UPRUN=${RUN_DIR:-$YARDSTICK/run}
  curl -s -o /dev/null "http://127.0.0.1:${UP[1]}/orders/o-1" || UPRUN_START=1
else
  UP=(0 0 0)
  while [ "${UP[0]}" = "${UP[1]}" ] || [ "${UP[1]}" = "${UP[2]}" ] || [ "${UP[0]}" = "${UP[2]}" ]; do
    UP=($(free_port) $(free_port) $(free_port))
  done
  UPRUN=$D/yardstick-run; UPRUN_START=1
fi
if [ -n "${UPRUN_START:-}" ]; then
  (cd "$YARDSTICK" && RUN_DIR=$UPRUN USERS_PORT=${UP[0]} ORDERS_PORT=${UP[1]} INVENTORY_PORT=${UP[2]} \
    NO_DELAY_UPSTREAM=1 "${PIN_CMD[@]}" ./start-upstreams.sh 2>/dev/null)
  UPSTREAM_PID=$(tr -dc '0-9' < "$UPRUN/nginx-upstreams/nginx.pid")
else
  SCHED="$SCHED (the upstream, already running, is not)"
fi
wait_http "http://127.0.0.1:${UP[1]}/orders/o-1"

TOKEN=$("$YARDSTICK/token.sh")
k=$(printf '%s' "$SECRET" | base64 -w0 | tr '+/' '-_' | tr -d '=')
printf '{"keys":[{"kty":"oct","kid":"yardstick","alg":"HS256","k":"%s"}]}\n' "$k" > "$D/jwks.json"
sed -e "s/@PORT@/0/; s/@ADMIN@/0/; s/@WORKERS@/1/" \
    -e "s/@USERS@/${UP[0]}/; s/@ORDERS@/${UP[1]}/; s/@INVENTORY@/${UP[2]}/" \
    -e "s|@JWKS@|$D/jwks.json|" "$BENCH_DIR/yardstick.yaml.in" > "$D/portico.yaml"

"${PIN_CMD[@]}" valgrind --tool=callgrind --vgdb=yes --vgdb-prefix="$D/vgdb" \
  --callgrind-out-file="$D/callgrind.out.%p" \
  "$BFF" --config "$D/portico.yaml" > "$D/bff.log" 2>&1 &
VG=$!
PIDS+=($VG)
PORT=; ADMIN=
for _ in $(seq 1 1200); do  # bounded: 60 s for valgrind's start
  line=$(grep -m1 -o '"listen":"127.0.0.1:[0-9]*","admin":"127.0.0.1:[0-9]*"' "$D/bff.log" || true)
  [ -n "$line" ] && { PORT=$(sed 's/.*"listen":"127.0.0.1:\([0-9]*\)".*/\1/' <<<"$line"); ADMIN=${line##*:}; ADMIN=${ADMIN%\"}; break; }
  kill -0 "$VG" 2>/dev/null || { cat "$D/bff.log" >&2; exit 1; }
  sleep 0.05
done
[ -n "$PORT" ] || { echo "instructions.sh: bff-mobile did not print its ports" >&2; cat "$D/bff.log" >&2; exit 1; }
wait_http "http://127.0.0.1:$ADMIN/readyz"

PART=0
# batch PATH COUNT — COUNT requests in turn on one connection; all must be 200
batch() {
  local i
  { printf 'header = "Authorization: Bearer %s"\nmax-time = 30\n' "$TOKEN"
    for ((i = 0; i < $2; i++)); do printf 'url = "http://127.0.0.1:%s%s"\noutput = "/dev/null"\n' "$PORT" "$1"; done
  } > "$D/curl.cfg"
  "${PIN_CMD[@]}" curl -s -K "$D/curl.cfg" -w '%{http_code} %{num_connects}\n' > "$D/codes"
  awk -v n="$2" -v p="$1" '$1 == 200 {ok++} {c += $2}
    END {if (ok != n || c != 1) {printf "instructions.sh: %s: %d of %d answered 200, over %d connections\n", p, ok, n, c > "/dev/stderr"; exit 1}}' "$D/codes"
}
# dump — once the gateway holds no connection on its port, dump (and zero) the counters
dump() {
  for _ in $(seq 1 400); do
    [ -z "$(ss -Htn state connected "( sport = :$PORT )")" ] && break
    sleep 0.025
  done
  PART=$((PART + 1))
  callgrind_control --vgdb-prefix="$D/vgdb" -d "$VG" > /dev/null 2>&1 || true  # checked below
  for _ in $(seq 1 400); do [ -s "$D/callgrind.out.$VG.$PART" ] && return 0; sleep 0.025; done
  echo "instructions.sh: no dump $PART" >&2; exit 1
}

# Object names: the binary, and the mappings for PLT stubs callgrind leaves without one.
grep -E '^[0-9a-f]+-[0-9a-f]+ ..x. .* /' "/proc/$VG/maps" | awk '{split($1, r, "-"); print r[1], r[2], $6}' > "$D/maps"

# objects FILE — self Ir per object class of one dump, "class Ir" lines, then "total Ir"
objects() {
  awk -v bin="$BFF" '
    function hex(s,  i, v) { v = 0; s = tolower(s); sub(/^0x/, "", s)
      for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
      return v }
    function name(kind, s,  id) {  # name compression: "(id) name" defines, "(id)" refers
      if (match(s, /^\([0-9]+\)/)) { id = kind substr(s, 2, RLENGTH - 2); s = substr(s, RLENGTH + 2)
        if (s != "") names[id] = s; return names[id] }
      return s }
    function class(o,  b) { b = o; sub(/.*\//, "", b)
      if (o == bin) return "portico"
      if (b ~ /^libmicrohttpd\./) return "libmicrohttpd"
      if (b ~ /^libcurl\./) return "libcurl"
      if (b ~ /^libc\.so/) return "libc"
      if (b ~ /^libcrypto\./) return "libcrypto"
      if (b ~ /^libjson-c\./) return "libjson-c"
      if (b ~ /^ld-linux/ || b ~ /vdso/) return "ld.so+vdso"
      return "other" }
    FILENAME == ARGV[1] { lo[NM] = hex($1); hi[NM] = hex($2); mo[NM++] = $3; next }
    /^ob=/  { ob = name("ob", substr($0, 4)); next }
    /^cob=/ { name("ob", substr($0, 5)); next }
    /^fn=/  { fn = name("fn", substr($0, 4)); key = ob
              if (ob == "???" && fn ~ /^0x/) { a = hex(fn); for (i = 0; i < NM; i++) if (a >= lo[i] && a < hi[i]) { key = mo[i]; break } }
              next }
    /^cfn=/ { name("fn", substr($0, 5)); next }
    /^calls=/ { skip = 1; next }
    /^[0-9+*-]/ { if (skip) { skip = 0; next } c[class(key)] += $2; tot += $2; next }
    /^summary:/ { summary = $2 }
    END { if (tot != summary) { printf "instructions.sh: %s: self costs %.0f, summary %.0f\n", FILENAME, tot, summary > "/dev/stderr"; exit 1 }
          for (k in c) printf "%s %.0f\n", k, c[k]; printf "total %.0f\n", tot }
  ' "$D/maps" "$1"
}

CLASSES="portico libmicrohttpd libcurl libc libcrypto libjson-c ld.so+vdso other"
# measure NAME PATH — a warm-up batch, then ROUNDS pairs of batches (A: WARM
# requests, B: WARM+N); prints the table rows of the median round
measure() {
  local r
  batch "$2" "$WARM"; dump
  for ((r = 1; r <= ROUNDS; r++)); do
    batch "$2" "$WARM"; dump; objects "$D/callgrind.out.$VG.$PART" > "$D/$1.$r.a"
    batch "$2" $((WARM + N)); dump; objects "$D/callgrind.out.$VG.$PART" > "$D/$1.$r.b"
    awk -v n="$N" 'FILENAME == ARGV[1] { a[$1] = $2; next } { printf "%s %.1f\n", $1, ($2 - a[$1]) / n }' \
      "$D/$1.$r.a" "$D/$1.$r.b" > "$D/$1.$r"
  done
  for ((r = 1; r <= ROUNDS; r++)); do printf '%s %s\n' "$(awk '$1 == "total" {print $2}' "$D/$1.$r")" "$r"; done |
    sort -n > "$D/$1.rounds"
  r=$(awk -v m=$(((ROUNDS + 1) / 2)) 'NR == m {print $2}' "$D/$1.rounds")
  awk -v r="$1" -v classes="$CLASSES" '
    function th(v,  s) { s = sprintf("%.0f", v); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); return s }
    { v[$1] = $2 }
    END { k = split(classes, cl, " "); t = v["total"]
      printf "%-13s %9s", r, th(t); for (i = 1; i <= k; i++) printf " %13s", th(v[cl[i]]); printf "\n"
      printf "%-13s %9s", "  share", ""; for (i = 1; i <= k; i++) printf " %12.1f%%", 100 * v[cl[i]] / t; printf "\n" }
  ' "$D/$1.$r"
  awk -v r="$1" -v n="$ROUNDS" '{ v[NR] = $1 } END { m = v[int((NR + 1) / 2)]
      printf "# %s: Ir/request over %d round(s): min %.0f, median %.0f, max %.0f (max-min %.2f %% of the median)\n", r, n, v[1], m, v[NR], 100 * (v[NR] - v[1]) / m }' \
    "$D/$1.rounds" >> "$D/rounds"
}

: > "$D/rounds"
{
  printf '%-13s %9s' route Ir/req; for c in $CLASSES; do printf ' %13s' "$c"; done; printf '\n'
  measure proxy /orders/o-1
  measure order-screen /v1/order-screen/o-1
} > "$D/table"
T1=$(date +%s.%N)

rel() { case $1 in "$ROOT"/*) echo "${1#"$ROOT"/}" ;; *) basename "$1" ;; esac; }
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
src=$(git -C "$ROOT" log -1 --format=%h -- . ':!bench' ':!BENCHMARKS.md' 2>/dev/null || echo unknown)
{
  echo "# bench/instructions.sh ${ARGS[*]}  (N=$N WARM=$WARM ROUNDS=$ROUNDS)"
  echo "# date $(date -u +%FT%TZ), tree at commit $commit (last change outside bench/: $src), $(valgrind --version), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "# binary $(rel "$BFF") (sha256 $(sha256sum "$BFF" | cut -c1-16)), workers 1, HS256 JWT on, access log off, yardstick nginx upstreams ($([ "${SHARED_UPSTREAMS:-0}" = 1 ] && echo shared || echo own instance)); gateway, upstream and curl $SCHED"
  echo "# user-space instructions (callgrind Ir) per request over one keep-alive connection: (Ir of $((WARM + N)) requests - Ir of $WARM) / $N, median of $ROUNDS rounds"
  cat "$D/table"
  cat "$D/rounds"
  awk -v a="$T0" -v b="$T1" 'BEGIN {printf "# run time %.0f s\n", b - a}'
} > "$D/result.txt"
cat "$D/result.txt"
if [ -n "$OUT" ]; then cp "$D/result.txt" "$OUT"; echo "# written to $(rel "$(realpath "$OUT")")"; fi
