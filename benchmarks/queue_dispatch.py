"""Dispatch overhead: tiny jobs through the studio's Redis queue vs bare RQ, side by side.

Both sides use the same Redis and one worker process each (RQ's SimpleWorker: no fork),
started before the clock starts; the benchmark empties the Redis database it is given.
- bare RQ: N jobs that do the same work a studio preview does: draw the weightless `draft`
  panel at 114×64 and write it as a PNG (the fair peer: the same render, no bookkeeping).
- studio: N preview jobs of `draft` at that size: the same drawing plus everything the studio
  adds: the database row and its state changes, fair dispatch, the lease, the artifact
  stored with its sidecar and provenance.
Prints jobs/s, p50/p99 enqueue-to-start latency and Redis commands per job (the server's
INFO commandstats before and after: server-wide, so run it on a Redis nothing else uses; the
bare side's count includes this script's status polling, the studio's its dispatchers and
event publishing) for each; for the studio, SQL statements and commits per job (counted by
SQLAlchemy events in the worker and in this process, which holds the app's dispatcher and
`wait()`'s reads); each worker process's CPU time per job (Linux: /proc), which moves less
than the rates when other work shares the host; then `dispatch_ratio` last.

    python benchmarks/queue_dispatch.py [--jobs N] [--redis URL] [--database URL]
"""

from __future__ import annotations

import argparse
import contextlib
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


def draft_png(seed: int, folder: str) -> None:
    """The bare-RQ job: the draft panel a studio preview draws, written as a PNG."""
    from pipelines.draft import DraftPipeline
    from pipelines.requests import RenderRequest

    request = RenderRequest(prompt=f"shot {seed}", seed=seed, width=114, height=64)
    DraftPipeline().render_frame(request).save(Path(folder) / f"{seed}.png")


def redis_calls(redis: Any) -> dict[str, int]:
    """Calls per command since the Redis server started (INFO commandstats)."""
    stats = redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}


def per_job(before: dict[str, int], after: dict[str, int], jobs: int) -> tuple[float, str]:
    """Commands per job, and the three most frequent."""
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    top = sorted(((n, k) for k, n in delta.items() if n > 0), reverse=True)[:3]
    return sum(delta.values()) / jobs, ", ".join(f"{k} {n / jobs:.1f}" for n, k in top)


class SqlCount:
    """SQL statements and commits of every engine in this process (SQLAlchemy events)."""

    def __init__(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        self.statements = self.commits = 0
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._commit)

    def _statement(self, *_args: Any) -> None:
        self.statements += 1

    def _commit(self, *_args: Any) -> None:
        self.commits += 1


def counted_worker(out: str, *argv: str) -> None:
    """`python -m studio worker ARGV`, writing its SQL counts so far to `out` when asked: each
    line on its stdin (a request number) is answered with "number statements commits". The
    thread answering sleeps on stdin in between: writing the counts 20 times a second cost
    the measured worker CPU (and the GIL) that the bare side does not pay."""
    import threading

    from studio.cli import main

    count = SqlCount()

    def answer() -> None:
        for line in sys.stdin:
            Path(out + ".new").write_text(f"{line.strip()} {count.statements} {count.commits}")
            os.replace(out + ".new", out)

    threading.Thread(target=answer, daemon=True).start()
    main(["worker", *argv])


def worker_sql(worker: subprocess.Popen[str], out: Path, request: int) -> tuple[int, int]:
    """The worker's SQL counts now (`counted_worker` answers request number `request`)."""
    assert worker.stdin is not None
    worker.stdin.write(f"{request}\n")
    worker.stdin.flush()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            answered, statements, commits = out.read_text().split()
            if answered == str(request):
                return int(statements), int(commits)
        time.sleep(0.01)
    raise RuntimeError("the worker did not report its SQL counts")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process `pid` used so far; NaN where /proc is absent."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bare_rq(redis_url: str, jobs: int) -> tuple[float, list[float], dict[str, Any]]:
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
        folder = tempfile.mkdtemp(prefix="bench-bare-")
        before = redis_calls(redis)
        cpu = cpu_seconds(worker.pid)
        started = time.monotonic()
        enqueued = [
            queue.enqueue("benchmarks.queue_dispatch.draft_png", n, folder, result_ttl=600)
            for n in range(jobs)
        ]
        for job in enqueued:
            while job.get_status(refresh=True) not in ("finished", "failed"):
                time.sleep(0.01)
        elapsed = time.monotonic() - started
        after = redis_calls(redis)
        cpu = cpu_seconds(worker.pid) - cpu
    finally:
        worker.terminate()
        worker.wait(30)
    assert all(job.get_status(refresh=True) == "finished" for job in enqueued)
    latencies = []
    for job in enqueued:
        job.refresh()
        assert job.started_at is not None and job.enqueued_at is not None
        latencies.append((job.started_at - job.enqueued_at).total_seconds())
    return jobs / elapsed, latencies, {"before": before, "after": after, "cpu": cpu}


