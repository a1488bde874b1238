"""The images, built and run by a real container engine (podman, or Docker where its daemon
answers), the way a small team would use them.

- the single image: built by deploy/images.py, run, healthy by its own HEALTHCHECK, renders a
  film through the REST API (the SDK's `Studio.connect`) with its in-container Redis and
  worker, stops cleanly on SIGTERM, and a new container on the same volume finds everything;
  it also runs as an arbitrary uid in group 0 (OpenShift) and with a read-only root;
- the dev stack: the app image with deploy/compose.yaml (Compose v2 from PyPI, over podman's
  Docker API socket), PostgreSQL, Redis and SeaweedFS (stand-ins built from Debian's packages
  and PyPI when no registry serves the upstream images), renders a film whose download link
  works from this host.

podman runs healthchecks from systemd timers; where there is no systemd (this CI machine),
the tests run each container's HEALTHCHECK command through `podman healthcheck run`, which is
what the timer would do.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

from studio import Studio
from studio.film.video import probe
from tests.conftest import require_service
from tests.deploy.measured import MEASURED
from tests.deploy.test_containers import load

ROOT = Path(__file__).resolve().parents[2]
images: ModuleType = load(ROOT / "deploy" / "images.py")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def engine() -> Any:
    try:
        found = images.find_engine()
    except images.ImageError:
        found = None
    return require_service("container engine", found)


@pytest.fixture(scope="module")
def base(engine: Any) -> Iterator[str]:
    yield str(images.choose_base(engine))
    # Each rebuild leaves the previous image untagged: gigabytes on a CI machine, run after run.
    engine.run("image", "prune", "-f", capture=True, check=False)


def build(engine: Any, name: str, base: str) -> str:
    image = images.IMAGES[name]
    took = engine.build(image, base, quiet=True)
    size = images.megabytes(engine.size(image.tag))
    MEASURED.append(f"{image.tag}: {size} MB, built in {took:.0f} s with {engine.name}")
    return str(image.tag)


def health(engine: Any, container: str) -> str:
    """The container's health by its image's HEALTHCHECK: 'healthy', 'unhealthy' or
    'starting'. podman without systemd runs the check on request."""
    if engine.name == "podman":
        done = engine.run("healthcheck", "run", container, capture=True, check=False)
        return "healthy" if done.returncode == 0 else "unhealthy"
    status = engine.run(
        "inspect", "--format", "{{.State.Health.Status}}", container, capture=True, check=False
    )
    return status.stdout.strip() or "starting"


class Container:
    """One `run -d` of an image, removed at the end."""

    def __init__(self, engine: Any, image: str, volume: str, *options: str) -> None:
        self.engine, self.port = engine, free_port()
        self.name = f"studio-test-{uuid.uuid4().hex[:8]}"
        args = ["run", "-d", "--name", self.name, "-p", f"127.0.0.1:{self.port}:7860"]
        args += ["-v", f"{volume}:/data", *options, image]
        engine.run(*args, capture=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        done = self.engine.run("logs", self.name, capture=True, check=False)
        return (done.stdout + done.stderr)[-4000:]

    def wait_healthy(self, timeout: float = 180) -> None:
        def healthy() -> bool:
            running = self.engine.run(
                "inspect", "--format", "{{.State.Running}}", self.name, capture=True
            ).stdout.strip()
            if running != "true":
                raise AssertionError(f"the container stopped:\n{self.logs()}")
            return health(self.engine, self.name) == "healthy"

        try:
            wait_for(healthy, timeout, f"{self.name} to be healthy")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.logs()}") from None

    def stop(self) -> tuple[float, int]:
        """SIGTERM (the image's STOPSIGNAL), 20 s before a kill: (seconds, exit code)."""
        started = time.monotonic()
        self.engine.run("stop", "-t", "20", self.name, capture=True)
        took = time.monotonic() - started
        code = self.engine.run(
            "inspect", "--format", "{{.State.ExitCode}}", self.name, capture=True
        ).stdout.strip()
        return took, int(code)

    def remove(self) -> None:
        self.engine.run("rm", "-f", "-t", "0", self.name, capture=True, check=False)


@pytest.fixture(scope="module")
def single_image(engine: Any, base: str) -> str:
    return build(engine, "single", base)


@pytest.fixture
def volume(engine: Any) -> Iterator[str]:
    name = f"studio-test-{uuid.uuid4().hex[:8]}"
    engine.run("volume", "create", name, capture=True)
    yield name
    engine.run("volume", "rm", "-f", name, capture=True, check=False)


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    made: list[Container] = []
    yield made
    for container in made:
        container.remove()


SCRIPT = """EXT. HARBOUR - DAWN

Boats rock in the harbour. A gull lands on a post.
"""


def render_film(url: str, cache: Path) -> tuple[int, int, bytes]:
    """Through the REST API: a project from a script, its clips rendered by the container's
    worker, the film assembled and downloaded by its signed link. (project, film artifact,
    the film's bytes)."""
    with Studio.connect(url, cache_dir=cache, timeout=60) as sdk:
        project = sdk.create_project("Harbour", height=240, fps=8)
        sdk.breakdown(project.id, SCRIPT)
        clips = sdk.render(project.id, wait=True, progress=False)
        assert clips and all(job.status == "succeeded" for job in clips), clips[0].error
        film = sdk.assemble(project.id, title="Harbour", wait=True, progress=False)
        assert film.status == "succeeded" and film.artifact_id is not None, film.error
        artifact = sdk.artifact(film.artifact_id)
        # The link a browser gets, fetched without a token, following any redirect (S3).
        with urllib.request.urlopen(sdk.download_url(film.artifact_id), timeout=60) as answer:
            data = answer.read()
        assert hashlib.sha256(data).hexdigest() == artifact.sha256
        return project.id, film.artifact_id, data


def film_seconds(data: bytes, folder: Path) -> float:
    path = folder / "film.mp4"
    path.write_bytes(data)
    return float(probe(path).duration)


def test_single_image_keeps_its_healthcheck(engine: Any, single_image: str) -> None:
    """podman's default (OCI) format drops HEALTHCHECK silently; the built image has it."""
    check = engine.run(
        "image", "inspect", "--format", "{{json .Config.Healthcheck}}", single_image, capture=True
    ).stdout
    assert "deploy/healthcheck.py" in check and '"app"' in check, check
    user = engine.run(
        "image", "inspect", "--format", "{{.Config.User}}", single_image, capture=True
    )
    assert user.stdout.strip() == "10001:0"


def test_single_container_renders_a_film_and_keeps_it(
    engine: Any, single_image: str, volume: str, containers: list[Container], tmp_path: Path
) -> None:
    first = Container(engine, single_image, volume)
    containers.append(first)
    first.wait_healthy()
    project_id, film_id, data = render_film(first.url, tmp_path / "sdk")
    assert film_seconds(data, tmp_path) > 1.0

    took, code = first.stop()
    MEASURED.append(f"single container: stopped by SIGTERM in {took:.1f} s")
    assert code == 0, f"exit code {code} after SIGTERM:\n{first.logs()}"
    assert took < 15, f"SIGTERM took {took:.1f} s"
    first.remove()

    # A new container on the same volume: the project, the film and its file are there.
    second = Container(engine, single_image, volume)
    containers.append(second)
    second.wait_healthy()
    with Studio.connect(second.url, cache_dir=tmp_path / "again", timeout=60) as sdk:
        assert project_id in [p.id for p in sdk.projects()]
        again = sdk.artifact_path(film_id).read_bytes()
    assert again == data


def test_single_container_as_an_arbitrary_uid(
    engine: Any, single_image: str, volume: str, containers: list[Container], tmp_path: Path
) -> None:
    """OpenShift runs images as a random uid in group 0: the data folder is group 0's."""
    container = Container(engine, single_image, volume, "--user", "12345:0")
    containers.append(container)
    container.wait_healthy()
    _, _, data = render_film(container.url, tmp_path / "sdk")
    assert film_seconds(data, tmp_path) > 1.0
    # Its files in /data are the arbitrary uid's, written through group 0's access.
    owner = engine.run(
        "exec", container.name, "stat", "-c", "%u:%g", "/data/studio.db", capture=True
    ).stdout.strip()
    assert owner == "12345:0"


def test_single_container_with_a_read_only_root(
    engine: Any, single_image: str, volume: str, containers: list[Container], tmp_path: Path
) -> None:
    container = Container(engine, single_image, volume, "--read-only", "--tmpfs", "/tmp")
    containers.append(container)
    container.wait_healthy()
    _, _, data = render_film(container.url, tmp_path / "sdk")
    assert film_seconds(data, tmp_path) > 1.0
    refused = engine.run("exec", container.name, "touch", "/app/x", capture=True, check=False)
    assert refused.returncode != 0 and "Read-only" in refused.stderr


def test_the_demo_runs_in_the_image(engine: Any, single_image: str, volume: str) -> None:
    """The README's first command, inside the image: its example screenplay to a film."""
    done = engine.run(
        "run", "--rm", "-v", f"{volume}:/data", "--entrypoint", "python", single_image,
        "-m", "studio", "demo", "--script", "examples/script.txt", "--out", "/data/demo.mp4",
        capture=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    size = engine.run(
        "run", "--rm", "-v", f"{volume}:/data", "--entrypoint", "stat", single_image,
        "-c", "%s", "/data/demo.mp4", capture=True,
    ).stdout  # fmt: skip
    assert int(size) > 10_000


def test_worker_image_builds_with_cuda_torch(engine: Any, base: str) -> None:
    """The GPU worker: torch from PyPI with CUDA (the build checks it too), diffusers and the
    studio's worker import; no GPU here, so nothing runs on one."""
    tag = build(engine, "worker", base)
    code = (
        "import torch, diffusers, studio.farm.worker; print(torch.__version__, torch.version.cuda)"
    )
    done = engine.run(
        "run", "--rm", "--entrypoint", "python", tag, "-c", code, capture=True, timeout=300
    )  # fmt: skip
    version, cuda = done.stdout.split()
    assert version.startswith("2.13.0") and cuda != "None", done.stdout
    check = engine.run(
        "image", "inspect", "--format", "{{json .Config.Healthcheck}}", tag, capture=True
    ).stdout
    assert '"worker"' in check, check


# ---------------------------------------------------------------------------- the dev stack


class HealthTicker(threading.Thread):
    """Runs the HEALTHCHECK of a Compose project's containers every 2 s, as podman's systemd
    timers would (there is no systemd here)."""

    def __init__(self, engine: Any, project: str) -> None:
        super().__init__(daemon=True)
        self.engine, self.project, self.stopped = engine, project, threading.Event()

    def run(self) -> None:
        label = f"label=com.docker.compose.project={self.project}"
        while not self.stopped.wait(2):
            listed = self.engine.run(
                "ps", "-q", "--filter", label, capture=True, check=False
            ).stdout.split()
            for container in listed:
                self.engine.run("healthcheck", "run", container, capture=True, check=False)


@pytest.fixture
def compose_env(engine: Any, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment `docker compose` needs to drive this engine: podman's Docker API
    socket, served for the test."""
    env = dict(engine.env)
    if engine.name == "docker":
        yield env
        return
    sock = tmp_path / "podman.sock"
    service = subprocess.Popen(
        [engine.program, "system", "service", "--time=0", f"unix://{sock}"],
        env=engine.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(sock.exists, 30, "podman's API socket")
        yield dict(env, DOCKER_HOST=f"unix://{sock}")
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)


def compose_binary() -> str:
    local = Path(sys.executable).parent / "docker-compose"
    found = str(local) if local.exists() else shutil.which("docker-compose")
    return require_service("docker-compose", found)


def test_dev_stack_renders_a_film_downloadable_from_the_host(
    engine: Any, base: str, compose_env: dict[str, str], tmp_path: Path
) -> None:
    app_image = build(engine, "app", base)
    assert app_image == "ai-film-studio-app:dev"  # the name deploy/compose.yaml runs
    env = dict(compose_env, **images.standin_images(engine, base))
    app_port, s3_port = free_port(), free_port()
    env.update(STUDIO_APP_PORT=str(app_port), STUDIO_S3_PORT=str(s3_port))
    project = f"studio-test-{uuid.uuid4().hex[:8]}"
    compose = [compose_binary(), "-f", str(ROOT / "deploy/compose.yaml"), "-p", project]
    ticker = HealthTicker(engine, project) if engine.name == "podman" else None

    def logs() -> str:
        done = subprocess.run([*compose, "logs", "--no-color"], env=env, text=True,
                              capture_output=True, check=False, timeout=60)  # fmt: skip
        return (done.stdout + done.stderr)[-6000:]

    try:
        if ticker is not None:
            ticker.start()
        started = time.monotonic()
        up = subprocess.run(
            [*compose, "up", "-d", "--no-build", "--wait", "--wait-timeout", "240"],
            env=env, text=True, capture_output=True, check=False, timeout=300,
        )  # fmt: skip
        assert up.returncode == 0, f"{up.stdout[-3000:]}{up.stderr[-3000:]}\n{logs()}"
        took = time.monotonic() - started
        MEASURED.append(f"dev stack (compose up --wait) healthy in {took:.0f} s")
        url = f"http://127.0.0.1:{app_port}"
        _, film_id, data = render_film(url, tmp_path / "sdk")
        assert film_seconds(data, tmp_path) > 1.0
        with Studio.connect(url, cache_dir=tmp_path / "sdk2") as sdk:
            link = sdk.download_url(film_id)
        # The signed link sends the browser to SeaweedFS at the port published on this host.
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(link, timeout=30)
        location = redirect.value.headers["Location"]
        assert location.startswith(f"http://127.0.0.1:{s3_port}/films/"), location
    finally:
        if ticker is not None:
            ticker.stopped.set()
        subprocess.run([*compose, "down", "-v", "-t", "10"], env=env, capture_output=True,
                       check=False, timeout=180)  # fmt: skip


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
