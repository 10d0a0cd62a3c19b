#!/usr/bin/env bash
# tests/demo/test_sigint.sh — Ctrl-C stops a demo: `make demo` and `make
# demo-fleet` (scripts/demo.sh, scripts/demo-fleet.sh), each started in a
# session of its own (setsid), as a terminal's foreground job would be, then
# signalled; every process it started must be gone within the BFFs'
# drain_timeout plus a margin, and the demo must exit with the status
# scripts/demo-lib.sh documents (it dies of the signal it got). The cases:
#   - make demo-fleet, SIGINT to its process group, make started from this
#     script's background (so with SIGINT ignored, as a script's `&` does):
#     make reports "Interrupt" and exits 2;
#   - make demo, SIGINT to its process group, started with SIGINT at its
#     default (a terminal's case): make dies of SIGINT (130);
#   - scripts/demo.sh (started with SIGINT ignored, too), SIGINT to its pid
#     only: it dies of SIGINT (130);
#   - scripts/demo-fleet.sh, SIGTERM to its process group: 143.
# "Every process it started" is recorded once the demo prints its "Press
# Ctrl-C" line: the demo's process group and session, every process whose
# parent chain leads to it, and every process started since with the source
# tree as its working directory (one that daemonized away from its parent).
# The recorded set must hold the processes the demo is made of (shop-services,
# the BFFs, redis-server and haproxy for the fleet). Each BFF must log its
# graceful stop. The demos bind fixed ports: a port that is taken fails the
# case at once, naming it. Whatever is left at the end is killed (SIGKILL).
set -euo pipefail

