#!/usr/bin/env bash
# bench/tls.sh — what HTTPS on the listener (tls:) costs. One bff-mobile,
# workers: 1, access log off, a static route (no upstream: the difference
# between rows is the transport). Rows, each after 2 s of the same load not
# measured:
#   keep-alive    wrk -c32 on HTTP and on HTTPS (every request on an open
#                 connection);
#   per request   wrk -c32 with "Connection: close": the gateway closes
#                 after each answer and wrk opens a new connection, so every
#                 HTTPS request is a new TCP connection and a handshake (wrk
#                 resumes the session for part of them: with the session
#                 tickets switched off in a test build its rows cost ~25%
#                 more); the same over HTTP for the TCP part alone;
#   s_time        openssl s_time -new, one connection at a time, a full
#                 handshake (no resumption) and a GET each;
#   s_client      $HANDSHAKES (300) runs of openssl s_client, handshake only:
#                 full, and resuming one session (a TLS 1.3 ticket);
# with an ECDSA P-256 certificate and then an RSA-2048 one (swapped in by a
# reload). Prints one row each: name, requests, req/s, the gateway's CPU µs
# per request (utime+stime from /proc over the measured seconds).
#   bench/tls.sh [secs]        (default 10)
source "$(dirname "$0")/lib.sh"
need openssl openssl
SECS=${1:-10}
HANDSHAKES=${HANDSHAKES:-300}
HZ=$(getconf CLK_TCK)
D=$RUN/tls
rm -rf "$D"; mkdir -p "$D/www"; printf 'hello\n' > "$D/www/hello.txt"

# a CA and two server certificates for 127.0.0.1: ECDSA P-256 and RSA-2048
(
  cd "$D"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.crt -days 2 -subj '/CN=bench CA' -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > leaf.ext
  for k in ec rsa; do
    if [ $k = ec ]; then opt=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
    else opt=(-newkey rsa:2048); fi
    openssl req -new "${opt[@]}" -nodes -keyout $k.key -out $k.csr -subj /CN=127.0.0.1 2>/dev/null
    openssl x509 -req -in $k.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -out $k.crt -extfile leaf.ext 2>/dev/null
  done
  cp ec.crt cur.crt; cp ec.key cur.key
)

start() { # name tls(0|1) -> sets PORT, ADMIN, PID
  PORT=$(free_port); ADMIN=$(free_port)
  {
    echo "listen: 127.0.0.1:$PORT"
    echo "admin_listen: 127.0.0.1:$ADMIN"
    echo "workers: 1"
    echo "access_log: false"
    echo "limits: { max_connections: 4096 }"
    [ "$2" = 1 ] && echo "tls: { cert: $D/cur.crt, key: $D/cur.key }"
    echo "routes:"
    echo "  - { path: /s, static: $D/www }"
  } > "$D/$1.yaml"
  "$BUILD/bff-mobile/bff-mobile" --config "$D/$1.yaml" > "$D/$1.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  wait_http "http://127.0.0.1:$ADMIN/readyz"
}

per_req() { # ticks requests -> µs
  awk -v t="$1" -v n="$2" -v hz="$HZ" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }'
}

wrk_row() { # name url [wrk args...]
  local name=$1 url=$2; shift 2
  timeout 30 wrk -t2 -c32 -d2s "$@" "$url" >/dev/null 2>&1 || true
  local t0 t1 out n rps errs
  t0=$(cpu_ticks "$PID")
  out=$(timeout $((SECS + 30)) wrk -t2 -c32 -d"${SECS}s" --timeout 5s "$@" "$url")
  t1=$(cpu_ticks "$PID")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec/ {printf "%d", $2}' <<<"$out")
  errs=$(awk '/Socket errors/ {gsub(",","",$0); print $4+$6+$8+$10}' <<<"$out")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$n" "$rps" "$(per_req $((t1 - t0)) "$n")" "${errs:-0}"
}

stime_row() { # name: openssl s_time -new, a new connection and full handshake per GET
  local name=$1 t0 t1 out n
  t0=$(cpu_ticks "$PID")
  out=$(timeout $((SECS + 30)) openssl s_time -connect "127.0.0.1:$PORT" -CAfile "$D/ca.crt" \
    -www /s/hello.txt -new -time "$SECS" 2>&1)
  t1=$(cpu_ticks "$PID")
  n=$(awk '/connections in .* real seconds/ {print $1; exit}' <<<"$out")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$n" "$(awk -v n="$n" -v s="$SECS" 'BEGIN { printf "%d", n / s }')" \
    "$(per_req $((t1 - t0)) "$n")" 0
}

# handshakes only, one openssl s_client per connection (the client closes
# first, with close_notify, so its session stays resumable): full ones, and
# ones resuming the first connection's session (TLS 1.3 ticket).
handshake_row() { # name full|resumed count
  local name=$1 n=$3 t0 t1 ok=0 args=()
  if [ "$2" = resumed ]; then
    printf 'GET /s/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
      timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$D/ca.crt" \
      -sess_out "$D/sess.pem" -ign_eof >/dev/null 2>&1 || true
    args=(-sess_in "$D/sess.pem")
  fi
  t0=$(cpu_ticks "$PID")
  for _ in $(seq 1 "$n"); do
    if timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$D/ca.crt" "${args[@]}" \
      </dev/null 2>/dev/null | grep -q "^$([ "$2" = resumed ] && echo Reused || echo New),"; then
      ok=$((ok + 1))
    fi
  done
  t1=$(cpu_ticks "$PID")
  printf '%s\t%s\t-\t%s\t%s\n' "$name" "$n" "$(per_req $((t1 - t0)) "$n")" $((n - ok))
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r); $(openssl version | cut -d' ' -f1-2);" \
  "wrk -t2 -c32 ${SECS}s; s_time ${SECS}s; bff-mobile workers: 1, static route"
printf 'row\trequests\treq/s\tcpu_us_per_req\terrors\n'

start plain 0
wrk_row "http keep-alive" "http://127.0.0.1:$PORT/s/hello.txt"
wrk_row "http new connection per request" "http://127.0.0.1:$PORT/s/hello.txt" -H "Connection: close"
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true

start tls 1
for k in ec rsa; do
  if [ $k = rsa ]; then # onto the RSA certificate by a reload, as an operator would
    cp "$D/rsa.crt" "$D/cur.crt.new"; cp "$D/rsa.key" "$D/cur.key.new"
    mv "$D/cur.crt.new" "$D/cur.crt"; mv "$D/cur.key.new" "$D/cur.key"
    curl -sf -X POST "http://127.0.0.1:$ADMIN/admin/reload" >/dev/null
  fi
  label=$([ $k = ec ] && echo "P-256" || echo "RSA-2048")
  wrk_row "https keep-alive ($label)" "https://127.0.0.1:$PORT/s/hello.txt"
  wrk_row "https new connection per request ($label)" "https://127.0.0.1:$PORT/s/hello.txt" \
    -H "Connection: close"
  stime_row "s_time -new, full handshake per GET ($label)"
  handshake_row "s_client, full handshake only ($label)" full "$HANDSHAKES"
  handshake_row "s_client, resumed handshake only ($label)" resumed "$HANDSHAKES"
done
