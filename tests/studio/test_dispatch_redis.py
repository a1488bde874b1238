"""What a dispatch cycle asks Redis for, and what it hands out (issue 15): the ids waiting in
RQ queues, read from the queues RQ has registered in one round trip, not one LRANGE per
catalogue pipeline; and fair share: one creator's backlog fills the farm, a second
creator's first job goes next.

On a private redis-server (the `redis_server` fixture), so its command counts are this
test's alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy.engine import Engine

from studio.core import lifecycle
from studio.core.config import Settings
from studio.core.db import session_scope
from studio.core.models import Artifact, JobKind, Project, Shot, ident
from studio.farm import registry
from studio.farm.queues.redis import (
    ANY_QUEUE,
    EXECUTE,
    NextJob,
    RedisQueue,
    db_job_id,
    pipeline_queue,
    rq_job_id,
)
from tests.farm import RedisServer


@pytest.fixture
def dispatcher(engine: Engine, redis_server: RedisServer) -> Iterator[RedisQueue]:
    names = [f"pipeline-{n}" for n in range(40)]  # a large catalogue
    queue = RedisQueue(engine, redis_server.url, pipelines=names)
    yield queue
    queue.redis.close()


def _lranges(queue: RedisQueue) -> int:
    stats = queue.redis.info("commandstats")
    return int(stats.get("cmdstat_lrange", {}).get("calls", 0))


def test_waiting_ids_reads_only_the_queues_in_use(dispatcher: RedisQueue) -> None:
    assert dispatcher.waiting_ids() == set()  # nothing registered yet: no LRANGE at all
    assert _lranges(dispatcher) == 0
    for job_id, name in ((7, pipeline_queue("pipeline-3")), (9, ANY_QUEUE), (11, ANY_QUEUE)):
        Queue(name, connection=dispatcher.redis).enqueue_call(
            EXECUTE, args=(job_id,), job_id=rq_job_id(job_id), result_ttl=0
        )
    before = _lranges(dispatcher)
    assert dispatcher.waiting_ids() == {7, 9, 11}
    assert _lranges(dispatcher) - before == 2  # the two queues in use, of 41


def _backlog(engine: Engine, owner: str, count: int) -> list[int]:
    """`count` queued previews of `owner`, each on its own shot (so none is reused)."""
    ids: list[int] = []
    with session_scope(engine) as session:
        project = Project(name=f"{owner}'s film", owner=owner)
        session.add(project)
        session.flush()
        for n in range(count):
            shot = Shot(project_id=ident(project), prompt=f"shot {n}")
            session.add(shot)
            session.flush()
            job = lifecycle.submit(
                session,
                kind=JobKind.preview,
                project_id=ident(project),
                shot_id=ident(shot),
                params={"n": n},
                owner=owner,
            )
            ids.append(ident(job))
    return ids


def _handed_out(queue: RedisQueue) -> list[int]:
    """The job ids waiting in the any-pipeline RQ queue, head first."""
    raw = queue.redis.lrange(f"rq:queue:{ANY_QUEUE}", 0, -1)
    ids = [db_job_id(item.decode() if isinstance(item, bytes) else str(item)) for item in raw]
    return [job_id for job_id in ids if job_id is not None]


def test_a_creators_backlog_fills_every_idle_worker(engine: Engine, redis_server: RedisServer):
    """Fair share by default: with nobody else waiting, one creator's backlog is handed to
    the whole farm (4 workers × a window of 2), not stopped at a per-user cap."""
    for n in range(4):
        registry.register(engine, f"gpu-{n}", "redis")
    alice = _backlog(engine, "alice", 20)
    queue = RedisQueue(
        engine,
        redis_server.url,
        pipelines=[],
        max_running_per_owner=Settings().max_running_per_user,
    )
    try:
        assert queue.dispatch_once() == 8
        assert _handed_out(queue) == alice[:8]  # in her order, the oldest first
        # The cap stays available as a setting: with it, the farm holds no more of hers.
        capped = RedisQueue(engine, redis_server.url, pipelines=[], max_running_per_owner=8)
        assert capped.dispatch_once() == 0
        capped.redis.close()
    finally:
        queue.redis.close()


def test_a_second_creators_first_job_starts_next(engine: Engine, redis_server: RedisServer):
    """Bob's one shot, submitted behind Alice's backlog, goes to the head of the RQ queue as
    soon as the window has room: the next worker to free up takes it (within one job length),
    not after the jobs of Alice's already waiting in Redis."""
    for n in range(4):
        registry.register(engine, f"gpu-{n}", "redis")
    alice = _backlog(engine, "alice", 20)
    queue = RedisQueue(engine, redis_server.url, pipelines=[])
    try:
        queue.dispatch_once()
        (bob,) = _backlog(engine, "bob", 1)
        assert queue.dispatch_once() == 0  # the window is full: nothing jumps it
        # A worker takes Alice's first job (RQ pops it; the studio marks it running).
        assert db_job_id(queue.redis.lpop(f"rq:queue:{ANY_QUEUE}").decode()) == alice[0]
        with session_scope(engine) as session:
            assert lifecycle.claim_job(session, alice[0], "gpu-0", 30.0) is not None
        assert queue.dispatch_once() == 1
        assert _handed_out(queue)[0] == bob  # next out, ahead of Alice's seven waiting
        assert _handed_out(queue)[1:] == alice[1:8]
    finally:
        queue.redis.close()


