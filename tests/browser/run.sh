#!/usr/bin/env bash
# tests/browser/run.sh — the dashboard's browser test, as a meson test.
#
# Starts shop-services and bff-web on free loopback ports (bff-web's
# cors.origins holds its own origin and one more the test serves a page from),
# mints a support token, runs dashboard.test.mjs (playwright-core driving Debian's
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

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
wait_for() { # url
  for _ in $(seq 1 500); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.02
  done
  fail "$1 did not answer"
}

users=$(free_port); orders=$(free_port); inventory=$(free_port); control=$(free_port)
web=$(free_port); admin=$(free_port)
# two more origins the test serves a page from: one in cors.origins, one not
other=$(free_port); stranger=$(free_port)

"$build/demo/shop-services" --users-port "$users" --orders-port "$orders" \
  --inventory-port "$inventory" --control-port "$control" > "$tmp/shop-services.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$control/healthz"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key.pem" 2>/dev/null
"$build/demo/bff-token" --jwks --key "$tmp/key.pem" --kid browser > "$tmp/jwks.json"
token=$("$build/demo/bff-token" --key "$tmp/key.pem" --kid browser --sub 9001 --roles support)

cat > "$tmp/bff-web.yaml" <<EOF
listen: 127.0.0.1:$web
admin_listen: 127.0.0.1:$admin
workers: 2
services:
  users:     { url: "http://127.0.0.1:$users", timeout: 800ms }
  orders:    { url: "http://127.0.0.1:$orders", timeout: 800ms }
  inventory: { url: "http://127.0.0.1:$inventory", timeout: 800ms }
auth:
  jwt:
    jwks_file: $tmp/jwks.json
    algorithms: [ES256]
cors:
  origins: [http://127.0.0.1:$web, http://127.0.0.1:$other]
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
  - path: /
    static: $src/bff-web/www
    auth: none
EOF
"$build/bff-web/bff-web" --config "$tmp/bff-web.yaml" > "$tmp/bff-web.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$admin/readyz"

PORTICO_WEB="http://127.0.0.1:$web" PORTICO_CONTROL="http://127.0.0.1:$control" \
PORTICO_TOKEN="$token" PORTICO_TMP="$tmp" \
PORTICO_OTHER_PORT="$other" PORTICO_STRANGER_PORT="$stranger" \
  node "$here/dashboard.test.mjs"
