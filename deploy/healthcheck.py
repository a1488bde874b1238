"""Container health checks (Docker HEALTHCHECK): exit 0 when healthy, 1 when not.

    python deploy/healthcheck.py          # app: GET http://127.0.0.1:$PORT/healthz answers 200
    python deploy/healthcheck.py worker   # worker: a worker process here reported lately

The app check uses only the standard library (no curl in the images). The port is the one the
app listens on: STUDIO_PORT, else PORT, else 7860 (as in studio/core/config.py).

A worker has no HTTP port. Its heartbeat thread writes a small status file (its beacon,
studio/farm/beacon.py) every lease_seconds / 3, whether or not the database answered, in
STUDIO_RUN_DIR (default: <temp folder>/studio-workers-<uid>). The check passes when a worker
process running here (a `studio worker` in /proc) wrote its file within
STUDIO_WORKER_STALE_SECONDS, and fails when none did (dead, or its heartbeat hung); it never
needs the database. It reads the same settings as the worker. A worker waiting for Redis or
for the database to come back is alive: the check passes and says "waiting for Redis" or
"waiting for the database" (in `docker inspect`'s health log), where a dead one fails.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the app check imports nothing of the studio
    from studio.farm.beacon import Beacon


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
    """None when a worker process running here wrote its beacon recently, else the problem."""
    from studio.core.config import load_settings
    from studio.farm import beacon

    settings = load_settings()
    folder, stale = settings.resolved_run_dir, settings.worker_stale_seconds
    pids = local_worker_pids()
    if pids is None:  # no /proc: the processes that left a beacon, if they still run
        pids = {pid for pid in beacon.pids_in(folder) if _running(pid)}
    fresh: list[beacon.Beacon] = []
    problems: list[str] = []
    for pid in sorted(pids):
        try:
            found = beacon.read(beacon.path_for(folder, pid))
        except beacon.BeaconError as exc:
            problems.append(f"pid {pid}: {exc}")
            continue
        if found.age() <= stale:
            fresh.append(found)
        else:
            problems.append(f"{found.name} (pid {pid}): {_silent_since(found)}")
    for state in (beacon.WAITING_FOR_DATABASE, beacon.WAITING_FOR_REDIS):
        if names := [b.name for b in fresh if b.state == state]:
            print(f"healthy, {state}: {', '.join(names)}")
    if fresh:
        return None
    return (
        f"no worker process here wrote its status in the last {stale:g}s"
        f" ({'; '.join(problems) or 'no `studio worker` process runs'})"
    )


def _silent_since(found: Beacon) -> str:
    """What a stale beacon says: how long ago, and what the worker was doing then."""
    said = f"last status {found.age():.0f}s ago, {found.state}"
    return said + (f" (job {found.job})" if found.job is not None else "")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user
        return True
    return True


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
