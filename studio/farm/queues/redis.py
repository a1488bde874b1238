"""`RedisQueue`: jobs dispatched through RQ to `python -m studio worker` processes anywhere.

The database stays the source of truth. A dispatcher (in the app and in every worker; one at a
time, under a Redis lock) hands queued job ids to RQ, a few per live worker, in fair order
(priority, then the owner with least in flight, then age). Because Redis holds only a small
window of ids, it can lose everything (restart, FLUSHALL, failover): the next dispatch cycle
finds queued jobs missing from Redis and hands them out again. Duplicates are harmless: a
worker claims a job in the database with a conditional update, so only one runs it.

Model affinity: each pipeline has its own RQ queue; a worker listens first on the queues of
the pipelines it has loaded, then on all the others, so a job goes to a warm worker when one
is free and never waits for one that is not.
"""

from __future__ import annotations

import collections
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

from studio.core import dispatch, lifecycle
from studio.core.db import session_scope
from studio.core.outage import OutageLog
from studio.farm import registry

log = logging.getLogger(__name__)

PREFIX = "studio"
ANY_QUEUE = f"{PREFIX}:any"
EVENTS_CHANNEL = f"{PREFIX}:events"
CANCEL_CHANNEL = f"{PREFIX}:cancel"
LOCK_KEY = f"{PREFIX}:dispatcher-lock"
# Timed cycles: the first process to set this (for one interval) runs the farm's cycle.
TICK_KEY = f"{PREFIX}:dispatch-tick"
# Release the lock only if it is still ours (it may have expired and been taken meanwhile).
RELEASE_LOCK = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
EXECUTE = "studio.farm.worker.execute"
# Seconds RQ keeps a finished job's hash: with 0 it deletes the job at once, in several
# round trips of the worker's; a TTL lets Redis expire it instead. Nothing reads them.
RESULT_TTL = 60
# Jobs waiting in the studio's RQ queues (those RQ registered), in one command. It reads
# keys it finds in a set: fine on one Redis server, not on a Redis Cluster.
COUNT_WAITING = """
local n = 0
for _, key in ipairs(redis.call('smembers', KEYS[1])) do
  if string.sub(key, 1, string.len(ARGV[1])) == ARGV[1] then n = n + redis.call('llen', key) end
end
return n
"""

# A worker's next job straight from its queues, in its order: the first non-empty queue
# gives up its head, with RQ's hash of it (nothing else would delete that). A foreign id at
# that head is left for RQ's own loop. Empty queues (Redis keeps no empty list) cost one
# EXISTS, not a look at each of the catalogue's queues. The hash's key is built from ARGV,
# not declared: fine on one Redis server, not on a Redis Cluster.
TAKE_NEXT = """
if redis.call('exists', unpack(KEYS)) == 0 then return false end
for _, key in ipairs(KEYS) do
  local rq_id = redis.call('lindex', key, 0)
  if rq_id then
    if string.sub(rq_id, 1, string.len(ARGV[2])) ~= ARGV[2] then return false end
    redis.call('lpop', key)
    redis.call('del', ARGV[1] .. rq_id)
    return rq_id
  end
end
return false
"""


def pipeline_queue(name: str) -> str:
    return f"{PREFIX}:pipeline:{name}"


def rq_job_id(job_id: int) -> str:
    # A fresh id per dispatch: RQ keeps finished job hashes around for a while.
    return f"{PREFIX}-{job_id}-{secrets.token_hex(4)}"


def db_job_id(rq_id: str) -> int | None:
    parts = rq_id.split("-")
    if len(parts) == 3 and parts[0] == PREFIX and parts[1].isdigit():
        return int(parts[1])
    return None


class NextJob:
    """Takes a worker's next studio job id from its RQ queues (in listening order) in one
    round trip, for a worker that runs it without RQ's per-job bookkeeping (~12 round
    trips: state, registries, heartbeats, results). None when its queues hold none."""

    def __init__(self, redis: Any, queue_names: list[str]):
        from rq import Queue
        from rq.job import Job

        self._keys = [Queue.redis_queue_namespace_prefix + name for name in queue_names]
        self._hash_prefix = Job.redis_job_namespace_prefix
        self._redis = redis
        self._script = redis.register_script(TAKE_NEXT)  # EVALSHA, loaded again if need be

    def __call__(self, wait: float = 0.0, keep: Callable[[], bool] = lambda: True) -> int | None:
        """The next id, or with `wait` the next to arrive within so many seconds (BLPOP, then
        the hash's DEL): a worker that drains Redis faster than a dispatch cycle refills it
        stays out of RQ's loop. An id that arrives once `keep()` is false goes back."""
        if wait > 0:  # (BLPOP answers at once when an id waits)
            raw = self._wait(wait, keep)
        else:
            raw = self._script(keys=self._keys, args=[self._hash_prefix, f"{PREFIX}-"])
        if raw is None:
            return None
        return db_job_id(raw.decode() if isinstance(raw, bytes) else str(raw))

    def _wait(self, seconds: float, keep: Callable[[], bool]) -> Any:
        popped = self._redis.blpop(self._keys, timeout=seconds)
        if popped is None:
            return None
        key, raw = popped
        rq_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        if not rq_id.startswith(f"{PREFIX}-") or not keep():
            self._redis.lpush(key, raw)  # back to the head: for RQ's loop or another worker
            return None
        self._redis.delete(self._hash_prefix + rq_id)
        return raw


