"""The render farm: RQ on real Redis, workers as real processes, PostgreSQL as the truth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio import Studio
from studio.core import counters
from studio.core.models import JobPublic, JobStatus
from studio.film.video import probe
from tests.farm import Farm, RedisServer, redis_db_url, wait_for

pytestmark = pytest.mark.integration

SCRIPT = """EXT. HARBOUR - DAWN

Boats rock in the harbour. A gull lands on a post. The fisherman coils a rope.
"""


@pytest.fixture
def farm(tmp_path: Path, fresh_postgres_url: str, redis_url: str) -> Iterator[Farm]:
    from redis import Redis

    url = redis_db_url(redis_url)
    Redis.from_url(url).flushdb()
    farm = Farm(tmp_path, fresh_postgres_url, url)
    yield farm
    farm.stop_all()
    Redis.from_url(url).flushdb()


@pytest.fixture
def studio(farm: Farm) -> Iterator[Studio]:
    with Studio.local(farm.data_dir, **farm.settings()) as studio:
        yield studio


def project(
    studio: Studio,
    owner: str = "local",
    duration: float = 2.0,
    fps: int = 12,
    height: int = 96,
    variant: int = 0,
) -> int:
    p = studio.create_project(f"Harbour {owner}", owner=owner, height=height, fps=fps)
    assert p.id is not None
    for shot in studio.breakdown(p.id, SCRIPT):
        studio.update_shot(
            shot.id,
            duration=duration,
            camera_move="pan-left",
            seed=shot.seed + variant,
        )  # a new variant is no render-cache hit
    return p.id


def finished(studio: Studio, ids: list[int]) -> list[JobPublic] | None:
    jobs = [studio.job(i) for i in ids]
    return jobs if all(JobStatus(j.status).finished for j in jobs) else None


def test_renders_run_on_remote_workers(studio: Studio, farm: Farm) -> None:
    farm.start_worker("w1")
    pid = project(studio)
    jobs = studio.render(pid)
    final = wait_for(
        lambda: finished(studio, [j.id for j in jobs]),
        90,
        "renders",
        lambda: farm.log("w1"),
    )
    assert [j.status for j in final] == ["succeeded"] * len(jobs)
    assert {j.worker for j in final} == {"w1"}
    worker = next(w for w in studio.workers() if w.name == "w1")
    assert worker.kind == "redis" and "draft" in worker.pipelines  # advertises what it loaded
    for job in final:
        assert probe(studio.artifact_path(job.artifact_id)).frames == 24  # type: ignore[arg-type]
    # The app's /metrics counts what the worker process finished (counted in its transaction).
    counted = {
        (s.labels["kind"], s.labels["status"]): s.total
        for s in studio.census().counters
        if s.name == counters.FINISHED
    }
    assert counted == {("clip", "succeeded"): len(jobs)}


def jobs_of(studio: Studio, ids: list[int]) -> list[JobPublic]:
    return [studio.job(i) for i in ids]


def describe(studio: Studio, ids: list[int]) -> str:
    return str([(j.id, j.status, j.progress, j.worker, j.error) for j in jobs_of(studio, ids)])


def kill_mid_render(studio: Studio, farm: Farm, variant: int) -> None:
    pid = project(studio, duration=20, fps=24, height=240, variant=variant)
    ids = [j.id for j in studio.render(pid) if j.id is not None]

    def in_progress() -> JobPublic | None:
        # Any point well inside the render (its progress is written every 0.25 s: a narrow
        # band can be stepped over by a fast render on an idle machine).
        running = (j for j in jobs_of(studio, ids) if j.status == "running")
        return next((j for j in running if 0.05 < j.progress < 0.7), None)

    victim = wait_for(in_progress, 90, "a render in progress", lambda: describe(studio, ids))
    dead = victim.worker
    assert dead in ("w1", "w2") and victim.id is not None
    farm.kill(dead)
    assert studio.job(victim.id).status == "running"  # killed mid-render
    final = wait_for(
        lambda: finished(studio, ids),
        120,
        "all renders",
        lambda: describe(studio, ids) + farm.log("w1") + farm.log("w2"),
    )
    assert [j.status for j in final] == ["succeeded"] * len(ids), describe(studio, ids)
    rerun = next(j for j in final if j.id == victim.id)
    assert rerun.attempts == 2 and rerun.worker != dead  # run again, elsewhere
    assert all(j.attempts <= 2 for j in final)  # nothing run after success
    for job in final:
        assert job.artifact_id is not None
        assert probe(studio.artifact_path(job.artifact_id)).frames == 20 * 24
    farm.start_worker(dead)  # back to two workers for the next trial


def test_killed_worker_job_is_rerun_by_another(studio: Studio, farm: Farm) -> None:
    farm.start_worker("w1")
    farm.start_worker("w2")
    for trial in range(2):  # repeated trials: no job lost, none run after success
        kill_mid_render(studio, farm, variant=trial)


def test_redis_losing_its_data_loses_no_job(studio: Studio, farm: Farm) -> None:
    from redis import Redis

    pid = project(studio)
    ids = [j.id for j in studio.render(pid)]
    wait_for(lambda: Redis.from_url(farm.redis_url).keys("rq:queue:*"), 10, "dispatch")
    Redis.from_url(farm.redis_url).flushdb()  # Redis restarted empty
    farm.start_worker("w1")
    final = wait_for(lambda: finished(studio, ids), 90, "renders", lambda: farm.log("w1"))
    assert [j.status for j in final] == ["succeeded"] * len(ids)


def test_second_users_job_starts_before_first_users_backlog_ends(
    studio: Studio, farm: Farm
) -> None:
    from redis import Redis

    from studio.farm.queues.redis import ANY_QUEUE, RedisQueue, db_job_id

    dispatcher = studio.queue
    assert isinstance(dispatcher, RedisQueue)
    dispatcher.stop()  # dispatch by hand below, to see exactly what is handed to workers
    alice = project(studio, owner="alice", duration=8, fps=24, height=240)
    more = project(studio, owner="alice", duration=8, fps=24, height=240, variant=1)
    backlog = [j.id for j in studio.render(alice) + studio.render(more)]
    bob = project(studio, owner="bob", duration=1)
    (bobs,) = studio.render(bob, [studio.shots(bob)[0].id])
    dispatcher.dispatch_once()  # no live worker yet: a window of 2
    waiting = Redis.from_url(farm.redis_url).lrange(f"rq:queue:{ANY_QUEUE}", 0, -1)
    handed = [db_job_id(raw.decode() if isinstance(raw, bytes) else raw) for raw in waiting]
    assert handed == [backlog[0], bobs.id]  # bob's one job goes before alice's second

    dispatcher.start()
    farm.start_worker("w1")
    farm.start_worker("w2")
    ids = [*backlog, bobs.id]
    final = wait_for(
        lambda: finished(studio, ids),
        240,
        "renders",
        lambda: farm.log("w1") + farm.log("w2"),
    )
    assert all(j.status == "succeeded" for j in final)
    bob_job, alice_jobs = final[-1], final[:-1]
    assert bob_job.started_at is not None
    last_alice_start = max(j.started_at for j in alice_jobs if j.started_at)
    assert bob_job.started_at < last_alice_start  # bob did not wait for alice's backlog


def test_cancel_reaches_the_worker(studio: Studio, farm: Farm) -> None:
    farm.start_worker("w1")
    pid = project(studio, duration=30, fps=24)
    (job,) = studio.render(pid, [studio.shots(pid)[0].id])
    # Cancelled as soon as it runs: on a busy machine a draft clip can finish within a poll.
    wait_for(
        lambda: studio.job(job.id).status == "running",
        60,
        "render start",
        lambda: farm.log("w1"),
    )
    studio.cancel(job.id)
    (done,) = wait_for(
        lambda: finished(studio, [job.id]),
        20,
        "cancel",
        lambda: farm.log("w1"),
    )
    assert done.status == "cancelled"


def test_paused_queue_waits_until_resumed(studio: Studio, farm: Farm) -> None:
    farm.start_worker("w1")
    studio.pause_queue("local")
    pid = project(studio)
    ids = [j.id for j in studio.render(pid)]
    with pytest.raises(AssertionError):
        wait_for(lambda: any(studio.job(i).status != "queued" for i in ids), 4, "a start")
    studio.resume_queue("local")
    final = wait_for(lambda: finished(studio, ids), 90, "renders", lambda: farm.log("w1"))
    assert all(j.status == "succeeded" for j in final)


def test_sigterm_lets_the_worker_finish_its_job(studio: Studio, farm: Farm) -> None:
    import signal

    worker = farm.start_worker("w1")
    pid = project(studio, duration=20, fps=24, height=240)
    (job,) = studio.render(pid, [studio.shots(pid)[0].id])
    assert job.id is not None
    wait_for(
        lambda: 0.05 < studio.job(job.id).progress < 0.5,
        60,
        "render start",
        lambda: farm.log("w1"),
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0, farm.log("w1")  # exits cleanly, after the job
    done = studio.job(job.id)
    assert done.status == "succeeded" and done.attempts == 1 and done.worker == "w1"
    assert next(w for w in studio.workers() if w.name == "w1").state == "stopped"


def test_sigterm_takes_no_more_jobs_from_the_queue(studio: Studio, farm: Farm) -> None:
    """A worker goes from job to job without RQ's loop (worker.execute); a stop still ends it
    after the current job, and the jobs left in Redis run elsewhere."""
    import signal

    worker = farm.start_worker("w1")
    pid = project(studio, duration=20, fps=24, height=240)
    ids = [j.id for j in studio.render(pid) if j.id is not None]
    wait_for(
        lambda: any(0.05 < j.progress < 0.5 for j in jobs_of(studio, ids)),
        60,
        "render start",
        lambda: farm.log("w1"),
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0, farm.log("w1")
    statuses = sorted(j.status for j in jobs_of(studio, ids))
    assert statuses == ["queued", "queued", "succeeded"], describe(studio, ids)
    farm.start_worker("w2")
    final = wait_for(lambda: finished(studio, ids), 120, "renders", lambda: farm.log("w2"))
    assert [j.status for j in final] == ["succeeded"] * 3
    assert all(j.attempts == 1 for j in final)


@pytest.mark.parametrize("window", [1, 2])
def test_a_backlog_costs_few_redis_commands_per_job_and_leaves_no_rq_job(
    tmp_path: Path, fresh_postgres_url: str, redis_server: RedisServer, window: int
) -> None:
    """On a Redis server of its own, so its command counts are this test's alone. With a
    window of 1 the worker drains Redis faster than a dispatch cycle refills it: it waits
    for the next id rather than going back to RQ's loop (87 commands a job, measured)."""
    from redis import Redis

    redis = Redis.from_url(redis_server.url)
    farm = Farm(tmp_path, fresh_postgres_url, redis_server.url, STUDIO_DISPATCH_WINDOW=str(window))
    with Studio.local(farm.data_dir, **farm.settings(), dispatch_window=window) as studio:
        try:
            _backlog_costs(studio, farm, redis)
        finally:
            farm.stop_all()


