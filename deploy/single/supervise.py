"""A tiny process supervisor for the single-container image (standard library only).

It runs, as children of one process, after migrating the database
(`python -m studio db upgrade`, with the same environment as the processes below, so a tier
that insists on Redis sees the local one; the printed URL has its password masked):

- a local `redis-server` (bound to 127.0.0.1, nothing persisted: Redis only carries job ids,
  the database is the source of truth) unless `STUDIO_REDIS_URL` names another Redis or
  `STUDIO_SINGLE_REDIS=0`;
- `STUDIO_SINGLE_WORKERS` render workers (`python -m studio worker`, default 1) when there is a
  Redis queue;
- the app (`python -m studio serve`).

With `STUDIO_SINGLE_REDIS=0` and no `STUDIO_REDIS_URL` only the app runs, rendering in its
own thread (the inline queue).

Policy: if any child exits, everything is stopped and the supervisor exits with a non-zero
status, so the container's restart policy restarts the whole set (a restarted worker gets a
fresh default name, so it never inherits a dead worker's lease; see docs/farm.md). SIGTERM or
SIGINT stops the app and the workers (workers finish their current job), then Redis; whatever
has not exited after `STUDIO_SINGLE_STOP_SECONDS` (default 8) is killed. Children get SIGTERM
if the supervisor itself dies (PR_SET_PDEATHSIG), and it reaps every process it inherits, so it
can be PID 1.

Settings (environment):

    PYTHON                       interpreter for the studio commands (default: this one)
    STUDIO_REDIS_URL             an external Redis: no local redis-server
    STUDIO_SINGLE_REDIS          0 = no local Redis (inline queue unless STUDIO_REDIS_URL)
    STUDIO_SINGLE_REDIS_PORT     local Redis port on 127.0.0.1 (6379)
    STUDIO_SINGLE_REDIS_SERVER   redis-server binary (default: from PATH)
    STUDIO_SINGLE_REDIS_DIR      its working directory (the temp dir; nothing is written)
    STUDIO_SINGLE_WORKERS        render workers (1)
    STUDIO_SINGLE_WORKER_ARGS    their flags ("--preload draft")
    STUDIO_SINGLE_STOP_SECONDS   grace period after SIGTERM before SIGKILL (8)

A failed migration stops it before anything else starts, with the migration's exit status.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

POLL = 0.2


def log(message: str) -> None:
    print(f"supervise: {message}", file=sys.stderr, flush=True)


@dataclass
class Program:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    status: int | None = None  # exit status once reaped (negative: killed by that signal)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.status is None


@dataclass
class Plan:
    mode: str  # "local-redis" | "external-redis" | "inline"
    migrate: Program
    redis: Program | None
    workers: list[Program]
    app: Program


def _truthy(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def plan(env: dict[str, str]) -> Plan:
    """What to run for these environment variables."""
    python = env.get("PYTHON") or sys.executable
    redis_url = env.get("STUDIO_REDIS_URL", "").strip()
    child_env = dict(env)
    redis: Program | None = None
    if redis_url:
        mode = "external-redis"
    elif _truthy(env.get("STUDIO_SINGLE_REDIS"), True):
        mode = "local-redis"
        port = env.get("STUDIO_SINGLE_REDIS_PORT", "6379")
        binary = env.get("STUDIO_SINGLE_REDIS_SERVER") or shutil.which(
            "redis-server", path=env.get("PATH")
        )
        if not binary:
            raise SystemExit(
                "supervise: redis-server not found; set STUDIO_REDIS_URL, or "
                "STUDIO_SINGLE_REDIS=0 to render in the app's own thread"
            )
        # No persistence (Redis holds only the next few job ids, docs/farm.md), so its working
        # directory stays empty.
        workdir = env.get("STUDIO_SINGLE_REDIS_DIR") or tempfile.gettempdir()
        redis = Program(
            "redis",
            [binary, "--port", port, "--bind", "127.0.0.1", "--protected-mode", "yes",
             "--save", "", "--appendonly", "no", "--dir", workdir, "--loglevel", "warning"],
        )  # fmt: skip
        child_env["STUDIO_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    else:
        mode = "inline"
    workers: list[Program] = []
    if mode != "inline":
        count = int(env.get("STUDIO_SINGLE_WORKERS", "1"))
        extra = shlex.split(env.get("STUDIO_SINGLE_WORKER_ARGS", "--preload draft"))
        # No --name: the default name carries the pid and a random part, so a restarted
        # container never reuses a dead worker's name (and with it its job's lease).
        workers = [
            Program(f"worker-{i}", [python, "-m", "studio", "worker", *extra], child_env)
            for i in range(1, count + 1)
        ]
    host = env.get("STUDIO_HOST") or "0.0.0.0"
    app = Program("app", [python, "-m", "studio", "serve", "--host", host], child_env)
    migrate = Program("migrate", [python, "-m", "studio", "db", "upgrade"], child_env)
    return Plan(mode, migrate, redis, workers, app)


_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@/\s]*@")


def mask_passwords(line: str) -> str:
    """`scheme://user:secret@host` → `scheme://user:***@host`."""
    return _PASSWORD.sub(r"\1***@", line)


def exit_status(status: int) -> int:
    """The supervisor's status after a child's unexpected exit: never 0 (the set is broken);
    a child killed by signal N gives 128 + N, as a shell reports it."""
    if status < 0:
        return 128 - status
    return status or 1


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the supervisor dies (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(program: Program, env: dict[str, str], **popen: Any) -> None:
    program.process = subprocess.Popen(
        program.argv,
        env=program.env or env,
        stdin=subprocess.DEVNULL,
        process_group=0,  # a terminal's Ctrl-C reaches the supervisor only; it forwards
        preexec_fn=_die_with_parent,
        **popen,
    )
    log(f"started {program.name} (pid {program.pid}): {shlex.join(program.argv)}")


def migrate(program: Program, env: dict[str, str]) -> int:
    """Run the migration to its end, its output passed on with passwords masked."""
    start(program, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert program.process is not None and program.process.stdout is not None
    for raw in program.process.stdout:
        sys.stdout.write(mask_passwords(raw.decode(errors="replace")))
        sys.stdout.flush()
    program.status = program.process.wait()
    return program.status


def redis_ready(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Supervisor:
    def __init__(self, the_plan: Plan, env: dict[str, str], stop_seconds: float):
        self.plan, self.env, self.stop_seconds = the_plan, env, stop_seconds
        self.stopping = False
        self.exit_code = 0

    @property
    def programs(self) -> list[Program]:
        redis = [self.plan.redis] if self.plan.redis else []
        return [self.plan.migrate, *redis, *self.plan.workers, self.plan.app]

    def on_signal(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            log(f"{signal.Signals(signum).name}: stopping")
        self.stopping = True

    def reap(self) -> None:
        """Collect every exited child, ours or inherited (we may be PID 1)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for program in self.programs:
                if program.pid == pid and program.status is None:
                    program.status = os.waitstatus_to_exitcode(status)
                    assert program.process is not None
                    program.process.returncode = program.status
                    if not self.stopping:
                        log(f"{program.name} exited with status {program.status}; stopping all")
                        self.exit_code = exit_status(program.status)
                        self.stopping = True

    def wait_for(self, programs: list[Program], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while any(p.alive for p in programs) and time.monotonic() < deadline:
            time.sleep(POLL)
            self.reap()

    def signal_all(self, programs: list[Program], sig: signal.Signals) -> None:
        for program in programs:
            if program.alive and program.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    program.process.send_signal(sig)

    def stop(self, programs: list[Program], seconds: float) -> None:
        self.signal_all(programs, signal.SIGTERM)
        self.wait_for(programs, seconds)
        left = [p for p in programs if p.alive]
        if left:
            log(f"killing {', '.join(p.name for p in left)} after {seconds:g}s")
            self.signal_all(left, signal.SIGKILL)
            self.wait_for(left, 5)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.on_signal)
        log(f"mode {self.plan.mode}")
        # Migrations first, to their end (a signal meanwhile stops the start-up after them).
        status = migrate(self.plan.migrate, self.env)
        if status != 0:
            log(f"migration failed (exit status {status}); nothing started")
            return exit_status(status)
        redis = self.plan.redis
        if redis is not None and not self.stopping:
            start(redis, self.env)
            port = int(redis.argv[redis.argv.index("--port") + 1])
            deadline = time.monotonic() + 15
            while not redis_ready(port) and not self.stopping:
                self.reap()
                if time.monotonic() > deadline:
                    log("redis-server did not answer PING within 15 s")
                    self.exit_code, self.stopping = 1, True
                time.sleep(0.05)
        if not self.stopping:
            for program in [*self.plan.workers, self.plan.app]:
                start(program, self.env)
        while not self.stopping:
            time.sleep(POLL)
            self.reap()
        # App and workers first (workers finish their job), Redis last: they need it to stop.
        self.stop([*self.plan.workers, self.plan.app], self.stop_seconds)
        if redis is not None:
            self.stop([redis], 5)
        self.reap()
        log(f"stopped (exit status {self.exit_code})")
        return self.exit_code


def main() -> int:
    env = dict(os.environ)
    try:
        stop_seconds = float(env.get("STUDIO_SINGLE_STOP_SECONDS", "8"))
        the_plan = plan(env)
    except ValueError as exc:
        log(f"error: bad STUDIO_SINGLE_* setting: {exc}")
        return 2
    return Supervisor(the_plan, env, stop_seconds).run()


if __name__ == "__main__":
    raise SystemExit(main())
