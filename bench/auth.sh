#!/usr/bin/env bash
# bench/auth.sh — what JWT verification costs a proxy route (issue 3, item 7):
# req/s of GET /orders/o-1 through bff-mobile with auth: none, and with auth:
# required for an HS256, an RS256 (2048-bit) and an ES256 (P-256) token; each
# auth row with the verified-token cache on and off (BFF_TOKEN_CACHE=off).
# One token per row, sent on every request (one user: the cache's best case),
# and an ES256 row with 1,000 distinct tokens in turn (many users).
#
# Upstream: the yardstick's nginx upstreams (:19101-19103) when they answer
# (cp -r ../shared/bench /tmp/yardstick; cd /tmp/yardstick; ./start-upstreams.sh),
# else the demo shop (build/demo/shop-services), started here.
# Rounds: every row runs ROUNDS times, rows interleaved; the last table is
# the median req/s of each row and its change against auth-none of the same
# cache setting.
# Usage: bench/auth.sh [secs]   env: WORKERS (default 1), CONNS (default 64),
#                                    ROUNDS (default 3)
source "$(dirname "$0")/lib.sh"
SECS=${1:-10}
WORKERS=${WORKERS:-1}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
TOK="$BUILD/demo/bff-token"

if curl -s -o /dev/null "http://127.0.0.1:19102/orders/o-1"; then
  U=19101; O=19102; I=19103; UPSTREAM="yardstick nginx upstreams"
else
  U=$(free_port); O=$(free_port); I=$(free_port); C=$(free_port)
  "$BUILD/demo/shop-services" --users-port "$U" --orders-port "$O" --inventory-port "$I" \
    --control-port "$C" > "$RUN/auth-shop.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$C/healthz"
  UPSTREAM="demo shop-services"
fi

# Keys: an HS256 secret, an RSA 2048 key, a P-256 key; one JWKS with all three.
rm -f "$RUN"/auth-*.pem "$RUN/auth-hs.secret"
"$TOK" --gen-key hmac --out "$RUN/auth-hs.secret"
"$TOK" --gen-key rsa --out "$RUN/auth-rsa.pem"
"$TOK" --gen-key ec --out "$RUN/auth-ec.pem"
python3 - "$RUN" "$TOK" > "$RUN/auth-jwks.json" <<'PY'
import json, subprocess, sys
run, tok = sys.argv[1], sys.argv[2]
keys = []
for f, kid, alg in (("auth-hs.secret", "hs", "HS256"), ("auth-rsa.pem", "rs", "RS256"),
                    ("auth-ec.pem", "es", "ES256")):
    out = subprocess.check_output([tok, "--jwks", "--key", f"{run}/{f}", "--kid", kid,
                                   "--alg", alg])
    keys += json.loads(out)["keys"]
print(json.dumps({"keys": keys}))
PY

P=$(free_port); A=$(free_port)
cat > "$RUN/auth-bff.yaml" <<YAML
listen: 127.0.0.1:$P
admin_listen: 127.0.0.1:$A
workers: $WORKERS
access_log: false
limits: { max_connections: 10000 }
services:
  users: { url: "http://127.0.0.1:$U", timeout: 2s }
  orders: { url: "http://127.0.0.1:$O", timeout: 2s }
  inventory: { url: "http://127.0.0.1:$I", timeout: 2s }
auth:
  jwt:
    jwks_file: $RUN/auth-jwks.json
    algorithms: [HS256, RS256, ES256]
routes:
  - path: /open
    service: orders
    strip_prefix: true
    auth: none
  - path: /orders
    service: orders
    auth: required
YAML

BFF=
start_bff() { # start_bff on|off
  [ -n "$BFF" ] && { kill -TERM "$BFF"; wait "$BFF" 2>/dev/null || true; }
  BFF_TOKEN_CACHE=$1 "$BUILD/bff-mobile/bff-mobile" --config "$RUN/auth-bff.yaml" \
    > "$RUN/auth-bff-$1.log" 2>&1 &
  BFF=$!
  PIDS+=($BFF)
  wait_http "http://127.0.0.1:$A/readyz"
}

HS=$("$TOK" --alg HS256 --key "$RUN/auth-hs.secret" --kid hs --sub 4412 --roles customer --ttl 2h)
RS=$("$TOK" --key "$RUN/auth-rsa.pem" --kid rs --sub 4412 --roles customer --ttl 2h)
ES=$("$TOK" --key "$RUN/auth-ec.pem" --kid es --sub 4412 --roles customer --ttl 2h)
# 1,000 users: a wrk script that sends token i on request i (mod 1000).
for i in $(seq 1 1000); do
  "$TOK" --key "$RUN/auth-ec.pem" --kid es --sub "u$i" --roles customer --ttl 2h
done > "$RUN/auth-es-1000.txt"
cat > "$RUN/auth-many.lua" <<LUA
local toks = {}
for line in io.lines("$RUN/auth-es-1000.txt") do toks[#toks + 1] = line end
local i = 0
request = function()
  i = i % #toks + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. toks[i] })
end
LUA

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); bff-mobile workers=$WORKERS; wrk -c$CONNS ${SECS}s x $ROUNDS rounds; upstream: $UPSTREAM"
printf 'row\treq/s\tp50_ms\tp99_ms\tnon2xx\terrors\n'
start_bff on
curl -sf -o /dev/null -H "Authorization: Bearer $ES" "http://127.0.0.1:$P/orders/o-1" \
  || { echo "bench: the ES256 token is refused" >&2; exit 1; }
ROWS="$RUN/auth-rows.tsv"
: > "$ROWS"
wrk_run direct-upstream "http://127.0.0.1:$O/orders/o-1" "$CONNS" "$SECS" | tee -a "$ROWS"
for round in $(seq 1 "$ROUNDS"); do
  for cache in off on; do
    start_bff "$cache"
    wrk_run "auth-none/cache-$cache" "http://127.0.0.1:$P/open/orders/o-1" "$CONNS" "$SECS" \
      | tee -a "$ROWS"
    for row in HS256:$HS RS256:$RS ES256:$ES; do
      wrk_run "${row%%:*}/cache-$cache" "http://127.0.0.1:$P/orders/o-1" "$CONNS" "$SECS" \
        -H "Authorization: Bearer ${row#*:}" | tee -a "$ROWS"
    done
    wrk_run "ES256-1000-users/cache-$cache" "http://127.0.0.1:$P/orders/o-1" "$CONNS" \
      "$SECS" -s "$RUN/auth-many.lua" | tee -a "$ROWS"
  done
done
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# median of $ROUNDS rounds (req/s), and against auth-none with the same cache setting"
printf 'row\tmedian_req/s\tvs_auth_none\n'
python3 - "$ROWS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split("\t")
    if len(f) >= 6 and f[4] == "0" and f[5].strip() == "0":
        rows.setdefault(f[0], []).append(float(f[1]))
    elif len(f) >= 6:
        rows.setdefault(f[0] + " (non-2xx or errors: not counted)", [])
med = {k: statistics.median(v) for k, v in rows.items() if v}
for k in rows:
    if k not in med:
        print(f"{k}\t-\t-")
        continue
    base = med.get("auth-none/" + k.split("/")[-1]) if "/cache-" in k else None
    vs = f"{(med[k] / base - 1) * 100:+.1f}%" if base and not k.startswith("auth-none") else ""
    print(f"{k}\t{med[k]:.0f}\t{vs}")
PY