def _backlog_costs(studio: Studio, farm: Farm, redis: Any) -> None:
    farm.start_worker("w1", "--preload", "draft")
    wait_for(
        lambda: any(w.name == "w1" and w.state == "idle" for w in studio.workers()),
        60,
        "worker start",
        lambda: farm.log("w1"),
    )
    p = studio.create_project("Backlog", height=64)
    assert p.id is not None
    for n in range(30):
        studio.add_shot(p.id, f"shot {n}", duration=1.0, seed=n)

    def commands() -> int:
        return sum(int(row["calls"]) for row in redis.info("commandstats").values())

    before = commands()
    ids = [j.id for j in studio.preview(p.id)]
    final = wait_for(lambda: finished(studio, ids), 90, "previews", lambda: farm.log("w1"))
    per_job = (commands() - before) / len(ids)
    assert [j.status for j in final] == ["succeeded"] * len(ids)
    # Through RQ's own loop a job costs ~87 commands (state, registries, heartbeats, result);
    # the worker takes the jobs waiting in its queues in one round trip each (~23).
    assert per_job < 35, per_job

    # Nothing left behind: a job taken that way has its RQ hash deleted with it (RQ's own
    # results expire once the job RQ started returns, after the worker's wait for a next id).
    # A queued RQ job never expires: a leak would grow without end.
    def leaked() -> list[tuple[bytes, int]]:
        waiting = {i for q in redis.scan_iter("rq:queue:studio:*") for i in redis.lrange(q, 0, -1)}
        kept = [
            k
            for k in redis.scan_iter("rq:job:studio-*")
            if b":" not in k[len("rq:job:") :] and k[len("rq:job:") :] not in waiting
        ]
        return [(k, ttl) for k in kept if (ttl := redis.ttl(k)) <= 0]

    wait_for(lambda: not leaked(), 10, "RQ's hashes to expire", lambda: str(leaked()))


