"""Which database errors a worker waits out (the server away) and which it reports at once
(the caller's own mistakes), with real drivers' errors."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from studio.core.outage import OutageLog, database_down, until_reachable


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens there once it is closed


def _refused() -> OperationalError:
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/x")
    try:
        engine.connect().close()
    except OperationalError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("a closed port answered")


def test_a_refused_connection_is_waited_out_a_missing_table_is_not(tmp_path: Path) -> None:
    assert database_down(_refused())
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(OperationalError) as missing, engine.connect() as conn:
        conn.execute(text("SELECT * FROM nowhere"))
    assert not database_down(missing.value)  # "no such table": retrying would never end
    assert not database_down(ValueError("connection"))


def test_until_reachable_tries_again_while_the_database_is_away() -> None:
    tries: list[int] = []

    def flaky() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise _refused()
        return "recorded"

    assert until_reachable(flaky, "test", longest=0.5) == "recorded"
    assert len(tries) == 3


def test_until_reachable_reports_other_errors_at_once() -> None:
    tries: list[int] = []

    def broken() -> None:
        tries.append(1)
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        until_reachable(broken, "test")
    assert len(tries) == 1


def test_a_failure_at_every_cycle_is_logged_when_it_starts_now_and_then_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The dispatcher fails twice a second while Redis or the database is away: its log says
    so when it starts, once a minute while it lasts, and when a cycle works again."""
    now = [0.0]
    failures = OutageLog(logging.getLogger("test.outage"), "dispatch cycle", clock=lambda: now[0])
    refused = _refused()
    with caplog.at_level(logging.INFO, logger="test.outage"):
        for _ in range(260):  # 130 s of cycles every 0.5 s
            failures.failed(refused)
            now[0] += 0.5
        failures.worked()
        failures.worked()  # and again: nothing more to say
        failures.failed(RuntimeError())  # a new outage, whose error says nothing
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 5, lines
    assert lines[0].startswith("dispatch cycle failed: ") and "refused" in lines[0].lower()
    assert lines[1].startswith("dispatch cycle still failing after 60 s: ")
    assert lines[2].startswith("dispatch cycle still failing after 120 s: ")
    assert lines[3] == "dispatch cycle works again after 130 s"
    assert lines[4] == "dispatch cycle failed: RuntimeError"
