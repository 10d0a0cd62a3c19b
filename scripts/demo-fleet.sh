#!/usr/bin/env bash
# make demo-fleet: the demo shop, redis-server, two bff-mobile instances running
# the same config content (ports from BFF_LISTEN / BFF_ADMIN_LISTEN), haproxy
# in front of them health-checking their admin /readyz, and working curl and
# bff-fleet lines. Ctrl-C stops everything this script started
# (scripts/demo-lib.sh says how).
# Started with SIGINT ignored (a background job of a non-interactive shell is,
# and bash cannot trap a signal ignored on entry): run again with SIGINT at its
# default, so that Ctrl-C and kill -INT reach the trap in scripts/demo-lib.sh.
if [ "$(trap -p INT)" = "trap -- '' SIGINT" ] && [ -z "${DEMO_SIGINT_RESET:-}" ]; then
  DEMO_SIGINT_RESET=1 exec env --default-signal=INT "$BASH" "$0" "$@"
fi
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
mkdir -p secrets run/fleet
chmod 700 secrets

fe=8080                 # haproxy: the fleet's one door
inst=("8081 9081" "8083 9083")
redis_port=6390
stats=8404              # haproxy's stats page

what=fleet
source scripts/demo-lib.sh

orders2=9112 orders2_control=9110 # a second instance of the orders service
for port in $fe 8081 8083 9081 9083 $redis_port $stats 9100 9101 9102 9103 $orders2 $orders2_control; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "demo-fleet: port $port is already in use; stop whatever runs there first" >&2
    exit 1
  fi
done

# one config content for the whole fleet: the repo's bff-mobile.yaml with the
# rate limits shared through Redis; each instance gets its own copy of the
# file so that one of them can be made stale below
cfg=run/fleet/bff-mobile.yaml
awk -v store="redis://127.0.0.1:$redis_port/0" -v second="http://127.0.0.1:$orders2" '
  /^routes:/ && !done { print "rate_limit: { store: \"" store "\" }\n"; done = 1 }
  /^  orders:/ { orders = 1 }
  orders && /^    url: / {
    sub(/url: /, "endpoints: [")
    print $0 ", " second "]"
    print "    retries: 1                   # a call the stopped instance had is retried on the other"
    print "    outlier: { failures: 3, eject_for: 2s, max_ejected: 50% }"
    orders = 0
    next
  }
  { print }' bff-mobile/bff-mobile.yaml > "$cfg"
cp "$cfg" run/fleet/a.yaml
cp "$cfg" run/fleet/b.yaml

spawn_upstream redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no \
  > run/fleet/redis.log 2>&1
spawn_upstream "$build/demo/shop-services" --signing-key secrets/internal.key > run/fleet/shop-services.log 2>&1
wait_for http://127.0.0.1:9100/healthz shop-services
# the second orders instance: a shop of its own, of which only orders is used
start_orders2() {
  spawn_upstream "$build/demo/shop-services" --signing-key secrets/internal.key \
    --orders-port $orders2 --control-port $orders2_control --users-port 0 --inventory-port 0 \
    >> run/fleet/orders-2.log 2>&1
  orders2_pid=${pids[-1]}
  wait_for http://127.0.0.1:$orders2_control/healthz "orders instance 2"
}
start_orders2

names=(a b)
for i in 0 1; do
  read -r port admin <<< "${inst[$i]}"
  BFF_LISTEN=127.0.0.1:$port BFF_ADMIN_LISTEN=127.0.0.1:$admin \
    spawn "$build/bff-mobile/bff-mobile" --config "run/fleet/${names[$i]}.yaml" \
    > "run/fleet/bff-${names[$i]}.log" 2>&1
done
wait_for http://127.0.0.1:9081/readyz "bff-mobile a"
wait_for http://127.0.0.1:9083/readyz "bff-mobile b"

cat > run/fleet/haproxy.cfg <<EOF
global
    maxconn 4000
defaults
    mode http
    timeout connect 500ms
    timeout client 30s
    timeout server 30s
    timeout check 500ms
    retries 3
    option redispatch 1
    retry-on all-retryable-errors
frontend fe
    bind 127.0.0.1:$fe
    default_backend bff_mobile
