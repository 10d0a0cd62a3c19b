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

# Process bookkeeping. Every process the demo starts runs in a session of its
# own (setsid): a terminal's Ctrl-C (SIGINT to the foreground process group)
# then reaches make and this script only, and the trap below stops each
# process exactly once, with SIGTERM. Left in the group, each got the SIGINT
# itself, which went wrong both ways: a background job of a non-interactive
# shell starts with SIGINT ignored, so haproxy (no SIGINT handler of its own)
# kept running, and the final `wait` with it; the BFFs, which take SIGINT
# through sigwait all the same, then got the trap's SIGTERM on top, and a
# second signal cuts their drain short (SPEC section 2). SIGINT or SIGTERM to
# this script's pid alone stops everything the same way.
# The order: the processes that serve clients (the BFFs, which drain; haproxy)
# first, then the upstreams they call (shop-services, redis-server), so that
# in-flight requests can still reach them. Then the script dies of the signal
# it got (130 after SIGINT, 143 after SIGTERM, as a shell reports it), which
# is how make and a calling shell tell an interrupt from a success.
pids=()       # every process started, in order (the fleet's drain line names one)
upstreams=()  # those of them that others call: stopped last
set +m # no job control: a background job then stays in this process group, so
       # setsid makes the new session in place and $! is the process itself
spawn() { # command...: in the background, in a session of its own
  setsid "$@" &
  pids+=($!)
}
spawn_upstream() {
  spawn "$@"
  upstreams+=("${pids[-1]}")
}
term_wait() { # pid...: SIGTERM to each, then wait for all of them
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  wait "$@" 2>/dev/null || true
}
stop() { # the trap: $1 is the signal, or EXIT
  local rc=$?
  # A second Ctrl-C, or make's SIGTERM after the group's, does not interrupt
  # the cleanup; each process below is bounded (a BFF by its drain_timeout).
  trap '' INT TERM HUP
  trap - EXIT
  local p front=()
  for p in "${pids[@]}"; do
    [[ " ${upstreams[*]} " == *" $p "* ]] || front+=("$p")
  done
  if ((${#pids[@]})); then
    echo; echo "stopping the $what..."
    term_wait "${front[@]}"
    term_wait "${upstreams[@]}"
  fi
  if [ "$1" = EXIT ]; then exit "$rc"; fi
  trap - "$1"
  kill -s "$1" $$
}
# shellcheck disable=SC2064 # $sig is meant to expand now
for sig in INT TERM HUP; do trap "stop $sig" "$sig"; done
trap 'stop EXIT' EXIT

wait_for() { # url, what — at most about 5 s
  local end=$((SECONDS + 5))
  while ((SECONDS < end)); do
    if curl -fsS --max-time 1 -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.02
  done
  echo "$what: $2 did not become ready ($1); see the logs in run/" >&2
  exit 1
}
