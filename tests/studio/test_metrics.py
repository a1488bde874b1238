"""/metrics with Prometheus semantics, on SQLite and PostgreSQL: counters and histograms only
grow, by exactly the events that happened (counted in the transaction of each state change,
whichever process made it), and nothing goes down as jobs age or finish again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import select

from studio import Studio
from studio.core import counters, lifecycle
from studio.core.db import session_scope
from studio.core.models import Artifact, JobKind, Project, RenderJob, Shot, ident
from studio.web.app import add_metrics

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]
LEASE = 30.0


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def scrape(client: TestClient) -> Scrape:
    """Every counter and histogram sample of one GET /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        key(sample.name, **sample.labels): sample.value
        for family in text_string_to_metric_families(response.text)
        if family.type in ("counter", "histogram")
        for sample in family.samples
    }


def assert_never_down(before: Scrape, after: Scrape) -> None:
    for sample, value in before.items():
        assert sample in after, f"{sample} disappeared"
        assert after[sample] >= value, f"{sample} went down: {value} → {after[sample]}"


def grew(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.get(key(name, **labels), 0.0) - before.get(key(name, **labels), 0.0)


@pytest.fixture
def studio(tmp_path: Path, database_url: str) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", database_url=database_url, start_worker=True) as local:
        yield local


@pytest.fixture
def client(studio: Studio) -> Iterator[TestClient]:
    """The app's own /metrics (add_metrics), without the Gradio UI around it."""
    api = FastAPI()
    add_metrics(api, studio)
    with TestClient(api) as client:
        yield client


def test_counters_and_histograms_grow_by_exactly_the_jobs_run(
    studio: Studio, client: TestClient, tmp_path: Path, database_url: str
) -> None:
    pid = ident_of(studio.create_project("Harbour"))
    for n in range(3):
        studio.add_shot(pid, f"A lighthouse at dusk, take {n}", duration=1.0, seed=n)
    before = scrape(client)

    rendered_jobs = studio.preview(pid, wait=True, progress=False)
    rendered = scrape(client)
    assert_never_down(before, rendered)
    runs = [(j.finished_at - j.started_at).total_seconds() for j in rendered_jobs]  # type: ignore[operator]
    assert len(runs) == 3
    assert grew(before, rendered, "studio_jobs_submitted_total", kind="preview") == 3
    finished = {"kind": "preview", "pipeline": "draft", "status": "succeeded"}
    assert grew(before, rendered, "studio_jobs_finished_total", **finished) == 3
    assert grew(before, rendered, "studio_job_duration_seconds_count", pipeline="draft") == 3
    assert grew(before, rendered, "studio_job_duration_seconds_sum", pipeline="draft") == (
        pytest.approx(sum(runs), abs=1e-3)
    )
    for bound in (*counters.DURATION_BUCKETS, float("inf")):
        le = floatToGoString(bound)
        expected = sum(1 for run in runs if run <= bound)
        assert (
            grew(before, rendered, "studio_job_duration_seconds_bucket", pipeline="draft", le=le)
            == expected
        )

    # The same shots again: served from the render cache, counted as hits and successes,
    # with no run time.
    cached_jobs = studio.preview(pid, wait=True, progress=False)
    assert all(job.cache_hit for job in cached_jobs) and len(cached_jobs) == 3
    cached = scrape(client)
    assert_never_down(rendered, cached)
    assert grew(rendered, cached, "studio_render_cache_hits_total", kind="preview") == 3
    assert grew(rendered, cached, "studio_jobs_submitted_total", kind="preview") == 3
    assert grew(rendered, cached, "studio_jobs_finished_total", **finished) == 3
    assert grew(rendered, cached, "studio_job_duration_seconds_count", pipeline="draft") == 0

    # Two days later the jobs are history; the totals are not rebuilt from them.
    with session_scope(studio.engine) as session:
        for job in session.exec(select(RenderJob)).all():
            assert job.started_at is not None and job.finished_at is not None
            job.queued_at -= timedelta(days=2)
            job.started_at -= timedelta(days=2)
            job.finished_at -= timedelta(days=2)
            session.add(job)
    aged = scrape(client)
    assert_never_down(cached, aged)
    farm = {sample: value for sample, value in cached.items() if "_http_" not in sample[0]}
    assert {sample: aged[sample] for sample in farm} == farm

    # Another app replica on the same database reports the same totals.
    with Studio.local(tmp_path / "replica", database_url=database_url) as replica:
        assert replica.census().counters == studio.census().counters


def ident_of(project: Any) -> int:
    assert project.id is not None
    return int(project.id)


def _submit(engine: Engine, n: int) -> int:
    with session_scope(engine) as session:
        project = Project(name=f"p{n}")
        session.add(project)
        session.flush()
        shot = Shot(project_id=ident(project), prompt="a cat")
        session.add(shot)
        session.flush()
        params = {"n": n, "pipeline": {"name": "draft"}}
        job = lifecycle.submit(
            session,
            kind=JobKind.preview,
            project_id=ident(project),
            shot_id=ident(shot),
            params=params,
        )
        return ident(job)


def _claim(engine: Engine, job_id: int) -> None:
    with session_scope(engine) as session:
        assert lifecycle.claim_job(session, job_id, "w1", LEASE) is not None


def _artifact(n: int) -> Artifact:
    return Artifact(key=f"artifacts/{n}.png", content_type="image/png", bytes=1, sha256="a" * 64)


def _totals(engine: Engine) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with session_scope(engine) as session:
        return {key(s.name, **s.labels): s.total for s in counters.read(session)}


def _finished(status: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return key(counters.FINISHED, kind="preview", pipeline="draft", status=status)


def test_each_event_counts_once_and_only_when_it_commits(engine: Engine) -> None:
    done, undone, dropped, broken = (_submit(engine, n) for n in range(4))
    for job_id in (done, undone, broken):
        _claim(engine, job_id)
    with session_scope(engine) as session:
        lifecycle.succeed(session, done, _artifact(1))
    with session_scope(engine) as session:  # a duplicate delivery, then a late error report
        lifecycle.succeed(session, done, _artifact(2))
        lifecycle.fail(session, done, "too late")
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        lifecycle.succeed(session, undone, _artifact(3))
        raise RuntimeError("the unit of work fails after the state change: all rolls back")
    with session_scope(engine) as session:
        lifecycle.cancel(session, dropped)
        lifecycle.fail(session, broken, "out of memory")
        lifecycle.retry(session, broken)

    totals = _totals(engine)
    assert totals[key(counters.SUBMITTED, kind="preview")] == 4
    assert totals[_finished("succeeded")] == 1
    assert totals[_finished("cancelled")] == 1
    assert totals[_finished("failed")] == 1
    assert totals[key(counters.RETRIED, kind="preview")] == 1
    buckets = [v for (name, _), v in totals.items() if name == counters.DURATION_BUCKET]
    assert buckets == [1.0]  # `done` only: the rolled-back success left nothing


def test_a_batch_of_submissions_adds_to_the_counters_in_one_statement(tmp_path: Path) -> None:
    """The events of one transaction are summed and written as it commits: a 12-shot render
    (one transaction, studio.api.renders) writes the counters once, by 12."""
    with Studio.local(tmp_path / "data", start_worker=False) as studio:
        project = studio.create_project("Batch")
        assert project.id is not None
        for n in range(12):
            studio.add_shot(project.id, f"shot {n}")
        writes: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "farmcounter" in statement.lower():
                writes.append(statement)

        event.listen(studio.engine, "before_cursor_execute", seen)
        try:
            studio.render(project.id)
        finally:
            event.remove(studio.engine, "before_cursor_execute", seen)
        assert len(writes) == 1
        assert _totals(studio.engine)[key(counters.SUBMITTED, kind="clip")] == 12


def test_concurrent_finishes_are_all_counted(engine: Engine) -> None:
    """Workers finishing at once add to the same new rows: no lost update, no key conflict."""
    jobs = [_submit(engine, n) for n in range(8)]
    for job_id in jobs:
        _claim(engine, job_id)
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def finish(job_id: int) -> None:
        start.wait()
        try:
            with session_scope(engine) as session:
                lifecycle.succeed(session, job_id, _artifact(job_id))
        except BaseException as exc:  # noqa: BLE001 - any failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=(job_id,)) for job_id in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    totals = _totals(engine)
    assert totals[_finished("succeeded")] == 8
    assert sum(v for (name, _), v in totals.items() if name == counters.DURATION_BUCKET) == 8