def connect(url: str) -> Any:
    from redis import Redis

    return Redis.from_url(
        url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=15
    )


class RedisQueue:
    def __init__(
        self,
        engine: Engine,
        redis_url: str,
        *,
        pipelines: list[str],
        window_per_worker: int = 2,
        worker_stale_seconds: float = 30.0,
        lease_seconds: float = 30.0,
        interval: float = 0.5,
        worker: str | None = None,
        max_running_per_owner: int | None = None,
    ):
        self.engine, self.redis_url = engine, redis_url
        self.max_running_per_owner = max_running_per_owner
        self.redis = connect(redis_url)
        self.pipelines = pipelines
        self.window_per_worker, self.stale = window_per_worker, worker_stale_seconds
        self.lease_seconds, self.interval = lease_seconds, interval
        # Leases are reaped on a timer, not every cycle: a dead worker's job goes back within
        # a quarter of a lease after it expired, and the cycles a busy worker runs stay cheap.
        self.reap_interval = min(5.0, lease_seconds / 4)
        self._reaped_at = float("-inf")
        self.worker = worker or f"dispatcher@{registry.HOST}:{secrets.token_hex(3)}"
        self._kick = threading.Event()  # wakes the loop: a full cycle or a top-up check
        self._full = threading.Event()  # the next cycle runs whatever Redis holds
        self._window = 0  # the last cycle's window: jobs Redis should hold for the farm
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- QueueBackend ---------------------------------------------------------------------
    def enqueue(self, job_id: int) -> None:
        self._full.set()
        self._kick.set()

    def top_up(self) -> None:
        """A job ended in this process: run a cycle if Redis holds half the window or less.
        A cycle per job would cost more than a tiny render (it reads the database); a
        worker going through a backlog thus tops Redis up every few jobs, before it runs
        dry, and never waits for the next timed cycle."""
        self._kick.set()

    def running_low(self) -> bool:
        from rq import Queue

        prefix = Queue.redis_queue_namespace_prefix + PREFIX + ":"
        waiting = int(self.redis.eval(COUNT_WAITING, 1, Queue.redis_queues_keys, prefix))
        return waiting * 2 <= self._window

    def cancel(self, job_id: int) -> None:
        try:
            self.redis.publish(CANCEL_CHANNEL, str(job_id))
        except Exception:  # noqa: BLE001 - the database flag still stops it at the next step
            log.warning("could not publish cancel of job %s", job_id)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="studio-dispatcher", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def ping(self) -> None:
        self.redis.ping()

    @property
    def running(self) -> bool:
        # Jobs run on remote workers; this process can dispatch as long as its thread lives.
        return self._thread is not None and self._thread.is_alive()

    # ---- dispatch -------------------------------------------------------------------------
    def queue_names(self) -> list[str]:
        return [pipeline_queue(name) for name in self.pipelines] + [ANY_QUEUE]

    def waiting_ids(self) -> set[int]:
        """Studio job ids sitting in RQ queues (not yet taken by a worker). Reads only the
        queues RQ has registered (`rq:queues`: those ever enqueued to, a few, not one per
        catalogue pipeline), all in one round trip."""
        from rq import Queue

        known = {
            key.decode() if isinstance(key, bytes) else str(key)
            for key in self.redis.smembers(Queue.redis_queues_keys)
        }
        keys = [
            key
            for key in (Queue.redis_queue_namespace_prefix + n for n in self.queue_names())
            if key in known
        ]
        if not keys:
            return set()
        with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.lrange(key, 0, -1)
            listed = pipe.execute()
        ids: set[int] = set()
        for raw in (item for items in listed for item in items):
            job_id = db_job_id(raw.decode() if isinstance(raw, bytes) else str(raw))
            if job_id is not None:
                ids.add(job_id)
        return ids

    def dispatch_once(self) -> int:
        """One cycle: reap dead leases, then top Redis up to the window. Returns ids sent."""
        if not self.redis.set(LOCK_KEY, self.worker, nx=True, px=int(self.interval * 4000)):
            return 0  # another process dispatches this cycle
        try:
            if time.monotonic() - self._reaped_at >= self.reap_interval:
                with session_scope(self.engine) as session:
                    lifecycle.requeue_abandoned(session)
                self._reaped_at = time.monotonic()
            waiting = self.waiting_ids()
            with session_scope(self.engine) as session:
                live = registry.live_in(session, self.stale, kind="redis")
                warm = {name for w in live for name in w.pipelines}
                window = max(1, len(live)) * self.window_per_worker
                plan = dispatch.dispatch_plan(
                    session,
                    exclude=waiting,
                    limit=window - len(waiting),
                    max_running=self.max_running_per_owner,
                )
                picks = [(j.id, (j.params.get("pipeline") or {}).get("name")) for j in plan.jobs]
            self._window = window
            self._send(picks, plan.first, warm)
            return len(picks)
        finally:
            self.redis.eval(RELEASE_LOCK, 1, LOCK_KEY, self.worker)

    def _send(
        self, picks: list[tuple[int | None, str | None]], first: set[int], warm: set[str]
    ) -> None:
        """Hand the picks to RQ in one round trip (`enqueue_many` on one pipeline). An owner's
        first job in flight goes before the backlog already waiting in Redis, so it starts
        when the next worker frees up (fair share). Pushed to the front in reverse, those keep
        the plan's order among themselves."""
        from rq import Queue

        fronts = [pick for pick in picks if pick[0] in first]
        backs = [pick for pick in picks if pick[0] not in first]
        by_queue: dict[str, list[Any]] = {}
        for (job_id, pipeline), at_front in [
            *((pick, True) for pick in reversed(fronts)),
            *((pick, False) for pick in backs),
        ]:
            assert job_id is not None
            name = pipeline_queue(pipeline) if pipeline in warm else ANY_QUEUE
            by_queue.setdefault(name, []).append(
                Queue.prepare_data(
                    EXECUTE,
                    args=(job_id,),
                    job_id=rq_job_id(job_id),
                    timeout=-1,
                    result_ttl=RESULT_TTL,
                    failure_ttl=24 * 3600,
                    description=f"studio job {job_id}",
                    at_front=at_front,
                )
            )
        if not by_queue:
            return
        with self.redis.pipeline() as pipe:
            for name, datas in by_queue.items():
                Queue(name, connection=self.redis).enqueue_many(datas, pipeline=pipe)
            pipe.execute()

    def _loop(self) -> None:
        full, nudged = True, False  # the first cycle runs at once
        failures = OutageLog(log, "dispatch cycle")  # not a line every 0.5 s while away
        while not self._stop.is_set():
            try:
                if full or (self.running_low() if nudged else self._tick_due()):
                    self.dispatch_once()
                    failures.worked()
            except Exception as exc:  # noqa: BLE001 - Redis or the database may be down
                failures.failed(exc)
            nudged = self._kick.wait(self.interval)
            self._kick.clear()
            # Cleared before the cycle reads the database: a submit committed after this
            # point sets it again, and is seen by the next cycle.
            full = self._full.is_set()
            if full:  # (cleared only when seen: a submit's flag is never lost)
                self._full.clear()

    def _tick_due(self) -> bool:
        """A timed cycle runs in one process per interval, farm-wide, not in every process:
        16 idle workers cost the database what one does. A kick (a submit or resume in this
        process) always runs its cycle; a job ended in this worker runs one when Redis runs
        low (`top_up`)."""
        return bool(self.redis.set(TICK_KEY, self.worker, nx=True, px=int(self.interval * 1000)))


class EventSender:
    """Publishes a worker's live events (progress, "finished") on Redis from a thread of its
    own, in order, several per round trip: a render never waits for Redis (two round trips
    per job cost ~10 % of a tiny render). Best effort, as pub/sub is: while Redis is away
    the oldest of `limit` waiting events are dropped; the database has the truth."""

    def __init__(self, redis: Any, limit: int = 1000):
        self._redis = redis
        self._waiting: collections.deque[str] = collections.deque(maxlen=limit)
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="event-sender", daemon=True)
        self._thread.start()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._changed:
            self._waiting.append(json.dumps(event))
            self._changed.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is waiting (a stopping worker's last "finished"), then stop."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closed:
                    self._changed.wait()
                batch = list(self._waiting)
                self._waiting.clear()
                if not batch and self._closed:
                    return
            try:
                with self._redis.pipeline(transaction=False) as pipe:
                    for message in batch:
                        pipe.publish(EVENTS_CHANNEL, message)
                    pipe.execute()
            except Exception:  # noqa: BLE001 - events are best effort
                log.debug("%d events not published (Redis unreachable)", len(batch))
