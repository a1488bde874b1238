"""The single-container image's entrypoint, run the way the image runs it, without Docker.

`deploy/single/entrypoint.sh` runs as a subprocess with the image's settings (data folder,
PORT, the source tree as working directory and on PYTHONPATH) and this venv's python as
PYTHON. Its supervisor migrates the database, then starts redis-server (from PATH), a render
worker and the app. The test renders a draft film through it: it submits renders to the same SQLite
database from a Studio that runs no worker of its own, so the container's worker renders
them, then assembles the film the same way. SIGTERM must stop every process it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from studio import Studio
from studio.core.models import JobPublic, JobStatus
from studio.film.video import probe
from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "single" / "entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
T = TypeVar("T")

SCRIPT = """EXT. HARBOUR - DAWN

Boats rock in the harbour. A gull lands on a post. The fisherman coils a rope.
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def children(pid: int) -> dict[int, str]:
    """Every descendant of `pid` (pid → command line), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                try:
                    cmdline = (Path("/proc") / str(child) / "cmdline").read_bytes()
                except OSError:
                    continue
                found[child] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Container:
    process: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]

    def get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def healthcheck(self, what: str) -> subprocess.CompletedProcess[str]:
        """The image's HEALTHCHECK command, with the container's environment."""
        return subprocess.run(
            [sys.executable, str(HEALTHCHECK), what],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"entrypoint exited early:\n{self.output()}")
            if self.get("/healthz") == 200:
                return
            time.sleep(0.25)
        raise AssertionError(f"no /healthz within {timeout}s:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"entrypoint still running:\n{self.output()}") from None


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Container]]:
    # The container and the test's own Studio must see only the settings given here.
    for key in [k for k in os.environ if k.startswith("STUDIO_")]:
        if key != "STUDIO_REQUIRE_SERVICES":
            monkeypatch.delenv(key)
    started: list[Container] = []

    def start(**extra: str) -> Container:
        data_dir, port = tmp_path / "data", free_port()
        env = {
            **os.environ,
            "PYTHON": sys.executable,
            "PYTHONPATH": str(ROOT),
            "STUDIO_DATA_DIR": str(data_dir),
            "PORT": str(port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            **extra,
        }
        log = tmp_path / "container.log"
        process = subprocess.Popen(
            [str(ENTRYPOINT)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        container = Container(process, data_dir, port, env, log)
        started.append(container)
        return container

    yield start
    for container in started:  # cleanup after a failed test: stop whatever is left
        tree = children(container.process.pid)
        if container.process.poll() is None:
            container.process.kill()
            container.process.wait(10)
        for pid in tree:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def finished(studio: Studio, ids: list[int]) -> list[JobPublic] | None:
    jobs = [studio.job(i) for i in ids]
    return jobs if all(JobStatus(j.status).finished for j in jobs) else None


def describe(studio: Studio, ids: list[int]) -> str:
    return str([(j.id, j.status, j.worker, j.error) for j in (studio.job(i) for i in ids)])


def test_single_container_renders_a_film_with_its_own_worker_and_stops_cleanly(
    start: Callable[..., Container],
) -> None:
    redis_server = require_service("Redis", shutil.which("redis-server"))
    redis_port = free_port()
    began = time.monotonic()
    container = start(STUDIO_SINGLE_REDIS_PORT=str(redis_port), STUDIO_SINGLE_STOP_SECONDS="10")
    container.wait_healthy()
    booted = time.monotonic() - began

    tree = children(container.process.pid)
    commands = list(tree.values())
    assert sum(c.startswith(redis_server) for c in commands) == 1, commands
    assert sum("-m studio worker" in c for c in commands) == 1, commands
    assert sum("-m studio serve --host 0.0.0.0" in c for c in commands) == 1, commands
    assert (container.data_dir / "studio.db").exists()  # migrated before anything started

    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    with Studio.local(container.data_dir, start_worker=False, redis_url=redis_url) as studio:
        assert studio.settings.resolved_queue == "redis"
        project = studio.create_project("Harbour", height=96, fps=12)
        assert project.id is not None
        shots = studio.breakdown(project.id, SCRIPT)
        for shot in shots:
            assert shot.id is not None
            studio.update_shot(shot.id, duration=1.0)
        ids = [j.id for j in studio.render(project.id) if j.id is not None]
        takes = wait_for(lambda: finished(studio, ids), 60, "renders")
        assert [j.status for j in takes] == ["succeeded"] * len(ids), describe(studio, ids)
        rendered_by = {j.worker for j in takes}
        assert len(rendered_by) == 1 and str(rendered_by.pop()).startswith("worker@")
        film_id = studio.assemble(project.id, title="Harbour", title_seconds=1.0).id
        assert film_id is not None
        [film] = wait_for(lambda: finished(studio, [film_id]), 60, "the film")
        assert film.status == "succeeded", describe(studio, [film_id])
        info = probe(studio.artifact_path(film.artifact_id))  # type: ignore[arg-type]
        assert info.codec == "h264" and info.height == 96
        assert info.frames == (len(shots) + 1) * 12  # a 1 s title card and 1 s per shot
        worker = next(w for w in studio.workers() if w.name == takes[0].worker)
        assert worker.kind == "redis" and "draft" in worker.pipelines

    assert container.get("/readyz") == 200
    for what in ("app", "worker"):
        check = container.healthcheck(what)
        assert check.returncode == 0, check.stderr

    assert container.stop(signal.SIGTERM) == 0, container.output()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in tree), {p: c for p, c in tree.items() if alive(p)}
    total = time.monotonic() - began
    print(f"\nsingle container: healthy after {booted:.1f}s, whole test {total:.1f}s")


def test_single_container_inline_mode_renders_in_the_app_and_dies_with_it(
    start: Callable[..., Container],
) -> None:
    container = start(STUDIO_SINGLE_REDIS="0")
    container.wait_healthy()
    tree = children(container.process.pid)
    assert len(tree) == 1 and "-m studio serve" in next(iter(tree.values())), tree

    with Studio.local(container.data_dir, start_worker=False) as studio:
        assert studio.settings.resolved_queue == "inline"
        project = studio.create_project("Harbour", height=96, fps=12)
        assert project.id is not None
        studio.breakdown(project.id, SCRIPT)
        ids = [j.id for j in studio.preview(project.id) if j.id is not None]
        previews = wait_for(lambda: finished(studio, ids), 60, "previews")
        assert [j.status for j in previews] == ["succeeded"] * len(ids), describe(studio, ids)
        assert all(str(j.worker).startswith("inline@") for j in previews)  # the app's thread

    # A child that dies takes the container down with a failure status (restart policy).
    [app] = tree
    os.kill(app, signal.SIGKILL)
    assert container.process.wait(20) == 128 + signal.SIGKILL, container.output()
    assert not alive(app)
