#!/usr/bin/env bash
# make demo: the demo shop and both BFFs on loopback, with working curl lines.
# Ctrl-C stops everything this script started (scripts/demo-lib.sh says how).
# Started with SIGINT ignored (a background job of a non-interactive shell is,
# and bash cannot trap a signal ignored on entry): run again with SIGINT at its
# default, so that Ctrl-C and kill -INT reach the trap in scripts/demo-lib.sh.
if [ "$(trap -p INT)" = "trap -- '' SIGINT" ] && [ -z "${DEMO_SIGINT_RESET:-}" ]; then
  DEMO_SIGINT_RESET=1 exec env --default-signal=INT "$BASH" "$0" "$@"
fi
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
mkdir -p run

what=demo
source scripts/demo-lib.sh

for port in 8081 8082 9081 9082 9100 9101 9102 9103; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "demo: port $port is already in use; stop whatever runs there first" >&2
    exit 1
  fi
done

# o-5 (Ada's) walks pending, paid, shipped, delivered by itself, every 5 s, and
# starts over: the dashboard's live status has something to show
spawn_upstream "$build/demo/shop-services" --signing-key secrets/internal.key \
  --advance o-5 --advance-every 5s > run/shop-services.log 2>&1
wait_for http://127.0.0.1:9100/healthz shop-services
spawn "$build/bff-mobile/bff-mobile" --config bff-mobile/bff-mobile.yaml > run/bff-mobile.log 2>&1
spawn "$build/bff-web/bff-web" --config bff-web/bff-web.yaml > run/bff-web.log 2>&1
wait_for http://127.0.0.1:9081/readyz bff-mobile
wait_for http://127.0.0.1:9082/readyz bff-web

mobile_token=$("$token_tool" --key secrets/jwt-key.pem --kid demo --sub 4412 --roles customer \
  --iss https://auth.shop.example --aud shop-mobile --ttl 12h)
web_token=$("$token_tool" --key secrets/jwt-key.pem --kid demo --sub 9001 --roles support \
  --iss https://auth.shop.example --aud shop-web --ttl 12h)

cat <<EOT

Portico demo is running (logs in run/). Try:

  # mobile: the lean order screen (Ada's order o-1)
  curl -s -H 'Authorization: Bearer $mobile_token' http://127.0.0.1:8081/v1/order-screen/o-1

  # mobile: a proxy route, identity forwarded and signed
  curl -s -H 'Authorization: Bearer $mobile_token' http://127.0.0.1:8081/orders/o-1

  # web: the full order details (as a support agent)
  curl -s -H 'Authorization: Bearer $web_token' http://127.0.0.1:8082/api/orders/o-1

  # live: o-5's status changes as Server-Sent Events (it moves every 5 s;
  # the stream ends at delivered), and one you move yourself
  curl -sN -H 'Authorization: Bearer $mobile_token' http://127.0.0.1:8081/orders/o-5/events
  curl -s -X POST 'http://127.0.0.1:9100/orders/o-1/status?to=shipped'

  # the support dashboard: open http://127.0.0.1:8082/ in a browser, paste
  # the web token above, open o-5 and watch its status change live

  # make inventory slow, and watch the order screen degrade to "partial"
  curl -s -X POST 'http://127.0.0.1:9100/fault/inventory?delay_ms=900'
  curl -s -H 'Authorization: Bearer $mobile_token' http://127.0.0.1:8081/v1/order-screen/o-1
  curl -s -X DELETE http://127.0.0.1:9100/fault/inventory

  # a forged identity straight to the service is refused (401)
  curl -s -H 'X-User-Id: 4412' http://127.0.0.1:9102/orders/o-1

  # operations
  curl -s http://127.0.0.1:9081/readyz
  curl -s http://127.0.0.1:9081/admin/config

Press Ctrl-C to stop.
EOT
wait
