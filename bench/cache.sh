#!/usr/bin/env bash
# bench/cache.sh — what the upstream answer cache and coalescing save (issue 17):
# order screens (GET /v1/order-screen/o-1..o-5) for SECS seconds per row
# (default 10: about 25,000 screens here without a cache), spread over 100
# users (tokens u1..u100, role support), wrk -c CONNS, against the demo
# shop with its own Cache-Control (inventory public max-age=5, users private
# max-age=60, orders private max-age=2). Scenarios, each on a fresh gateway
# and a reset shop:
#   off        no cache: keys (every part is a call)
#   cold       cache: on users, orders, inventory, from empty
#   warm       the same gateway again, right after cold (and once more:
#              warm-again, for the spread of the CPU figure)
# Rows: requests, upstream calls per service (the shop's /stats), calls per
# screen, and the gateway's CPU µs per request (utime+stime over the run).
# Calls per screen can be a little over 3 without a cache: wrk counts the
# answers it got, the shop also the calls of the screens still in flight.
# Then the gateway's own count at exit, per worker: cache hits (calls saved
# by kept answers) and coalesced (calls saved by waiting for an identical one).
# Usage: bench/cache.sh [SECS]   env: WORKERS (2), CONNS (32)
source "$(dirname "$0")/lib.sh"
SECS=${1:-10}
WORKERS=${WORKERS:-2}
CONNS=${CONNS:-32}

U=$(free_port); O=$(free_port); I=$(free_port); C=$(free_port)
"$BUILD/demo/shop-services" --users-port "$U" --orders-port "$O" --inventory-port "$I" \
  --control-port "$C" > "$RUN/cache-shop.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$C/healthz"

openssl rand -hex 32 | tr -d '\n' > "$RUN/cache-hs.secret"
KEY_B64=$(base64 -w0 < "$RUN/cache-hs.secret" | tr '+/' '-_' | tr -d '=')
cat > "$RUN/cache-jwks.json" <<JSON
{"keys":[{"kty":"oct","kid":"bench","alg":"HS256","k":"$KEY_B64"}]}
JSON
{
  echo "tokens = {"
  for u in $(seq 1 100); do
    printf '  "%s",\n' "$("$BUILD/demo/bff-token" --alg HS256 --key "$RUN/cache-hs.secret" \
      --kid bench --sub "u$u" --roles support --ttl 2h)"
  done
  echo "}"
  cat <<'LUA'
-- user and order turning round: 100 users, each order 100 times in a row
local i = 0
threads_seen = {}
function setup(thread) thread:set("tid", #threads_seen + 1); table.insert(threads_seen, thread) end
function init(args) i = (tid or 1) * 7919 end
function request()
  i = i + 1
  return wrk.format("GET", "/v1/order-screen/o-" .. (math.floor(i / 100) % 5 + 1),
    {Authorization = "Bearer " .. tokens[i % #tokens + 1]})
end
function response(status)
  if status ~= 200 then io.stderr:write("status " .. status .. "\n") end
end
LUA
} > "$RUN/cache.lua"

P=$(free_port); A=$(free_port)
write_config() { # write_config CACHE_LINE
  cat > "$RUN/cache-bff.yaml" <<YAML
listen: 127.0.0.1:$P
admin_listen: 127.0.0.1:$A
workers: $WORKERS
access_log: false
drain_timeout: 1s
limits: { max_connections: 10000 }
services:
  users: { url: "http://127.0.0.1:$U", timeout: 800ms $1 }
  orders: { url: "http://127.0.0.1:$O", timeout: 800ms $1 }
  inventory: { url: "http://127.0.0.1:$I", timeout: 300ms $1 }
auth:
  jwt:
    jwks_file: $RUN/cache-jwks.json
    algorithms: [HS256]
routes:
  - path: /v1/order-screen/{id}
    handler: order_screen
    auth: required
    roles: [customer, support]
    timeout: 1s
YAML
}

BFF=
stop_bff() {
  [ -n "$BFF" ] || return 0
  kill -TERM "$BFF"; wait "$BFF" 2>/dev/null || true; BFF=
}
start_bff() { # start_bff CACHE_LINE
  stop_bff
  write_config "$1"
  "$BUILD/bff-mobile/bff-mobile" --config "$RUN/cache-bff.yaml" > "$RUN/cache-bff.log" 2>&1 &
  BFF=$!
  PIDS+=($BFF)
  wait_http "http://127.0.0.1:$A/readyz"
}
reset_shop() { curl -sf -X POST "http://127.0.0.1:$C/reset" > /dev/null; }
calls() { curl -sf "http://127.0.0.1:$C/stats/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }

# run NAME — SECS seconds of order screens; one row
run() {
  local t0 t1 out reqs u o i
  reset_shop
  t0=$(cpu_ticks "$BFF")
  out=$(timeout $((SECS + 30)) wrk -t2 -c"$CONNS" -d"${SECS}s" --timeout 5s \
    -s "$RUN/cache.lua" "http://127.0.0.1:$P" 2>"$RUN/cache-wrk.err")
  t1=$(cpu_ticks "$BFF")
  if [ -s "$RUN/cache-wrk.err" ]; then
    echo "bench: non-200 answers:" >&2; sort "$RUN/cache-wrk.err" | uniq -c >&2; exit 1
  fi
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  u=$(calls users); o=$(calls orders); i=$(calls inventory)
  awk -v name="$1" -v r="$reqs" -v u="$u" -v o="$o" -v i="$i" -v t="$((t1 - t0))" \
      -v hz="$(getconf CLK_TCK)" 'BEGIN {
    printf "%s\t%d\t%d\t%d\t%d\t%d\t%.3f\t%.1f\n", name, r, u, o, i, u + o + i,
      (u + o + i) / r, t * 1e6 / hz / r }'
}

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); bff-mobile workers=$WORKERS; wrk -c$CONNS, ${SECS}s of order screens per row over 100 users and 5 orders; upstream: shop-services"
printf 'row\trequests\tusers\torders\tinventory\tcalls\tcalls/screen\tcpu_us/req\n'
start_bff ""
run off
start_bff ", cache: { max_entries: 10000 }"
run cold
run warm
run warm-again
stop_bff
echo "# the gateway's count at exit (cold + warm + warm-again):"
grep -o 'worker [0-9]* cache: [a-z0-9 ]*' "$RUN/cache-bff.log" | sed 's/^/# /'
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
