#!/usr/bin/env bash
# Installs what building, testing and the demo need, when it is missing.
# As root: apt-get, non-interactive. Otherwise: prints the command to run.
set -euo pipefail

pkgs=(build-essential pkg-config meson ninja-build
      libmicrohttpd-dev libcurl4-openssl-dev libjson-c-dev libssl-dev
      libyaml-dev zlib1g-dev libhiredis-dev check
      curl openssl redis-server python3 python3-jsonschema)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "portico: missing packages: ${missing[*]}" >&2
  echo "portico: install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "portico: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
