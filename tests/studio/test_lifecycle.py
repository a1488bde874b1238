"""The job lifecycle: every state change, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from studio.core import dispatch, job_reads, leases, lifecycle
from studio.core.db import session_scope
from studio.core.errors import Conflict, NotFound
from studio.core.models import Artifact, JobKind, JobStatus, Project, RenderJob, Shot, ident, utcnow

LEASE = 30.0


def make_project(engine: Engine) -> tuple[int, int]:
    with session_scope(engine) as session:
        project = Project(name="p")
        session.add(project)
        session.flush()
        shot = Shot(project_id=ident(project), prompt="a cat")
        session.add(shot)
        session.flush()
        return ident(project), ident(shot)


def submit(engine: Engine, n: int = 0, priority: int = 0, **kw: Any) -> RenderJob:
    project_id, shot_id = make_project(engine)
    with session_scope(engine) as session:
        return lifecycle.submit(
            session,
            kind=JobKind.preview,
            project_id=project_id,
            shot_id=shot_id,
            params={"n": n},
            priority=priority,
            **kw,
        )


def claim(engine: Engine, worker: str = "w1") -> RenderJob | None:
    with session_scope(engine) as session:
        return lifecycle.claim_next(session, worker, LEASE)


def status(engine: Engine, job_id: int) -> RenderJob:
    with Session(engine) as session:
        job = session.get(RenderJob, job_id)
        assert job is not None
        return job


def test_submit_queues_and_claim_takes_priority_then_age(engine: Engine) -> None:
    first = submit(engine, 1)
    second = submit(engine, 2)
    urgent = submit(engine, 3, priority=10)
    assert first.status == JobStatus.queued
    order = [claim(engine), claim(engine), claim(engine), claim(engine)]
    assert [j.id if j else None for j in order] == [urgent.id, first.id, second.id, None]
    running = status(engine, ident(first))
    assert running.status == JobStatus.running and running.attempts == 1
    assert running.worker == "w1" and running.lease_expires_at is not None


def test_concurrent_claims_never_share_a_job(engine: Engine) -> None:
    jobs = [submit(engine, i) for i in range(12)]
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := claim(engine, name)) is not None:
            with lock:
                claimed.append(ident(job))

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ident(j) for j in jobs)  # each exactly once


def test_identical_active_job_is_reused_not_duplicated(engine: Engine) -> None:
    project_id, shot_id = make_project(engine)
    with session_scope(engine) as session:
        a = lifecycle.submit(
            session, kind=JobKind.clip, project_id=project_id, shot_id=shot_id, params={"x": 1}
        )
        b = lifecycle.submit(
            session, kind=JobKind.clip, project_id=project_id, shot_id=shot_id, params={"x": 1}
        )
    assert a.id == b.id


def _artifact() -> Artifact:
    return Artifact(key="artifacts/aa/x.png", content_type="image/png", bytes=1, sha256="a" * 64)


def test_succeed_is_idempotent_and_links_the_preview(engine: Engine) -> None:
    job = submit(engine)
    claim(engine)
    with session_scope(engine) as session:
        lifecycle.succeed(session, ident(job), _artifact())
    with session_scope(engine) as session:
        again = lifecycle.succeed(session, ident(job), _artifact())
    done = status(engine, ident(job))
    assert done.status == JobStatus.succeeded and again.artifact_id == done.artifact_id
    with Session(engine) as session:
        assert len(session.exec(select(Artifact)).all()) == 1
        shot = session.get(Shot, job.shot_id)
        assert shot is not None and shot.preview_job_id == job.id


def test_a_job_waits_for_its_dependency_and_its_claim_does_not_read_the_history(
    engine: Engine,
) -> None:
    """A job that depends on another (a chained clip) is claimed only once that one
    succeeded; on PostgreSQL its claim reads a handful of job rows however many jobs the
    studio finished before (it read every succeeded one)."""
    first = submit(engine, 1)
    second = submit(engine, 2, depends_on=ident(first))
    taken = claim(engine)
    assert taken is not None and taken.id == first.id
    assert claim(engine) is None  # waits for its source
    with session_scope(engine) as session:
        lifecycle.succeed(session, ident(first), _artifact())
    if engine.dialect.name != "postgresql":
        taken = claim(engine)
        assert taken is not None and taken.id == second.id
        return
    with session_scope(engine) as session:  # a long history of finished jobs
        session.connection().execute(
            text(
                "INSERT INTO renderjob (owner, kind, project_id, shot_id, params, params_hash,"
                " status, progress, message, attempts, max_attempts, priority, cost,"
                " cancel_requested, cache_hit, created_at, queued_at)"
                " SELECT owner, kind, project_id, shot_id, params, md5(n::text), 'succeeded',"
                " 1, 'Done', 1, 3, 0, 0, false, false, now(), now()"
                " FROM renderjob, generate_series(1, 3000) AS n WHERE renderjob.id = :job"
            ),
            {"job": ident(first)},
        )
        session.connection().execute(text("ANALYZE renderjob"))  # as autovacuum would
    rows_read = text(
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
        " FROM pg_stat_xact_user_tables WHERE relname = 'renderjob'"
    )
    with session_scope(engine) as session:
        before = session.connection().execute(rows_read).scalar_one()
        claimed = lifecycle.claim_job(session, ident(second), "w1", LEASE)
        after = session.connection().execute(rows_read).scalar_one()
    assert claimed is not None and claimed.id == second.id
    assert after - before < 50


def test_a_success_recorded_again_after_a_rollback_keeps_its_artifact(engine: Engine) -> None:
    """A worker records a result again when the database went away before its commit
    (runner._record): the artifact row the rolled-back attempt inserted is gone, so the
    retry must insert it again, not reuse that attempt's id."""
    job = submit(engine)
    claim(engine)
    artifact = _artifact()
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        lifecycle.succeed(session, ident(job), artifact)
        raise RuntimeError("the connection dropped before the commit")
    with session_scope(engine) as session:
        lifecycle.succeed(session, ident(job), artifact)
    done = status(engine, ident(job))
    assert done.status == JobStatus.succeeded and done.artifact_id is not None
    with Session(engine) as session:
        stored = session.get(Artifact, done.artifact_id)
        assert stored is not None and stored.key == artifact.key
        assert len(session.exec(select(Artifact)).all()) == 1


