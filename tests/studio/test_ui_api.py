"""The UI's API for gradio_client: only the documented endpoints, under their stable names,
and a film made through them on a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from studio import Studio
from studio.ui import build_ui
from studio.ui.api_names import PUBLIC
from tests.server import StudioServer

SCRIPT = """INT. KITCHEN - NIGHT

Anna stands by the window, rain on the glass.

ANNA
Where were you?
"""


def test_only_the_documented_endpoints_are_listed(tmp_path: Path) -> None:
    with Studio.local(tmp_path / "data", start_worker=False) as studio:
        info = build_ui(studio).get_api_info()
    assert sorted(info["named_endpoints"]) == sorted(f"/{name}" for name in PUBLIC.values())
    assert info["unnamed_endpoints"] == {}
    documented = (Path(__file__).parents[2] / "docs" / "gradio-api.md").read_text()
    for name in PUBLIC.values():
        assert f"`/{name}`" in documented, name


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StudioServer]:
    with StudioServer(tmp_path / "data", tmp_path / "server.log") as running:
        yield running


def test_a_film_through_gradio_client(server: StudioServer, tmp_path: Path) -> None:
    from gradio_client import Client

    client = Client(server.url, verbose=False, download_files=str(tmp_path / "downloads"))
    listed = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert "/tick" not in listed and "/load" not in listed and "/render_all" in listed

    bar = client.predict("Kitchen", api_name="/create_project")
    project = bar[0]["value"]
    status = client.predict(project, SCRIPT, api_name="/break_down")[0]
    assert status.startswith("**2 shots**")
    assert client.predict(project, api_name="/speak_lines")[0].startswith("Lines: 1 succeeded")
    assert client.predict(project, api_name="/render_all")[0] == "Submitted 2 render(s)."
    with Studio.local(server.data_dir, start_worker=False) as studio:
        deadline = time.monotonic() + 120
        while {j.status for j in studio.jobs(project, kinds=["clip"])} != {"succeeded"}:
            assert time.monotonic() < deadline, "the clips did not finish"
            time.sleep(0.3)
    video, files, note = client.predict(
        project, "", 0, None, True, True, False, False, -16, api_name="/assemble_film"
    )
    assert note.startswith("Film ready") and "1 spoken line" in note
    with av.open(video["value"]) as film:  # the player's update: the film and its subtitles
        assert film.streams.audio and film.streams.subtitles
    assert Path(video["subtitles"]).read_text(encoding="utf-8").startswith("WEBVTT")
    assert sorted(Path(f).suffix for f in files) == [".mp4", ".srt", ".vtt"]
