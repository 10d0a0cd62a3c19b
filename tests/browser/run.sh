#!/usr/bin/env bash
# tests/browser/run.sh — the dashboard's browser test, as a meson test.
#
# Starts shop-services and bff-web on loopback ports they choose (port 0,
# read back from their ready/listening lines; bff-web's cors.origins gets its
# own origin and the one of a page the test serves on a port it bound), mints a support
# token, runs dashboard.test.mjs (playwright-core driving Debian's
# /usr/bin/chromium), and stops everything it started. Fails — never skips —
# when Chromium or node_modules are missing: scripts/install-deps.sh installs
# both. Needs BFF_BUILD_ROOT (set by meson); BFF_SRC_ROOT defaults to the repo.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${BFF_SRC_ROOT:-$(cd "$here/../.." && pwd)}
build=${BFF_BUILD_ROOT:?BFF_BUILD_ROOT must name the meson build folder}

fail() { echo "browser test: $*" >&2; exit 1; }
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing; run scripts/install-deps.sh (Debian package chromium)"
command -v node >/dev/null || fail "node is missing"
[ -f "$src/tests/browser/node_modules/playwright-core/package.json" ] ||
  fail "tests/browser/node_modules is missing; run scripts/install-deps.sh (npm ci --prefix tests/browser)"
for b in demo/shop-services demo/bff-token bff-web/bff-web; do
  [ -x "$build/$b" ] || fail "$build/$b is not built"
done

tmp=$(mktemp -d /tmp/portico-browser-XXXXXX)
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ $rc -ne 0 ]; then
    for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done
  fi
  if [ -n "${KEEP_TMP:-}" ]; then echo "browser test: kept $tmp"; else rm -rf "$tmp"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # url
  for _ in $(seq 1 500); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.02
  done
  fail "$1 did not answer"
}
# The first line of log $1 holding $2, once written (10 s at most, and not
# after process $3 exits). The servers start on port 0 and name the ports
# they got in that line, so that no other process can take them meanwhile.
wait_line() { # log pattern pid
  local line
  for _ in $(seq 1 500); do
    line=$(grep -m1 -F -- "$2" "$1" 2>/dev/null) && { printf '%s\n' "$line"; return 0; }
    kill -0 "$3" 2>/dev/null || fail "$1: the process exited before '$2'"
    sleep 0.02
  done
  fail "$1: no '$2' within 10 s"
}
port_of() { # line key: the port of key=HOST:PORT or "key":"HOST:PORT"
  sed -n -E "s/.*$2[=:]\"?[^ \"]*:([0-9]+).*/\1/p" <<< "$1"
}

# a ping every second: the dashboard's event stream gets some through bff-web
"$build/demo/shop-services" --users-port 0 --orders-port 0 --inventory-port 0 \
  --control-port 0 --sse-ping 1s > "$tmp/shop-services.log" 2>&1 &
pids+=($!)
ready=$(wait_line "$tmp/shop-services.log" "shop-services: ready " $!)
users=$(port_of "$ready" users); orders=$(port_of "$ready" orders)
inventory=$(port_of "$ready" inventory); control=$(port_of "$ready" control)
[ -n "$users" ] && [ -n "$orders" ] && [ -n "$inventory" ] && [ -n "$control" ] ||
  fail "cannot read the ports of: $ready"
wait_for "http://127.0.0.1:$control/healthz"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key.pem" 2>/dev/null
"$build/demo/bff-token" --jwks --key "$tmp/key.pem" --kid browser > "$tmp/jwks.json"
token=$("$build/demo/bff-token" --key "$tmp/key.pem" --kid browser --sub 9001 --roles support)

# "$@": cors.origins (the page's own origin is known once bff-web listens;
# the test's two extra pages, once it listens on them).
config() {
  local origins
  origins=$(IFS=,; echo "$*")
  cat > "$tmp/bff-web.yaml.new" <<EOF
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
workers: 2
services:
  users:     { url: "http://127.0.0.1:$users", timeout: 800ms }
  orders:    { url: "http://127.0.0.1:$orders", timeout: 800ms, idle_timeout: 10s }
  inventory: { url: "http://127.0.0.1:$inventory", timeout: 800ms }
auth:
  jwt:
    jwks_file: $tmp/jwks.json
    algorithms: [ES256]
cors:
  origins: [$origins]
routes:
  - path: /api/orders/{id}
    handler: order_details
    auth: required
    roles: [support, customer]
    timeout: 2s
  - path: /api/customers/{id}/orders
    handler: customer_orders
    auth: required
    roles: [support, customer]
    timeout: 2s
  - path: /orders/{id}/events
    service: orders
    auth: required
    methods: [GET, HEAD]
  - path: /
    static: $src/bff-web/www
    auth: none
EOF
  mv "$tmp/bff-web.yaml.new" "$tmp/bff-web.yaml"
}
config http://127.0.0.1:1
"$build/bff-web/bff-web" --config "$tmp/bff-web.yaml" > "$tmp/bff-web.log" 2>&1 &
pids+=($!)
line=$(wait_line "$tmp/bff-web.log" '"msg":"listening"' $!)
web=$(port_of "$line" '"listen"'); admin=$(port_of "$line" '"admin"')
[ -n "$web" ] && [ -n "$admin" ] || fail "cannot read the ports of: $line"
wait_for "http://127.0.0.1:$admin/readyz"
# now the page's origin is known: into cors, by a reload (the ports stay)
config "http://127.0.0.1:$web"
curl -fsS -o /dev/null -X POST "http://127.0.0.1:$admin/admin/reload" ||
  fail "the reload with the page's origin was refused"

# set-origins.sh ORIGIN…: the test's own pages (on ports it bound) join the
# page's origin in cors.origins, by a reload.
{
  declare -f fail config
  echo "users=$users orders=$orders inventory=$inventory tmp=$tmp src=$src"
  echo "config \"http://127.0.0.1:$web\" \"\$@\""
  echo "curl -fsS -o /dev/null -X POST http://127.0.0.1:$admin/admin/reload || fail 'reload refused'"
} > "$tmp/set-origins.sh"

PORTICO_WEB="http://127.0.0.1:$web" PORTICO_CONTROL="http://127.0.0.1:$control" \
PORTICO_TOKEN="$token" PORTICO_TMP="$tmp" PORTICO_SET_ORIGINS="$tmp/set-origins.sh" \
  node "$here/dashboard.test.mjs"
