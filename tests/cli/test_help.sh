#!/usr/bin/env bash
# tests/cli/test_help.sh — each installed binary's --help against the flags it
# accepts (bff-mobile, bff-web, bff-token, bff-fleet):
#   - --help prints to stdout and exits 0; an unknown flag is refused (exit 2,
#     bff-fleet 64) with the usage on stderr;
#   - every long option in the binary's getopt table (read from its source)
#     appears in --help, and every --flag that --help names (outside a
#     `quoted other command`) is in the table
#     and is accepted: `BIN --flag [ARG] --help` exits 0 with the help (the
#     probe's own control: `BIN --no-such-flag --help` does not);
#   - the man page (docs/man/NAME.1) documents exactly the table's options;
#   - bff-mobile and bff-web print SPEC section 2's synopsis line exactly, and
#     bff-token's --help names every flag of SPEC section 2's example;
#   - the default config rule --help states: BFF_CONFIG, else the source
#     tree's relative file when it exists, else SYSCONFDIR/portico/NAME.yaml,
#     else one error naming both.
set -euo pipefail

src=${BFF_SRC_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=$(cd "${BFF_BUILD_ROOT:-$src/build}" && pwd)
tmp=$(mktemp -d /tmp/portico-help-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
checks=0
ok() { checks=$((checks + 1)); }

# binary, its getopt table's source, its exit status for bad flags
bins=("bff-mobile/bff-mobile core/src/app/main.c 2"
      "bff-web/bff-web core/src/app/main.c 2"
      "demo/bff-token demo/bff_token.c 2"
      "demo/bff-fleet demo/bff_fleet.c 64")

# a value each flag takes as valid (the probe tests the flag, not its parser)
declare -A sample=([claim]=role=admin [ttl]=1h [now]=0 [timeout]=100 [config]=x.yaml)

# "name has_arg" per row of the `struct option` array in $1
getopt_table() {
  awk '/struct option/ { on = 1 } on && /\{ *NULL|\{ *0 *,/ { on = 0 }
       on { while (match($0, /\{"[a-z][a-z0-9-]*", *(no|required|optional)_argument/)) {
              row = substr($0, RSTART, RLENGTH); $0 = substr($0, RSTART + RLENGTH)
              split(row, f, "\""); a = row; sub(/.*, */, "", a); sub(/_argument/, "", a)
              print f[2], a } }' "$1"
}

for row in "${bins[@]}"; do
  read -r rel source badrc <<<"$row"
  bin=$build/$rel
  name=${rel##*/}
  [ -x "$bin" ] || fail "$bin is not built"
  help=$("$bin" --help 2>"$tmp/err") || fail "$name --help exited $?"
  [ -n "$help" ] && [ ! -s "$tmp/err" ] || fail "$name --help: not on stdout alone"
  ok

  getopt_table "$src/$source" >"$tmp/table"
  [ -s "$tmp/table" ] || fail "no getopt table found in $source"
  grep -qx 'help no' "$tmp/table" || fail "$source: no --help in the getopt table"
  # the table's options are all in --help
  while read -r opt arg; do
    grep -qE -- "--$opt([^a-z0-9-]|\$)" <<<"$help" || fail "$name: --$opt is accepted but not in --help"
    ok
  done <"$tmp/table"
  # every --flag in --help is in the table, and accepted
  # (a `quoted command` in the prose is another binary's: not counted)
  sed 's/`[^`]*`//g' <<<"$help" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u >"$tmp/named"
  while read -r flag; do
    opt=${flag#--}
    arg=$(awk -v o="$opt" '$1 == o { print $2 }' "$tmp/table")
    [ -n "$arg" ] || fail "$name --help names $flag, which the binary does not take"
    probe=("$flag")
    [ "$arg" = required ] && probe+=("${sample[$opt]:-x}")
    out=$("$bin" "${probe[@]}" --help 2>&1) || fail "$name ${probe[*]} --help: refused: $out"
    grep -qF -- "--help" <<<"$out" || [ "$opt" = version ] || fail "$name ${probe[*]} --help printed: $out"
    ok
  done <"$tmp/named"
  # the probe can fail: an unknown flag is refused with the usage on stderr
  rc=0
  "$bin" --no-such-flag --help >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" = "$badrc" ] || fail "$name --no-such-flag: exit $rc, want $badrc"
  [ ! -s "$tmp/out" ] && grep -qi 'usage' "$tmp/err" || fail "$name --no-such-flag: no usage on stderr"
  ok
  # the man page documents exactly the table's options (one .TP entry each)
  man=$src/docs/man/$name.1
  [ "$(head -1 "$man")" = '.so man1/bff-mobile.1' ] && man=$src/docs/man/bff-mobile.1
  awk 'p && /^\.B/ { print $2 } { p = /^\.TP/ }' "$man" | sed 's/\\//g' | grep -- '^--' |
    sed 's/^--//' | sort >"$tmp/man"
  cut -d' ' -f1 "$tmp/table" | sort | diff - "$tmp/man" >"$tmp/mandiff" ||
    fail "$man: OPTIONS differ from the getopt table (< table only, > page only): $(cat "$tmp/mandiff")"
  if command -v groff >/dev/null; then
    warn=$(groff -man -ww -z "$man" 2>&1)
    [ -z "$warn" ] || fail "$man: groff warns: $warn"
  fi
  ok
  echo "$name: $(wc -l <"$tmp/table") options in the table, $(wc -l <"$tmp/named") named in --help, all accepted, all in $(basename "$man")"
done

# SPEC section 2, verbatim
for name in bff-mobile bff-web; do
  help=$("$build/$name/$name" --help)
  grep -qF "$name [--config FILE] [--check-config] [--version] [--help]" <<<"$help" ||
    fail "$name --help lacks the SPEC synopsis"
  grep -qF "$name/$name.yaml when that file exists" <<<"$help" || fail "$name --help: the default"
  ok
done
help=$("$build/demo/bff-token" --help)
for flag in --sub --roles --ttl --key; do  # bff-token --sub 4412 --roles customer [--ttl 1h] [--key FILE]
  grep -qE -- "$flag " <<<"$help" || fail "bff-token --help lacks $flag (SPEC section 2)"
  ok
done

# The default config rule, as --help states it.
bin=$build/bff-mobile/bff-mobile
installed=$(sed -n 's/^ *\(\/.*\/bff-mobile\.yaml\) (installed)$/\1/p' <<<"$("$bin" --help)")
[[ $installed == /*/portico/bff-mobile.yaml ]] || fail "--help names no installed default: $installed"
mkdir -p "$tmp/tree/bff-mobile" "$tmp/empty"
printf 'routes:\n  - path: /orders\n    service: http://127.0.0.1:9\n' >"$tmp/tree/bff-mobile/bff-mobile.yaml"
sha=$(sha256sum <"$tmp/tree/bff-mobile/bff-mobile.yaml" | cut -d' ' -f1)
out=$(cd "$tmp/tree" && env -u BFF_CONFIG "$bin" --check-config 2>&1) ||
  fail "the relative default was not taken: $out"
[ "$out" = "OK $sha" ] || fail "relative default: $out"
ok
printf 'routes:\n  - path: /x\n    service: http://127.0.0.1:9\n' >"$tmp/other.yaml"
osha=$(sha256sum <"$tmp/other.yaml" | cut -d' ' -f1)
out=$(cd "$tmp/tree" && BFF_CONFIG="$tmp/other.yaml" "$bin" --check-config 2>&1) || fail "BFF_CONFIG: $out"
[ "$out" = "OK $osha" ] || fail "BFF_CONFIG does not win over the relative file: $out"
out=$(cd "$tmp/tree" && BFF_CONFIG="$tmp/other.yaml" "$bin" --check-config --config bff-mobile/bff-mobile.yaml 2>&1) ||
  fail "--config: $out"
[ "$out" = "OK $sha" ] || fail "--config does not win over BFF_CONFIG: $out"
ok
rc=0
out=$(cd "$tmp/empty" && env -u BFF_CONFIG "$bin" --check-config 2>&1) || rc=$?
if [ -e "$installed" ]; then
  # an installed config on this machine: the fallback takes it
  grep -qF "$installed" <<<"$out" || [[ $out == OK\ * ]] || fail "no fallback to $installed: $out"
else
  [ "$rc" = 1 ] || fail "no config anywhere: exit $rc"
  [ "$out" = "bff-mobile: no config: neither bff-mobile/bff-mobile.yaml nor $installed exists; pass --config FILE or set BFF_CONFIG" ] ||
    fail "no config anywhere: $out"
fi
ok
echo "OK: $checks checks"
