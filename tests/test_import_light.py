"""The core, the UI and the app import and run with torch/diffusers/transformers unavailable."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BLOCKER = """
import sys
from importlib.abc import MetaPathFinder

BLOCKED = ("torch", "diffusers", "transformers")
attempts = []


class Block(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ImportError(f"{name} is blocked in this test")
        return None


sys.meta_path.insert(0, Block())
for name in BLOCKED:
    sys.modules.pop(name, None)
"""


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_") and k != "PORT"}
    env["STUDIO_DATA_DIR"] = str(tmp_path / "env-data")
    env["GRADIO_TEMP_DIR"] = str(tmp_path / "gradio")
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_blocker_really_blocks(tmp_path: Path) -> None:
    result = run_python(
        """
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            print("blocked:", exc)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "blocked: torch is blocked" in result.stdout


def test_everything_imports_and_a_studio_runs_without_torch(tmp_path: Path) -> None:
    result = run_python(
        f"""
        import importlib
        import studio
        assert "gradio" not in sys.modules, "import studio pulled in gradio"
        # Notebook users: the Python API and the headless pieces stay UI-free too.
        from studio import Studio
        for name in ("studio.api", "studio.cli", "storage", "credits", "pipelines",
                     "pipelines.draft"):
            importlib.import_module(name)
        assert "gradio" not in sys.modules, "the headless core pulled in gradio"
        for name in ("studio.ui", "app"):
            importlib.import_module(name)
        assert "gradio" in sys.modules

        s = Studio.local({str(tmp_path / "studio")!r})
        try:
            project = s.create_project("Light")
            assert s.projects()[0].name == "Light"
            assert s.readiness() == {{"database": "ok", "storage": "ok", "queue": "ok"}}
        finally:
            s.close()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print("LOADED", loaded)
        print("OK")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "LOADED []" in result.stdout
    assert result.stdout.strip().endswith("OK")
    assert (tmp_path / "studio" / "studio.db").is_file()
