#!/usr/bin/env bash
# bench/auth.sh — what JWT verification costs a proxy route (issue 3, item 7):
# req/s of GET /orders/o-1 through bff-mobile with auth: none, and with auth:
# required for an HS256, an RS256 (2048-bit) and an ES256 (P-256) token; each
# auth row with the verified-token cache on and off (BFF_TOKEN_CACHE=off).
# One token per row, sent on every request (one user: the cache's best case),
# and an ES256 row with 1,000 distinct tokens in turn (many users). The
# auth-none row sends the ES256 token too (ignored there), so that every row
# carries the same request bytes and only the verification differs.
# Besides wrk's req/s, each row has bff-mobile's CPU time per request
# (utime+stime over the run / requests): on a shared 2-core machine it moves
# much less than req/s when something else runs.
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
start_bff on
curl -sf -o /dev/null -H "Authorization: Bearer $ES" "http://127.0.0.1:$P/orders/o-1" \
  || { echo "bench: the ES256 token is refused" >&2; exit 1; }
ROWS="$RUN/auth-rows.tsv"
: > "$ROWS"
# row NAME URL [wrk args...]: wrk_run's row plus bff-mobile's CPU us/request
row() {
  local name=$1 url=$2 t0 t1 line; shift 2
  t0=$(cpu_ticks "$BFF")
  line=$(wrk_run "$name" "$url" "$CONNS" "$SECS" "$@")
  t1=$(cpu_ticks "$BFF")
  awk -v l="$line" -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$SECS" 'BEGIN {
    split(l, f, "\t"); printf "%s\t%.1f\n", l, d * 1e6 / hz / (f[2] * s) }' | tee -a "$ROWS"
}
printf 'row\treq/s\tp50_ms\tp99_ms\tnon2xx\terrors\tcpu_us/req\n'
wrk_run direct-upstream "http://127.0.0.1:$O/orders/o-1" "$CONNS" "$SECS"
for round in $(seq 1 "$ROUNDS"); do
  for cache in off on; do
    start_bff "$cache"
    row "auth-none/cache-$cache" "http://127.0.0.1:$P/open/orders/o-1" \
      -H "Authorization: Bearer $ES"
    for r in HS256:$HS RS256:$RS ES256:$ES; do
      row "${r%%:*}/cache-$cache" "http://127.0.0.1:$P/orders/o-1" \
        -H "Authorization: Bearer ${r#*:}"
    done
    row "ES256-1000-users/cache-$cache" "http://127.0.0.1:$P/orders/o-1" \
      -s "$RUN/auth-many.lua"
  done
done
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# medians of $ROUNDS rounds; vs: against auth-none with the same cache setting"
printf 'row\treq/s\tvs\tcpu_us/req\tvs\n'
python3 - "$ROWS" <<'PY'
import statistics, sys
rows, bad = {}, set()
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[4] != "0" or f[5] != "0":
        bad.add(f[0])  # a run with non-2xx or socket errors does not count
        continue
    rows.setdefault(f[0], []).append((float(f[1]), float(f[6])))
med = {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v))
       for k, v in rows.items()}
for k, (rps, cpu) in med.items():
    base = med.get("auth-none/" + k.split("/")[-1])
    if base and not k.startswith("auth-none"):
        print(f"{k}\t{rps:.0f}\t{(rps / base[0] - 1) * 100:+.1f}%\t{cpu:.1f}\t"
              f"{cpu - base[1]:+.1f} us")
    else:
        print(f"{k}\t{rps:.0f}\t\t{cpu:.1f}\t")
for k in sorted(bad):
    print(f"# {k}: a run had non-2xx answers or socket errors and is left out")
PY
