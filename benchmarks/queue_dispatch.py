"""Dispatch overhead: tiny jobs through the studio's Redis queue vs bare RQ, side by side.

Both sides use the same Redis and one worker process each (RQ's SimpleWorker: no fork),
started before the clock starts; the benchmark empties the Redis database it is given.
- bare RQ: N jobs of a function that does nothing.
- studio: N preview jobs of the weightless `draft` pipeline at its smallest size (114×64), so
  each job is a few milliseconds of drawing plus everything the studio adds: the database row
  and its state changes, fair dispatch, the lease, a PNG artifact stored with its sidecar.
Prints jobs/s and p50/p99 enqueue-to-start latency for each, then `dispatch_ratio` last.

    python benchmarks/queue_dispatch.py [--jobs N] [--redis URL] [--database URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def noop() -> None:
    """The bare-RQ job."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bare_rq(redis_url: str, jobs: int) -> tuple[float, list[float]]:
    from redis import Redis
    from rq import Queue, Worker

    redis = Redis.from_url(redis_url)
    queue = Queue("bench-bare", connection=redis)
    queue.empty()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            "-w",
            "rq.SimpleWorker",
            "--url",
            redis_url,
            "-q",
            "bench-bare",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not Worker.all(connection=redis):
            time.sleep(0.05)  # the worker is up: time dispatch, not process start (both sides)
        started = time.monotonic()
        enqueued = [
            queue.enqueue("benchmarks.queue_dispatch.noop", result_ttl=600) for _ in range(jobs)
        ]
        for job in enqueued:
            while job.get_status(refresh=True) != "finished":
                time.sleep(0.01)
        elapsed = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(30)
    latencies = []
    for job in enqueued:
        job.refresh()
        assert job.started_at is not None and job.enqueued_at is not None
        latencies.append((job.started_at - job.enqueued_at).total_seconds())
    return jobs / elapsed, latencies


def studio_queue(redis_url: str, database_url: str | None, jobs: int) -> tuple[float, list[float]]:
    from studio import Studio
    from studio.core.models import JobStatus

    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        env = {
            **os.environ,
            "STUDIO_REDIS_URL": redis_url,
            "STUDIO_DATA_DIR": tmp,
            "STUDIO_DISPATCH_WINDOW": "8",
        }
        settings: dict[str, Any] = {"redis_url": redis_url, "dispatch_window": 8}
        if database_url:
            env["STUDIO_DATABASE_URL"] = database_url
            settings["database_url"] = database_url
        with Studio.local(tmp, **settings) as studio:
            project = studio.create_project("bench", height=64)
            assert project.id is not None
            for n in range(jobs):
                studio.add_shot(project.id, f"shot {n}", duration=1.0, seed=n)
            worker = subprocess.Popen(
                [sys.executable, "-m", "studio", "worker", "--name", "bench", "--preload", "draft"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                while not any(w.name == "bench" and w.state == "idle" for w in studio.workers()):
                    time.sleep(0.05)  # the worker is up: time dispatch, not process start
                started = time.monotonic()
                submitted = studio.preview(project.id)
                done = studio.wait(submitted, progress=False, poll=0.02)
                elapsed = time.monotonic() - started
            finally:
                worker.terminate()
                worker.wait(30)
        assert all(j.status == JobStatus.succeeded for j in done)
        latencies = [
            (j.started_at - j.queued_at).total_seconds()
            for j in done
            if j.started_at and j.queued_at
        ]
        return jobs / elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument(
        "--redis", default=os.environ.get("STUDIO_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument("--database", default=os.environ.get("STUDIO_DATABASE_URL"))
    args = parser.parse_args()
    from redis import Redis

    Redis.from_url(args.redis).flushdb()
    rq_rate, rq_lat = bare_rq(args.redis, args.jobs)
    Redis.from_url(args.redis).flushdb()
    st_rate, st_lat = studio_queue(args.redis, args.database, args.jobs)
    Redis.from_url(args.redis).flushdb()
    print(
        f"{args.jobs} jobs, one worker, redis {args.redis}, "
        f"database {args.database or 'SQLite (temp)'}"
    )
    print(f"{'':14}{'jobs/s':>10}{'p50 start (s)':>16}{'p99 start (s)':>16}")
    for name, rate, lat in (("bare RQ", rq_rate, rq_lat), ("studio", st_rate, st_lat)):
        print(f"{name:14}{rate:10.1f}{statistics.median(lat):16.3f}{percentile(lat, 0.99):16.3f}")
    print(f"dispatch_ratio={st_rate / rq_rate:.3f}")


if __name__ == "__main__":
    main()
