"""Redis killed and restarted empty under a busy farm: the workers wait for it and go on by
themselves, and every job completes (the dispatchers refill Redis from the database).

A private redis-server on its own port, so killing it hurts no other test."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio import Studio
from studio.ui.workers_tab import workers_html
from tests.conftest import require_service
from tests.farm import Farm, wait_for
from tests.server import ROOT
from tests.services import redis_ping
from tests.studio.test_redis_farm import project


class RedisServer:
    """A redis-server on a fixed port that a test can kill and start again, empty."""

    def __init__(self, binary: str, folder: Path):
        self.binary, self.folder = binary, folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not redis_ping(self.url, timeout=0.3):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(require_service("Redis", shutil.which("redis-server")), tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


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
            assert all(p.poll() is None for p in farm.workers.values())
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
