"""Container health checks (Docker HEALTHCHECK): exit 0 when healthy, 1 when not.

    python deploy/healthcheck.py          # app: GET http://127.0.0.1:$PORT/healthz answers 200
    python deploy/healthcheck.py worker   # worker: its heartbeat in the database is fresh

The app check uses only the standard library (no curl in the images). The port is the one the
app listens on: STUDIO_PORT, else PORT, else 7860 (as in studio/core/config.py).

A worker has no HTTP port. Its heartbeat thread updates its row in the `worker` table every
lease_seconds / 3; the check passes when a worker on this host (the container's hostname)
whose process runs here has heartbeated within STUDIO_WORKER_STALE_SECONDS and has not
stopped. This reads the same settings as the worker (STUDIO_DATABASE_URL, ...). A worker
waiting for Redis to come back is alive: the check passes and says "waiting for Redis" (in
`docker inspect`'s health log), where a dead one fails.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path


def check_app(timeout: float = 4.0) -> str | None:
    """None when /healthz answers 200, else the problem."""
    port = os.environ.get("STUDIO_PORT") or os.environ.get("PORT") or "7860"
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status == 200:
                return None
            return f"{url} answered {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"


def local_worker_pids(proc: Path = Path("/proc")) -> set[int] | None:
    """Pids of `studio worker` processes visible here (None when /proc cannot be read)."""
    if not proc.is_dir():
        return None
    pids: set[int] = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"studio" in argv and b"worker" in argv:
            pids.add(int(entry.name))
    return pids


def check_worker() -> str | None:
    """None when a worker of this host and process heartbeated recently, else the problem."""
    from studio.core.config import load_settings
    from studio.core.db import make_engine
    from studio.farm import registry

    settings = load_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        live = registry.live(engine, settings.worker_stale_seconds)
    finally:
        engine.dispose()
    mine = [w for w in live if w.host == registry.HOST]
    pids = local_worker_pids()
    if pids is not None:
        mine = [w for w in mine if w.pid in pids]
    waiting = [w.name for w in mine if w.state == "waiting"]
    if waiting:
        print(f"healthy, waiting for Redis: {', '.join(waiting)}")
    if mine:
        return None
    return (
        f"no worker on {registry.HOST} heartbeated in the last "
        f"{settings.worker_stale_seconds:g}s (live workers elsewhere: {len(live)})"
    )


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "app"
    if what not in ("app", "worker"):
        print(f"usage: healthcheck.py [app|worker], not {what!r}", file=sys.stderr)
        return 1
    try:
        problem = check_worker() if what == "worker" else check_app()
    except Exception as exc:  # noqa: BLE001 - a health check reports, it never crashes
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Run from anywhere: the studio's source tree is the parent of deploy/.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main(sys.argv[1:]))