backend bff_mobile
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fastinter 200ms downinter 1s fall 2 rise 2
    server a 127.0.0.1:8081 check port 9081
    server b 127.0.0.1:8083 check port 9083
listen stats
    bind 127.0.0.1:$stats
    stats enable
    stats uri /
EOF
spawn haproxy -f run/fleet/haproxy.cfg -db > run/fleet/haproxy.log 2>&1
wait_for http://127.0.0.1:$stats/ haproxy

token=$("$token_tool" --key secrets/jwt-key.pem --kid demo --sub 4412 --roles customer \
  --iss https://auth.shop.example --aud shop-mobile --ttl 12h)
fleet="$build/demo/bff-fleet"

# The show: orders runs as two instances (endpoints: in run/fleet/a.yaml).
# Requests go through haproxy and both BFFs to /orders/o-1 while instance 2
# is stopped and started again; none of them fails (a call the stopped
# instance had is retried on the other, the instance is ejected, and taken
# back once it answers again). Eight support users, so that the rate limit
# (100/min per user) is not what answers.
tokens=()
for u in 1 2 3 4 5 6 7 8; do
  tokens+=("$("$token_tool" --key secrets/jwt-key.pem --kid demo --sub "support-$u" \
    --roles support --iss https://auth.shop.example --aud shop-mobile --ttl 12h)")
done
traffic() { # seconds: GET /orders/o-1 through haproxy; prints "sent failed"
  local end=$((SECONDS + $1)) sent=0 failed=0 code
  while ((SECONDS < end)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
      -H "Authorization: Bearer ${tokens[sent % 8]}" http://127.0.0.1:$fe/orders/o-1) || true
    sent=$((sent + 1))
    [ "$code" = 200 ] || failed=$((failed + 1))
  done
  echo "$sent $failed"
}
echo "orders runs as two instances (:9102 and :$orders2); stopping and starting instance 2 under traffic..."
traffic 6 > run/fleet/show.txt &
show=$!
pids+=("$show") # a Ctrl-C during the show stops it too
sleep 2
term_wait "$orders2_pid"
echo "  instance 2 stopped"
sleep 2
start_orders2
echo "  instance 2 started again"
wait "$show"
read -r sent failed < run/fleet/show.txt
served2=$(curl -s http://127.0.0.1:$orders2_control/stats/orders | tr -d '\n' | head -c 200)
echo "  $sent requests through the fleet, $failed failed; instance 2 since its restart: $served2"

cat <<EOT

The Portico fleet is running (logs in run/fleet/; haproxy stats on http://127.0.0.1:$stats/).
Try:

  # through haproxy: answers come from a (8081) and b (8083) in turn
  curl -s -H 'Authorization: Bearer $token' http://127.0.0.1:$fe/v1/order-screen/o-1

  # the order screen allows 60/min per user over the whole fleet, not per instance:
  for i in \$(seq 1 70); do curl -s -o /dev/null -w '%{http_code} ' \\
    -H 'Authorization: Bearer $token' http://127.0.0.1:$fe/v1/order-screen/o-1; done; echo

  # every instance runs the same config?
  $fleet http://127.0.0.1:9081 http://127.0.0.1:9083

  # make b stale: change a's file and reload only a; bff-fleet names b (exit 1)
  echo '# release 2' >> run/fleet/a.yaml
  curl -s -X POST http://127.0.0.1:9081/admin/reload
  $fleet --expect \$($build/bff-mobile/bff-mobile --check-config --config run/fleet/a.yaml | cut -d' ' -f2) \\
    http://127.0.0.1:9081 http://127.0.0.1:9083

  # metrics (Prometheus text format) and readiness
  curl -s http://127.0.0.1:9081/metrics | grep -E '^bff_(requests_total|ratelimit|config)'
  curl -s http://127.0.0.1:9083/readyz

  # the orders instances as the gateway sees them (ejected, in flight, calls)
  curl -s http://127.0.0.1:9081/admin/resilience

  # drain b: /readyz turns 503, haproxy takes it out, nothing is dropped
  kill -TERM ${pids[4]}

Press Ctrl-C to stop.
EOT
wait
