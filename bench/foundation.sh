#!/usr/bin/env bash
# bench/foundation.sh — the foundation issue's figures: req/s and p50/p99 of a
# proxy route and of the mobile order screen with wrk -c64, peak RSS, and 1,000
# concurrent connections against a service delayed 200 ms.
# Upstream: the demo shop (build/demo/shop-services). Usage: bench/foundation.sh [secs]
source "$(dirname "$0")/lib.sh"
SECS=${1:-10}
WORKERS=${WORKERS:-2}

U=$(free_port); O=$(free_port); I=$(free_port); C=$(free_port); P=$(free_port); A=$(free_port)
"$BUILD/demo/shop-services" --users-port "$U" --orders-port "$O" --inventory-port "$I" \
  --control-port "$C" > "$RUN/shop.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$C/healthz"

openssl rand -hex 32 | tr -d '\n' > "$RUN/hs.secret"
KEY_B64=$(base64 -w0 < "$RUN/hs.secret" | tr '+/' '-_' | tr -d '=')
cat > "$RUN/jwks.json" <<JSON
{"keys":[{"kty":"oct","kid":"bench","alg":"HS256","k":"$KEY_B64"}]}
JSON
cat > "$RUN/bff-mobile.yaml" <<YAML
listen: 127.0.0.1:$P
admin_listen: 127.0.0.1:$A
workers: $WORKERS
access_log: false
limits: { max_connections: 10000 }
services:
  users: { url: "http://127.0.0.1:$U", timeout: 2s, max_in_flight: 4096 }
  orders: { url: "http://127.0.0.1:$O", timeout: 2s, max_in_flight: 4096 }
  inventory: { url: "http://127.0.0.1:$I", timeout: 2s, max_in_flight: 4096 }
auth:
  jwt:
    jwks_file: $RUN/jwks.json
    algorithms: [HS256]
routes:
  - path: "/v1/order-screen/{id}"
    handler: order_screen
    auth: required
    timeout: 3s
  - path: /inventory
    service: inventory
YAML
"$BUILD/bff-mobile/bff-mobile" --config "$RUN/bff-mobile.yaml" > "$RUN/bff.log" 2>&1 &
BFF=$!
PIDS+=($BFF)
wait_http "http://127.0.0.1:$A/readyz"
TOKEN=$("$BUILD/demo/bff-token" --alg HS256 --key "$RUN/hs.secret" --kid bench --sub 4412 --roles customer --ttl 1h)

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores; bff-mobile workers=$WORKERS; upstream: shop-services"
printf 'row\treq/s\tp50_ms\tp99_ms\tnon2xx\terrors\n'
wrk_run direct-inventory "http://127.0.0.1:$I/inventory/SKU-1" 64 "$SECS"
t0=$(cpu_ticks $BFF)
wrk_run proxy-inventory "http://127.0.0.1:$P/inventory/SKU-1" 64 "$SECS"
wrk_run order-screen "http://127.0.0.1:$P/v1/order-screen/o-1" 64 "$SECS" -H "Authorization: Bearer $TOKEN"
t1=$(cpu_ticks $BFF)
echo "# bff-mobile CPU over both rows: $(( (t1 - t0) * 1000 / $(getconf CLK_TCK) )) ms; peak RSS $(peak_rss_mib $BFF) MiB"

curl -s -X POST "http://127.0.0.1:$C/fault/inventory?delay_ms=200" > /dev/null
wrk_run delayed-200ms-c1000 "http://127.0.0.1:$P/inventory/SKU-1" 1000 "$SECS"
curl -s -X DELETE "http://127.0.0.1:$C/fault/inventory" > /dev/null
echo "# Little's law ceiling for 1000 connections at 200 ms: 5000 req/s; peak RSS now $(peak_rss_mib $BFF) MiB"
