#!/usr/bin/env bash
# tests/package/test_deb.sh — the .deb that `make deb` builds, installed into a
# scratch root with dpkg (never the real system's /etc or dpkg database):
#   - its control data: version from meson.build, the runtime libraries in
#     Depends (derived by dpkg-shlibdeps), exactly the two configs as conffiles,
#     no key or demo binary shipped;
#   - dpkg --root ... --force-script-chrootless -i runs the real postinst
#     (DPKG_ROOT set): the portico user in the root's passwd, the secrets made,
#     root:portico, the key 0640;
#   - each installed config passes the installed binary's --check-config; the
#     config names absolute /etc/portico and /usr/share/portico paths, so the
#     check runs on a copy whose paths point into the scratch root (the
#     binaries and files checked are the installed ones; no chroot: the root
#     has no libc). Every path it names exists in the root first;
#   - the units: the directives the issue asks for, TimeoutStopSec above the
#     config's drain_timeout, and `systemd-analyze verify` silent (skipped with
#     a note where systemd-analyze is missing);
#   - an edited conffile survives a reinstall, purge removes /etc/portico.
# Not root: dpkg runs under fakeroot (ownership is then fakeroot's record).
set -euo pipefail

src=${BFF_SRC_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${BFF_BUILD_ROOT:-$src/build}
tmp=$(mktemp -d /tmp/portico-deb-XXXXXX)
cleanup() {
  local rc=$?
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

for t in dpkg dpkg-deb dpkg-shlibdeps dpkg-query meson ninja systemd-sysusers; do
  command -v "$t" >/dev/null || fail "$t is not installed (scripts/install-deps.sh)"
done
if [ "$(id -u)" -eq 0 ]; then
  asroot() { "$@"; }
else
  command -v fakeroot >/dev/null || fail "not root and fakeroot is not installed"
  : >"$tmp/fakeroot.state"
  asroot() { fakeroot -i "$tmp/fakeroot.state" -s "$tmp/fakeroot.state" -- "$@"; }
fi

# what must not change on the host
host_files=(/etc/passwd /etc/group /var/lib/dpkg/status)
[ -e /var/log/dpkg.log ] && host_files+=(/var/log/dpkg.log)
sha256sum "${host_files[@]}" >"$tmp/host.sum"
host_portico=$( [ -e /etc/portico ] && echo yes || echo no )

step "build the package (scripts/make-deb.sh, what make deb runs)"
deb=$("$src/scripts/make-deb.sh" "$build" | tail -1)
[ -f "$deb" ] || fail "make-deb.sh made no .deb ($deb)"
version=$(sed -n "s/^ *version : '\([^']*\)',\$/\1/p" "$src/meson.build")
[ -n "$version" ] || fail "no version in meson.build"
[ "$(dpkg-deb -f "$deb" Package)" = portico ] || fail "Package: $(dpkg-deb -f "$deb" Package)"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] ||
  fail "Version: $(dpkg-deb -f "$deb" Version), meson.build says $version"
[ "$(dpkg-deb -f "$deb" Architecture)" = "$(dpkg --print-architecture)" ] || fail "Architecture"
[ "$(basename "$deb")" = "portico_${version}_$(dpkg --print-architecture).deb" ] ||
  fail "file name $(basename "$deb")"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libmicrohttpd12 libcurl4 libjson-c5 libssl3 libyaml-0-2 zlib1g libbrotli1 \
           libhiredis0.14 procps; do
  grep -qE "(^|, )$lib( \(|,|\$)" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
grep -q 'systemd | systemd-standalone-sysusers | systemd-sysusers' <<<"$depends" ||
  fail "Depends lacks systemd-sysusers (the postinst runs it): $depends"
# the libraries the binaries load are the ones declared: each NEEDED soname's
# package is in Depends
for b in bff-mobile bff-web bff-token bff-fleet; do
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/bin/$b" >"$tmp/$b"
  for so in $(objdump -p "$tmp/$b" | awk '$1 == "NEEDED" { print $2 }'); do
    path=$(ldconfig -p | awk -v s="$so" '$1 == s && !n++ { print $NF }')
    [ -n "$path" ] || fail "$b needs $so, which this machine does not have"
    # the library's package (Debian 12 registers some under /lib, some under /usr/lib)
    pkg=$( (dpkg -S "$path" || dpkg -S "$(readlink -f "$path")" || dpkg -S "/usr$path") 2>/dev/null |
      sed -n '1s/:.*//p')
    [ -n "$pkg" ] || fail "no package owns $path ($so)"
    grep -qE "(^|, )$pkg( \(|,|\$)" <<<"$depends" || fail "$b needs $so ($pkg), not in Depends"
  done
done

step "conffiles: exactly the two configs; the files shipped"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$tmp/conffiles"
printf '/etc/portico/bff-mobile.yaml\n/etc/portico/bff-web.yaml\n' | diff - "$tmp/conffiles" ||
  fail "conffiles differ"
dpkg-deb -c "$deb" | awk '{ print $6 }' >"$tmp/contents"
for f in ./usr/bin/bff-mobile ./usr/bin/bff-web ./usr/bin/bff-token ./usr/bin/bff-fleet \
         ./etc/portico/bff-mobile.yaml ./etc/portico/bff-web.yaml \
         ./usr/lib/systemd/system/bff-mobile.service ./usr/lib/systemd/system/bff-web.service \
         ./usr/lib/sysusers.d/portico.conf ./usr/libexec/portico/init-secrets \
         ./usr/share/portico/www/index.html ./usr/share/doc/portico/copyright \
         ./usr/share/man/man1/bff-mobile.1.gz ./usr/share/man/man1/bff-web.1.gz \
         ./usr/share/man/man1/bff-token.1.gz ./usr/share/man/man1/bff-fleet.1.gz; do
  grep -qxF "$f" "$tmp/contents" || fail "the package lacks $f"
done
if grep -E 'shop-services|/secrets|\.pem$|\.key$' "$tmp/contents"; then
  fail "the package ships a demo binary or a key"
fi

step "install into a scratch root (dpkg --root, chrootless maintainer scripts)"
R=$tmp/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
: >"$R/var/lib/dpkg/status"
dpkgr() {
  asroot dpkg --root="$R" --log="$tmp/dpkg.log" --force-depends --force-script-chrootless "$@"
}
dpkgr -i "$deb" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "dpkg -i"; }
status=$(dpkg-query --root="$R" -W -f='${Status}' portico)
[ "$status" = 'install ok installed' ] || fail "not installed: $status"
asroot dpkg --root="$R" --verify portico || fail "dpkg --verify: files differ from md5sums"
dpkg-query --root="$R" -W -f='${Conffiles}\n' portico >"$tmp/registered"
for c in /etc/portico/bff-mobile.yaml /etc/portico/bff-web.yaml; do
  grep -q "^ $c [0-9a-f]\{32\}\$" "$tmp/registered" || fail "dpkg did not register $c as a conffile"
