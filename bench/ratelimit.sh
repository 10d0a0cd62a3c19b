#!/usr/bin/env bash
# bench/ratelimit.sh — issue 4's figures: throughput of a rate-limited proxy
# route against an unlimited one, with the in-memory store and with Redis
# (wrk -c64), and the accuracy of one limit shared by two instances through
# Redis under 64 concurrent connections (32 per instance): passes counted by
# the upstream itself, divided by the configured limit.
# Starts shop-services, redis-server and three bff-mobile on loopback, stops
# them on exit. Usage: bench/ratelimit.sh [secs]   (BUILD=/path/to/build)
source "$(dirname "$0")/lib.sh"
SECS=${1:-10}
WORKERS=${WORKERS:-2}
need redis-server redis-server
need redis-cli redis-server

U=$(free_port); O=$(free_port); I=$(free_port); C=$(free_port); R=$(free_port)
"$BUILD/demo/shop-services" --users-port "$U" --orders-port "$O" --inventory-port "$I" \
  --control-port "$C" > "$RUN/shop.log" 2>&1 &
PIDS+=($!)
redis-server --port "$R" --bind 127.0.0.1 --save '' --appendonly no > "$RUN/redis.log" 2>&1 &
REDIS=$!
PIDS+=($REDIS)
wait_http "http://127.0.0.1:$C/healthz"
for _ in $(seq 1 500); do   # bounded: 10 s
  [ "$(redis-cli -p "$R" ping 2>/dev/null)" = PONG ] && break
  sleep 0.02
done
[ "$(redis-cli -p "$R" ping)" = PONG ] || { echo "bench: redis-server never answered" >&2; exit 1; }

# config STORE LISTEN ADMIN: three routes to the inventory service
#   /inventory  unlimited
#   /lim        limited so high that nothing is refused: the limiter's cost
#   /tight      100/min: after the burst nearly everything is a 429
#   /acc        1000/hour: the accuracy run (about one unit back per 3.6 s)
config() {
  cat <<YAML
listen: 127.0.0.1:$2
admin_listen: 127.0.0.1:$3
workers: $WORKERS
access_log: false
limits: { max_connections: 10000 }
services:
  inventory: { url: "http://127.0.0.1:$I", timeout: 2s, max_in_flight: 1024 }
rate_limit: { store: "$1", key: ip, store_timeout: 50ms, on_store_error: deny }
routes:
  - path: /inventory
    service: inventory
  - path: /lim
    service: inventory
    strip_prefix: true
    rate_limit: 1000000000/s
  - path: /tight
    service: inventory
    strip_prefix: true
    rate_limit: 100/min
  - path: /acc
    service: inventory
    strip_prefix: true
    rate_limit: 1000/hour
YAML
}

start_bff() { # NAME STORE -> sets PORT_<NAME>, PID_<NAME>
  local p a
  p=$(free_port); a=$(free_port)
  config "$2" "$p" "$a" > "$RUN/$1.yaml"
  "$BUILD/bff-mobile/bff-mobile" --config "$RUN/$1.yaml" > "$RUN/$1.log" 2>&1 &
  PIDS+=($!)
  printf -v "PID_$1" '%s' "$!"
  wait_http "http://127.0.0.1:$a/readyz"
  printf -v "PORT_$1" '%s' "$p"
}