def test_render_cache_reuses_a_succeeded_artifact(engine: Engine) -> None:
    job = submit(engine, 7)
    claim(engine)
    with session_scope(engine) as session:
        lifecycle.succeed(session, ident(job), _artifact())
    project_id, shot_id = make_project(engine)
    with session_scope(engine) as session:
        hit = lifecycle.submit(
            session, kind=JobKind.preview, project_id=project_id, shot_id=shot_id, params={"n": 7}
        )
    assert hit.status == JobStatus.succeeded and hit.cache_hit
    assert hit.artifact_id == status(engine, job.id).artifact_id  # type: ignore[arg-type]
    assert "render cache" in hit.message and hit.cost == 0
    # A missing artifact file is no cache hit: the job is queued for real.
    with session_scope(engine) as session:
        miss = lifecycle.submit(
            session,
            kind=JobKind.preview,
            project_id=project_id,
            shot_id=None,
            params={"n": 7},
            artifact_available=lambda a: False,
        )
    assert miss.status == JobStatus.queued and not miss.cache_hit


def test_cancel_queued_running_and_finished(engine: Engine) -> None:
    queued = submit(engine, 1)
    with session_scope(engine) as session:
        assert lifecycle.cancel(session, ident(queued)).status == JobStatus.cancelled
    running = submit(engine, 2)
    claim(engine)
    with session_scope(engine) as session:
        job = lifecycle.cancel(session, ident(running))
        assert job.status == JobStatus.running and job.cancel_requested
    with session_scope(engine) as session:
        stop = leases.report_progress(session, ident(running), "w1", 0.5, "half", LEASE)
    assert stop is True
    with session_scope(engine) as session:
        lifecycle.mark_cancelled(session, ident(running))
    with session_scope(engine) as session, pytest.raises(Conflict):
        lifecycle.cancel(session, ident(running))