def studio_queue(
    redis_url: str, database_url: str | None, jobs: int
) -> tuple[float, list[float], dict[str, Any]]:
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
            sql_out = Path(tmp) / "worker-sql.txt"
            code = (
                "from benchmarks.queue_dispatch import counted_worker; "
                f"counted_worker({str(sql_out)!r}, '--name', 'bench', '--preload', 'draft')"
            )
            worker = subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                text=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                while not any(w.name == "bench" and w.state == "idle" for w in studio.workers()):
                    time.sleep(0.05)  # the worker is up: time dispatch, not process start
                from redis import Redis

                redis = Redis.from_url(redis_url)
                worker_before = worker_sql(worker, sql_out, 1)
                before = redis_calls(redis)
                app_sql = SqlCount()  # from here on: the app's share (dispatcher, wait())
                cpu = cpu_seconds(worker.pid)
                started = time.monotonic()
                submitted = studio.preview(project.id)
                done = studio.wait(submitted, progress=False, poll=0.02)
                elapsed = time.monotonic() - started
                after = redis_calls(redis)
                cpu = cpu_seconds(worker.pid) - cpu
                worker_after = worker_sql(worker, sql_out, 2)
                sql = {
                    "worker": (
                        worker_after[0] - worker_before[0],
                        worker_after[1] - worker_before[1],
                    ),
                    "app": (app_sql.statements, app_sql.commits),
                }
            finally:
                worker.terminate()
                worker.wait(30)
        assert all(j.status == JobStatus.succeeded for j in done)
        latencies = [
            (j.started_at - j.queued_at).total_seconds()
            for j in done
            if j.started_at and j.queued_at
        ]
        return jobs / elapsed, latencies, {"before": before, "after": after, "sql": sql, "cpu": cpu}


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
    rq_rate, rq_lat, rq_counts = bare_rq(args.redis, args.jobs)
    Redis.from_url(args.redis).flushdb()
    st_rate, st_lat, st_counts = studio_queue(args.redis, args.database, args.jobs)
    Redis.from_url(args.redis).flushdb()
    print(
        f"{args.jobs} jobs, one worker, redis {args.redis}, "
        f"database {args.database or 'SQLite (temp)'}"
    )
    print(f"{'':14}{'jobs/s':>10}{'p50 start (s)':>16}{'p99 start (s)':>16}{'Redis/job':>11}")
    rows = (("bare RQ", rq_rate, rq_lat, rq_counts), ("studio", st_rate, st_lat, st_counts))
    for name, rate, lat, counts in rows:
        calls, top = per_job(counts["before"], counts["after"], args.jobs)
        print(
            f"{name:14}{rate:10.1f}{statistics.median(lat):16.3f}"
            f"{percentile(lat, 0.99):16.3f}{calls:11.1f}   ({top})"
        )
    bare_cpu, studio_cpu = rq_counts["cpu"] / args.jobs, st_counts["cpu"] / args.jobs
    print(
        f"worker CPU per job: bare RQ {bare_cpu * 1000:.1f} ms, studio {studio_cpu * 1000:.1f} ms "
        f"(bare/studio {bare_cpu / studio_cpu:.3f}: steadier than the rates on a busy host)"
    )
    for side, (statements, commits) in st_counts["sql"].items():
        print(
            f"studio SQL per job, {side}: {statements / args.jobs:.1f} statements, "
            f"{commits / args.jobs:.1f} commits"
        )
    print(f"dispatch_ratio={st_rate / rq_rate:.3f}")


if __name__ == "__main__":
    main()
