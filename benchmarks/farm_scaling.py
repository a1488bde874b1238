"""Farm scaling: one creator's 0.5 s jobs on 1, 4, 8 and 16 workers, PostgreSQL + Redis.

One app (`Studio.local` on the redis queue: it submits and dispatches) and, for each worker
count N, N worker processes `python -m studio worker --name nN-wK --preload sleep`, started
and registered idle before the clock starts (then stopped before the next N). The `sleep`
pipeline (benchmarks/sleep_pipeline.py) is a stand-in for GPU time: its render sleeps 0.5 s
and leaves the CPU free; everything else is a normal studio preview job (the database row
and its state changes, fair dispatch, claim, progress, lease, the PNG stored with its
provenance and sidecar, the artifact row). One creator submits N × `--per-worker` previews
in one call, so a perfect farm runs N / 0.5 jobs/s. `--render-seconds S` makes each render
sleep S instead (a fast GPU's render: 0.05), the ideal rate N / S.

Per N, from the job rows read back from the database at the end:
- wall: from just before the submit to the last job's finished_at; jobs/s = jobs / wall;
  efficiency = (jobs/s) / (N / 0.5);
- start: started_at − queued_at of each job, p50 and p99 (mostly waiting in line: the last
  jobs wait about per-worker × 0.5 s even on a perfect farm);
- run: finished_at − started_at, p50 (the 0.5 s sleep plus the job's own bookkeeping);
- gap: per worker, from a job's finished_at to the started_at of its next job (the time a
  worker sat idle between two jobs with work still queued), p50 and p99;
- ramp: from the submit to the first start on the last worker to get a job;
- per worker: fewest–most jobs run by one worker;
- CPU ms/job: the CPU time all N workers used over the round (Linux: /proc), and this
  process's (the app's submit and dispatch, and the benchmark's polling), per job.
The last line is `scaling_efficiency_8=<efficiency at 8 workers>` (the largest N run when
8 is not among them).

    python benchmarks/farm_scaling.py [--workers 1,4,8,16] [--per-worker 6] [--redis URL]
                                      [--database URL] [--postgres URL] [--window W]

Redis: by default a private `redis-server` on a free port (no persistence), stopped at the
end; `--redis URL` uses that database instead and EMPTIES it (FLUSHDB) before and after.
Database: by default `farm_bench_<pid>` created on the `--postgres` server (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres) and dropped at the end; `--database
URL` uses that database as it is and leaves its rows there (give it a throw-away one).
`--window` is the dispatch window (default: the studio's, 2 job ids per live worker).
Worker start-up is not timed; on a small machine 16 workers may take a minute to come up.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from benchmarks import sleep_pipeline
from benchmarks.queue_dispatch import cpu_seconds, percentile

ROOT = Path(__file__).resolve().parents[1]

PIPELINE = "sleep"
NAN = float("nan")
WORKER = (sys.executable, "-m", "studio", "worker")
REDIS_NO_DISK = ("--save", "", "--appendonly", "no")
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT = 300.0  # seconds for N workers to register idle
RUN_TIMEOUT = 600.0  # seconds for one round's jobs to finish


@dataclass
class Round:
    workers: int
    jobs: int
    submit: float  # seconds the submit call took
    wall: float
    starts: list[float]
    runs: list[float]
    gaps: list[float]
    ramp: float
    per_worker: tuple[int, int]
    worker_cpu: float  # CPU seconds of all N workers over the round
    app_cpu: float  # of this process (the app: submit, dispatch; and the polling)

    @property
    def rate(self) -> float:
        return self.jobs / self.wall

    @property
    def efficiency(self) -> float:
        return self.rate / (self.workers / sleep_pipeline.SECONDS)


def utc(moment: datetime) -> datetime:
    """A database timestamp as an aware UTC datetime (SQLite gives naive ones back)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of this run's own on a free port, no persistence; stopped at the end."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", *REDIS_NO_DISK],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from redis import Redis

        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                Redis.from_url(url).ping()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(10)


@contextmanager
def flushed_redis(url: str) -> Iterator[str]:
    from redis import Redis

    Redis.from_url(url).flushdb()
    try:
        yield url
    finally:
        Redis.from_url(url).flushdb()


@contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """`farm_bench_<pid>` on the server, dropped at the end (even with connections left)."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"farm_bench_{os.getpid()}"
    admin = make_url(server_url).set(drivername="postgresql")
    libpq = admin.render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_catalogue(folder: Path) -> Path:
    """The studio's catalogue plus the `sleep` entry."""
    from pipelines.catalogue import DEFAULT_CATALOGUE

    raw = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))
    raw["pipelines"][PIPELINE] = {
        "tasks": ["text-to-image"],
        "implementation": "benchmarks.sleep_pipeline:SleepPipeline",
        "model_id": PIPELINE,
        "description": f"Sleeps {sleep_pipeline.SECONDS} s per preview (farm_scaling.py).",
        "cost_factor": 0.1,
    }
    path = folder / "pipelines.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