def test_idle_dispatchers_share_one_timed_cycle(engine: Engine, redis_server: RedisServer):
    """Every process (the app, each worker) runs a dispatcher; idle, they take turns: one
    timed cycle per interval for the whole farm, not one per process (16 idle workers
    would otherwise cost the database 16 times what one does). A kick still runs at once."""
    cycles: list[str] = []
    dispatchers = []
    for n in range(6):
        queue = RedisQueue(engine, redis_server.url, pipelines=[], interval=0.1, worker=f"d{n}")
        real = queue.dispatch_once

        def counted(name: str = f"d{n}", real: Callable[[], int] = real) -> int:
            cycles.append(name)
            return real()

        queue.dispatch_once = counted  # type: ignore[method-assign]
        dispatchers.append(queue)
    try:
        for queue in dispatchers:
            queue.start()  # each runs its first cycle at once
        time.sleep(1.5)
        timed = len(cycles) - 6
        assert 3 <= timed <= 20  # about one per 0.1 s farm-wide; one each would be ~90
        before = len(cycles)
        dispatchers[0].enqueue(1)  # a submit in that process
        deadline = time.monotonic() + 5
        while "d0" not in cycles[before:]:
            assert time.monotonic() < deadline, "a kicked dispatcher did not run its cycle"
            time.sleep(0.01)
    finally:
        for queue in dispatchers:
            queue.stop()
            queue.redis.close()


def test_a_finished_job_tops_redis_up_only_when_it_runs_low(
    engine: Engine, redis_server: RedisServer
) -> None:
    """After each job a worker nudges its dispatcher: a full cycle (database reads) runs only
    once Redis holds half the window or less, so a worker going through a backlog of tiny
    jobs pays for a cycle every few jobs, not after each one, and still never runs dry."""
    registry.register(engine, "gpu-0", "redis")
    alice = _backlog(engine, "alice", 20)
    queue = RedisQueue(engine, redis_server.url, pipelines=[], window_per_worker=4, interval=60)
    cycles: list[int] = []
    real = queue.dispatch_once

    def counted() -> int:
        cycles.append(real())
        return cycles[-1]

    queue.dispatch_once = counted  # type: ignore[method-assign]

    def take_one() -> None:
        job_id = db_job_id(queue.redis.lpop(f"rq:queue:{ANY_QUEUE}").decode())
        assert job_id is not None
        with session_scope(engine) as session:
            assert lifecycle.claim_job(session, job_id, "gpu-0", 30.0) is not None
            lifecycle.succeed(session, job_id, _artifact(job_id))

    def settled(count: int) -> None:
        deadline = time.monotonic() + 5
        while len(cycles) < count:
            assert time.monotonic() < deadline, "no cycle ran"
            time.sleep(0.01)
        time.sleep(0.3)  # and no more after it
        assert len(cycles) == count

    try:
        queue.start()
        settled(1)  # the first cycle, at once
        assert _handed_out(queue) == alice[:4]
        take_one()  # 3 of 4 left
        queue.top_up()
        settled(1)  # Redis is not low: no cycle
        take_one()  # 2 of 4 left: half the window
        queue.top_up()
        settled(2)
        assert cycles[-1] == 2 and _handed_out(queue) == alice[2:6]
    finally:
        queue.stop()
        queue.redis.close()


