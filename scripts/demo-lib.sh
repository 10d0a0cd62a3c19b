# scripts/demo-lib.sh — what `make demo` and `make demo-fleet` share (source it
# from the repo root with $build and $what set): the demo keys in the
# git-ignored secrets/, process bookkeeping that stops everything on Ctrl-C,
# and a bounded readiness poll.

mkdir -p secrets
chmod 700 secrets
token_tool="$build/demo/bff-token"
if [ ! -f secrets/jwt-key.pem ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out secrets/jwt-key.pem 2>/dev/null
  chmod 600 secrets/jwt-key.pem
fi
"$token_tool" --jwks --key secrets/jwt-key.pem --kid demo > secrets/jwks.json
if [ ! -f secrets/internal.key ]; then
  openssl rand -hex 32 > secrets/internal.key
  chmod 600 secrets/internal.key
fi

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "stopping the $what..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  exit 0
}
trap stop INT TERM EXIT

wait_for() { # url, what — at most 5 s
  for _ in $(seq 1 250); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.02
  done
  echo "$what: $2 did not become ready ($1); see the logs in run/" >&2
  exit 1
}
