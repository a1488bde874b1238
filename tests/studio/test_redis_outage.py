"""Redis killed and restarted empty under a busy farm: the workers wait for it and go on by
themselves, and every job completes (the dispatchers refill Redis from the database).

A private redis-server on its own port (the `redis_server` fixture, tests/studio/conftest.py),
so killing it hurts no other test."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from studio import Studio
from studio.farm.queues.redis import connect
from studio.farm.worker import WorkerContext, _serve
from studio.ui.workers_tab import workers_html
from tests.farm import Farm, RedisServer, wait_for
from tests.server import ROOT
from tests.studio.test_redis_farm import project


def test_the_farm_rides_out_a_redis_restart(
    tmp_path: Path, fresh_postgres_url: str, redis_server: RedisServer
) -> None:
    farm = Farm(tmp_path, fresh_postgres_url, redis_server.url)
    try:
        with Studio.local(farm.data_dir, **farm.settings()) as studio:
            for name in ("w1", "w2", "w3"):
                farm.start_worker(name)
            pid = project(studio, duration=6.0, fps=24, height=144)
            jobs = [j.id for j in studio.render(pid)]
            more = project(studio, duration=6.0, fps=24, height=144, variant=1)
            jobs += [j.id for j in studio.render(more)]
            wait_for(
                lambda: sum(studio.job(i).status == "running" for i in jobs) >= 2,
                90,
                "two busy workers",
                lambda: farm.log("w1"),
            )
            redis_server.kill()  # everything Redis held is gone
            # A worker whose job ended meanwhile waits for Redis: alive, and says so.
            wait_for(
                lambda: any(w.state == "waiting" for w in studio.workers()),
                60,
                "a worker waiting for Redis",
                lambda: farm.log("w1"),
            )
            check = subprocess.run(
                [sys.executable, str(ROOT / "deploy" / "healthcheck.py"), "worker"],
                env=farm.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert check.returncode == 0, check.stderr
            assert "healthy, waiting for Redis" in check.stdout
            assert "waiting for Redis" in workers_html(studio)
            redis_server.start()  # back, empty
            done = wait_for(
                lambda: (
                    [studio.job(i) for i in jobs]
                    if all(studio.job(i).status in ("succeeded", "failed") for i in jobs)
                    else None
                ),
                180,
                "every job after the restart",
                lambda: farm.log("w1") + farm.log("w2"),
            )
            assert [j.status for j in done] == ["succeeded"] * len(jobs), [j.error for j in done]
            # Nobody restarted a worker: the same processes are still serving.
            exited = [name for name, p in farm.workers.items() if p.poll() is not None]
            assert exited == [], "\n".join(farm.log(name) for name in exited)
            logs = "".join(farm.log(name) for name in farm.workers)
            assert "Redis" in logs  # they noticed, and said so
            # And they serve the new Redis: a job submitted now runs.
            studio.update_shot(studio.shots(pid)[0].id, seed=12345)
            (late,) = studio.render(pid, [studio.shots(pid)[0].id])
            (finished,) = wait_for(
                lambda: (
                    [studio.job(late.id)]
                    if studio.job(late.id).status in ("succeeded", "failed")
                    else None
                ),
                60,
                "a job after the outage",
                lambda: farm.log("w1"),
            )
            assert finished.status == "succeeded", finished.error
    finally:
        farm.stop_all()


def test_a_worker_loop_that_cannot_reach_redis_at_its_start_waits_and_goes_on(
    redis_server: RedisServer,
) -> None:
    """Making RQ's worker talks to Redis (CLIENT SETNAME); when that fails (Redis went again,
    or still refuses, right after a ping answered) the loop waits for Redis like after any
    loss, instead of the worker process exiting (seen in CI under the restart test)."""
    from rq import SimpleWorker

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        gone = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"  # nobody listens there
    made: list[str] = []

    def make() -> SimpleWorker:
        url = gone if not made else redis_server.url  # away for the first loop only
        made.append(url)
        return SimpleWorker(["studio:any"], connection=connect(url))

    context = WorkerContext("w1", None, None, 30.0)  # type: ignore[arg-type]
    _serve(make, connect(redis_server.url), context, burst=True)  # returns: queue empty
    assert made == [gone, redis_server.url]