def _artifact(job_id: int) -> Artifact:
    return Artifact(
        owner="alice", key=f"ab/{job_id}.png", content_type="image/png", bytes=1, sha256="ab"
    )


def _enqueue(redis: Redis, queue: str, rq_id: str) -> None:
    Queue(queue, connection=redis).enqueue_call(EXECUTE, args=(0,), job_id=rq_id, result_ttl=0)


def test_a_worker_takes_its_next_job_without_rq_and_checks_one_key_when_empty(
    dispatcher: RedisQueue,
) -> None:
    """`NextJob` (the worker between jobs) takes the head of its first non-empty queue, in
    its listening order, and deletes RQ's hash of it; empty queues cost one EXISTS, not a
    look at each of the catalogue's 41 queues."""
    redis = dispatcher.redis
    take = NextJob(redis, dispatcher.queue_names())
    _enqueue(redis, ANY_QUEUE, first := rq_job_id(5))
    _enqueue(redis, pipeline_queue("pipeline-2"), rq_job_id(8))
    assert take() == 8  # its pipeline's queue comes before the shared one
    assert take() == 5
    assert not redis.exists(f"rq:job:{first}")  # RQ's hash goes with it: no leak
    before = redis.info("commandstats")
    assert take() is None
    after = redis.info("commandstats")
    looked = {
        name: after[name]["calls"] - before.get(name, {"calls": 0})["calls"]
        for name in after
        if name in ("cmdstat_exists", "cmdstat_lindex")
    }
    looked = {name: calls for name, calls in looked.items() if calls}
    assert looked == {"cmdstat_exists": 1}


def test_a_worker_that_ran_dry_waits_for_the_next_job_and_leaves_what_is_not_its(
    dispatcher: RedisQueue,
) -> None:
    redis = dispatcher.redis
    take = NextJob(redis, dispatcher.queue_names())
    started = time.monotonic()
    assert take(wait=0.3) is None  # nothing came
    assert time.monotonic() - started >= 0.25
    # A dispatch cycle's top-up arrives while it waits: taken at once, not at the timeout.
    timer = threading.Timer(0.2, _enqueue, (redis, ANY_QUEUE, rq_job_id(12)))
    timer.start()
    started = time.monotonic()
    assert take(wait=5) == 12
    assert time.monotonic() - started < 2
    # A stop asked for meanwhile: the id goes back to the head of its queue, for another.
    _enqueue(redis, ANY_QUEUE, kept := rq_job_id(13))
    _enqueue(redis, ANY_QUEUE, rq_job_id(14))
    assert take(wait=1, keep=lambda: False) is None
    assert redis.lindex(f"rq:queue:{ANY_QUEUE}", 0).decode() == kept
    assert redis.exists(f"rq:job:{kept}")
    # Someone else's RQ job (not a studio id) is left, in place, for RQ's own loop.
    redis.delete(f"rq:queue:{ANY_QUEUE}")
    _enqueue(redis, ANY_QUEUE, "someone-else")
    assert take(wait=1) is None
    assert take() is None
    assert redis.lrange(f"rq:queue:{ANY_QUEUE}", 0, -1) == [b"someone-else"]