def test_fail_then_retry_requeues_with_error_cleared(engine: Engine) -> None:
    job = submit(engine)
    claim(engine)
    with session_scope(engine) as session:
        lifecycle.fail(session, ident(job), "model not found")
    failed = status(engine, ident(job))
    assert failed.status == JobStatus.failed and failed.error == "model not found"
    with session_scope(engine) as session:
        lifecycle.retry(session, ident(job))
    again = status(engine, ident(job))
    assert again.status == JobStatus.queued and again.error is None
    with session_scope(engine) as session, pytest.raises(Conflict):
        lifecycle.retry(session, ident(job))


def test_priority_and_queue_position(engine: Engine) -> None:
    jobs = [submit(engine, i) for i in range(3)]
    with Session(engine) as session:
        assert [job_reads.queue_position(session, status(engine, ident(j))) for j in jobs] == [
            1,
            2,
            3,
        ]
    with session_scope(engine) as session:
        lifecycle.set_priority(session, ident(jobs[2]), 5)
    with Session(engine) as session:
        assert job_reads.queue_position(session, status(engine, ident(jobs[2]))) == 1
        assert job_reads.queue_position(session, status(engine, ident(jobs[0]))) == 2
    claim(engine)
    with session_scope(engine) as session, pytest.raises(Conflict):
        lifecycle.set_priority(session, ident(jobs[2]), 1)


def test_abandoned_jobs_are_requeued_then_quarantined(engine: Engine) -> None:
    job = submit(engine, max_attempts=2)
    for attempt in (1, 2):
        claimed = claim(engine, f"dead-{attempt}")
        assert claimed is not None and claimed.id == job.id and claimed.attempts == attempt
        later = utcnow() + timedelta(seconds=LEASE + 1)
        with session_scope(engine) as session:
            lifecycle.requeue_abandoned(session, now=later)
    final = status(engine, ident(job))
    assert final.status == JobStatus.failed and "Quarantined" in (final.error or "")
    assert final.attempts == 2


def test_live_lease_is_left_alone(engine: Engine) -> None:
    job = submit(engine)
    claim(engine)
    with session_scope(engine) as session:
        assert lifecycle.requeue_abandoned(session) == []
    assert status(engine, ident(job)).status == JobStatus.running


def test_unknown_job_is_not_found(engine: Engine) -> None:
    with session_scope(engine) as session, pytest.raises(NotFound):
        lifecycle.cancel(session, 999)


def test_a_worker_that_lost_its_lease_cannot_fail_the_job(engine: Engine) -> None:
    job = submit(engine)
    claim(engine, "slow")
    later = utcnow() + timedelta(seconds=LEASE + 1)
    with session_scope(engine) as session:
        lifecycle.requeue_abandoned(session, now=later)  # "slow" looked dead
    claim(engine, "fresh")
    with session_scope(engine) as session:
        lifecycle.fail(session, ident(job), "late error from slow", worker="slow")
        lifecycle.mark_cancelled(session, ident(job), worker="slow")
    current = status(engine, ident(job))
    assert current.status == JobStatus.running and current.worker == "fresh"
    # The slow worker's finished render is still a valid result: accepted once, then no-op.
    with session_scope(engine) as session:
        lifecycle.succeed(session, ident(job), _artifact())
    with session_scope(engine) as session:
        lifecycle.fail(session, ident(job), "fresh failed", worker="fresh")
    assert status(engine, ident(job)).status == JobStatus.succeeded


def test_a_progress_write_counts_only_while_the_job_runs_for_that_worker(engine: Engine) -> None:
    """A render's progress renews its lease and shows; from a worker that lost the job, or
    after the job ended, it changes nothing and tells the render to stop."""
    job = submit(engine)
    claim(engine, "slow")
    with session_scope(engine) as session:
        assert leases.report_progress(session, ident(job), "slow", 0.4, "Step 2/5", LEASE) is False
    shown = status(engine, ident(job))
    assert (shown.progress, shown.message) == (0.4, "Step 2/5")
    assert shown.lease_expires_at is not None
    later = utcnow() + timedelta(seconds=LEASE + 1)
    with session_scope(engine) as session:
        lifecycle.requeue_abandoned(session, now=later)  # "slow" looked dead
    claim(engine, "fresh")
    with session_scope(engine) as session:
        assert leases.report_progress(session, ident(job), "slow", 0.8, "Step 4/5", LEASE)
    taken = status(engine, ident(job))
    assert (taken.worker, taken.progress, taken.message) == ("fresh", 0.0, "Starting")
    with session_scope(engine) as session:
        lifecycle.succeed(session, ident(job), _artifact())
    with session_scope(engine) as session:
        assert leases.report_progress(session, ident(job), "fresh", 0.9, "Step 5/5", LEASE)
    done = status(engine, ident(job))
    assert (done.status, done.progress, done.message) == (JobStatus.succeeded, 1.0, "Done")


