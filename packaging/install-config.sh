#!/bin/sh
# packaging/install-config.sh DIR FILE... — meson's install script for the
# configs: installs each FILE into $DESTDIR/DIR unless one is there already,
# so that `make install` never overwrites an admin's edits; a different file
# already there is left alone and the new default goes next to it as
# NAME.dist (as pacman's .pacnew). The .deb has dpkg's conffile handling.
set -eu
dir=$1
shift
dest=${DESTDIR:-}$dir
mkdir -p "$dest"
for src in "$@"; do
  name=${src##*/}
  if [ ! -e "$dest/$name" ]; then
    install -m 0644 "$src" "$dest/$name"
    echo "Installing $src to $dest"
  elif cmp -s "$src" "$dest/$name"; then
    echo "Keeping $dest/$name (unchanged)"
  else
    install -m 0644 "$src" "$dest/$name.dist"
    echo "portico: $dest/$name differs from the new default: kept it, wrote $dest/$name.dist" >&2
  fi
done