src=${BFF_SRC_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=$(cd "${BFF_BUILD_ROOT:-$src/build}" && pwd)
tmp=$(mktemp -d /tmp/portico-demo-sigint-XXXXXX)
recorded=()   # "pid starttime comm" of every process of the current case
leader=

fail() { echo "FAIL: $*" >&2; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# pid ppid pgid sid starttime state comm, one line per process
procs() {
  local f line rest comm
  for f in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$f" || continue
    comm=${line#*\(}; comm=${comm%)*}; comm=${comm// /_}
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo "${line%% *} $2 $3 $4 ${20} $1 $comm"
  done
}
alive() { # pid starttime: that very process still runs (not a zombie)
  local line rest
  read -r line 2>/dev/null <"/proc/$1/stat" || return 1
  rest=${line##*) }
  # shellcheck disable=SC2086
  set -- "$1" "$2" $rest
  [ "${22}" = "$2" ] && [ "$3" != Z ] && [ "$3" != X ]
}
kill_leftovers() {
  local r pid start comm
  for r in "${recorded[@]}"; do
    read -r pid start comm <<<"$r"
    if alive "$pid" "$start"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  if [ -n "$leader" ]; then
    kill -KILL -- "-$leader" 2>/dev/null || true
    wait "$leader" 2>/dev/null || true
  fi
}
cleanup() {
  local rc=$?
  kill_leftovers
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  exit $rc
}
trap cleanup EXIT

for t in make haproxy redis-server setsid curl; do
  command -v "$t" >/dev/null || fail "$t is not installed (scripts/install-deps.sh)"
done
for b in demo/shop-services demo/bff-token bff-mobile/bff-mobile bff-web/bff-web; do
  [ -x "$build/$b" ] || fail "$build/$b is not built"
done

# the BFFs' drain_timeout (the demos run the repo's configs): the bound
drain_ms=0
for cfg in bff-mobile/bff-mobile.yaml bff-web/bff-web.yaml; do
  d=$(sed -n 's/^drain_timeout: *\([0-9]*\)\(ms\|s\) *\(#.*\)\?$/\1 \2/p' "$src/$cfg")
  [ -n "$d" ] || d="10 s" # SPEC section 3's default
  read -r n unit <<<"$d"
  ms=$([ "$unit" = s ] && echo $((n * 1000)) || echo "$n")
  ((ms > drain_ms)) && drain_ms=$ms
done
margin_ms=3000
limit_ms=$((drain_ms + margin_ms))

ports_demo="8081 8082 9081 9082 9100 9101 9102 9103"
ports_fleet="8080 8081 8083 9081 9083 6390 8404 9100 9101 9102 9103 9110 9112"

# case name, how to start, the signal and its target (group|pid), the exit
# status expected, the processes the demo must have started, its log folder
run_case() {
  local name=$1 start=$2 sig=$3 target=$4 want_rc=$5 want_comms=$6 logs=$7 ports=$8
  local out=$tmp/$name.out err=$tmp/$name.err
  echo "--- $name: $start; SIG$sig to the $target"
  recorded=() leader=

  local port
  for port in $ports; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      fail "$name: port $port is taken (the demos bind fixed ports): $(ss -ltnpH "sport = :$port" 2>/dev/null | head -1)"
    fi
  done

  local before=$tmp/$name.before
  procs | awk '{ print $1, $5 }' >"$before"
  local t_start
  t_start=$(now_ms)
  # simple commands with & (not subshells): bash starts those with SIGINT
  # ignored, as any script's `make demo &` would
  local mk=(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL)
  local mkargs=(-C "$src" --no-print-directory -o build BUILD="$build" "${start#*:}")
  case $start in
    make-ign:*) "${mk[@]}" setsid make "${mkargs[@]}" >"$out" 2>"$err" & ;;
    make-dfl:*) "${mk[@]}" --default-signal=INT setsid make "${mkargs[@]}" >"$out" 2>"$err" & ;;
    script:*) setsid "$src/scripts/${start#*:}" "$build" >"$out" 2>"$err" & ;;
    *) fail "unknown start $start" ;;
  esac
  leader=$!

  # ready: the "Press Ctrl-C" line, within 60 s; an early exit is a failure
  local deadline=$(($(now_ms) + 60000))
  until grep -q '^Press Ctrl-C to stop\.' "$out" 2>/dev/null; do
    if ! kill -0 "$leader" 2>/dev/null || [ "$(sed 's/.*) //' "/proc/$leader/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]; then
      wait "$leader" && rc=0 || rc=$?
      leader=
      fail "$name: the demo exited ($rc) before it was ready: $(tail -5 "$err" "$out")"
    fi
    (($(now_ms) < deadline)) || fail "$name: not ready within 60 s: $(tail -5 "$err" "$out")"
    sleep 0.05
  done
  echo "ready in $(($(now_ms) - t_start)) ms"
  # the case's control: make started with SIGINT ignored, or at its default
  local ign
  ign=$(awk '/^SigIgn:/ { print $2 }' "/proc/$leader/status")
  case $start in
    make-ign:*) (((16#$ign & 2) != 0)) || fail "$name: make does not ignore SIGINT (SigIgn $ign)" ;;
    make-dfl:*) (((16#$ign & 2) == 0)) || fail "$name: make ignores SIGINT (SigIgn $ign)" ;;
  esac

  # record: the group and session, the descendants, the newcomers in $src
  local snap=$tmp/$name.procs
  procs >"$snap"
  local sid
  sid=$(awk -v p="$leader" '$1 == p { print $4 }' "$snap")
  [ "$sid" = "$leader" ] || fail "$name: the demo is not in a session of its own (sid $sid)"
  local self_chain=" $$ "
  local p=$$
  while [ "$p" -gt 1 ]; do
    p=$(awk -v p="$p" '$1 == p { print $2 }' "$snap"); [ -n "$p" ] || break
    self_chain+="$p "
  done
  local in_src=" "
  local f
  for f in /proc/[0-9]*; do
    [ "$(readlink "$f/cwd" 2>/dev/null)" = "$src" ] && in_src+="${f#/proc/} "
  done
  mapfile -t recorded < <(awk -v L="$leader" -v self="$self_chain" -v insrc="$in_src" '
    FNR == NR { old[$1 " " $2] = 1; next }
    { pid[NR] = $1; ppid[$1] = $2; pg[$1] = $3; ss[$1] = $4; st[$1] = $5; comm[$1] = $7; state[$1] = $6 }
    END {
      for (i in pid) {
        p = pid[i]; mine = (pg[p] == L || ss[p] == L)
        for (q = p; !mine && q > 1 && (q in ppid); q = ppid[q]) if (q == L) mine = 1
        if (!mine && !((p " " st[p]) in old) && index(insrc, " " p " ") && !index(self, " " p " ")) mine = 1
        if (mine && state[p] != "Z") print p, st[p], comm[p]
      }
    }' "$before" "$snap")
  local r comms=" "
  for r in "${recorded[@]}"; do comms+="$(cut -d' ' -f3 <<<"$r") "; done
  local c
  for c in $want_comms; do
    [[ "$comms" == *" $c "* ]] || fail "$name: no $c among the demo's processes:$comms"
    comms=${comms/ $c / }   # counted: bff-mobile bff-mobile is two of them
  done
  echo "recorded ${#recorded[@]} processes:$(for r in "${recorded[@]}"; do printf ' %s' "${r##* }"; done)"

  # the signal, then everything gone within the bound
  local t0
  t0=$(now_ms)
  if [ "$target" = group ]; then kill -s "$sig" -- "-$leader"; else kill -s "$sig" "$leader"; fi
  local left
  while :; do
    left=()
    for r in "${recorded[@]}"; do
      read -r p start comm <<<"$r"
      alive "$p" "$start" && left+=("$p:$comm")
    done
    ((${#left[@]})) || break
    (($(now_ms) - t0 <= limit_ms)) ||
      fail "$name: still running $limit_ms ms after SIG$sig (drain_timeout $drain_ms ms + $margin_ms ms): ${left[*]}"
    sleep 0.05
  done
  local took=$(($(now_ms) - t0))
  local rc=0
  wait "$leader" || rc=$?
  leader=
  echo "all ${#recorded[@]} gone in $took ms; exit status $rc"
  [ "$rc" = "$want_rc" ] || fail "$name: exit status $rc, expected $want_rc: $(tail -3 "$err")"
  if [[ $start == make-ign:* ]]; then
    grep -q 'Interrupt' "$err" || fail "$name: make did not report the interrupt: $(tail -3 "$err")"
  fi
  grep -q "^stopping the " "$out" || fail "$name: the demo's trap did not run: $(tail -3 "$out")"
  for f in "$src/$logs"/bff-*.log; do
    tail -1 "$f" | grep -q '"bff-[a-z]* stopped"' ||
      fail "$name: $(basename "$f") does not end with a graceful stop: $(tail -2 "$f")"
    if grep -q 'cut off' "$f"; then fail "$name: $(basename "$f"): a drain was cut short"; fi
  done
  recorded=()
}

run_case fleet-make-int make-ign:demo-fleet INT group 2 \
  "redis-server shop-services shop-services bff-mobile bff-mobile haproxy" run/fleet "$ports_fleet"
run_case demo-make-int make-dfl:demo INT group 130 \
  "shop-services bff-mobile bff-web" run "$ports_demo"
run_case demo-script-pid-int script:demo.sh INT pid 130 \
  "shop-services bff-mobile bff-web" run "$ports_demo"
run_case fleet-script-term script:demo-fleet.sh TERM group 143 \
  "redis-server shop-services shop-services bff-mobile bff-mobile haproxy" run/fleet "$ports_fleet"
echo "PASS: every demo process gone within drain_timeout ($drain_ms ms) + $margin_ms ms"
