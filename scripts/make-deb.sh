#!/usr/bin/env bash
# scripts/make-deb.sh [BUILD] — builds BUILD/portico_VERSION_ARCH.deb (BUILD
# defaults to build) with dpkg-deb, no debhelper:
#   - a meson build of its own in BUILD/deb/meson with --prefix=/usr (so
#     /usr/bin, /usr/share/portico, /usr/lib/systemd/system, sysconfdir /etc),
#     installed with DESTDIR into BUILD/deb/debian/portico and stripped;
#   - Depends from dpkg-shlibdeps over the four binaries, plus procps
#     (ExecReload's kill) and systemd-sysusers (the postinst makes the user);
#   - every file under /etc as a conffile (the two configs), md5sums of the
#     rest, packaging/debian/{postinst,prerm,postrm} as maintainer scripts,
#     the copyright file, man pages gzipped; root:root ownership
#     (dpkg-deb --root-owner-group).
# The version is meson.build's. Prints the .deb's path last.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=$(mkdir -p "${1:-build}" && cd "${1:-build}" && pwd)
work=$build/deb
mb=$work/meson
stage=$work/debian/portico
bins=(usr/bin/bff-mobile usr/bin/bff-web usr/bin/bff-token usr/bin/bff-fleet)

if [ ! -f "$mb/build.ninja" ]; then
  meson setup "$mb" "$src" --prefix=/usr --sysconfdir=/etc --buildtype=debugoptimized \
    >"$work.setup.log" 2>&1 || { cat "$work.setup.log" >&2; exit 1; }
fi
ninja -C "$mb" bff-mobile/bff-mobile bff-web/bff-web demo/bff-token demo/bff-fleet \
  packaging/bff-mobile.yaml packaging/bff-web.yaml >"$work.ninja.log" 2>&1 ||
  { tail -40 "$work.ninja.log" >&2; exit 1; }
rm -rf "$work/debian"
meson install -C "$mb" --no-rebuild --destdir "$stage" >"$work.install.log" 2>&1 ||
  { cat "$work.install.log" >&2; exit 1; }
for b in "${bins[@]}"; do
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/$b"
done
install -D -m 0644 packaging/debian/copyright "$stage/usr/share/doc/portico/copyright"
gzip -9n "$stage"/usr/share/man/man1/*.1 # as dh_compress

version=$(meson introspect --projectinfo "$mb" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
arch=$(dpkg --print-architecture)

# dpkg-shlibdeps wants debian/control and the files under debian/PACKAGE.
mkdir -p "$stage/DEBIAN"
printf 'Source: portico\n\nPackage: portico\nArchitecture: any\n' >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "${bins[@]/#/-edebian/portico/}" 2>"$work.shlibdeps.log" |
  sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { cat "$work.shlibdeps.log" >&2; exit 1; }
rm -f "$work/debian/control"

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@SIZE@|$size|" \
    -e "s|@SHLIBS@|$shlibs|" packaging/debian/control.in >"$stage/DEBIAN/control"
(cd "$stage" && find etc -type f | sort | sed 's|^|/|') >"$stage/DEBIAN/conffiles"
(cd "$stage" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print |
  sed 's|^\./||' | sort | xargs md5sum) >"$stage/DEBIAN/md5sums"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm \
  "$stage/DEBIAN/"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

deb=$build/portico_${version}_${arch}.deb
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
