#!/usr/bin/env bash
# tests/e2e/test_newbff.sh — scripts/new-bff end to end: in a copy of the tree,
# generate bff-kiosk, configure and build it with meson, run its suite, and
# check what the generator promises (files, wiring, no include outside bff/,
# a valid config, refusals that change nothing).
set -euo pipefail

src=${BFF_SRC_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d /tmp/portico-newbff-XXXXXX)
cleanup() {
  local rc=$?
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

step "copy the tree (tracked and new files, not build folders or node_modules)"
tree="$tmp/tree"
mkdir -p "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
     tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$tree"
else
  tar -C "$src" --exclude='./build*' --exclude=node_modules --exclude=.git -cf - . |
    tar -xf - -C "$tree"
fi
[ -x "$tree/scripts/new-bff" ] || fail "scripts/new-bff is not in the copy"
cd "$tree"

step "refusals change nothing"
before=$(sha256sum meson.build)
for bad in "" "Kiosk" "9lives" "a b" "../x" "kiosk-" "k--x" "x/y"; do
  if scripts/new-bff "$bad" >/dev/null 2>&1; then fail "new-bff accepted \"$bad\""; fi
done
if scripts/new-bff mobile >/dev/null 2>&1; then fail "new-bff overwrote bff-mobile"; fi
[ "$(sha256sum meson.build)" = "$before" ] || fail "a refused name changed meson.build"

step "generate bff-kiosk"
scripts/new-bff kiosk
for f in bff-kiosk/main.c bff-kiosk/profile.c bff-kiosk/endpoints.h bff-kiosk/bff-kiosk.yaml \
         bff-kiosk/meson.build bff-kiosk/tests/test_kiosk.c \
         shared-schemas/bff-kiosk.profile.schema.json; do
  [ -s "$f" ] || fail "$f was not made"
done
[ "$(grep -c "^subdir('bff-kiosk')$" meson.build)" = 1 ] || fail "meson.build lacks subdir('bff-kiosk')"
if grep -rnE '@(BFF|NAME|IDENT|IDENT_UPPER)@' bff-kiosk shared-schemas/bff-kiosk.profile.schema.json; then
  fail "a placeholder was left"
fi
# an endpoint's file needs no include outside bff/ (and its own endpoints.h)
if grep -hn '#include' bff-kiosk/*.c bff-kiosk/*.h | grep -v -E '"bff/[a-z_]+\.h"|"endpoints\.h"|^[0-9]+:#include <'; then
  fail "an include outside bff/"
fi
if grep -hn '#include <' bff-kiosk/*.c bff-kiosk/*.h | grep -v -E '<(string|stdlib|stdio|stdint|stddef|stdbool)\.h>'; then
  fail "a system include beyond the C library"
fi
if command -v clang-format >/dev/null; then
  clang-format --dry-run -Werror bff-kiosk/*.c bff-kiosk/*.h bff-kiosk/tests/*.c ||
    fail "the generated C is not as .clang-format wants it"
fi
if scripts/new-bff kiosk >/dev/null 2>&1; then fail "new-bff made bff-kiosk twice"; fi
[ "$(grep -c "^subdir('bff-kiosk')$" meson.build)" = 1 ] || fail "a second run added a subdir line"

step "configure and build it"
meson setup "$tmp/build" . >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; fail "meson setup"; }
ninja -C "$tmp/build" bff-kiosk/bff-kiosk bff-kiosk/test_kiosk demo/shop-services \
  demo/bff-token >"$tmp/ninja.log" 2>&1 || { tail -50 "$tmp/ninja.log"; fail "ninja"; }

step "its config validates"
mkdir -p secrets
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out secrets/jwt-key.pem 2>/dev/null
"$tmp/build/demo/bff-token" --jwks --key secrets/jwt-key.pem --kid demo > secrets/jwks.json
openssl rand -hex 32 > secrets/internal.key
out=$("$tmp/build/bff-kiosk/bff-kiosk" --check-config --config bff-kiosk/bff-kiosk.yaml) ||
  fail "bff-kiosk.yaml: $out"
[[ $out == OK\ * ]] || fail "--check-config said: $out"

step "its suite passes"
BFF_SRC_ROOT="$tree" meson test -C "$tmp/build" --no-rebuild --suite bff-kiosk \
  --print-errorlogs || fail "the bff-kiosk suite failed"
echo "new-bff: generated, built and tested bff-kiosk"