def test_a_job_that_kills_every_worker_is_quarantined(
    tmp_path: Path, fresh_postgres_url: str, redis_url: str
) -> None:
    from redis import Redis

    catalogue = tmp_path / "pipelines.yaml"
    catalogue.write_text(
        "pipelines:\n"
        "  draft: {tasks: [text-to-image, image-to-video], implementation: draft,"
        " cost_factor: 0}\n"
        "  crash: {tasks: [image-to-video], implementation: 'tests.crashing:CrashPipeline'}\n"
    )
    url = redis_db_url(redis_url, db=11)
    Redis.from_url(url).flushdb()
    farm = Farm(
        tmp_path,
        fresh_postgres_url,
        url,
        STUDIO_PIPELINES_FILE=str(catalogue),
        STUDIO_MAX_ATTEMPTS="2",
    )
    for name in ("w1", "w2", "w3"):
        farm.start_worker(name)
    try:
        with Studio.local(
            farm.data_dir, pipelines_file=catalogue, max_attempts=2, **farm.settings()
        ) as studio:
            pid = project(studio)
            shots = studio.shots(pid)
            studio.update_shot(shots[0].id, clip_pipeline="crash")
            ids = [j.id for j in studio.render(pid) if j.id is not None]
            final = wait_for(
                lambda: finished(studio, ids), 120, "quarantine", lambda: describe(studio, ids)
            )
            crashed, *others = final
            assert crashed.status == "failed" and crashed.attempts == 2
            assert "Quarantined" in (crashed.error or "")
            assert [j.status for j in others] == ["succeeded"] * len(others)  # the rest go on
            dead = [name for name, p in farm.workers.items() if p.poll() is not None]
            assert len(dead) == 2  # each attempt took a worker down
    finally:
        farm.stop_all()
        Redis.from_url(url).flushdb()


def test_a_worker_restarted_under_its_name_does_not_pin_its_old_job(
    studio: Studio, farm: Farm
) -> None:
    farm.start_worker("w1")
    pid = project(studio, duration=20, fps=24, height=240)
    (job,) = studio.render(pid, [studio.shots(pid)[0].id])
    assert job.id is not None
    wait_for(
        lambda: 0.1 < studio.job(job.id).progress < 0.6,
        60,
        "render start",
        lambda: farm.log("w1"),
    )
    farm.kill("w1")
    farm.start_worker("w1")  # a supervisor restarting it at once, same name
    (done,) = wait_for(
        lambda: finished(studio, [job.id]),
        90,
        "the job",
        lambda: "STATE " + describe(studio, [job.id]) + "\n" + farm.log("w1"),
    )
    assert done.status == "succeeded" and done.attempts == 2
