"""A worker process's local liveness file (its beacon): who it is and what it is doing now.

The worker's row in the database cannot be written while the database is away, so a look at
the database alone cannot tell a worker waiting for it from a dead one. Its heartbeat thread
therefore also writes this small JSON file on every beat, whether or not the database
answered, and the container healthcheck (deploy/healthcheck.py worker) reads it. One file per
process, `<folder>/<pid>.json`, replaced whole (a temporary file, then `os.replace`) so a
reader never sees half of one; deleted when the worker stops cleanly. The folder is
`Settings.resolved_run_dir`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeGuard

WAITING_FOR_REDIS = "waiting for Redis"
WAITING_FOR_DATABASE = "waiting for the database"
_LARGEST = 64 * 1024  # a beacon is ~200 bytes: anything bigger is not one


class BeaconError(ValueError):
    """A beacon that cannot be used (missing, unreadable, not a beacon), saying why."""


@dataclass(frozen=True)
class Beacon:
    name: str
    pid: int
    host: str
    state: str  # "idle", "busy", WAITING_FOR_REDIS or WAITING_FOR_DATABASE
    job: int | None  # the job it renders
    reached_at: float | None  # when its heartbeat last wrote to the database (Unix time)
    beat_at: float  # when it wrote this (Unix time)

    def age(self, now: float | None = None) -> float:
        """Seconds since this beat."""
        return (time.time() if now is None else now) - self.beat_at


def shown_state(state: str, database_away: bool) -> str:
    """The state a beacon (and the log) shows, from the worker row's ("waiting" is the row's
    word for a worker waiting for Redis). The database being away comes first: the worker
    can record nothing, whatever else it is doing."""
    if database_away:
        return WAITING_FOR_DATABASE
    return WAITING_FOR_REDIS if state == "waiting" else state


def path_for(folder: Path, pid: int) -> Path:
    return folder / f"{pid}.json"


def write(folder: Path, beacon: Beacon) -> Path:
    """Replace this process's beacon in one step (no fsync: it only matters while the
    machine is up). Raises OSError when the folder cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    target = path_for(folder, beacon.pid)
    # A dotted temporary name in the same folder: os.replace stays atomic, and readers
    # (which only look at <pid>.json) never pick it up.
    handle, temporary = tempfile.mkstemp(prefix=f".{beacon.pid}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(asdict(beacon), out)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def remove(folder: Path, pid: int) -> None:
    path_for(folder, pid).unlink(missing_ok=True)


def read(path: Path) -> Beacon:
    """The beacon at `path`, or BeaconError saying what is wrong with it (never anything
    else: a healthcheck reports, it does not crash)."""
    try:
        with path.open("rb") as source:
            raw = source.read(_LARGEST + 1)
    except FileNotFoundError:
        raise BeaconError(f"no status file {path}") from None
    except OSError as exc:
        raise BeaconError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > _LARGEST:
        raise BeaconError(f"{path} is not a worker status file (over {_LARGEST} bytes)")
    try:
        data = json.loads(raw)
    except ValueError:  # not UTF-8, not JSON, or half written by a foreign program
        raise BeaconError(f"{path} is not a worker status file (not JSON)") from None
    beacon = _parse(data)
    if beacon is None:
        raise BeaconError(f"{path} is not a worker status file (missing or wrong fields)")
    if path.stem != str(beacon.pid):
        raise BeaconError(f"{path} holds the status of another process (pid {beacon.pid})")
    return beacon


def pids_in(folder: Path) -> set[int]:
    """Pids that have a beacon in `folder` (none when it does not exist)."""
    try:
        names = [entry.name for entry in folder.iterdir()]
    except OSError:
        return set()
    pids = {int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit()}
    return {pid for pid in pids if pid > 0}


def _parse(data: Any) -> Beacon | None:
    if not isinstance(data, dict):
        return None
    name, host, state = data.get("name"), data.get("host"), data.get("state")
    pid, job = data.get("pid"), data.get("job")
    beat_at, reached_at = data.get("beat_at"), data.get("reached_at")
    if not (isinstance(name, str) and isinstance(host, str) and isinstance(state, str)):
        return None
    if not _whole(pid) or pid <= 0 or not (job is None or _whole(job)):
        return None
    if not _time(beat_at) or not (reached_at is None or _time(reached_at)):
        return None
    return Beacon(name, pid, host, state, job, reached_at, float(beat_at))


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _time(value: object) -> TypeGuard[float]:
    # JSON allows NaN and Infinity: a beat "at infinity" would look fresh for ever.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
