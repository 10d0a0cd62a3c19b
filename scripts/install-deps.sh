#!/usr/bin/env bash
# Installs what building, testing and the demo need, when it is missing.
# As root: apt-get, non-interactive. Otherwise: prints the command to run.
set -euo pipefail

pkgs=(build-essential pkg-config meson ninja-build
      libmicrohttpd-dev libcurl4-openssl-dev libjson-c-dev libssl-dev
      libgnutls28-dev   # HTTPS on the listener (tls:) and the demo shop: libmicrohttpd's TLS is GnuTLS
      libyaml-dev zlib1g-dev libbrotli-dev libhiredis-dev check
      curl openssl redis-server python3 python3-jsonschema
      chromium    # tests/browser drives /usr/bin/chromium (headless)
      haproxy prometheus  # tests/e2e/test_fleet.c, make demo-fleet; promtool
      dnsmasq-base  # tests/e2e/test_endpoints.c: a DNS server on a loopback port
      clang libclang-rt-dev # make fuzz: libFuzzer (a Recommends of clang, so named)
      systemd fakeroot)   # make deb's test: the postinst's systemd-sysusers, systemd-analyze
                          # verify; fakeroot when not root (dpkg-deb, dpkg-shlibdeps: build-essential)
# Node.js for the JavaScript test helpers (tests/jwt-interop, tests/browser):
# Debian 12's nodejs 18 and npm unless a node and npm are already on PATH.
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)
# (tests/hostile-peers.sh, not part of make test, installs nginx itself)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
npm_dirs() { # test folders whose node_modules are missing or older than the lock file
  for d in tests/*/; do
    [ -f "$d/package-lock.json" ] || continue
    [ "$d/node_modules/.package-lock.json" -nt "$d/package-lock.json" ] && continue
    echo "${d%/}"
  done
}
install_npm() {
  for d in $(npm_dirs); do
    if ! command -v npm >/dev/null; then
      echo "portico: npm is missing (needed for $d); install Node.js >= 18 and npm (Debian: nodejs npm)" >&2
      exit 1
    fi
    echo "portico: npm ci in $d" >&2
    npm ci --prefix "$d" --no-audit --no-fund --loglevel=error >/dev/null
  done
}

cd "$(dirname "$0")/.."
if [ ${#missing[@]} -eq 0 ]; then
  install_npm
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "portico: missing packages: ${missing[*]}" >&2
  echo "portico: install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "portico: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_npm