done

step "the postinst made the user and the secrets, and no private signing key"
grep -q '^portico:x:[0-9]*:[0-9]*:.*:/nonexistent:/usr/sbin/nologin$' "$R/etc/passwd" ||
  fail "no portico user in the root's passwd"
gid=$(sed -n 's/^portico:[^:]*:\([0-9]*\):.*/\1/p' "$R/etc/group")
[ -n "$gid" ] || fail "no portico group in the root's group"
sec=$R/etc/portico/secrets
[ "$(cd "$sec" && ls -A | tr '\n' ' ')" = "internal.key jwks.json " ] ||
  fail "secrets/ holds: $(ls -A "$sec")"
[ "$(asroot stat -c '%a %u %g' "$sec")" = "750 0 $gid" ] || fail "secrets/: $(asroot stat -c '%a %u %g' "$sec")"
[ "$(asroot stat -c '%a %u %g' "$sec/internal.key")" = "640 0 $gid" ] ||
  fail "internal.key: $(asroot stat -c '%a %u %g' "$sec/internal.key")"
[ "$(stat -c %a "$sec/jwks.json")" = 644 ] || fail "jwks.json mode"
key=$(cat "$sec/internal.key")
[[ $key =~ ^[A-Za-z0-9_-]{86}$ ]] || fail "internal.key is not 86 base64url characters (64 bytes)"
grep -q '"kid": "placeholder-private-key-discarded"' "$sec/jwks.json" || fail "jwks.json: $(cat "$sec/jwks.json")"
if grep -rl 'PRIVATE KEY' "$R" 2>/dev/null; then fail "a private key was left in the root"; fi
key_sum=$(sha256sum <"$sec/internal.key")

