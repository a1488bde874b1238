"""A farm worker's success and its next claim (`lifecycle.succeed_and_claim`), on SQLite and
PostgreSQL, where they are one statement (issue 15)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from studio.core import counters, lifecycle
from studio.core.db import session_scope
from studio.core.errors import Conflict
from studio.core.models import Artifact, JobStatus, RenderJob, Shot, ident, public
from tests.studio.test_lifecycle import LEASE, claim, status, submit


def _artifact(name: str = "x") -> Artifact:
    return Artifact(key=f"artifacts/{name}.png", content_type="image/png", bytes=1, sha256="a" * 64)


def _record(engine: Engine, job_id: int, next_id: int | None) -> RenderJob | None:
    """What a worker's success runs: the job's success and the claim of `next_id`."""
    with session_scope(engine) as session:
        claiming = lifecycle.Claim(next_id, "w2", LEASE) if next_id is not None else None
        _job, claimed = lifecycle.succeed_and_claim(session, job_id, _artifact(), claiming)
        return claimed


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(" ".join(statement.split()[:3]))

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)


def _finished_count(engine: Engine) -> float:
    with Session(engine) as session:
        return sum(s.total for s in counters.read(session) if s.name == counters.FINISHED)


def test_a_success_with_the_next_claim_is_one_statement_on_postgresql(engine: Engine) -> None:
    """Everything a backlog job's success does, done: the artifact row, the job succeeded
    with it, its shot's preview, the counters, and the next job running for the worker with
    a lease. On PostgreSQL that is one statement and the counters' (five before)."""
    first, second = submit(engine, 1), submit(engine, 2)
    claim(engine)
    with _statements(engine) as seen:
        claimed = _record(engine, ident(first), ident(second))
    done, running = status(engine, ident(first)), status(engine, ident(second))
    assert done.status == JobStatus.succeeded and done.progress == 1.0 and done.message == "Done"
    assert done.lease_expires_at is None and done.finished_at is not None
    with Session(engine) as session:
        artifact = session.get(Artifact, done.artifact_id)
        assert artifact is not None and artifact.key == "artifacts/x.png"
        shot = session.get(Shot, first.shot_id)
        assert shot is not None and shot.preview_job_id == first.id
    assert claimed is not None and claimed.id == second.id and claimed.status == "running"
    assert running.status == JobStatus.running and running.worker == "w2"
    assert running.lease_expires_at is not None and running.attempts == 1
    assert claimed.lease_expires_at == running.lease_expires_at
    assert _finished_count(engine) == 1
    if engine.dialect.name == "postgresql":
        assert seen == ["WITH art AS", "INSERT INTO farmcounter"]
    else:
        assert len(seen) == 5  # artifact, success, shot link, claim, counters


def test_a_success_alone_records_the_same_in_one_statement(engine: Engine) -> None:
    job = submit(engine)
    claim(engine)
    assert _record(engine, ident(job), None) is None
    done = status(engine, ident(job))
    assert done.status == JobStatus.succeeded and done.artifact_id is not None
    with Session(engine) as session:
        shot = session.get(Shot, job.shot_id)
        assert shot is not None and shot.preview_job_id == job.id
    assert _finished_count(engine) == 1


def test_a_refused_success_writes_nothing_and_claims_nothing(engine: Engine) -> None:
    """A job cancelled meanwhile cannot succeed: the transaction rolls back whole, so the
    next job stays queued and no artifact row is left."""
    first, second = submit(engine, 1), submit(engine, 2)
    claim(engine)
    with session_scope(engine) as session:
        lifecycle.mark_cancelled(session, ident(first))
    with pytest.raises(Conflict, match="cancelled"):
        _record(engine, ident(first), ident(second))
    assert status(engine, ident(second)).status == JobStatus.queued
    with Session(engine) as session:
        assert session.exec(select(Artifact)).all() == []


