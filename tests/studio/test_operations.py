"""Operations: `python -m studio check`, and JSON logs that carry request and job ids."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from studio.core import logs
from tests.server import ROOT


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "studio", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_masks_secrets_and_passes_on_a_ready_studio(tmp_path: Path) -> None:
    env = {
        "STUDIO_DATA_DIR": str(tmp_path),
        "STUDIO_SECRET_KEY": "hunter2-very-secret",
        "STUDIO_DATABASE_URL": f"sqlite:///{tmp_path}/s.db",
    }
    assert run("db", "upgrade", **env).returncode == 0
    result = run("check", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hunter2" not in result.stdout and "secret_key             ***" in result.stdout
    assert "database               ok" in result.stdout


def test_check_names_what_is_unreachable(tmp_path: Path) -> None:
    result = run(
        "check", STUDIO_DATA_DIR=str(tmp_path), STUDIO_REDIS_URL="redis://:topsecret@127.0.0.1:1/0"
    )
    assert result.returncode == 1
    assert "redis" in result.stderr and "topsecret" not in result.stdout + result.stderr
    assert "migrations are not at head" in result.stdout  # nothing migrated this data dir


def test_json_logs_carry_request_and_job_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    log = logging.getLogger("test.json")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    request, job = logs.request_id.set("abc123"), logs.job_id.set(42)
    try:
        log.info("rendering %s", "shot 1")
    finally:
        logs.request_id.reset(request)
        logs.job_id.reset(job)
        log.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "rendering shot 1"
    assert line["request_id"] == "abc123" and line["job_id"] == 42 and line["level"] == "info"
