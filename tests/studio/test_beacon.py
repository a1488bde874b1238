"""The worker's beacon (studio/farm/beacon.py): a local file written on every heartbeat, read
by the container healthcheck. A file that is missing, stale or garbage gives a clear
BeaconError or a stale age, never a crash. And the heartbeat thread writes it whether or not
its database write went through, saying "waiting for the database" when the database is away.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

import pytest

from studio.core.db import make_engine, upgrade
from studio.farm import beacon, registry
from studio.farm.beacon import Beacon, BeaconError
from tests.farm import wait_for


def a_beacon(pid: int | None = None, **changes: object) -> Beacon:
    values: dict[str, object] = {
        "name": "w1",
        "pid": os.getpid() if pid is None else pid,
        "host": "here",
        "state": "busy",
        "job": 7,
        "reached_at": time.time() - 1,
        "beat_at": time.time(),
    }
    return Beacon(**{**values, **changes})  # type: ignore[arg-type]


def test_a_beacon_is_written_whole_and_read_back(tmp_path: Path) -> None:
    folder = tmp_path / "run" / "deeper"  # created on the first write
    written = a_beacon()
    path = beacon.write(folder, written)
    assert path == folder / f"{os.getpid()}.json"
    assert beacon.read(path) == written
    beacon.write(folder, a_beacon(state="idle", job=None, reached_at=None))
    assert beacon.read(path).state == "idle" and beacon.read(path).reached_at is None
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temporary file left
    assert beacon.pids_in(folder) == {os.getpid()}
    beacon.remove(folder, os.getpid())
    beacon.remove(folder, os.getpid())  # already gone: nothing to do
    assert beacon.pids_in(folder) == set()


def test_stale_beacons_show_their_age(tmp_path: Path) -> None:
    path = beacon.write(tmp_path, a_beacon(beat_at=time.time() - 60))
    assert 59 < beacon.read(path).age() < 70
    assert beacon.read(path).age(now=beacon.read(path).beat_at + 2) == 2


def test_a_missing_folder_or_file_is_said_plainly(tmp_path: Path) -> None:
    assert beacon.pids_in(tmp_path / "nowhere") == set()
    with pytest.raises(BeaconError, match="no status file"):
        beacon.read(beacon.path_for(tmp_path / "nowhere", 12))
    (tmp_path / "12.json").mkdir()  # something that cannot be read as a file
    with pytest.raises(BeaconError, match="cannot read"):
        beacon.read(tmp_path / "12.json")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"name": "w1", "pid"',  # cut short
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b"null",
        b"x" * 70_000,
    ],
)
def test_garbage_is_not_a_beacon(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "12.json"
    path.write_bytes(content)
    with pytest.raises(BeaconError, match="is not a worker status file"):
        beacon.read(path)


@pytest.mark.parametrize(
    "changes",
    [
        {"pid": "12"},
        {"pid": True},
        {"pid": 0},
        {"name": None},
        {"state": 3},
        {"job": 1.5},
        {"beat_at": "now"},
        {"beat_at": float("inf")},  # would look fresh for ever
        {"beat_at": float("nan")},
        {"reached_at": "yesterday"},
    ],
)
def test_wrong_fields_are_not_a_beacon(tmp_path: Path, changes: dict[str, object]) -> None:
    fields = {**vars(a_beacon(pid=12)), **changes}
    path = tmp_path / "12.json"
    path.write_text(json.dumps(fields))
    with pytest.raises(BeaconError, match="missing or wrong fields"):
        beacon.read(path)
    del fields["beat_at"]
    path.write_text(json.dumps(fields))
    with pytest.raises(BeaconError, match="missing or wrong fields"):
        beacon.read(path)


def test_a_file_holding_another_process_is_refused(tmp_path: Path) -> None:
    beacon.write(tmp_path, a_beacon(pid=12))
    (tmp_path / "12.json").rename(tmp_path / "13.json")
    with pytest.raises(BeaconError, match="another process"):
        beacon.read(tmp_path / "13.json")


def test_only_beacon_names_are_listed(tmp_path: Path) -> None:
    for name in ("12.json", ".12.abc.tmp", "notes.json", "0.json", "13.json.old", "14.json"):
        (tmp_path / name).write_text("{}")
    assert beacon.pids_in(tmp_path) == {12, 14}


def test_shown_states() -> None:
    assert beacon.shown_state("idle", False) == "idle"
    assert beacon.shown_state("busy", False) == "busy"
    assert beacon.shown_state("waiting", False) == "waiting for Redis"
    # The database away comes first: nothing the worker does can be recorded.
    for state in ("idle", "busy", "waiting"):
        assert beacon.shown_state(state, True) == "waiting for the database"


# ------------------------------------------------------------- the heartbeat writes it


def test_the_heartbeat_writes_its_beacon_and_removes_it_at_stop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studio.db'}"
    upgrade(url)
    engine = make_engine(url)
    folder, state = tmp_path / "run", ["idle"]
    registry.register(engine, "w-beacon", "redis")
    heartbeat = registry.Heartbeat(
        engine, "w-beacon", 0.3, lambda: (None, state[0]), set, beacon_folder=folder
    )
    path = beacon.path_for(folder, os.getpid())
    try:
        heartbeat.start()
        assert beacon.read(path).state == "idle"  # at once, before the first beat
        wait_for(lambda: beacon.read(path).reached_at, 5, "a beat that reached the database")
        state[0] = "waiting"  # RQ's loop lost Redis
        wait_for(lambda: beacon.read(path).state == "waiting for Redis", 5, "the new state")
        assert not heartbeat.database_away
        found = beacon.read(path)
        assert (found.name, found.pid, found.host) == ("w-beacon", os.getpid(), registry.HOST)
    finally:
        heartbeat.stop()
        engine.dispose()
    assert not path.exists()


def test_the_beacon_says_waiting_for_the_database_while_it_is_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real engine on a port where no server listens: every beat's write is refused, as
    when PostgreSQL is down. The beacon goes on, and the log says it once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the probe is: nobody listens
    engine = make_engine(f"postgresql+psycopg://studio@127.0.0.1:{port}/studio")
    folder = tmp_path / "run"
    heartbeat = registry.Heartbeat(engine, "w-away", 0.3, lambda: (5, "busy"), set, folder)
    path = beacon.path_for(folder, os.getpid())
    caplog.set_level(logging.INFO, logger="studio.farm.registry")
    try:
        heartbeat.start()
        first = beacon.read(path).beat_at
        wait_for(lambda: beacon.read(path).state == "waiting for the database", 10, "waiting")
        # Several more beats, each refused: the beacon keeps moving on.
        wait_for(lambda: beacon.read(path).beat_at > first + 0.5, 10, "later beats")
    finally:
        heartbeat.stop()
        engine.dispose()
    found_before_stop = [r.getMessage() for r in caplog.records]
    assert heartbeat.database_away and heartbeat.reached_at is None
    said = [m for m in found_before_stop if "the database is unreachable" in m]
    assert len(said) == 1, found_before_stop  # when it started waiting, not at every beat
    assert "waiting for the database" in said[0]
    assert not path.exists()


def test_a_beat_that_fails_for_another_reason_is_no_outage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database without the studio's tables: a bug, not an outage. The beacon is still
    written (the worker lives) with its own state, and the error is logged as one."""
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    folder = tmp_path / "run"
    heartbeat = registry.Heartbeat(engine, "w-bug", 0.3, lambda: (None, "idle"), set, folder)
    path = beacon.path_for(folder, os.getpid())
    try:
        heartbeat.start()
        first = beacon.read(path).beat_at
        wait_for(lambda: beacon.read(path).beat_at > first, 5, "a beat")
        assert beacon.read(path).state == "idle" and not heartbeat.database_away
    finally:
        heartbeat.stop()
        engine.dispose()
    assert any("heartbeat of w-bug failed" in r.getMessage() for r in caplog.records)


def test_a_folder_it_cannot_write_is_said_once_and_stops_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'studio.db'}"
    upgrade(url)
    engine = make_engine(url)
    registry.register(engine, "w-ro", "redis")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")  # so <it>/run cannot be created, even by root
    heartbeat = registry.Heartbeat(engine, "w-ro", 0.3, lambda: (None, "idle"), set,
                                   blocked / "run")  # fmt: skip
    try:
        heartbeat.start()
        first = wait_for(lambda: heartbeat.reached_at, 5, "a beat that reached the database")
        wait_for(lambda: (heartbeat.reached_at or 0) > first, 5, "more beats")
    finally:
        heartbeat.stop()
        engine.dispose()
    said = [
        r.getMessage() for r in caplog.records if "cannot write its status file" in r.getMessage()
    ]
    assert len(said) == 1 and "STUDIO_RUN_DIR" in said[0]
