#!/usr/bin/env bash
# Single-container entrypoint: migrate the database, then hand over to the supervisor
# (redis-server + render worker + app, or the app alone; see supervise.py).
#
#   PYTHON          the interpreter (default: python on PATH; tests pass their venv's)
#   STUDIO_DATA_DIR data folder, default /data (the image's volume): SQLite, files, caches
#   STUDIO_DATABASE_URL, STUDIO_REDIS_URL, STUDIO_SINGLE_*: see docs/deploy-containers.md
set -euo pipefail

PYTHON="${PYTHON:-python}"
export STUDIO_DATA_DIR="${STUDIO_DATA_DIR:-/data}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Migrations run once, here, before any process that uses the database starts.
# `db upgrade` prints the database URL; hide a password in it from the container log.
"$PYTHON" -m studio db upgrade | sed -E 's#(://[^/:@]*:)[^@/]*@#\1***@#'

exec "$PYTHON" "$here/supervise.py"