def test_a_repeated_success_keeps_the_first_result_and_still_claims(engine: Engine) -> None:
    """A success recorded twice (a retry after an outage) changes nothing and drops the
    second artifact row; the claim it carries still happens."""
    first, second = submit(engine, 1), submit(engine, 2)
    claim(engine)
    _record(engine, ident(first), None)
    kept = status(engine, ident(first)).artifact_id
    claimed = _record(engine, ident(first), ident(second))
    assert status(engine, ident(first)).artifact_id == kept
    with Session(engine) as session:
        assert [a.id for a in session.exec(select(Artifact))] == [kept]
    assert claimed is not None and claimed.id == second.id
    assert _finished_count(engine) == 1


def test_a_next_job_no_longer_queued_is_not_claimed(engine: Engine) -> None:
    first, second = submit(engine, 1), submit(engine, 2)
    claim(engine)
    with session_scope(engine) as session:
        lifecycle.cancel(session, ident(second))
    assert _record(engine, ident(first), ident(second)) is None
    assert status(engine, ident(first)).status == JobStatus.succeeded
    assert status(engine, ident(second)).status == JobStatus.cancelled


def test_the_same_job_as_its_own_next_claim_succeeds_once(engine: Engine) -> None:
    """A duplicate delivery of the job being finished: it succeeds, and is not claimed
    again (one UPDATE per row and statement: PostgreSQL takes the two steps apart)."""
    job = submit(engine)
    claim(engine)
    assert _record(engine, ident(job), ident(job)) is None
    done = status(engine, ident(job))
    assert done.status == JobStatus.succeeded and done.attempts == 1


def test_a_job_waiting_for_the_one_succeeding_is_claimed_by_the_next_dispatch(
    engine: Engine,
) -> None:
    """A chained clip waits for its source. In the source's own success statement
    (PostgreSQL) it is not claimed yet, as the statement sees the source still running;
    it is queued and ready right after, for the dispatcher to send it."""
    first = submit(engine, 1)
    second = submit(engine, 2, depends_on=ident(first))
    claim(engine)
    claimed = _record(engine, ident(first), ident(second))
    if engine.dialect.name == "postgresql":
        assert claimed is None
        assert status(engine, ident(second)).status == JobStatus.queued
        taken = claim(engine)
        assert taken is not None and taken.id == second.id
    else:
        assert claimed is not None and claimed.id == second.id


def test_a_claimed_or_succeeded_job_reads_as_one_loaded_from_the_database(
    engine: Engine,
) -> None:
    """The jobs a claim and a success hand back are built from their RETURNING rows without
    the model's constructor (`db.detached`): each field, and the public read model, is what
    the database holds."""
    first, second = submit(engine, 1), submit(engine, 2)
    taken = claim(engine)
    with session_scope(engine) as session:
        claiming = lifecycle.Claim(ident(second), "w2", LEASE)
        done, claimed = lifecycle.succeed_and_claim(session, ident(first), _artifact(), claiming)
    assert taken is not None and claimed is not None
    with Session(engine) as session:
        for returned in (done, claimed):
            loaded = session.get(RenderJob, returned.id)
            assert loaded is not None
            assert returned.model_dump() == loaded.model_dump()
            assert public(returned) == public(loaded)
    assert taken.status == "running" and taken.id == first.id


def test_the_one_statement_stays_short_enough_for_psycopg_to_keep_it_parsed() -> None:
    """psycopg parses a query's placeholders once and keeps the result only for queries up
    to 4 KB; a longer one is parsed again at every job. A column added to the jobs table
    lengthens this statement three times over: past the limit, shorten it (success_sql)."""
    from psycopg import _queries
    from sqlalchemy.dialects import postgresql

    from studio.core import success_sql, takes

    claim = lifecycle._claim_statement(success_sql.NEXT_JOB)
    statement = success_sql._statement(success_sql.succeed_statement(), takes.preview_link, claim)
    sql = str(statement.compile(dialect=postgresql.psycopg.dialect()))
    assert "WITH art AS" in sql and "nxt AS" in sql
    assert len(sql) <= _queries.MAX_CACHED_STATEMENT_LENGTH
