#!/usr/bin/env bash
# tests/hostile-peers.sh — the hostile-HTTP case table (tests/e2e/hostile-cases.txt)
# against Portico (bff-mobile), nginx and haproxy, each a plain reverse proxy on a
# loopback port in front of the same logging upstream (the one hostile-probe
# starts), and a Markdown table of what each answered and what reached the
# upstream. Not part of `make test` (it needs nginx and haproxy, and prints a
# comparison rather than passing or failing); docs/http-strictness.md holds a run.
#
#   tests/hostile-peers.sh [BUILD_DIR] [--out FILE] [--only SUBSTRING]
#
# Needs the Debian packages nginx and haproxy: as root it installs them when
# missing, otherwise it names the apt-get command and exits 1. Every front end
# gets the limits the e2e suite gives Portico: 64 KiB bodies, a 1 s client
# timeout, a 2 s upstream timeout, no retries.
set -euo pipefail

cd "$(dirname "$0")/.."
build=build
out=
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --only) only=(--only "$2"); shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) build=$1; shift ;;
  esac
done

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v haproxy >/dev/null || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "hostile-peers: missing ${need[*]}; install with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "hostile-peers: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for b in tests/hostile-probe bff-mobile/bff-mobile demo/bff-token; do
  [ -x "$build/$b" ] || { echo "hostile-peers: $build/$b missing; run: ninja -C $build" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/portico-peers-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Polls URL until it answers 200, 10 s at most.
wait_200() {
  for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true)" = 200 ] && return 0
    sleep 0.05
  done
  echo "hostile-peers: $1 never answered 200" >&2
  return 1
}

# A token for Portico's auth: required route (the peers have no auth).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key.pem" 2>/dev/null
"$build/demo/bff-token" --jwks --key "$tmp/key.pem" --kid peers > "$tmp/jwks.json"
token=$("$build/demo/bff-token" --key "$tmp/key.pem" --kid peers --sub 4412 --roles customer)

coproc PROBE { exec "$build/tests/hostile-probe" --cases tests/e2e/hostile-cases.txt \
  --token "$token" "${only[@]}" 2>"$tmp/probe.log"; }
probe_pid=$PROBE_PID # bash unsets PROBE and PROBE_PID once the coprocess ends
exec {pout}<&"${PROBE[0]}" {pin}>&"${PROBE[1]}"
exec {PROBE[0]}<&- {PROBE[1]}>&-
pids+=("$probe_pid")
read -r word up <&"$pout"
[ "$word" = upstream ] || { echo "hostile-peers: probe said: $word $up" >&2; exit 1; }

p_port=$(free_port); p_admin=$(free_port); n_port=$(free_port); h_port=$(free_port)

cat > "$tmp/portico.yaml" <<EOF
listen: 127.0.0.1:$p_port
admin_listen: 127.0.0.1:$p_admin
workers: 2
limits: { max_body: 64KiB, client_timeout: 1s }
services:
  echo:
    url: "http://127.0.0.1:$up"
    timeout: 2s
    retries: 0
    circuit_breaker: { failures: 1000000, open_for: 1s }
auth:
  jwt:
    jwks_file: $tmp/jwks.json
    algorithms: [ES256]
routes:
  - path: /echo
    service: echo
    auth: none
  - path: /secure
    service: echo
    auth: required
EOF
"$build/bff-mobile/bff-mobile" --config "$tmp/portico.yaml" >"$tmp/portico.log" 2>&1 &
pids+=($!)

mkdir -p "$tmp/nginx"
cat > "$tmp/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  client_max_body_size 64k;
  client_header_timeout 1s;
  client_body_timeout 1s;
  keepalive_timeout 1s;
  send_timeout 2s;
  upstream up { server 127.0.0.1:$up; keepalive 8; }
  server {
    listen 127.0.0.1:$n_port;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 1s;
      proxy_read_timeout 2s;
      proxy_next_upstream off;
    }
  }
}
EOF
nginx -c "$tmp/nginx.conf" -p "$tmp/nginx/" >"$tmp/nginx/stdout.log" 2>&1 &
pids+=($!)

cat > "$tmp/haproxy.cfg" <<EOF
global
  maxconn 256
defaults
  mode http
  timeout connect 1s
  timeout client 1s
  timeout http-request 1s
  timeout server 2s
  retries 0
frontend fe
  bind 127.0.0.1:$h_port
  default_backend be
backend be
  server up 127.0.0.1:$up
EOF
haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
pids+=($!)

wait_200 "http://127.0.0.1:$p_admin/readyz"
wait_200 "http://127.0.0.1:$n_port/echo/__barrier__"
wait_200 "http://127.0.0.1:$h_port/echo/__barrier__"

{
  echo "portico $p_port"
  echo "nginx $n_port"
  echo "haproxy $h_port"
} >&"$pin"
exec {pin}>&-
table=$(cat <&"$pout")
exec {pout}<&-
wait "$probe_pid" || true
grep '^hostile-probe:' "$tmp/probe.log" >&2 || true

header="Run $(date -u +%Y-%m-%d) on $(uname -sm): Portico $(git rev-parse --short HEAD 2>/dev/null || echo '?'), \
$(nginx -v 2>&1 | sed 's/^nginx version: //'), $(haproxy -v | head -1 | awk '{print "HAProxy " $3}')."
if [ -n "$out" ]; then
  printf '%s\n\n%s\n' "$header" "$table" > "$out"
  echo "hostile-peers: table written to $out" >&2
else
  printf '%s\n\n%s\n' "$header" "$table"
fi
