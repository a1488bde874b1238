"""What one job costs the database in a farm worker (issue 15): the claim and the worker's
"busy" state in one transaction, the result in another; the "idle" state only when the
worker runs out of work, never between two jobs of a backlog. On SQLite and PostgreSQL.

The jobs are submitted by a real studio on a private Redis, and run by
`studio.farm.worker.execute`, the function RQ calls in `python -m studio worker`, on that
studio's own engine and runner (here, so the commits can be counted)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine.default import DefaultDialect
from sqlmodel import Session, select

from studio import Studio
from studio.core.counters import FarmCounter
from studio.core.models import Artifact, RenderJob, Worker
from studio.farm import registry
from studio.farm import worker as farm_worker
from studio.farm.queues.redis import pipeline_queue
from studio.farm.rehearsal import rehearse
from studio.farm.worker import IdleMark, WorkerContext
from tests.farm import RedisServer


@pytest.fixture
def studio(tmp_path: Path, database_url: str, redis_server: RedisServer) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", database_url=database_url,
                      redis_url=redis_server.url) as studio:  # fmt: skip
        studio.queue.stop()  # nothing handed to RQ: this test calls the worker's function
        yield studio


@contextlib.contextmanager
def _context(studio: Studio, name: str) -> Iterator[WorkerContext]:
    context = WorkerContext(name, studio.engine, studio.runner, 30.0)
    registry.register(studio.engine, name, "redis")
    farm_worker._context = context
    try:
        yield context
    finally:
        farm_worker._context = None
        context.idle.close()


def _row(studio: Studio, name: str) -> Worker:
    (row,) = [w for w in registry.all_workers(studio.engine) if w.name == name]
    return row


def test_a_job_costs_the_worker_two_transactions(studio: Studio) -> None:
    project = studio.create_project("film", height=64)
    assert project.id is not None
    for n in range(3):
        studio.add_shot(project.id, f"shot {n}", duration=1.0, seed=n)
    jobs = studio.preview(project.id)
    commits: list[int] = []
    seen: list[tuple[str, int | None]] = []
    event.listen(studio.engine, "commit", lambda _conn: commits.append(1))
    runner_execute = studio.runner.execute

    def watching(job: RenderJob, worker: str, then: Any = None) -> Any:
        row = _row(studio, worker)  # what the Workers page shows while the job renders
        seen.append((row.state, row.current_job_id))
        return runner_execute(job, worker, then)

    studio.runner.execute = watching  # type: ignore[method-assign]
    studio.runner.preview_batch = 1  # no preview batches (their look is one more read)
    studio.runner.pipeline("draft")  # loaded, as with --preload (else "Loading…" is written)
    per_job = []
    with _context(studio, "gpu-1") as context:
        for job in jobs:
            before = len(commits)
            assert job.id is not None and farm_worker.execute(job.id) == "done"
            per_job.append(len(commits) - before - 1)  # less the Workers-page read above
        wait_idle(studio, "gpu-1")
    assert [studio.job(j.id).status for j in jobs if j.id] == ["succeeded"] * 3
    assert seen == [("busy", j.id) for j in jobs]  # busy, with the job, from its claim on
    assert per_job == [2, 2, 2]  # claim + busy; result + ledger + shot link + counters
    # Between jobs the worker stayed "busy" in the database; it said "idle" once the work
    # ran out (a moment later), with no job.
    assert _row(studio, "gpu-1").current_job_id is None
    assert context.current is None


def test_a_backlog_costs_the_worker_one_transaction_per_job(studio: Studio) -> None:
    """Jobs waiting in the worker's queues: each is claimed in the transaction that records
    the last one's success, so a backlog costs one transaction per job (and the first
    claim), not two; the Workers page still shows each job from its claim on."""
    project = studio.create_project("film", height=64)
    assert project.id is not None
    for n in range(4):
        studio.add_shot(project.id, f"shot {n}", duration=1.0, seed=n)
    jobs = [job.id or 0 for job in studio.preview(project.id)]
    commits: list[int] = []
    seen: list[tuple[str, int | None]] = []
    runner_execute = studio.runner.execute

    def watching(job: RenderJob, worker: str, then: Any = None) -> Any:
        row = _row(studio, worker)  # (a read: one commit, taken off below)
        seen.append((row.state, row.current_job_id))
        return runner_execute(job, worker, then)

    studio.runner.execute = watching  # type: ignore[method-assign]
    studio.runner.preview_batch = 1
    studio.runner.pipeline("draft")
    waiting = jobs[1:]  # what Redis holds for this worker once it took the first
    with _context(studio, "gpu-1") as context:
        context.next_job = lambda _wait, _keep: waiting.pop(0) if waiting else None
        event.listen(studio.engine, "commit", lambda _conn: commits.append(1))
        assert farm_worker.execute(jobs[0]) == "done"
        assert len(commits) - len(seen) == 1 + len(jobs)
        wait_idle(studio, "gpu-1")
    assert [studio.job(j).status for j in jobs] == ["succeeded"] * len(jobs)
    assert seen == [("busy", j) for j in jobs]


def test_a_backlog_writes_the_worker_row_only_to_advertise_a_newly_loaded_pipeline(
    studio: Studio,
) -> None:
    """In a backlog the worker's row is written by its first claim, and again only when a
    job loaded a pipeline it listens for (the dispatcher's affinity needs to know at once);
    the Workers page still shows the job running now, read from the jobs table."""
    project = studio.create_project("film", height=64)
    assert project.id is not None
    for n in range(4):
        studio.add_shot(project.id, f"shot {n}", duration=1.0, seed=n)
    jobs = [job.id or 0 for job in studio.preview(project.id)]
    studio.runner.preview_batch = 1
    writes: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith("UPDATE worker"):
            writes.append(statement)

    seen: list[tuple[int | None, list[str]]] = []
    runner_execute = studio.runner.execute

    def watching(job: RenderJob, worker: str, then: Any = None) -> Any:
        row = _row(studio, worker)
        seen.append((row.current_job_id, row.pipelines))
        return runner_execute(job, worker, then)

    studio.runner.execute = watching  # type: ignore[method-assign]
    waiting = jobs[1:]
    with _context(studio, "gpu-1") as context:
        # It listens on draft's own queue and has not loaded it yet (no --preload).
        context.listening = frozenset({pipeline_queue("draft")})
        context.next_job = lambda _wait, _keep: waiting.pop(0) if waiting else None
        event.listen(studio.engine, "before_cursor_execute", on_statement)
        try:
            assert farm_worker.execute(jobs[0]) == "done"
            wait_idle(studio, "gpu-1")
        finally:
            event.remove(studio.engine, "before_cursor_execute", on_statement)
    assert [studio.job(j).status for j in jobs] == ["succeeded"] * len(jobs)
    # The first claim ("busy", nothing loaded), the claim after draft loaded, "idle" at the
    # end: three writes for four jobs, not one a claim.
    assert len(writes) == 3
    assert _row(studio, "gpu-1").pipelines == ["draft"]
    assert seen == [(jobs[0], []), (jobs[1], ["draft"]), (jobs[2], ["draft"]), (jobs[3], ["draft"])]


@pytest.mark.parametrize("rehearsed", [True, False], ids=["rehearsed", "not-rehearsed"])
def test_a_rehearsed_worker_compiles_no_statement_in_its_first_job(
    studio: Studio, rehearsed: bool
) -> None:
    """`python -m studio worker` rehearses a job's path before it says idle (issue 15): its
    first job then runs only statements already compiled for its engine, as later jobs do
    (SQLAlchemy reports each execution's cache hit or miss). Without it, the first job
    compiles its claim, success, artifact row, shot link and counters (~30 ms)."""
    project = studio.create_project("film", height=64)
    assert project.id is not None
    studio.add_shot(project.id, "shot", duration=1.0, seed=1)
    (job,) = studio.preview(project.id)
    studio.runner.preview_batch = 1
    studio.runner.pipeline("draft")
    engine = studio.engine
    before = _rows(studio)
    if rehearsed:
        rehearse(engine, "gpu-1", 30.0)
    # The rehearsal left nothing behind: no artifact row, no counter moved, the job queued.
    assert _rows(studio) == before
    assert studio.job(job.id or 0).status == "queued"
    compiled: list[str] = []

    def on_execute(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context is not None and context.cache_hit is DefaultDialect.CACHE_MISS:
            compiled.append(" ".join(statement.split()[:3]))

    with _context(studio, "gpu-1"):
        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            assert farm_worker.execute(job.id or 0) == "done"
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)
    assert studio.job(job.id or 0).status == "succeeded"
    if rehearsed:
        assert compiled == []
    else:  # the check sees what a fresh worker compiles
        path = {"UPDATE renderjob", "UPDATE worker", "INSERT INTO farmcounter"}  # (no hold)
        if engine.dialect.name == "postgresql":  # artifact, success and shot link: one WITH
            path |= {"WITH art AS"}
        else:
            path |= {"INSERT INTO artifact", "UPDATE shot"}
        assert path <= {c.removesuffix(" SET") for c in compiled}


def _rows(studio: Studio) -> tuple[int, list[tuple[str, str, float]]]:
    """Artifact rows, and every farm counter with its total."""
    with Session(studio.engine) as session:
        artifacts = len(session.exec(select(Artifact.id)).all())
        counters = [(c.name, c.labels, c.total) for c in session.exec(select(FarmCounter))]
        return artifacts, sorted(counters)


def wait_idle(studio: Studio, name: str) -> None:
    deadline = time.monotonic() + 10
    while _row(studio, name).state != "idle":
        assert time.monotonic() < deadline, "the worker never said it was idle"
        time.sleep(0.05)


def test_idle_mark_is_written_once_unless_the_next_claim_comes_first() -> None:
    writes: list[float] = []
    mark = IdleMark(lambda: writes.append(time.monotonic()), delay=0.1)
    mark.schedule()
    mark.cancel()  # the next job was claimed in time
    time.sleep(0.3)
    assert writes == []
    mark.schedule()
    mark.schedule()  # a second job ended: one write, not two
    time.sleep(0.3)
    assert len(writes) == 1
    mark.schedule()  # the worker ran out of work again later: written again
    time.sleep(0.3)
    assert len(writes) == 2
    mark.close()
    mark.schedule()  # a stopped worker writes nothing more
    time.sleep(0.3)
    assert len(writes) == 2


def test_a_claim_waits_for_an_idle_write_under_way() -> None:
    """ "busy" must come after "idle" in the database: a claim's cancel waits for the write."""
    order: list[str] = []
    writing = threading.Event()

    def slow_write() -> None:
        writing.set()
        time.sleep(0.3)
        order.append("idle")

    mark = IdleMark(slow_write, delay=0.0)
    mark.schedule()
    assert writing.wait(5)
    mark.cancel()
    order.append("busy")
    assert order == ["idle", "busy"]
