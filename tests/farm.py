"""A small render farm for tests: Redis (a private db number), a database, N worker processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.server import ROOT
from tests.services import redis_ping

T = TypeVar("T")


def redis_db_url(server_url: str, db: int = 13) -> str:
    """The same server, a database number of the tests' own (so FLUSHDB hurts nobody)."""
    base = server_url.rstrip("/")
    if base.count("/") > 2:  # already names a database
        base = base.rsplit("/", 1)[0]
    return f"{base}/{db}"


class Farm:
    def __init__(self, tmp: Path, database_url: str, redis_url: str, **env: str):
        self.tmp, self.database_url, self.redis_url = tmp, database_url, redis_url
        self.data_dir = tmp / "data"
        self.env = {
            **os.environ,
            "STUDIO_DATABASE_URL": database_url,
            "STUDIO_REDIS_URL": redis_url,
            "STUDIO_DATA_DIR": str(self.data_dir),
            "STUDIO_LEASE_SECONDS": "2",
            "STUDIO_WORKER_STALE_SECONDS": "4",
            **env,
        }
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def settings(self) -> dict[str, Any]:
        return {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "lease_seconds": 2,
            "worker_stale_seconds": 4,
        }

    def start_worker(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "studio", "worker", "--name", name, *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers[name] = process
        return process

    def kill(self, name: str) -> None:
        process = self.workers[name]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                process.terminate()
        for process in self.workers.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-4000:]


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float,
    what: str,
    on_timeout: Callable[[], str] = lambda: "",
) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{on_timeout()}")


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
