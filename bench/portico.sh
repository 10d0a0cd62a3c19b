#!/usr/bin/env bash
# bench/portico.sh — Portico alone, on the yardstick's upstreams (a copy of
# ../shared/bench at $YARDSTICK, set up with its setup.sh): proxy route and
# order screen with JWT on (HS256) and off, workers 1 and 2, latency-bound
# (upstream delayed 10 ms), and 1,000 connections on an upstream delayed
# 200 ms. Every row follows 2 s of the same load, not measured (connection
# pools warm, as the yardstick's own warm-up). Prints one row per run: name,
# req/s, p50, p99, non-2xx, errors, and the gateway's CPU µs per request.
#   bench/portico.sh [secs]
source "$(dirname "$0")/lib.sh"
YARDSTICK=${YARDSTICK:-/tmp/yardstick}
SECS=${1:-10}
PORT=18090; ADMIN=18091
SECRET=${JWT_SECRET:-bench-secret-please-change-0123456789}  # the yardstick's, 37 bytes
[ -x "$YARDSTICK/start-upstreams.sh" ] || { echo "bench: no yardstick at $YARDSTICK" >&2; exit 1; }
TOKEN=$("$YARDSTICK/token.sh")
k=$(printf '%s' "$SECRET" | base64 -w0 | tr '+/' '-_' | tr -d '=')
printf '{"keys":[{"kty":"oct","kid":"yardstick","alg":"HS256","k":"%s"}]}\n' "$k" > "$RUN/portico-jwks.json"

BFF=
start_bff() { # workers users orders inventory auth
  [ -n "$BFF" ] && { kill -TERM "$BFF"; wait "$BFF" 2>/dev/null || true; }
  while ss -ltn | grep -q ":$ADMIN "; do sleep 0.05; done
  cat > "$RUN/portico.yaml" <<YAML
listen: 127.0.0.1:$PORT
admin_listen: 127.0.0.1:$ADMIN
workers: $1
access_log: false
limits: { max_connections: 4096 }
services:
  users: { url: "http://127.0.0.1:$2", timeout: 2s, max_in_flight: 4096 }
  orders: { url: "http://127.0.0.1:$3", timeout: 2s, max_in_flight: 4096 }
  inventory: { url: "http://127.0.0.1:$4", timeout: 2s, max_in_flight: 4096 }
auth:
  jwt: { jwks_file: $RUN/portico-jwks.json, algorithms: [HS256] }
routes:
  - { path: /orders, service: orders, auth: $5 }
  - { path: "/v1/order-screen/{id}", handler: order_screen, auth: required, timeout: 3s }
YAML
  "$BUILD/bff-mobile/bff-mobile" --config "$RUN/portico.yaml" > "$RUN/portico.log" 2>&1 &
  BFF=$!
  PIDS+=($BFF)
  wait_http "http://127.0.0.1:$ADMIN/readyz"
}
warm() { # url conns [wrk args]: 2 s not measured (keep-alive pools filled, as the yardstick's warm-up)
  local url=$1 conns=$2; shift 2
  timeout 30 wrk -t2 -c"$conns" -d2s --timeout 5s "$@" "$url" >/dev/null 2>&1 || true
}
row() { # name path conns
  local t0 t1 line n
  warm "http://127.0.0.1:$PORT$2" "$3" -H "Authorization: Bearer $TOKEN"
  t0=$(cpu_ticks "$BFF")
  line=$(wrk_run "$1" "http://127.0.0.1:$PORT$2" "$3" "$SECS" -H "Authorization: Bearer $TOKEN")
  t1=$(cpu_ticks "$BFF")
  n=$(awk -F'\t' -v s="$SECS" '{printf "%d", $2 * s}' <<<"$line")
  printf '%s\t%s\n' "$line" "$(awk -v t=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t * 1e6 / hz / n}')"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r); wrk -t2, ${SECS}s per row"
printf 'row\treq/s\tp50_ms\tp99_ms\tnon2xx\terrors\tcpu_us_per_req\n'
(cd "$YARDSTICK" && ./start-upstreams.sh >/dev/null)
start_bff 1 19101 19102 19103 required
row proxy-jwt-w1 /orders/o-1 32
row order-screen-w1 /v1/order-screen/o-1 32
start_bff 1 19101 19102 19103 none
row proxy-noauth-w1 /orders/o-1 32
start_bff 2 19101 19102 19103 required
row proxy-jwt-w2 /orders/o-1 32
row order-screen-w2 /v1/order-screen/o-1 32

(cd "$YARDSTICK" && DELAY_MS=10 ./start-upstreams.sh >/dev/null)
wait_http "http://127.0.0.1:19202/orders/o-1" # a refused first call would mark it down
start_bff 1 19201 19202 19203 required
echo "# latency-bound: every upstream answer delayed 10 ms; one hop ceiling ~32/10ms, two sequential hops ~half"
warm "http://127.0.0.1:19202/orders/o-1" 32
wrk_run direct-delay10 "http://127.0.0.1:19202/orders/o-1" 32 "$SECS"
row proxy-delay10 /orders/o-1 32
row order-screen-delay10 /v1/order-screen/o-1 32

(cd "$YARDSTICK" && DELAY_MS=200 ./start-upstreams.sh >/dev/null)
wait_http "http://127.0.0.1:19202/orders/o-1"
start_bff 1 19201 19202 19203 required
echo "# 1,000 connections, upstream delayed 200 ms: Little's law ceiling 5,000 req/s"
warm "http://127.0.0.1:19202/orders/o-1" 1000
wrk_run direct-c1000-delay200 "http://127.0.0.1:19202/orders/o-1" 1000 "$SECS"
row proxy-c1000-delay200 /orders/o-1 1000
echo "# gateway peak RSS (VmHWM) of the last instance: $(peak_rss_mib "$BFF") MiB"
(cd "$YARDSTICK" && DELAY_MS=10 ./start-upstreams.sh >/dev/null)
