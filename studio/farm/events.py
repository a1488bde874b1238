"""Live job events inside one process: the runner's progress reports, fanned out to whoever
listens (the REST API's server-sent event streams).

Events are small dicts, as the runner publishes them: `{"job": id, "progress": f, "message":
m}` after each progress write, `{"job": id, "finished": True}` when a run ends. Publishing
never blocks the renderer: each subscriber has a bounded buffer, and one that falls behind
loses its oldest events and then reads a `{"type": "gap", "dropped": n}` event in their place.

On the Redis backend the renders run in other processes, which publish on Redis pub/sub
(`studio.farm.queues.redis.EVENTS_CHANNEL`); a relay thread, started with the first subscriber,
forwards those to the bus. Pub/sub is best effort: the database stays the truth, and readers
poll it too.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from studio.core.db import session_scope
from studio.core.models import JobStatus, RenderJob, ident

log = logging.getLogger(__name__)

Event = dict[str, Any]
BUFFER = 1000  # events a subscriber may fall behind before it loses the oldest


class Relay(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class Subscription:
    """One listener's bounded buffer. Read it from a thread (`get`) or from asyncio (`next`)."""

    def __init__(self, bus: EventBus, maxsize: int):
        self.bus, self.maxsize = bus, maxsize
        self._items: collections.deque[Event] = collections.deque()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._dropped = 0
        self._wake: Callable[[], None] | None = None
        self._signal: asyncio.Event | None = None

    def put(self, event: Event) -> None:
        """Called by the publisher: never blocks, drops the oldest event when full."""
        with self._lock:
            if len(self._items) >= self.maxsize:
                self._items.popleft()
                self._dropped += 1
            self._items.append(event)
            self._ready.set()
            wake = self._wake
        if wake is not None:
            wake()

    def drain(self) -> list[Event]:
        """Everything buffered, oldest first (a gap event first when some were dropped)."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._ready.clear()
            if self._dropped:
                items.insert(0, {"type": "gap", "dropped": self._dropped})
                self._dropped = 0
        return items

    def get(self, timeout: float | None = None) -> list[Event]:
        """Wait up to `timeout` seconds for events (from a thread); [] when none came."""
        self._ready.wait(timeout)
        return self.drain()

    async def next(self, timeout: float) -> list[Event]:
        """Wait up to `timeout` seconds for events without blocking the event loop."""
        if self._signal is None:
            loop = asyncio.get_running_loop()
            signal = asyncio.Event()

            def wake() -> None:
                try:
                    loop.call_soon_threadsafe(signal.set)
                except RuntimeError:  # the loop is closed: nobody is reading any more
                    pass

            self._signal = signal
            with self._lock:
                self._wake = wake
        items = self.drain()
        if items:
            return items
        self._signal.clear()
        items = self.drain()  # anything put between the drain and the clear
        if items:
            return items
        try:
            await asyncio.wait_for(self._signal.wait(), timeout)
        except TimeoutError:
            return []
        return self.drain()

    def close(self) -> None:
        self.bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class EventBus:
    """Thread-safe fan-out of job events to subscribers."""

    def __init__(self, relay: Relay | None = None, buffer: int = BUFFER):
        self.buffer = buffer
        self.relay = relay
        self._relay_started = False
        self._closed = False
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            subscription.put(event)

    def subscribe(self, buffer: int | None = None) -> Subscription:
        """A new subscription; the first one starts the relay (if any)."""
        subscription = Subscription(self, buffer or self.buffer)
        with self._lock:
            self._subscribers.append(subscription)
            start = self.relay is not None and not self._relay_started and not self._closed
            self._relay_started = self._relay_started or start
        if start and self.relay is not None:
            self.relay.start()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def close(self) -> None:
        """Stop the relay (the studio is closing); subscriptions simply hear nothing more."""
        with self._lock:
            self._closed = True
            relay, started = self.relay, self._relay_started
        if relay is not None and started:
            relay.stop()


def valid(event: Any) -> bool:
    """An event as the runner publishes it (anything else from Redis is ignored)."""
    return (
        isinstance(event, dict)
        and isinstance(event.get("job"), int)
        and not isinstance(event.get("job"), bool)
    )


class RedisRelay:
    """A daemon thread forwarding the workers' events from Redis pub/sub to a bus; it
    reconnects after Redis errors (events published meanwhile are lost: readers poll the
    database as well)."""

    def __init__(self, bus_publish: Callable[[Event], None], redis_url: str, retry: float = 1.0):
        self.publish, self.redis_url, self.retry = bus_publish, redis_url, retry
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.subscribed = threading.Event()  # set while subscribed (tests wait on it)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="studio-events", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        from studio.farm.queues.redis import EVENTS_CHANNEL, connect

        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = connect(self.redis_url).pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(EVENTS_CHANNEL)
                self.subscribed.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._forward(message.get("data"))
            except Exception as exc:  # noqa: BLE001 - Redis down or restarting: try again
                log.warning("live events from Redis interrupted: %s", exc)
                self._stop.wait(self.retry)
            finally:
                self.subscribed.clear()
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        log.debug("pub/sub close failed", exc_info=True)

    def _forward(self, data: Any) -> None:
        try:
            event = json.loads(data)
        except (TypeError, ValueError):
            return
        if valid(event):
            self.publish(event)


# ---- watching jobs: what the REST API's event streams send -----------------------------------
RESUME_MARGIN = timedelta(seconds=5)  # a resumed stream repeats the statuses of this long
RESUME_LIMIT = timedelta(hours=1)  # a stream resumes from an event at most this old
PING_SECONDS = 15.0  # a keep-alive after this long without anything to send
POLL_SECONDS = 1.0  # the database is read this often, for what pub/sub may have missed
FINISH_GRACE = 1.0  # the database says finished, no `finished` event yet: wait this long for
# straggling progress events (they travel through Redis) before the final status


def snapshot(job: RenderJob) -> Event:
    return {
        "job": ident(job),
        "kind": job.kind,
        "project_id": job.project_id,
        "shot_id": job.shot_id,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
    }


def final(job: RenderJob) -> Event:
    return {
        "job": ident(job),
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "error": job.error,
        "artifact_id": job.artifact_id,
        "cost": job.cost,
        "cache_hit": job.cache_hit,
    }


def _finished(job: RenderJob) -> bool:
    return JobStatus(job.status).finished


def _jobs(
    engine: Engine, ids: Iterable[int], project_id: int | None, after: int
) -> list[RenderJob] | None:
    """The jobs `ids`, plus the project's jobs newer than `after` (None: the project is gone)."""
    from studio.core.models import Project

    ids = list(ids)
    with session_scope(engine) as session:
        if project_id is not None and session.get(Project, project_id) is None:
            return None
        where: Any = col(RenderJob.id).in_(ids)
        if project_id is not None:
            newer = (col(RenderJob.project_id) == project_id) & (col(RenderJob.id) > after)
            where = where | newer
        return list(session.exec(select(RenderJob).where(where).order_by(col(RenderJob.id))))


