#!/bin/sh
# packaging/rewrite-config.sh ETCDIR DATADIR FILE — prints FILE (a BFF's
# config from the source tree) as it is installed: its relative paths made
# absolute (secrets/ under ETCDIR, bff-web/www under DATADIR) and the
# header and jwks_file comments saying so. Nothing else changes, so the
# installed config and the tested one cannot drift apart; a new relative
# path that this does not know fails the package test's --check-config.
set -eu
etc=$1
data=$2
sed -e 's|^# Paths are relative to the working directory.*|# Installed: paths are absolute (docs/operations.md, "Running under systemd").|' \
    -e "s|\\(:[[:space:]]*\\)secrets/|\\1$etc/secrets/|" \
    -e "s|\\(jwks_file:[[:space:]]*[^[:space:]]*\\).*\$|\\1  # init-secrets made a placeholder: put your IdP's JWKS here|" \
    -e "s|\\(static:[[:space:]]*\\)bff-web/www|\\1$data/www|" \
    "$3"
