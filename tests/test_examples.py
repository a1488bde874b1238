"""The examples run: the notebook (executed with nbclient), the batch script and the
quickstart script, each against a local studio in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.film.video import probe

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def example_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: no server to connect to, a data dir of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env["STUDIO_DATA_DIR"] = str(tmp_path / "default-data")
    env["TMPDIR"] = str(tmp_path)
    return env


@pytest.fixture(params=["local", "remote"])
def notebook_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The notebook's environment: nothing (a local studio in a temp dir), or STUDIO_URL and
    STUDIO_TOKEN of a running server with accounts and credits (the same notebook, remote)."""
    for key in list(os.environ):
        if key.startswith("STUDIO_"):  # the notebook would connect to STUDIO_URL
            monkeypatch.delenv(key)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    if request.param == "local":
        yield
        return
    from studio import Studio
    from tests.server import StudioServer

    data = tmp_path / "server"
    secret = "notebook-test-secret-key"
    with Studio.local(data, start_worker=False, auth=True, credits=True) as admin:
        admin.create_user("alice", "correct-horse-9")
        admin.grant_credits("alice", 500, "notebook test")
        token = admin.as_user("alice").create_token("notebook")[1]
    env = {"STUDIO_AUTH": "true", "STUDIO_CREDITS": "true", "STUDIO_SECRET_KEY": secret}
    server = StudioServer(data, tmp_path / "server.log", env=env).start()
    monkeypatch.setenv("STUDIO_URL", server.url)
    monkeypatch.setenv("STUDIO_TOKEN", token)
    try:
        yield
    finally:
        server.stop()


def test_the_notebook_runs_from_script_to_film(notebook_env: None) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()

    code = [c for c in notebook.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, "\n".join("\n".join(o.traceback) for o in errors)
    html = {
        i: "".join(o.get("data", {}).get("text/html", "") for o in c.outputs)
        for i, c in enumerate(code)
    }
    (film_cell,) = [i for i, c in enumerate(code) if "film" in c.metadata.get("tags", [])]
    assert code[film_cell].outputs, "the film cell showed nothing"
    assert "<video" in html[film_cell] and "data:video/mp4;base64," in html[film_cell]
    grids = [h for h in html.values() if "studio-grid" in h]
    assert len(grids) == 2  # the storyboard before and after the previews
    assert "studio-placeholder" in grids[0] and "studio-placeholder" not in grids[1]
    assert any("<video" in h for i, h in html.items() if i != film_cell)  # a take


def test_the_batch_script_renders_a_script_into_a_film(tmp_path: Path) -> None:
    script = tmp_path / "short.txt"
    script.write_text(
        "INT. LIGHTHOUSE - NIGHT\nThe keeper climbs the stairs.\n\n"
        "EXT. CLIFF - DAWN\nWaves break against the rocks.\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "batch_render.py"),
            "--data-dir",
            str(data),
            "--script",
            str(script),
            "--height",
            "120",
            "--title",
            "Short",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=example_env(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "2 shots" in lines[0]
    assert "previews: 2/2 succeeded" in result.stdout and "takes: 2/2 succeeded" in result.stdout
    assert lines[-1].startswith("film: ")
    film = Path(lines[-1].removeprefix("film: "))
    assert film.is_file() and data in film.parents
    info = probe(film)
    assert info.height == 120 and info.duration > 2


def test_the_batch_script_refuses_a_token_without_a_url(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "batch_render.py"), "--token", "sfs_x"],
        capture_output=True,
        text=True,
        timeout=60,
        env=example_env(tmp_path),
    )
    assert result.returncode == 2 and "--token goes with --url" in result.stderr


def test_the_quickstart_script_still_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "notebook_quickstart.py")],
        capture_output=True,
        text=True,
        timeout=240,
        env=example_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "film: " in result.stdout and "duration: " in result.stdout


def test_the_notebook_is_valid_json_with_a_remote_switch() -> None:
    notebook = json.loads((EXAMPLES / "notebook.ipynb").read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in notebook["cells"]]
    assert any("Studio.connect(url" in s and "STUDIO_TOKEN" in s for s in sources)
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