# row NAME BFF_PID URL: wrk_run's row plus the CPU time per request of the
# gateway and of redis-server during the run (microseconds, all threads)
row() {
  local b0 r0 b1 r1 out rps
  local e0 e1
  b0=$(cpu_ticks "$2"); r0=$(cpu_ticks "$REDIS"); e0=$(store_errors "$RUN"/*.log)
  out=$(wrk_run "$1" "$3" 64 "$SECS")
  b1=$(cpu_ticks "$2"); r1=$(cpu_ticks "$REDIS")
  sleep 1.1 # the error lines are written at most once a second per worker
  e1=$(store_errors "$RUN"/*.log)
  rps=$(cut -f2 <<<"$out")
  awk -v o="$out" -v b=$((b1 - b0)) -v r=$((r1 - r0)) -v rps="$rps" -v s="$SECS" \
      -v hz="$(getconf CLK_TCK)" -v e=$((e1 - e0)) 'BEGIN { n = rps * s; if (n < 1) n = 1;
      printf "%s\t%.1f\t%.1f\t%d\n", o, b * 1e6 / hz / n, r * 1e6 / hz / n, e }'
}
start_bff mem memory
start_bff red1 "redis://127.0.0.1:$R/0"
start_bff red2 "redis://127.0.0.1:$R/0"

# requests the gateways logged as "without a verdict" (store errors) so far
store_errors() { cat "$@" | sed -n 's/.*: \([0-9]*\) request(s) without a verdict.*/\1/p' | awk '{s += $1} END {print s + 0}'; }

inv_requests() { curl -s "http://127.0.0.1:$C/stats/inventory" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p'; }

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); bff-mobile workers=$WORKERS; redis $(redis-server --version | awk '{print $3}')"
echo "# throughput: wrk -t2 -c64 -d${SECS}s, one client address (one budget key: the worst case for the store's shard lock)"
printf 'row\treq/s\tp50_ms\tp99_ms\tnon2xx\terrors\tbff_cpu_us/req\tredis_cpu_us/req\tstore_errors\n'
row memory-unlimited "$PID_mem" "http://127.0.0.1:$PORT_mem/inventory/SKU-1"
row memory-limited-passing "$PID_mem" "http://127.0.0.1:$PORT_mem/lim/inventory/SKU-1"
row memory-limited-refusing "$PID_mem" "http://127.0.0.1:$PORT_mem/tight/inventory/SKU-1"
row redis-unlimited "$PID_red1" "http://127.0.0.1:$PORT_red1/inventory/SKU-1"
row redis-limited-passing "$PID_red1" "http://127.0.0.1:$PORT_red1/lim/inventory/SKU-1"
row redis-limited-refusing "$PID_red1" "http://127.0.0.1:$PORT_red1/tight/inventory/SKU-1"
echo "# store_errors: requests that got no verdict within store_timeout (50 ms; on_store_error deny: 503, inside non2xx), from the gateways' logs (a line per second at most, so a row may miss the last second's)"

# Accuracy: 64 connections, 32 on each instance, both at once, on the
# 1000/hour route. Every pass reaches the inventory service, every refusal
# does not: the service's own request counter is the number of passes.
echo "# accuracy: two instances sharing redis://127.0.0.1:$R/0, route /acc 1000/hour, 2 x wrk -t1 -c32 -d${SECS}s at once"
before=$(inv_requests)
e0=$(store_errors "$RUN"/*.log)
t0=$(date +%s.%N)
timeout $((SECS + 30)) wrk -t1 -c32 -d"${SECS}s" --timeout 5s "http://127.0.0.1:$PORT_red1/acc/inventory/SKU-1" > "$RUN/acc1.txt" &
w1=$!
timeout $((SECS + 30)) wrk -t1 -c32 -d"${SECS}s" --timeout 5s "http://127.0.0.1:$PORT_red2/acc/inventory/SKU-1" > "$RUN/acc2.txt" &
w2=$!
wait $w1 $w2
t1=$(date +%s.%N)
after=$(inv_requests)
passes=$((after - before))
total=$(awk '/requests in/ {s += $1} END {print s}' "$RUN/acc1.txt" "$RUN/acc2.txt")
non2xx=$(awk '/Non-2xx/ {s += $5} END {print s + 0}' "$RUN/acc1.txt" "$RUN/acc2.txt")
sleep 1.1
errs=$(( $(store_errors "$RUN"/*.log) - e0 ))
awk -v p="$passes" -v t0="$t0" -v t1="$t1" -v total="$total" -v n2="$non2xx" -v e="$errs" 'BEGIN {
  el = t1 - t0; earned = int(el / 3.6);
  printf "requests\tpasses\tnon2xx\tlimit\tpasses/limit\tallowed_by_gcra(1000+floor(%.1fs/3.6s))\tpasses/allowed\tstore_errors\n", el;
  printf "%d\t%d\t%d\t1000\t%.4f\t%d\t%.4f\t%d\n", total, p, n2, p / 1000, 1000 + earned, p / (1000 + earned), e }'
