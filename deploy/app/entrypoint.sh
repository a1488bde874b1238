#!/usr/bin/env bash
# App image entrypoint: migrate the database, then serve the UI on 0.0.0.0:$PORT.
# Arguments are passed on to `python -m studio serve`; set the port with PORT (the
# HEALTHCHECK reads it too), not --port.
#   STUDIO_SKIP_MIGRATIONS=1  skip `db upgrade` (when a release job migrates instead)
set -euo pipefail

# Files in /data stay writable for group 0, which every uid of the image belongs to (an
# arbitrary uid too, OpenShift style), so runs as different uids share one volume.
umask 0002

PYTHON="${PYTHON:-python}"
export STUDIO_DATA_DIR="${STUDIO_DATA_DIR:-/data}"

if [[ "${STUDIO_SKIP_MIGRATIONS:-0}" != 1 ]]; then
    # `db upgrade` prints the database URL; hide a password in it from the container log.
    "$PYTHON" -m studio db upgrade | sed -E 's#(://[^/:@]*:)[^@/]*@#\1***@#'
fi

exec "$PYTHON" -m studio serve --host "${STUDIO_HOST:-0.0.0.0}" "$@"
