"""`python -m studio worker`: a render worker that takes jobs from Redis (RQ).

It runs jobs in its own process, one at a time (RQ's SimpleWorker: no fork per job), so loaded
models stay warm between jobs and CUDA is never forked. Start one per GPU, on any machine that
reaches Redis, the database and the storage. SIGTERM (or Ctrl-C) finishes the current job and
stops; a second one stops at once, and the job's lease expiry hands it to another worker.

When Redis goes away (a restart, a network blip), RQ's loop quits; the worker then waits for
Redis with backoff (its state "waiting" on the Workers page and in the healthcheck, its
heartbeat and job leases going on in the database) and starts a new loop when Redis answers.
A Redis that came back empty is refilled from the database by the dispatchers.

The heartbeat also writes the worker's beacon, a small local file (`studio.farm.beacon`),
on every beat, whether or not the database answered: while the database is away it says
"waiting for the database", and the container healthcheck reads it, so a worker riding out
a database outage is not taken for a dead one. It is removed when the worker stops.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from studio.core import lifecycle
from studio.core.config import Settings
from studio.core.db import session_scope
from studio.core.models import RenderJob
from studio.core.outage import until_reachable
from studio.farm import registry
from studio.farm.queues.redis import (
    ANY_QUEUE,
    CANCEL_CHANNEL,
    EventSender,
    NextJob,
    RedisQueue,
    connect,
    pipeline_queue,
)
from studio.farm.rehearsal import rehearse
from studio.farm.runner import JobRunner

log = logging.getLogger(__name__)
IDLE_DELAY = 0.25  # seconds after a job before the worker writes itself idle
# Seconds a worker runs jobs from its queues on its own before RQ's loop runs again (its
# worker heartbeat, maintenance and `rq suspend` are checked there).
PREFETCH_SECONDS = 30.0
# Seconds a worker whose queues ran dry waits for the next id before it goes back to RQ's
# loop: a dispatch cycle refills them within one interval (0.5 s), even when another
# process holds the dispatch lock. Without the wait, a worker faster than the refill went
# through RQ's loop for every job (~87 Redis commands a job instead of ~23, measured).
NEXT_WAIT = 1.0


class IdleMark:
    """Writes the worker's state ("idle") a moment after a job ends, unless its next job was
    claimed first (the row then still says "busy"): a worker going through a backlog writes
    no state of its own between jobs, only when it runs out of work.

    One thread waits for the deadline, started with the first job: a timer thread per job
    cost ~1 ms of a tiny render (starting a thread waits for it to run)."""

    def __init__(self, write: Callable[[], None], delay: float = IDLE_DELAY):
        self._write, self._delay = write, delay
        # Held while the write runs, so a claim's `cancel` waits for it: the "busy" a first
        # claim writes comes last.
        self._due_changed = threading.Condition()
        self._due: float | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def schedule(self) -> None:
        with self._due_changed:
            self._due = time.monotonic() + self._delay
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="idle-mark", daemon=True)
                self._thread.start()
            self._due_changed.notify()

    def cancel(self) -> None:
        """Before a claim: a write already under way finishes first, so "busy" comes last."""
        with self._due_changed:
            self._due = None

    def close(self) -> None:
        """No more writes; the thread ends."""
        with self._due_changed:
            self._due, self._closed = None, True
            self._due_changed.notify()

    def _run(self) -> None:
        with self._due_changed:
            while not self._closed:
                left = None if self._due is None else self._due - time.monotonic()
                if left is None or left > 0:
                    self._due_changed.wait(left)
                    continue
                self._due = None
                try:
                    self._write()
                except Exception as exc:  # noqa: BLE001 - the heartbeat writes it again soon
                    log.warning("could not mark the worker idle: %s", exc)


@dataclass
class WorkerContext:
    """What `execute` needs inside the worker process (set once by `run_worker`)."""

    name: str
    engine: Engine
    runner: JobRunner
    lease_seconds: float
    current: int | None = None
    after_job: Callable[[], None] = lambda: None
    listening: frozenset[str] = frozenset()
    waiting: bool = False  # for Redis, which went away
    show: Callable[[], None] = lambda: None  # rewrites the beacon now (set by run_worker)
    # The next id in its queues (NextJob), waiting up to so long, kept while the check holds.
    next_job: Callable[[float, Callable[[], bool]], int | None] = lambda wait, keep: None
    stopping: Callable[[], bool] = lambda: False  # a stop was asked for (SIGTERM, Ctrl-C)
    advertised: list[str] | None = None  # the warm pipelines last written to the worker's row
    idle: IdleMark = field(init=False)

    def __post_init__(self) -> None:
        self.idle = IdleMark(self.write_state)

    @property
    def state(self) -> str:
        """What the Workers page and the healthcheck show."""
        return "busy" if self.current else "waiting" if self.waiting else "idle"

    def write_state(self) -> None:
        """The worker's row as it is now: "idle", or "waiting" when Redis went away. The
        beacon follows at once, whether or not the database answered: the healthcheck must
        never lag behind the row."""
        try:
            registry.beat(
                self.engine,
                self.name,
                current_job_id=self.current,
                state=self.state,
                pipelines=self.advertise(),
            )
        finally:
            self.show()

    def mark_busy(self, session: Session, job_id: int) -> None:
        """The worker's row says "busy" with `job_id` and its warm pipelines, in the
        claim's transaction."""
        registry.mark(
            session, self.name, current_job_id=job_id, state="busy", pipelines=self.advertise()
        )

    def advertise(self) -> list[str]:
        """`warm()`, for a write of the worker's row (remembered: a claim in a backlog writes
        the row only when this changed)."""
        self.advertised = self.warm()
        return self.advertised

    def warm(self) -> list[str]:
        """Loaded pipelines this worker also listens for: only these are advertised, so the
        dispatcher never routes a job to a queue nobody reads (e.g. a preset saved after this
        worker started goes to the shared queue instead)."""
        return [p for p in self.runner.loaded if pipeline_queue(p) in self.listening]


