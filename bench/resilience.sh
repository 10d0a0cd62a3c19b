#!/usr/bin/env bash
# bench/resilience.sh — one slow service must not slow the rest (issue 5):
# wrk -c64 on the mobile order screen (GET /v1/order-screen/o-1: orders, then
# users + inventory) and, at the same time, a second wrk on a proxy route to
# users (GET /users/4412), first with every service healthy, then with
# inventory delayed 900 ms by the demo shop's fault injection.
#
# The gateway's config is bff-mobile.yaml's (users/orders timeout 800ms,
# inventory 300ms, route deadline 1s, default retries 1, max_in_flight 256),
# without rate limits. Scenarios, each on a fresh gateway and reset shop:
#   healthy            nothing injected
#   slow-inventory     inventory at 900 ms; default breaker (5 failures,
#                      open for 10 s, doubling to 80 s)
#   slow-inv-nobreaker inventory at 900 ms; circuit_breaker failures 1000000
#                      (the breaker never opens: deadline + retry budget only)
# After each scenario: what the gateway counted for inventory
# (/admin/resilience) and how many requests the shop's inventory received.
# Usage: bench/resilience.sh [secs]   env: WORKERS (2), CONNS (64),
#                                          USERS_CONNS (16)
source "$(dirname "$0")/lib.sh"
SECS=${1:-10}
WORKERS=${WORKERS:-2}
CONNS=${CONNS:-64}
USERS_CONNS=${USERS_CONNS:-16}

U=$(free_port); O=$(free_port); I=$(free_port); C=$(free_port)
"$BUILD/demo/shop-services" --users-port "$U" --orders-port "$O" --inventory-port "$I" \
  --control-port "$C" > "$RUN/res-shop.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$C/healthz"

openssl rand -hex 32 | tr -d '\n' > "$RUN/res-hs.secret"
KEY_B64=$(base64 -w0 < "$RUN/res-hs.secret" | tr '+/' '-_' | tr -d '=')
cat > "$RUN/res-jwks.json" <<JSON
{"keys":[{"kty":"oct","kid":"bench","alg":"HS256","k":"$KEY_B64"}]}
JSON
TOKEN=$("$BUILD/demo/bff-token" --alg HS256 --key "$RUN/res-hs.secret" --kid bench \
  --sub 4412 --roles customer --ttl 2h)

P=$(free_port); A=$(free_port)
# write_config FAILURES — bff-mobile.yaml's services and routes, on loopback ports
write_config() {
  cat > "$RUN/res-bff.yaml" <<YAML
listen: 127.0.0.1:$P
admin_listen: 127.0.0.1:$A
workers: $WORKERS
access_log: false
drain_timeout: 1s
limits: { max_connections: 10000 }
services:
  users: { url: "http://127.0.0.1:$U", connect_timeout: 200ms, timeout: 800ms }
  orders: { url: "http://127.0.0.1:$O", connect_timeout: 200ms, timeout: 800ms }
  inventory:
    url: http://127.0.0.1:$I
    connect_timeout: 200ms
    timeout: 300ms
    circuit_breaker: { failures: $1, open_for: 10s, half_open_probes: 1 }
auth:
  jwt:
    jwks_file: $RUN/res-jwks.json
    algorithms: [HS256]
routes:
  - path: /v1/order-screen/{id}
    handler: order_screen
    auth: required
    roles: [customer, support]
    timeout: 1s
  - path: /users
    service: users
    auth: required
YAML
}

BFF=
start_bff() { # start_bff FAILURES
  [ -n "$BFF" ] && { kill -TERM "$BFF"; wait "$BFF" 2>/dev/null || true; }
  write_config "$1"
  "$BUILD/bff-mobile/bff-mobile" --config "$RUN/res-bff.yaml" > "$RUN/res-bff.log" 2>&1 &
  BFF=$!
  PIDS+=($BFF)
  wait_http "http://127.0.0.1:$A/readyz"
}

# counters NAME — the gateway's and the shop's view of inventory after a scenario
counters() {
  local gw shop
  gw=$(curl -sf "http://127.0.0.1:$A/admin/resilience")
  shop=$(curl -sf "http://127.0.0.1:$C/stats/inventory")
  python3 - "$1" "$gw" "$shop" <<'PY'
import json, sys
name, gw, shop = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
inv = gw["services"]["inventory"]
c = inv["calls"]
print(f"# {name}: inventory circuit {inv['circuit']}, calls ok {c['ok']} "
      f"timeout {c['timeout']} retried {c['retried']} rejected_open {c['rejected_open']} "
      f"rejected_bulkhead {c['rejected_bulkhead']}; shop inventory received "
      f"{shop['requests']} requests")
PY
}

# scenario NAME — both wrk runs at once; one row each
scenario() {
  local name=$1 a b
  wrk_run "$name/order-screen" "http://127.0.0.1:$P/v1/order-screen/o-1" "$CONNS" "$SECS" \
    -H "Authorization: Bearer $TOKEN" > "$RUN/res-a.tsv" &
  a=$!
  wrk_run "$name/users-proxy" "http://127.0.0.1:$P/users/4412" "$USERS_CONNS" "$SECS" \
    -H "Authorization: Bearer $TOKEN" > "$RUN/res-b.tsv" &
  b=$!
  wait "$a" "$b"
  cat "$RUN/res-a.tsv" "$RUN/res-b.tsv"
}

reset_shop() { curl -sf -X POST "http://127.0.0.1:$C/reset" > /dev/null; }

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); bff-mobile workers=$WORKERS; wrk -c$CONNS order screen + wrk -c$USERS_CONNS users proxy, ${SECS}s each, at once; upstream: shop-services"
printf 'row\treq/s\tp50_ms\tp99_ms\tnon2xx\terrors\n'

start_bff 5
reset_shop
curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" \
  "http://127.0.0.1:$P/v1/order-screen/o-1" || { echo "bench: the order screen fails" >&2; exit 1; }
scenario healthy
counters healthy

start_bff 5
reset_shop
curl -sf -X POST "http://127.0.0.1:$C/fault/inventory?delay_ms=900" > /dev/null
scenario slow-inventory
counters slow-inventory

start_bff 1000000
reset_shop
curl -sf -X POST "http://127.0.0.1:$C/fault/inventory?delay_ms=900" > /dev/null
scenario slow-inv-nobreaker
counters slow-inv-nobreaker
reset_shop
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
