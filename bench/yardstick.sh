#!/usr/bin/env bash
# bench/yardstick.sh — runs the shared yardstick (../shared/bench, copied to
# $YARDSTICK, default /tmp/yardstick) with Portico's bff-mobile as the gateway
# rows: proxy route /orders/{id} and the order screen, JWT (HS256, the
# yardstick's secret) verified on every request.
#
#   cp -r ../shared/bench /tmp/yardstick && (cd /tmp/yardstick && ./setup.sh)
#   bench/yardstick.sh                                   # CPU-bound mode
#   UPSTREAM_MODE=delay DELAY_MS=10 bench/yardstick.sh   # latency-bound mode
#   WORKERS=2 bench/yardstick.sh                         # two workers
#   AB="before:OLD/bff-mobile after:build/bff-mobile" bench/yardstick.sh
#       # an A/B in one run: each LABEL:BINARY serves its own rows
#       # (LABEL-proxy, LABEL-agg) on its own port (18090+2i, admin +1), one
#       # after the other in every round, instead of the single gateway rows
# Any other compare.sh variable (ROUNDS, SECS, ROWS, ...) passes through.
source "$(dirname "$0")/lib.sh"
YARDSTICK=${YARDSTICK:-/tmp/yardstick}
WORKERS=${WORKERS:-1}
PORT=${GATEWAY_PORT:-18090}
ADMIN=${GATEWAY_ADMIN_PORT:-18091}
SECRET=${JWT_SECRET:-bench-secret-please-change-0123456789}
[ -x "$YARDSTICK/compare.sh" ] || { echo "bench: no yardstick at $YARDSTICK (cp -r ../shared/bench $YARDSTICK; ./setup.sh)" >&2; exit 1; }

if [ "${UPSTREAM_MODE:-nginx}" = delay ]; then ports=(19201 19202 19203); else ports=(19101 19102 19103); fi
k=$(printf '%s' "$SECRET" | base64 -w0 | tr '+/' '-_' | tr -d '=')
printf '{"keys":[{"kty":"oct","kid":"yardstick","alg":"HS256","k":"%s"}]}\n' "$k" > "$RUN/yardstick-jwks.json"
sed -e "s/@PORT@/$PORT/; s/@ADMIN@/$ADMIN/; s/@WORKERS@/$WORKERS/" \
    -e "s/@USERS@/${ports[0]}/; s/@ORDERS@/${ports[1]}/; s/@INVENTORY@/${ports[2]}/" \
    -e "s|@JWKS@|$RUN/yardstick-jwks.json|" "$BENCH_DIR/yardstick.yaml.in" > "$RUN/yardstick.yaml"

(cd "$YARDSTICK" && ./start-upstreams.sh >/dev/null)
if [ -n "${AB:-}" ]; then
  rows=$RUN/yardstick-ab-rows; : > "$rows"; i=0; pids=
  for spec in $AB; do
    label=${spec%%:*}; bin=${spec#*:}
    [ -x "$bin" ] || { echo "bench: AB: no binary at $bin" >&2; exit 1; }
    p=$((PORT + 2 * i)); a=$((p + 1)); i=$((i + 1))
    sed -e "s/^listen: .*/listen: 127.0.0.1:$p/; s/^admin_listen: .*/admin_listen: 127.0.0.1:$a/" \
      "$RUN/yardstick.yaml" > "$RUN/yardstick-$label.yaml"
    "$bin" --config "$RUN/yardstick-$label.yaml" > "$RUN/yardstick-bff-$label.log" 2>&1 &
    PIDS+=($!); pids="$pids $label:$!"
    wait_http "http://127.0.0.1:$a/readyz"
    printf '%s-proxy http://127.0.0.1:%s/orders/o-1 order yes pid:%s %s, proxy route\n' "$label" "$p" "$!" "$label" >> "$rows"
    printf '%s-agg http://127.0.0.1:%s/v1/order-screen/o-1 screen yes pid:%s %s, order screen\n' "$label" "$p" "$!" "$label" >> "$rows"
  done
  cd "$YARDSTICK"
  EXTRA_ROWS_FILE=$rows ./compare.sh
  for lp in $pids; do echo "# ${lp%%:*} peak RSS (VmHWM): $(peak_rss_mib "${lp#*:}") MiB"; done
  exit 0
fi
"$BUILD/bff-mobile/bff-mobile" --config "$RUN/yardstick.yaml" > "$RUN/yardstick-bff.log" 2>&1 &
BFF=$!
PIDS+=($BFF)
wait_http "http://127.0.0.1:$ADMIN/readyz"

cd "$YARDSTICK"
GATEWAY_NAME=${GATEWAY_NAME:-portico-w$WORKERS} \
GATEWAY_PROXY_URL="http://127.0.0.1:$PORT/orders/o-1" \
GATEWAY_AGG_URL="http://127.0.0.1:$PORT/v1/order-screen/o-1" \
GATEWAY_PIDS="pid:$BFF" \
./compare.sh
echo "# bff-mobile peak RSS (VmHWM): $(peak_rss_mib $BFF) MiB"
