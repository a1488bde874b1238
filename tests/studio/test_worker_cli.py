"""`python -m studio worker`: queue order, and clear refusals before it takes any job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.farm.worker import listen_order
from tests.server import ROOT


def test_warm_pipelines_are_listened_to_first_and_nothing_is_left_out() -> None:
    assert listen_order(["draft", "sdxl", "svd"], ["sdxl"]) == [
        "studio:pipeline:sdxl",
        "studio:pipeline:draft",
        "studio:pipeline:svd",
        "studio:any",
    ]
    # A worker restricted to one pipeline takes nothing else, not even unrouted jobs.
    assert listen_order(["draft", "sdxl"], ["sdxl"], only=["sdxl"]) == ["studio:pipeline:sdxl"]


def run_worker(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    environ.update({"STUDIO_DATA_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "-m", "studio", "worker", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_without_redis_says_what_to_set(tmp_path: Path) -> None:
    result = run_worker(tmp_path)
    assert result.returncode == 2
    assert "STUDIO_REDIS_URL" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.integration
def test_unknown_preload_pipeline_is_refused(tmp_path: Path, redis_url: str) -> None:
    result = run_worker(tmp_path, "--preload", "sdxl-typo", STUDIO_REDIS_URL=redis_url)
    assert result.returncode == 2
    assert "sdxl-typo" in result.stderr and "draft" in result.stderr  # names what exists
    assert "Traceback" not in result.stderr
