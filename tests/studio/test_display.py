"""Rich display in Jupyter (studio/display.py): shots, takes, projects, films and jobs as HTML."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio import Studio, display
from studio.core.models import JobPublic, JobStatus, ProjectPublic, ShotPublic

SCRIPT = """INT. LIGHTHOUSE - NIGHT
The keeper climbs the stairs.

EXT. CLIFF - DAWN
Waves break against the rocks.

INT. KITCHEN - MORNING
Tea steams on the table.
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A project with three shots: two previewed, one rendered as a take, and a film."""
    with Studio.local(tmp_path_factory.mktemp("display")) as studio:
        project = studio.create_project("Display", height=120, fps=8)
        assert project.id is not None
        shots = studio.breakdown(project.id, SCRIPT)
        assert len(shots) == 3
        for shot in shots:
            studio.update_shot(shot.id, duration=1.0)
        previews = studio.preview(project.id, [s.id for s in shots[:2]], wait=True, progress=False)
        takes = studio.render(project.id, wait=True, progress=False)
        film = studio.assemble(project.id, wait=True, progress=False)
        for job in [*previews, *takes, film]:
            assert job.status == JobStatus.succeeded.value, job.error
        yield {
            "studio": studio,
            "project": project,
            "shots": [studio.shot(s.id) for s in shots],  # with preview job ids
            "take": takes[0],
            "film": film,
            "preview": previews[0],
        }


@pytest.fixture(autouse=True)
def active(made: dict[str, Any]) -> Iterator[None]:
    display.activate(made["studio"])
    yield
    display.activate(None)


def png_in(html: str) -> bytes:
    match = re.search(r"<img src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert match, html[:300]
    return base64.b64decode(match.group(1))


def test_a_studio_makes_itself_the_active_one(tmp_path: Path) -> None:
    before = display.active()
    display.activate(None)
    try:
        with Studio.local(tmp_path, start_worker=False) as studio:
            assert display.active() is studio
            # A user's view shares the active studio (a web server makes one per request).
            studio.as_user("local")
            assert display.active() is studio
    finally:
        display.activate(before)


def html_of(model: object) -> str | None:
    """What Jupyter shows for `model` (display.activate gives the read models `_repr_html_`)."""
    html: str | None = getattr(model, "_repr_html_")()  # noqa: B009
    return html


def shown(model: object) -> str:
    """`html_of(model)`, which must be there."""
    html = html_of(model)
    assert html is not None, f"{type(model).__name__} shows no HTML"
    return html


def test_a_shot_shows_its_preview_frame_with_number_and_prompt(made: dict[str, Any]) -> None:
    shot: ShotPublic = made["shots"][0]
    html = html_of(shot)
    assert html is not None
    assert png_in(html).startswith(b"\x89PNG")
    assert "Shot 1" in html and shot.prompt.split()[0] in html


def test_a_take_plays_inline_as_a_video(made: dict[str, Any]) -> None:
    take: JobPublic = made["take"]
    html = shown(take)
    assert "<video" in html and "controls" in html
    match = re.search(r"src='data:video/mp4;base64,([A-Za-z0-9+/=]+)'", html)
    assert match
    assert base64.b64decode(match.group(1))[4:8] == b"ftyp"  # an MP4
    assert "succeeded" in html and "width:100.0%" in html


def test_a_film_plays_inline_too(made: dict[str, Any]) -> None:
    film: JobPublic = made["film"]
    assert "<video" in shown(film)


def test_a_large_video_is_linked_not_embedded(
    made: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(display, "MAX_INLINE_BYTES", 10)
    html = made["take"]._repr_html_()
    assert "<video" not in html and "base64" not in html
    path = made["studio"].artifact_path(made["take"].artifact_id)
    assert str(path) in html  # local storage: the path


def test_the_project_is_a_storyboard_grid_with_one_cell_per_shot(made: dict[str, Any]) -> None:
    project: ProjectPublic = made["project"]
    html = html_of(project)
    assert html is not None
    assert html.count("class='studio-cell'") == 3
    assert html.count("<img src='data:image/png;base64,") == 2  # two shots previewed
    assert html.count("studio-placeholder") == 1
    for number in (1, 2, 3):
        assert f"Shot {number}" in html
    assert "Display" in html


@pytest.mark.parametrize("progress", [0.0, 0.25, 0.5, 1.0])
def test_a_job_shows_a_progress_bar_of_its_progress(progress: float) -> None:
    job = JobPublic(
        id=7, kind="clip", project_id=1, params_hash="x", status="running", progress=progress
    )
    job.message, job.cost = "step 3 of 12", 1.5
    html = shown(job)
    assert f"width:{progress * 100:.1f}%" in html
    assert "running" in html and "step 3 of 12" in html and "cost 1.5" in html
    assert "<video" not in html


def test_a_failed_job_shows_its_error() -> None:
    job = JobPublic(id=8, kind="clip", project_id=1, params_hash="x", status="failed")
    job.error = "Out of memory <gpu>"
    html = shown(job)
    assert "Out of memory &lt;gpu&gt;" in html  # escaped


def test_a_preview_job_shows_its_frame(made: dict[str, Any]) -> None:
    assert png_in(made["preview"]._repr_html_())


def test_an_artifact_shows_its_picture_or_video(made: dict[str, Any]) -> None:
    studio = made["studio"]
    assert png_in(studio.artifact(made["preview"].artifact_id)._repr_html_())
    assert "<video" in studio.artifact(made["film"].artifact_id)._repr_html_()


def test_without_a_studio_objects_fall_back_to_plain_text(made: dict[str, Any]) -> None:
    display.activate(None)
    shot: ShotPublic = made["shots"][0]
    assert html_of(shot) is None
    assert made["project"]._repr_html_() is None
    take_html = made["take"]._repr_html_()  # the job card needs no studio
    assert "<video" not in take_html and "succeeded" in take_html
    assert made["studio"].artifact(made["film"].artifact_id)._repr_html_() is None
    assert shot.prompt in repr(shot)  # what Jupyter shows instead


def test_a_missing_file_falls_back_without_raising(
    made: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio = made["studio"]
    monkeypatch.setattr(studio, "artifact_path", lambda _id: tmp_path / "gone.mp4")
    monkeypatch.setattr(studio, "preview_path", lambda _shot: tmp_path / "gone.png")
    assert made["shots"][0]._repr_html_() is None
    assert "<video" not in made["take"]._repr_html_()
    html = made["project"]._repr_html_()
    assert html is not None and html.count("studio-placeholder") == 3


def test_an_unreachable_studio_does_not_break_the_display(made: dict[str, Any]) -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            def fail(*_args: Any, **_kwargs: Any) -> Any:
                raise ConnectionError("server gone")

            return fail

    display.activate(Broken())
    assert made["shots"][0]._repr_html_() is None
    assert made["project"]._repr_html_() is None
    assert "<video" not in made["take"]._repr_html_()


def _job(job_id: int, status: str, progress: float = 0.0) -> JobPublic:
    return JobPublic(
        id=job_id, kind="preview", project_id=1, params_hash="x", status=status, progress=progress
    )


def test_the_wait_bar_moves_by_each_jobs_progress_and_ends_when_all_finished() -> None:
    given = [_job(1, "queued"), _job(2, "running", 0.5), _job(3, "failed"), _job(2, "running")]
    waiting = display.WaitProgress(given, progress=False)
    assert waiting.bar.total == 3  # a job listed twice is one job
    # What was passed in gives the total only: job 3 failed, but was retried since.
    assert not waiting.update([_job(1, "queued"), _job(2, "running", 0.5), _job(3, "queued")])
    assert waiting.bar.n == pytest.approx(0.5)
    assert not waiting.update([_job(1, "running", 0.25), _job(3, "succeeded")])
    assert waiting.bar.n == pytest.approx(1.75)
    assert not waiting.update([_job(2, "failed")])  # a failed job has finished too
    assert waiting.bar.n == pytest.approx(2.25)
    assert not waiting.update([])  # nothing new: nothing moves
    assert waiting.bar.n == pytest.approx(2.25)
    assert waiting.update([_job(1, "succeeded")])
    assert waiting.bar.n == 3
    waiting.close()