_context: WorkerContext | None = None


def execute(job_id: int) -> str:
    """The RQ job function: claim the studio job in the database, then render it. Then the
    jobs waiting in this worker's queues follow, rather than through RQ's loop, which costs
    more than a fast render: for up to PREFETCH_SECONDS, until the queues are empty or a
    stop is asked for. Each is taken in one round trip (`NextJob`) and claimed in the
    transaction that records the last one's success (`NextClaim`), not in one of its own.
    A worker that dies between taking an id and claiming its job loses nothing: the job is
    still queued in the database, and the next dispatch cycle sends it again."""
    context = _context
    if context is None:
        raise RuntimeError("studio.farm.worker.execute runs only inside `python -m studio worker`")
    until = time.monotonic() + PREFETCH_SECONDS
    outcome, handed = _run_job(context, job_id, until)
    while True:
        next_id, claimed = handed or (None, None)
        if claimed is None:
            # Nothing handed over (empty queues, a failure, a batch), or its job was someone
            # else's by then: take the next id, waiting a moment for a top-up to bring one.
            taken = _take_next(context, until, wait=NEXT_WAIT)
            next_id = taken[0] if taken else None
        if next_id is None:
            break
        _outcome, handed = _run_job(context, next_id, until, claimed)
    return outcome


def _run_job(
    context: WorkerContext, job_id: int, until: float, claimed: RenderJob | None = None
) -> tuple[str, tuple[int | None, RenderJob | None] | None]:
    """Claim (unless `claimed` already) and run a job; returns what happened and what its
    success handed over (`NextClaim`), None when it handed nothing over."""
    context.idle.cancel()
    job = claimed
    if job is None:
        job = until_reachable(lambda: _claim(context, job_id), f"claim of job {job_id}")
    if job is None:
        context.idle.schedule()
        return "skipped: no longer queued (duplicate delivery, cancelled, paused or done)", None
    context.current = job_id
    try:
        handed = context.runner.execute(job, context.name, NextClaim(context, until))
    finally:
        context.current = None
        context.idle.schedule()  # "idle", unless the next claim comes first
        context.after_job()  # a slot is free: top the queue up now, not at the next tick
    return "done", handed