def test_heartbeat_extends_the_lease(engine: Engine) -> None:
    job = submit(engine)
    claim(engine, "w1")
    before = status(engine, ident(job)).lease_expires_at
    with session_scope(engine) as session:
        assert leases.heartbeat(session, "w1", LEASE * 10, {ident(job)}) == 1
        assert leases.heartbeat(session, "someone-else", LEASE * 10, {ident(job)}) == 0
    after = status(engine, ident(job)).lease_expires_at
    assert before is not None and after is not None and after > before + timedelta(seconds=LEASE)


def test_heartbeat_renews_only_the_jobs_the_worker_still_runs(engine: Engine) -> None:
    """A job left `running` under a worker's name after its render ended (its outcome could
    not be recorded: the database was away) is not renewed by that worker's heartbeat: its
    lease runs out and the reaper hands it back, instead of it staying running for ever."""
    left, current = submit(engine, n=1), submit(engine, n=2)
    claim(engine, "w1")
    claim(engine, "w1")
    with session_scope(engine) as session:
        assert leases.heartbeat(session, "w1", LEASE, {ident(current)}) == 1
        assert leases.heartbeat(session, "w1", LEASE, set()) == 0
    later = utcnow() + timedelta(seconds=LEASE * 2)
    with session_scope(engine) as session:
        leases.heartbeat(session, "w1", LEASE * 10, {ident(current)})
        requeued = lifecycle.requeue_abandoned(session, now=later)
    assert [job.id for job in requeued] == [ident(left)]
    assert status(engine, ident(current)).status == JobStatus.running


def test_a_dispatch_cycle_reads_a_bounded_number_of_jobs(engine: Engine) -> None:
    """However long a creator's backlog, a cycle loads at most `limit` jobs per owner, and
    still interleaves owners fairly, priority first, oldest first."""
    project_id, shot_id = make_project(engine)
    with session_scope(engine) as session:
        for n in range(300):
            session.add(
                RenderJob(
                    kind="preview",
                    project_id=project_id,
                    shot_id=shot_id,
                    params={"n": n, "blob": "x" * 200},
                    params_hash=f"a{n}",
                    owner="alice",
                )
            )
        for n, priority in ((0, 0), (1, 5)):
            session.add(
                RenderJob(
                    kind="preview",
                    project_id=project_id,
                    shot_id=shot_id,
                    params={"n": n},
                    params_hash=f"b{n}",
                    owner="bob",
                    priority=priority,
                )
            )
    loaded: list[int] = []

    def count(job: RenderJob, _context: Any) -> None:
        loaded.append(ident(job))

    event.listen(RenderJob, "load", count)
    try:
        with Session(engine) as session:
            picked = dispatch.dispatch_order(session, limit=6)
    finally:
        event.remove(RenderJob, "load", count)
    assert len(loaded) <= 2 * 6  # rows read from the database: not the 302 queued
    # bob's urgent job; then the least loaded owner, the older job on a tie
    assert [(j.owner, j.priority) for j in picked[:4]] == [
        ("bob", 5),
        ("alice", 0),
        ("alice", 0),
        ("bob", 0),
    ]
    assert [j.params["n"] for j in picked if j.owner == "alice"] == [0, 1, 2, 3]
    with Session(engine) as session:  # handed-out jobs count as in flight, and are skipped
        handed = {j.id for j in picked}
        again = dispatch.dispatch_order(session, exclude=handed, limit=3)  # type: ignore[arg-type]
    assert [j.params["n"] for j in again] == [4, 5, 6]