class Workers:
    """N `python -m studio worker` processes; every one is stopped by `stop()`."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs = env, logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, names: list[str]) -> None:
        for name in names:
            with (self.logs / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    [*WORKER, "--name", name, "--preload", PIPELINE],
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )

    def cpu(self) -> float:
        """CPU seconds the running workers used so far, together (NaN without /proc)."""
        return sum(cpu_seconds(p.pid) for p in self.processes.values())

    def check(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"worker {name} exited ({process.returncode}):\n{tail}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()  # warm shutdown: marks the worker stopped
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.processes.clear()


def wait_idle(studio: Any, workers: Workers, names: list[str]) -> None:
    wanted = set(names)
    deadline = time.monotonic() + START_TIMEOUT
    while wanted - {w.name for w in studio.workers() if w.state == "idle"}:
        workers.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"workers not idle after {START_TIMEOUT:.0f} s")
        time.sleep(0.2)


def finished_count(studio: Any, ids: list[int]) -> int:
    from sqlmodel import Session, col, func, select

    from studio.core.models import JobStatus, RenderJob

    done = [s.value for s in JobStatus if s.finished]
    with Session(studio.engine) as session:
        query = select(func.count()).where(col(RenderJob.id).in_(ids))
        return int(session.exec(query.where(col(RenderJob.status).in_(done))).one())


def one_round(studio: Any, workers: Workers, n: int, per_worker: int, offset: int) -> Round:
    from sqlmodel import Session, col, select

    from studio.core.models import RenderJob

    project = studio.create_project(f"scaling {n}", height=64, preview_pipeline=PIPELINE)
    jobs = n * per_worker
    for k in range(jobs):  # new seeds every round: the render cache never answers
        studio.add_shot(project.id, f"shot {k}", duration=1.0, seed=offset + k)
    names = [f"n{n}-w{k}" for k in range(n)]
    workers.start(names)
    try:
        began = time.monotonic()
        wait_idle(studio, workers, names)
        print(f"  {n} workers idle after {time.monotonic() - began:.1f} s", file=sys.stderr)
        time.sleep(1.0)  # let the start-up's CPU settle
        cpu_before = workers.cpu(), time.process_time()
        submitted_at = datetime.now(UTC)
        began = time.monotonic()
        submitted = studio.preview(project.id, progress=False)
        submit = time.monotonic() - began
        ids = [j.id for j in submitted]
        deadline = time.monotonic() + RUN_TIMEOUT
        while finished_count(studio, ids) < len(ids):
            workers.check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{n} workers: jobs not finished after {RUN_TIMEOUT:.0f} s")
            time.sleep(0.1)
        worker_cpu, app_cpu = workers.cpu() - cpu_before[0], time.process_time() - cpu_before[1]
    finally:
        workers.stop()
    with Session(studio.engine) as session:
        rows = list(session.exec(select(RenderJob).where(col(RenderJob.id).in_(ids))))
    failed = [(r.id, r.status, r.error) for r in rows if r.status != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} jobs did not succeed, e.g. {failed[:3]}")
    by_worker: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    starts, runs_s = [], []
    for row in rows:
        assert row.started_at and row.finished_at and row.worker
        start, end = utc(row.started_at), utc(row.finished_at)
        by_worker[row.worker].append((start, end))
        starts.append((start - utc(row.queued_at)).total_seconds())
        runs_s.append((end - start).total_seconds())
    gaps = []
    for runs in by_worker.values():
        runs.sort()
        gaps += [(b[0] - a[1]).total_seconds() for a, b in itertools.pairwise(runs)]
    last_end = max(end for runs in by_worker.values() for _, end in runs)
    first_starts = [min(start for start, _ in runs) for runs in by_worker.values()]
    counts = [len(by_worker.get(name, [])) for name in names]
    return Round(
        workers=n,
        jobs=jobs,
        submit=submit,
        wall=(last_end - submitted_at).total_seconds(),
        starts=starts,
        runs=runs_s,
        gaps=gaps,
        # nan when a worker got no job at all
        ramp=(max(first_starts) - submitted_at).total_seconds() if len(by_worker) == n else NAN,
        per_worker=(min(counts), max(counts)),
        worker_cpu=worker_cpu,
        app_cpu=app_cpu,
    )


def run(args: argparse.Namespace, redis_url: str, database_url: str) -> list[Round]:
    from studio import Studio

    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        catalogue = write_catalogue(Path(tmp))
        data = Path(tmp) / "data"
        env = {
            **os.environ,
            "STUDIO_REDIS_URL": redis_url,
            "STUDIO_DATABASE_URL": database_url,
            "STUDIO_DATA_DIR": str(data),
            "STUDIO_PIPELINES_FILE": str(catalogue),
            "STUDIO_DISPATCH_WINDOW": str(args.window),
        }
        env.pop("STUDIO_QUEUE", None)
        settings = {
            "redis_url": redis_url,
            "database_url": database_url,
            "dispatch_window": args.window,
            "pipelines_file": catalogue,
            # One creator submits every job of a round at once: lift the per-user cap (200).
            "max_queued_per_user": max(200, max(args.workers) * args.per_worker),
        }
        rounds = []
        with Studio.local(data, **settings) as studio:
            workers = Workers(env, Path(tmp))
            try:
                for index, n in enumerate(args.workers):
                    rounds.append(one_round(studio, workers, n, args.per_worker, index * 10_000))
            finally:
                workers.stop()
        return rounds


def report(rounds: list[Round], args: argparse.Namespace, redis: str, database: str) -> None:
    print(
        f"{args.per_worker} jobs of {sleep_pipeline.SECONDS} s per worker, one creator, "
        f"dispatch window {args.window}, redis {redis}, database {database}"
    )
    print(
        f"{'workers':>7}{'jobs':>6}{'submit s':>10}{'wall s':>8}{'jobs/s':>8}{'ideal':>7}"
        f"{'effic.':>8}{'start p50':>11}{'p99':>7}{'run p50':>9}{'gap p50':>9}"
        f"{'p99':>7}{'ramp s':>8}{'per worker':>12}{'CPU ms/job: workers':>21}{'app':>6}"
    )
    for r in rounds:
        print(
            f"{r.workers:7d}{r.jobs:6d}{r.submit:10.3f}{r.wall:8.2f}{r.rate:8.2f}"
            f"{r.workers / sleep_pipeline.SECONDS:7.1f}{r.efficiency:8.3f}"
            f"{statistics.median(r.starts):11.3f}{percentile(r.starts, 0.99):7.3f}"
            f"{statistics.median(r.runs):9.3f}"
            f"{percentile(r.gaps, 0.5):9.3f}{percentile(r.gaps, 0.99):7.3f}{r.ramp:8.2f}"
            f"{f'{r.per_worker[0]}–{r.per_worker[1]}':>12}"
            f"{r.worker_cpu / r.jobs * 1000:21.1f}{r.app_cpu / r.jobs * 1000:6.1f}"
        )
    chosen = next((r for r in rounds if r.workers == 8), max(rounds, key=lambda r: r.workers))
    print(f"scaling_efficiency_8={chosen.efficiency:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",") if n.strip()],
        default=[1, 4, 8, 16],
        help="worker counts, comma-separated (default 1,4,8,16)",
    )
    parser.add_argument("--per-worker", type=int, default=6, help="jobs per worker (default 6)")
    parser.add_argument("--redis", help="a Redis database to EMPTY and use (default: private)")
    parser.add_argument("--database", help="a database URL to use as it is (default: temp)")
    parser.add_argument("--postgres", default=POSTGRES, help="server for the temp database")
    parser.add_argument("--window", type=int, default=2, help="dispatch window (default 2)")
    parser.add_argument(
        "--render-seconds", type=float, default=0.5, help="each render's sleep (default 0.5)"
    )
    args = parser.parse_args()
    if not args.workers or min(args.workers) < 1 or args.per_worker < 1:
        parser.error("--workers and --per-worker must be positive")
    if not 0 < args.render_seconds <= 60:
        parser.error("--render-seconds must be in (0, 60]")
    # For the workers (their own processes) and for this one's ideal rate.
    os.environ["STUDIO_SLEEP_SECONDS"] = str(args.render_seconds)
    sleep_pipeline.SECONDS = args.render_seconds
    # A SIGTERM unwinds like Ctrl-C, so every `finally` stops its processes and database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with (
        flushed_redis(args.redis) if args.redis else private_redis() as redis_url,
        nullcontext(args.database) if args.database else temporary_database(args.postgres) as db,
    ):
        rounds = run(args, redis_url, db)
    redis = args.redis or "private redis-server"
    database = "PostgreSQL (temp)" if not args.database else "given"
    report(rounds, args, redis, database)


if __name__ == "__main__":
    main()
