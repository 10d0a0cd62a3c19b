#!/usr/bin/env bash
# bench/encoding.sh — bytes per answer as identity, gzip and br for the
# mobile order screen, the mobile home and the web order (curl against the
# real binaries: shop-services, bff-mobile, bff-web, configured as `make demo`
# but on free ports with an HS256 key), then the CPU per answer of gzip and of
# brotli at qualities 1-11 and windows 16/22 on those same bodies
# (build/bench/encode-cpu). Usage: bench/encoding.sh [ITER]  (encodings per
# round for encode-cpu, default 2000). Needs curl; about 30 s.
BENCH_NEEDS_WRK=no
source "$(dirname "$0")/lib.sh"
ITER=${1:-2000}
SAMPLES=${SAMPLES:-5}

U=$(free_port); O=$(free_port); I=$(free_port); C=$(free_port)
MP=$(free_port); MA=$(free_port); WP=$(free_port); WA=$(free_port)
"$BUILD/demo/shop-services" --users-port "$U" --orders-port "$O" --inventory-port "$I" \
  --control-port "$C" > "$RUN/shop.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$C/healthz"

openssl rand -hex 32 | tr -d '\n' > "$RUN/hs.secret"
KEY_B64=$(base64 -w0 < "$RUN/hs.secret" | tr '+/' '-_' | tr -d '=')
cat > "$RUN/jwks.json" <<JSON
{"keys":[{"kty":"oct","kid":"bench","alg":"HS256","k":"$KEY_B64"}]}
JSON
services="services:
  users: { url: \"http://127.0.0.1:$U\", timeout: 800ms }
  orders: { url: \"http://127.0.0.1:$O\", timeout: 800ms }
  inventory: { url: \"http://127.0.0.1:$I\", timeout: 800ms }
auth:
  jwt:
    jwks_file: $RUN/jwks.json
    algorithms: [HS256]"
cat > "$RUN/enc-mobile.yaml" <<YAML
listen: 127.0.0.1:$MP
admin_listen: 127.0.0.1:$MA
workers: 1
access_log: false
$services
routes:
  - path: /v1/order-screen/{id}
    handler: order_screen
    auth: required
    timeout: 1s
  - path: /v1/home
    handler: home
    auth: required
    timeout: 1s
YAML
cat > "$RUN/enc-web.yaml" <<YAML
listen: 127.0.0.1:$WP
admin_listen: 127.0.0.1:$WA
workers: 1
access_log: false
$services
routes:
  - path: /api/orders/{id}
    handler: order_details
    auth: required
    timeout: 2s
YAML
"$BUILD/bff-mobile/bff-mobile" --config "$RUN/enc-mobile.yaml" > "$RUN/enc-mobile.log" 2>&1 &
PIDS+=($!)
"$BUILD/bff-web/bff-web" --config "$RUN/enc-web.yaml" > "$RUN/enc-web.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$MA/readyz"
wait_http "http://127.0.0.1:$WA/readyz"
TOKEN=$("$BUILD/demo/bff-token" --alg HS256 --key "$RUN/hs.secret" --kid bench --sub 4412 \
  --roles customer --ttl 1h)

# size NAME URL [curl args] -> bytes of the body as sent (curl does not
# decode without --compressed); min-max over SAMPLES requests
size() {
  local url=$1; shift
  local sizes=()
  for _ in $(seq 1 "$SAMPLES"); do
    sizes+=("$(curl -sf -o /dev/null -w '%{size_download}' -H "Authorization: Bearer $TOKEN" \
      "$@" "$url")")
  done
  printf '%s\n' "${sizes[@]}" | sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {print (lo==hi ? lo : lo "-" hi)}'
}
# coding URL AE -> the Content-Encoding the answer came with
coding() {
  curl -sf -o /dev/null -D - -H "Authorization: Bearer $TOKEN" -H "Accept-Encoding: $2" "$1" |
    awk -F': ' 'tolower($1)=="content-encoding" {gsub("\r",""); print $2; f=1} END {if (!f) print "identity"}'
}

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores; bodies from shop-services (Ada, 4412, order o-1)"
printf 'answer\tidentity\tgzip\tbr\tcodings\n'
for a in "order-screen http://127.0.0.1:$MP/v1/order-screen/o-1" \
         "home http://127.0.0.1:$MP/v1/home" \
         "web-order http://127.0.0.1:$WP/api/orders/o-1"; do
  set -- $a
  id=$(size "$2"); gz=$(size "$2" -H 'Accept-Encoding: gzip'); br=$(size "$2" -H 'Accept-Encoding: br')
  printf '%s\t%s\t%s\t%s\t%s/%s\n' "$1" "$id" "$gz" "$br" "$(coding "$2" gzip)" "$(coding "$2" br)"
  curl -sf -o "$RUN/enc-$1.json" -H "Authorization: Bearer $TOKEN" "$2"
done
# a browser's header: both at q=1, br wins
echo "# Accept-Encoding: gzip, deflate, br -> $(coding "http://127.0.0.1:$MP/v1/home" 'gzip, deflate, br');" \
     "br;q=0.5, gzip -> $(coding "http://127.0.0.1:$MP/v1/home" 'br;q=0.5, gzip')"

echo
echo "# CPU per answer of the core's encoders (build/bench/encode-cpu -n $ITER; q9/q11: $((ITER / 10)) per round)"
"$BUILD/bench/encode-cpu" -n "$ITER" order-screen="$RUN/enc-order-screen.json" \
  home="$RUN/enc-home.json" web-order="$RUN/enc-web-order.json"
