#!/usr/bin/env bash
# tests/ws/run.sh — WebSocket through the gateway, as a meson test: checks
# what ws.test.mjs needs (node, tests/ws/node_modules from `npm ci`, the
# built binaries), then runs it; it starts and stops every process itself.
# Fails — never skips — when something is missing: scripts/install-deps.sh
# installs node_modules. Needs BFF_BUILD_ROOT (set by meson).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${BFF_BUILD_ROOT:?BFF_BUILD_ROOT must name the meson build folder}

fail() { echo "ws test: $*" >&2; exit 1; }
command -v node >/dev/null || fail "node is missing"
command -v openssl >/dev/null || fail "openssl is missing"
[ -f "$here/node_modules/ws/package.json" ] ||
  fail "tests/ws/node_modules is missing; run scripts/install-deps.sh (npm ci --prefix tests/ws)"
for b in demo/shop-services demo/bff-token bff-mobile/bff-mobile; do
  [ -x "$build/$b" ] || fail "$build/$b is not built"
done
cd "$here"
exec node "$here/ws.test.mjs"
