#!/usr/bin/env bash
# Write auth's RS256 signing key for `docker compose` to var/keys/auth_jwt_private.pem, if missing.
# compose.yml mounts ./var/keys read-only at /run/keys in the auth and migrate containers
# (JWT_PRIVATE_KEY_FILE=/run/keys/auth_jwt_private.pem); run this once before `docker compose up`.
# It is the same file a local run (`make up`, DEBUG on) generates for itself, so both use one key.
#
# The containers run as an unprivileged user whose uid differs from yours, so the key file is made
# readable by all (and its folder searchable). That is fine for this local-only key under the
# git-ignored var/; production passes its key as a secret (JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="$root/var/keys"
key="$dir/auth_jwt_private.pem"
command -v openssl >/dev/null || { echo "make-key: openssl is needed" >&2; exit 1; }
mkdir -p "$dir"
if [ -s "$key" ]; then
  echo "make-key: $key exists, kept"
else
  tmp="$dir/.auth_jwt_private.pem.$$"
  trap 'rm -f "$tmp"' EXIT
  (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp" 2>/dev/null)
  mv "$tmp" "$key"
  echo "make-key: wrote $key"
fi
chmod 0755 "$dir"
chmod 0644 "$key"
