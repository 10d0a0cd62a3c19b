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

for port in $fe 8081 8083 9081 9083 $redis_port $stats 9100 9101 9102 9103; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "demo-fleet: port $port is already in use; stop whatever runs there first" >&2
    exit 1
  fi
done

# one config content for the whole fleet: the repo's bff-mobile.yaml with the
# rate limits shared through Redis; each instance gets its own copy of the
# file so that one of them can be made stale below
cfg=run/fleet/bff-mobile.yaml
awk -v store="redis://127.0.0.1:$redis_port/0" '
  /^routes:/ && !done { print "rate_limit: { store: \"" store "\" }\n"; done = 1 }
  { print }' bff-mobile/bff-mobile.yaml > "$cfg"
cp "$cfg" run/fleet/a.yaml
cp "$cfg" run/fleet/b.yaml

spawn_upstream redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no \
  > run/fleet/redis.log 2>&1
spawn_upstream "$build/demo/shop-services" --signing-key secrets/internal.key > run/fleet/shop-services.log 2>&1
wait_for http://127.0.0.1:9100/healthz shop-services

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

  # drain b: /readyz turns 503, haproxy takes it out, nothing is dropped
  kill -TERM ${pids[3]}

Press Ctrl-C to stop.
EOT
wait
