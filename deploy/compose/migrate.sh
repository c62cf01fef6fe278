#!/usr/bin/env bash
# The one-shot `migrate` service of compose.yml: for each project, create its database if missing,
# apply its migrations and create the documented local admin (LOCAL_ADMIN_EMAIL / LOCAL_ADMIN_PASSWORD).
# One container serves every project, so each project's database URL comes in <PROJECT>_DATABASE_URL
# (AUTH_DATABASE_URL, ...) and is passed to that project as its DATABASE_URL.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
for project in auth catalog orders payments delivery gateway; do
  var="${project^^}_DATABASE_URL"
  url="${!var:-}"
  if [ -z "$url" ]; then
    echo "migrate: $var is not set" >&2
    exit 1
  fi
  echo "migrate: $project"
  # One && chain: `set -e` does not apply inside a subshell whose status `||` tests.
  (
    cd "$root/${project}_project" &&
      export DATABASE_URL="$url" SERVICE_NAME="$project" &&
      python manage.py ensure_database &&
      python manage.py migrate --noinput &&
      python manage.py ensure_local_admin
  ) || { echo "migrate: $project failed (see above)" >&2; exit 1; }
done
echo "migrate: done"