def _project_start(
    engine: Engine, project_id: int, since: datetime | None
) -> tuple[list[RenderJob], int, list[RenderJob]]:
    """The project's active jobs, its newest job id and the jobs that finished since `since`
    (none without it), in the order they finished."""
    active = [JobStatus.queued.value, JobStatus.running.value]
    with session_scope(engine) as session:
        jobs = session.exec(
            select(RenderJob)
            .where(RenderJob.project_id == project_id, col(RenderJob.status).in_(active))
            .order_by(col(RenderJob.id))
        ).all()
        newest = session.exec(
            select(func.max(RenderJob.id)).where(RenderJob.project_id == project_id)
        ).one()
        ended = (
            []
            if since is None
            else session.exec(
                select(RenderJob)
                .where(RenderJob.project_id == project_id, col(RenderJob.status).not_in(active))
                .where(col(RenderJob.finished_at) >= since)
                .order_by(col(RenderJob.finished_at), col(RenderJob.id))
            ).all()
        )
    return list(jobs), int(newest or 0), list(ended)


def resumed_since(last_event_id: str | None) -> datetime | None:
    """From where a project stream resumes, given the id of the last event its client got
    (`Last-Event-ID`: the server's clock in ms when it sent it): RESUME_MARGIN earlier, as a
    status is sent up to POLL_SECONDS + FINISH_GRACE after its job finished, and clocks
    differ a little between machines. None (a fresh stream) for no id, one not ours, or
    one older than RESUME_LIMIT (its client reads the jobs again, not a flood of statuses)."""
    try:
        sent = datetime.fromtimestamp(int((last_event_id or "").strip()) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    now = datetime.now(UTC)
    if not now - RESUME_LIMIT <= sent <= now + RESUME_MARGIN:
        return None
    return sent - RESUME_MARGIN


def _project_of(engine: Engine, job_id: int) -> int | None:
    with session_scope(engine) as session:
        job = session.get(RenderJob, job_id)
        return job.project_id if job is not None else None


class Watch:
    """The events of one job, or of every job of one project, as (name, data) pairs:

    - `snapshot` first: the job (or `{"project", "jobs"}`: the project's active jobs), as the
      database has it;
    - `progress`: each progress event published for a watched job, in the order published;
    - `status`: a job finished (read from the database); a job watch then ends;
    - `gap`: this watcher fell behind and lost `dropped` events (of any job);
    - `gone`: the job or project was deleted; the watch ends;
    - `ping` (data None): nothing else for `PING_SECONDS`.

    Subscribe before reading the snapshot, so nothing published after it is missed; the
    database is polled every `POLL_SECONDS`, so a lost `finished` event (Redis reconnecting)
    still ends the job, and jobs added to the project appear even before they publish."""

    def __init__(
        self,
        bus: EventBus,
        engine: Engine,
        *,
        job_id: int | None = None,
        project_id: int | None = None,
        since: datetime | None = None,
    ):
        if (job_id is None) == (project_id is None):
            raise ValueError("Watch one job or one project")
        self.bus, self.engine = bus, engine
        self.job_id, self.project_id, self.since = job_id, project_id, since
        self._member: dict[int, bool] = {}  # job id → in this project (cached lookups)

    async def _belongs(self, job_id: int) -> bool:
        if self.job_id is not None:
            return job_id == self.job_id
        known = self._member.get(job_id)
        if known is None:
            project = await asyncio.to_thread(_project_of, self.engine, job_id)
            known = project == self.project_id
            if len(self._member) > 100_000:
                self._member.clear()
            self._member[job_id] = known
        return known

    async def events(self) -> AsyncIterator[tuple[str, Any]]:
        with self.bus.subscribe() as subscription:
            async for item in self._run(subscription):
                yield item

    async def _run(self, subscription: Subscription) -> AsyncIterator[tuple[str, Any]]:
        active: set[int] = set()
        seen_finish: set[int] = set()  # a `finished` event came, not yet confirmed
        grace: dict[int, float] = {}  # finished in the database, waiting for stragglers
        if self.job_id is not None:
            found = await asyncio.to_thread(_jobs, self.engine, [self.job_id], None, 0)
            if not found:  # None only for a project
                yield "gone", {"job": self.job_id}
                return
            job = found[0]
            yield "snapshot", snapshot(job)
            if _finished(job):
                yield "status", final(job)
                return
            active.add(self.job_id)
            newest = 0
        else:
            assert self.project_id is not None
            jobs, newest, ended = await asyncio.to_thread(
                _project_start, self.engine, self.project_id, self.since
            )
            yield "snapshot", {"project": self.project_id, "jobs": [snapshot(j) for j in jobs]}
            for job in ended:  # a client back after a cut: what it missed the end of
                yield "status", final(job)
            active.update(ident(j) for j in jobs)
            self._member.update((ident(j), True) for j in jobs)
        now = time.monotonic()
        next_poll, last_sent = now + POLL_SECONDS, now

        async def handle(events: list[Event]) -> list[tuple[str, Any]]:
            out: list[tuple[str, Any]] = []
            for event in events:
                if event.get("type") == "gap":
                    out.append(("gap", {"dropped": event.get("dropped", 0)}))
                    continue
                job_id = event.get("job")
                if not isinstance(job_id, int) or not await self._belongs(job_id):
                    continue
                active.add(job_id)
                if "progress" in event:
                    out.append(
                        (
                            "progress",
                            {
                                "job": job_id,
                                "progress": event["progress"],
                                "message": event.get("message", ""),
                            },
                        )
                    )
                if event.get("finished"):
                    seen_finish.add(job_id)
            return out

        while True:
            now = time.monotonic()
            deadline = min([next_poll, last_sent + PING_SECONDS, *grace.values()])
            out = await handle(await subscription.next(max(0.0, deadline - now)))
            now = time.monotonic()
            if seen_finish or now >= next_poll or any(now >= t for t in grace.values()):
                next_poll = now + POLL_SECONDS
                current = await asyncio.to_thread(
                    _jobs, self.engine, sorted(active), self.project_id, newest
                )
                if current is None or (self.job_id is not None and not current):
                    out.append(
                        (
                            "gone",
                            {"job": self.job_id} if self.job_id else {"project": self.project_id},
                        )
                    )
                    for item in out:
                        yield item
                    return
                known = newest
                for job in current:
                    job_id = ident(job)
                    newest = max(newest, job_id)
                    if job_id > known:
                        self._member[job_id] = True
                    if not _finished(job):
                        active.add(job_id)
                        grace.pop(job_id, None)
                        seen_finish.discard(job_id)  # ran again (its worker was lost)
                        continue
                    if job_id not in active and job_id <= known:
                        continue  # finished and reported before
                    if job_id in seen_finish or now >= grace.get(job_id, now + 1):
                        # Events still buffered for it come first (in-process: all of them).
                        out.extend(await handle(subscription.drain()))
                        out.append(("status", final(job)))
                        active.discard(job_id)
                        seen_finish.discard(job_id)
                        grace.pop(job_id, None)
                    else:
                        active.add(job_id)
                        grace.setdefault(job_id, now + FINISH_GRACE)
                seen_finish.intersection_update(active)
            for item in out:
                yield item
            if out:
                last_sent = now
            if self.job_id is not None and not active:
                return
            if time.monotonic() - last_sent >= PING_SECONDS:
                last_sent = time.monotonic()
                yield "ping", None