@dataclass
class NextClaim:
    """A job's success hands over to the next: the next id is taken from this worker's
    queues just before the transaction that records the success (Redis is never waited on
    with it open), and its job claimed with that success (`lifecycle.succeed_and_claim`: on
    PostgreSQL in the same statement), saving a transaction per job of a backlog.
    Returns (id, claimed job), (id, None) when that job is no longer queued, (None, None)
    when the queues are empty, or None: too late, a stop was asked for, or Redis is away.
    A transaction retried after an outage claims the id taken before."""

    context: WorkerContext
    until: float
    taken: list[int | None] | None = None  # [the id taken], once asked for

    def prepare(self) -> lifecycle.Claim | None:
        if self.taken is None:
            self.taken = _take_next(self.context, self.until)
        if not self.taken or self.taken[0] is None:
            return None
        self.context.idle.cancel()  # (an "idle" write already under way finishes first)
        return lifecycle.Claim(self.taken[0], self.context.name, self.context.lease_seconds)

    def __call__(
        self, session: Session, claimed: RenderJob | None
    ) -> tuple[int | None, RenderJob | None] | None:
        if self.taken is None:
            return None
        (next_id,) = self.taken
        if next_id is None:
            return None, None
        context = self.context
        # The worker's row already says "busy", and its current job is read from the jobs
        # table (`registry.all_workers`): the row is written only to advertise a pipeline the
        # last job loaded (affinity), not for every job of a backlog (a statement a job).
        # (Should this transaction be cut short and retried, the advertisement waits for the
        # worker's next "idle" write.)
        if claimed is not None and context.warm() != context.advertised:
            context.mark_busy(session, next_id)
        return next_id, claimed


def _take_next(context: WorkerContext, until: float, wait: float = 0.0) -> list[int | None] | None:
    """[the next id in this worker's queues, waiting up to `wait` s for one] ([None]: none
    came), or None: too late, a stop was asked for, or Redis is away (RQ's loop sees to it)."""
    left = until - time.monotonic()
    if left <= 0 or context.stopping():
        return None
    try:
        return [context.next_job(min(wait, left), lambda: not context.stopping())]
    except Exception as exc:  # noqa: BLE001
        log.debug("worker %s: no next job from Redis (%s)", context.name, exc)
        return None


def _claim(context: WorkerContext, job_id: int) -> RenderJob | None:
    """One transaction: the claim and the worker's "busy" state with the job it holds."""
    with session_scope(context.engine) as session:
        job = lifecycle.claim_job(session, job_id, context.name, context.lease_seconds)
        if job is not None:
            context.mark_busy(session, job_id)
        return job


def worker_name(explicit: str | None = None) -> str:
    return explicit or f"worker@{registry.HOST}:{os.getpid()}:{secrets.token_hex(3)}"


def machine_memory() -> int:
    """GPU memory when torch already sees a GPU, else the machine's RAM (for the Workers page
    and affinity); never imports torch itself."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(0).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def listen_order(
    catalogue_names: list[str], loaded: list[str], only: list[str] | None = None
) -> list[str]:
    """RQ queues in the order a worker takes from them: its warm pipelines first."""
    names = only if only else catalogue_names
    ordered = [n for n in loaded if n in names] + [n for n in names if n not in loaded]
    return [pipeline_queue(n) for n in ordered] + ([] if only else [ANY_QUEUE])


def run_worker(
    settings: Settings,
    *,
    name: str | None = None,
    preload: list[str] | None = None,
    burst: bool = False,
    only: list[str] | None = None,
) -> None:
    """Serve render jobs until stopped (or, with `burst`, until the queues are empty)."""
    from rq import SimpleWorker

    from studio.services import build_services

    global _context
    services = build_services(settings, "worker")
    engine, runner, catalogue = services.engine, services.runner, services.catalogue
    dispatcher = services.queue
    assert isinstance(dispatcher, RedisQueue)  # a worker is built with the Redis queue
    # A worker restricted with `only` loads those at once: it advertises them as warm, so the
    # dispatcher routes their jobs to the pipeline queues it listens on.
    for pipeline in dict.fromkeys([*(preload or []), *(only or [])]):
        runner.pipeline(catalogue.get(pipeline).name)  # unknown names fail here, clearly
    queues = listen_order(catalogue.names(), runner.loaded, only)
    context = WorkerContext(
        worker_name(name), engine, runner, settings.lease_seconds, listening=frozenset(queues)
    )
    _context = context
    redis = connect(settings.redis_url)
    runner.publish = events = EventSender(redis)
    rehearse(engine, context.name, settings.lease_seconds)  # "idle" then means ready
    registry.register(
        engine, context.name, "redis", pipelines=context.advertise(), memory_bytes=machine_memory()
    )
    # A job still running under this name was left by an earlier process of the same name
    # (a supervisor restarting us): give it back now, before our heartbeat renews its lease.
    with session_scope(engine) as session:
        lifecycle.requeue_abandoned(session, dead_workers=lambda held_by: held_by == context.name)
    heartbeat = registry.Heartbeat(
        engine,
        context.name,
        settings.lease_seconds,
        lambda: (context.current, context.state),
        holding=lambda: set(runner.holding),
        beacon_folder=settings.resolved_run_dir,
    )
    context.show = heartbeat.publish
    heartbeat.start()
    _wait_for_redis(redis, context)  # started while Redis is away: wait, as after a loss
    listener = _listen_for_cancels(redis, runner)
    # Dispatch from here too, so a farm without a running app still drains its queue.
    dispatcher.start()
    context.after_job = dispatcher.top_up
    context.next_job = NextJob(redis, queues)
    log.info("worker %s listening on %s", context.name, ", ".join(queues))
    try:
        _serve(lambda: SimpleWorker(queues, connection=redis, name=_rq_name(context)), redis,
               context, burst)  # fmt: skip
    finally:
        context.idle.close()
        dispatcher.stop()
        heartbeat.stop()  # and its beacon: a stopped worker is not alive
        listener.stop()
        events.close()
        registry.stopped(engine, context.name)
        _context = None


def _rq_name(context: WorkerContext) -> str:
    """RQ's own name: unique in Redis even when a restarted worker (or loop) reuses ours."""
    return f"{context.name}-{os.getpid()}-{secrets.token_hex(3)}".replace(":", "-")


