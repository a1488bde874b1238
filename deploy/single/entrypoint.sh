#!/usr/bin/env bash
# Single-container entrypoint: hand over to the supervisor (supervise.py), which migrates the
# database (`python -m studio db upgrade`) before it starts anything, then runs redis-server,
# the render worker and the app, or the app alone.
#
#   PYTHON          the interpreter (default: python on PATH; tests pass their venv's)
#   STUDIO_DATA_DIR data folder, default /data (the image's volume): SQLite, files, caches
#   STUDIO_DATABASE_URL, STUDIO_REDIS_URL, STUDIO_SINGLE_*: see docs/deploy-containers.md
set -euo pipefail

# Files in /data stay writable for group 0, which every uid of the image belongs to (an
# arbitrary uid too, OpenShift style), so runs as different uids share one volume.
umask 0002

export PYTHON="${PYTHON:-python}"
export STUDIO_DATA_DIR="${STUDIO_DATA_DIR:-/data}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

exec "$PYTHON" "$here/supervise.py"
