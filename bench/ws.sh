#!/usr/bin/env bash
# bench/ws.sh — the WebSocket echo round trip (issue #16): the median (and
# p90, p99) time of a 32-byte text message to the demo orders service's
# /live echo and back, through bff-mobile (a websocket: true route, auth:
# none, 1 worker), through a second bff-mobile on HTTPS (tls:, a P-256
# certificate: wss://), and straight to the service, in one run: one
# connection each, sequential trips, the targets taking turns
# (bench/ws-rtt.mjs).
# The client is node with the `ws` package (tests/ws/node_modules: npm ci
# --prefix tests/ws); on this 2-core machine it shares the cores with the
# gateway and the shop.
# Usage: bench/ws.sh [trips]   env: ROUNDS (default 10)
BENCH_NEEDS_WRK=no
source "$(dirname "$0")/lib.sh"
TRIPS=${1:-20000}
ROUNDS=${ROUNDS:-10}
need node nodejs
[ -f "$ROOT/tests/ws/node_modules/ws/package.json" ] ||
  { echo "bench: tests/ws/node_modules is missing (npm ci --prefix tests/ws)" >&2; exit 1; }

U=$(free_port); O=$(free_port); I=$(free_port); C=$(free_port)
"$BUILD/demo/shop-services" --users-port "$U" --orders-port "$O" --inventory-port "$I" \
  --control-port "$C" > "$RUN/ws-shop.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$C/healthz"

P=$(free_port); A=$(free_port)
cat > "$RUN/ws.yaml" <<YAML
listen: 127.0.0.1:$P
admin_listen: 127.0.0.1:$A
workers: 1
access_log: false
services:
  orders: { url: "http://127.0.0.1:$O" }
routes:
  - path: /live
    service: orders
    websocket: true
YAML
"$BUILD/bff-mobile/bff-mobile" --config "$RUN/ws.yaml" > "$RUN/ws-gw.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$A/readyz"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -keyout "$RUN/ws-tls.key" -out "$RUN/ws-tls.crt" -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 2>/dev/null
PT=$(free_port); AT=$(free_port)
sed -e "s/^listen: .*/listen: 127.0.0.1:$PT/" -e "s/^admin_listen: .*/admin_listen: 127.0.0.1:$AT/" \
  "$RUN/ws.yaml" > "$RUN/ws-tls.yaml"
echo "tls: { cert: $RUN/ws-tls.crt, key: $RUN/ws-tls.key }" >> "$RUN/ws-tls.yaml"
"$BUILD/bff-mobile/bff-mobile" --config "$RUN/ws-tls.yaml" > "$RUN/ws-gw-tls.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$AT/readyz"

echo "# WebSocket echo round trip, $TRIPS trips per target in $ROUNDS turns, $(date -u +%H:%M) UTC"
printf 'target\ttrips\tp50_us\tp90_us\tp99_us\n'
node "$BENCH_DIR/ws-rtt.mjs" "$TRIPS" "$ROUNDS" \
  "gateway=ws://127.0.0.1:$P/live" "gateway-tls=wss://127.0.0.1:$PT/live" \
  "direct=ws://127.0.0.1:$O/live"