def _serve(make: Callable[[], Any], redis: Any, context: WorkerContext, burst: bool) -> None:
    """RQ's work loop, started again whenever it quit because Redis went away. It returns on
    a stop (SIGTERM, Ctrl-C) or, with `burst`, when the queues are empty."""
    from redis.exceptions import ConnectionError as RedisDown
    from redis.exceptions import TimeoutError as RedisSlow
    from rq.exceptions import StopRequested

    while True:
        rq_worker, started = None, time.monotonic()
        try:
            # Inside the try: making RQ's worker talks to Redis too (CLIENT SETNAME), and
            # Redis may go again (or still refuse) right after a ping answered.
            rq_worker = make()
            context.stopping = functools.partial(_stop_asked, rq_worker)
            rq_worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
        except (RedisDown, RedisSlow) as exc:  # its teardown could not reach Redis either
            log.warning("worker %s: Redis went away (%s)", context.name, exc)
        except StopRequested:
            return
        if rq_worker is not None and (_stop_asked(rq_worker) or (burst and _reachable(redis))):
            return  # asked to stop, or a burst that emptied the queues
        try:
            _wait_for_redis(redis, context)
            # A loop that quit at once for another reason must not spin: a second's pause.
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        except StopRequested:  # SIGTERM while waiting: RQ's handler raises it here
            return


def _stop_asked(rq_worker: Any) -> bool:
    """SIGTERM or Ctrl-C reached RQ's worker: it finishes the current job, then stops."""
    return rq_worker._shutdown_requested_date is not None


def _reachable(redis: Any) -> bool:
    try:
        return bool(redis.ping())
    except Exception:  # noqa: BLE001 - any failure means "not now"
        return False


def _wait_for_redis(redis: Any, context: WorkerContext, longest: float = 10.0) -> None:
    """Ping Redis with backoff (0.5 s doubling to `longest`) until it answers."""
    delay, since = 0.5, time.monotonic()
    if _reachable(redis):
        return  # (RQ's loop quit for another reason)
    context.waiting = True
    try:
        while not _reachable(redis):
            log.warning(
                "worker %s: waiting for Redis (%.0f s so far; next try in %.1f s)",
                context.name,
                time.monotonic() - since,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, longest)
    finally:
        context.waiting = False
    log.warning("worker %s: Redis is back after %.0f s", context.name, time.monotonic() - since)


class _CancelListener:
    def __init__(self, pubsub: Any, thread: threading.Thread):
        self.pubsub, self.thread = pubsub, thread

    def stop(self) -> None:
        self.thread.stop()  # type: ignore[attr-defined]
        self.pubsub.close()


def _listen_for_cancels(redis: Any, runner: JobRunner) -> _CancelListener:
    """Cancels published by any UI replica reach this worker at once (pub/sub)."""
    pubsub = redis.pubsub(ignore_subscribe_messages=True)

    def on_cancel(message: dict[str, Any]) -> None:
        data = message.get("data")
        if isinstance(data, bytes) and data.isdigit():
            runner.request_cancel(int(data))

    pubsub.subscribe(**{CANCEL_CHANNEL: on_cancel})

    def on_error(exc: BaseException, _pubsub: Any, _thread: Any) -> None:
        # Redis restarts must not kill the listener; the database flag covers the gap.
        log.warning("cancel listener: %s; reconnecting", exc)
        time.sleep(1)

    thread = pubsub.run_in_thread(sleep_time=0.2, daemon=True, exception_handler=on_error)
    return _CancelListener(pubsub, thread)