step "each installed config passes the installed binary's --check-config"
for name in bff-mobile bff-web; do
  cfg=$R/etc/portico/$name.yaml
  # every file or folder the config names is absolute and installed in the root
  sed -n 's/^ *\(jwks_file\|internal_signing_key_file\|admin_token_file\|static\|cert\|key\|ca\): *\([^ #,}]*\).*/\2/p' \
    "$cfg" >"$tmp/$name.paths"
  [ -s "$tmp/$name.paths" ] || fail "$name.yaml names no file"
  while read -r p; do
    [[ $p == /* ]] || fail "$name.yaml: \"$p\" is relative (it would depend on the working directory)"
    [ -e "$R$p" ] || fail "$name.yaml names $p, which the package did not install or make"
  done <"$tmp/$name.paths"
  sed -e "s#\(: *\)/etc/portico/#\1$R/etc/portico/#" -e "s#\(: *\)/usr/share/portico/#\1$R/usr/share/portico/#" \
    "$cfg" >"$tmp/$name.yaml"
  out=$("$R/usr/bin/$name" --check-config --config "$tmp/$name.yaml" 2>&1) ||
    fail "$name --check-config: $out"
  [[ $out =~ ^OK\ [0-9a-f]{64}$ ]] || fail "$name --check-config said: $out"
  v=$("$R/usr/bin/$name" --version)
  [ "$v" = "$name $version" ] || fail "$name --version: $v"
done
grep -q "^ *static: /usr/share/portico/www\$" "$R/etc/portico/bff-web.yaml" ||
  fail "bff-web.yaml's static route is not /usr/share/portico/www"
[ -f "$R/usr/share/portico/www/index.html" ] || fail "no dashboard index.html"
# the check reads the secrets: without the key it fails and names it
mv "$sec/internal.key" "$tmp/key.aside"
if out=$("$R/usr/bin/bff-mobile" --check-config --config "$tmp/bff-mobile.yaml" 2>&1); then
  fail "--check-config passed without internal.key: $out"
fi
grep -q 'internal_signing_key_file .*internal.key' <<<"$out" || fail "no error naming the key: $out"
mv "$tmp/key.aside" "$sec/internal.key"

step "the installed default config is SYSCONFDIR/portico (here /etc/portico)"
mkdir "$tmp/empty"
out=$(cd "$tmp/empty" && env -u BFF_CONFIG "$R/usr/bin/bff-mobile" --check-config 2>&1) && rc=0 || rc=$?
if [ -e /etc/portico/bff-mobile.yaml ]; then
  grep -q /etc/portico/bff-mobile.yaml <<<"$out" || [[ $out == OK\ * ]] ||
    fail "with no --config the binary did not take /etc/portico/bff-mobile.yaml: $out"
else
  [ "$rc" = 1 ] && grep -q 'neither bff-mobile/bff-mobile.yaml nor /etc/portico/bff-mobile.yaml exists' <<<"$out" ||
    fail "with no config at all: rc $rc, $out"
fi
help=$("$R/usr/bin/bff-mobile" --help)
grep -q '/etc/portico/bff-mobile.yaml (installed)' <<<"$help" ||
  fail "--help does not name /etc/portico/bff-mobile.yaml"

step "the systemd units"
drain=$(sed -n 's/^drain_timeout: *\([0-9]*\)s.*/\1/p' "$R/etc/portico/bff-mobile.yaml")
for name in bff-mobile bff-web; do
  unit=$R/usr/lib/systemd/system/$name.service
  for d in "ExecStart=/usr/bin/$name --config /etc/portico/$name.yaml" \
           "ExecReload=/usr/bin/$name --check-config --config /etc/portico/$name.yaml" \
           'ExecReload=kill -HUP $MAINPID' 'Restart=on-failure' 'User=portico' \
           'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
           'PrivateDevices=yes' 'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' \
           'ProtectKernelLogs=yes' 'ProtectControlGroups=yes' \
           'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'RestrictNamespaces=yes' \
           'LockPersonality=yes' 'MemoryDenyWriteExecute=yes' \
           'SystemCallFilter=@system-service' 'CapabilityBoundingSet=' \
           'ConfigurationDirectory=portico' 'WantedBy=multi-user.target'; do
    grep -qxF "$d" "$unit" || fail "$name.service lacks \"$d\""
  done
  stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")
  [ -n "$stop" ] && [ -n "$drain" ] && [ "$stop" -gt "$drain" ] ||
    fail "$name.service: TimeoutStopSec=${stop}s is not above drain_timeout ${drain}s"
  if command -v systemd-analyze >/dev/null; then
    # the unit as installed, its /usr/bin pointing into the root (verify
    # checks that each command is executable)
    mkdir -p "$tmp/units"
    sed "s#/usr/bin/#$R/usr/bin/#g" "$unit" >"$tmp/units/$name.service"
    out=$(systemd-analyze verify "$tmp/units/$name.service" 2>&1) || fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify $name.service: $out"
  else
    echo "NOTE: systemd-analyze is not installed: $name.service not verified"
  fi
done

step "a reinstall keeps an edited conffile and the secrets; purge removes /etc/portico"
echo "# edited by the admin" >>"$R/etc/portico/bff-web.yaml"
dpkgr --force-confold -i "$deb" >"$tmp/reinstall.log" 2>&1 || { cat "$tmp/reinstall.log"; fail "reinstall"; }
[ "$(tail -1 "$R/etc/portico/bff-web.yaml")" = '# edited by the admin' ] || fail "the edited conffile was replaced"
[ "$(sha256sum <"$sec/internal.key")" = "$key_sum" ] || fail "a reinstall replaced internal.key"
dpkgr --purge portico >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "purge"; }
[ ! -e "$R/etc/portico" ] || fail "purge left $(find "$R/etc/portico")"
[ ! -e "$R/usr/bin/bff-mobile" ] || fail "purge left /usr/bin/bff-mobile"

step "the host is untouched"
sha256sum --quiet -c "$tmp/host.sum" || fail "the host's dpkg database or users changed"
[ "$( [ -e /etc/portico ] && echo yes || echo no )" = "$host_portico" ] || fail "/etc/portico appeared on the host"
echo "OK: $(basename "$deb") builds, installs, validates its configs, and purges"
