"""The `Studio` Python API end to end: what notebooks, the CLI and the UI rely on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import Session, func, select

from studio import Studio
from studio.core.errors import InvalidInput, NotFound
from studio.core.models import JobStatus, Project, RenderJob, Shot
from studio.film.video import probe, read_metadata

SCRIPT = """INT. KITCHEN - NIGHT

Anna stands by the window. Close-up on her hands around a cup.

EXT. STREET - NIGHT

Wide shot of the empty street. The camera pans left to a parked car.
"""


@pytest.fixture
def studio(tmp_path: Path, database_url: str) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", database_url=database_url, height=96) as s:
        yield s


@pytest.fixture
def sqlite_studio(tmp_path: Path) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data") as s:
        yield s


def small_project(studio: Studio, **fields: object) -> int:
    project = studio.create_project("Rain", height=96, fps=12, **fields)  # type: ignore[arg-type,arg-type]
    studio.breakdown(project.id, SCRIPT)
    return project.id


def test_script_to_film_with_provenance_everywhere(studio: Studio) -> None:
    pid = small_project(studio, style_prompt="charcoal sketch")
    shots = studio.shots(pid)
    assert len(shots) >= 3 and [s.position for s in shots] == list(range(len(shots)))

    previews = studio.preview(
        pid,
        wait=True,
    )
    assert {j.status for j in previews} == {"succeeded"}
    png = studio.preview_path(studio.shot(shots[0].id))
    assert png is not None
    with Image.open(png) as image:
        assert image.size == (studio.project(pid).width, 96)
        embedded = json.loads(image.text["studio_provenance"])  # type: ignore[attr-defined]
    assert "charcoal sketch" in embedded["prompt"] and embedded["seed"] == shots[0].seed
    assert embedded["pipeline"] == "draft" and "pillow" in embedded["libraries"]
    sidecar = json.loads(png.with_name(png.name + ".json").read_text())
    assert sidecar["params_hash"] == previews[0].params_hash

    clips = studio.render(pid, wait=True)
    assert {j.status for j in clips} == {"succeeded"}
    for shot, take in zip(studio.shots(pid), clips, strict=True):
        assert studio.shot(shot.id).chosen_take_id == take.id
        info = probe(studio.artifact_path(take.artifact_id))  # type: ignore[arg-type]
        assert info.frames == round(shot.duration * 12) and info.fps == 12
    tags = read_metadata(studio.artifact_path(clips[0].artifact_id))  # type: ignore[arg-type]
    assert json.loads(tags["studio_provenance"])["seed"] == shots[0].seed

    film = studio.assemble(pid, title="Rain", wait=True)
    assert film.status == "succeeded", film.error
    info = probe(studio.artifact_path(film.artifact_id))  # type: ignore[arg-type]
    expected = sum(s.duration for s in studio.shots(pid)) + 2.0
    assert abs(info.duration - expected) < 0.2
    assert studio.artifact(film.artifact_id).provenance["kind"] == "film"  # type: ignore[arg-type]


def test_rendering_again_is_served_from_the_cache(sqlite_studio: Studio, tmp_path: Path) -> None:
    studio = sqlite_studio
    pid = small_project(studio)
    first = studio.render(pid, wait=True)
    files = sorted((tmp_path / "data" / "artifacts").rglob("*.mp4"))
    again = studio.render(pid)  # no wait needed: cache hits finish at submit
    assert all(j.cache_hit and j.status == "succeeded" for j in again)
    assert [j.artifact_id for j in again] == [j.artifact_id for j in first]
    assert sorted((tmp_path / "data" / "artifacts").rglob("*.mp4")) == files
    # Changing a shot changes its params: only that shot renders anew.
    shot = studio.shots(pid)[0]
    studio.update_shot(shot.id, prompt="a different picture")
    third = studio.render(pid)
    assert [j.cache_hit for j in third] == [False] + [True] * (len(third) - 1)
    studio.wait(third, progress=False)


def test_takes_are_kept_and_the_creator_chooses(sqlite_studio: Studio) -> None:
    studio = sqlite_studio
    pid = small_project(studio)
    shot = studio.shots(pid)[0]
    (take1,) = studio.render(pid, [shot.id], wait=True)
    assert studio.shot(shot.id).chosen_take_id == take1.id
    # An edited shot's new take is what the creator asked for: it becomes the choice, and
    # the film uses it (it kept the old take, silently).
    studio.update_shot(shot.id, seed=shot.seed + 1)
    (take2,) = studio.render(pid, [shot.id], wait=True)
    assert [t.id for t in studio.takes(shot.id)] == [take2.id, take1.id]
    assert studio.shot(shot.id).chosen_take_id == take2.id
    studio.render(pid, [s.id for s in studio.shots(pid)[1:]], wait=True, progress=False)
    film = studio.assemble(pid, wait=True, progress=False)
    used = {t["shot_id"]: t["job_id"] for t in film.params["takes"]}
    assert used[shot.id] == take2.id
    # A creator who goes back to an older take keeps it through later renders.
    studio.choose_take(shot.id, take1.id)
    (take3,) = studio.render(pid, [shot.id], wait=True)  # the same params again
    studio.update_shot(shot.id, seed=shot.seed + 2)
    (take4,) = studio.render(pid, [shot.id], wait=True)
    assert take3.id != take4.id and studio.shot(shot.id).chosen_take_id == take1.id
    with pytest.raises(InvalidInput):
        studio.choose_take(shot.id, 12345)


def test_a_take_of_the_same_params_keeps_the_choice(sqlite_studio: Studio) -> None:
    studio = sqlite_studio
    pid = small_project(studio)
    shot = studio.shots(pid)[0]
    (take1,) = studio.render(pid, [shot.id], wait=True)
    (again,) = studio.render(pid, [shot.id], wait=True)  # served by the render cache
    assert again.cache_hit and studio.shot(shot.id).chosen_take_id == take1.id


def test_the_scripts_title_page_is_the_films_title_card(sqlite_studio: Studio) -> None:
    studio = sqlite_studio
    project = studio.create_project("Rails", height=96)
    assert project.id is not None
    script = "THE LAST TRAIN\nWritten by Ana Ruiz\n\nINT. STATION - NIGHT\n\nMara waits.\n"
    shots = studio.breakdown(project.id, script)
    assert [s.scene for s in shots] == ["INT. STATION - NIGHT"]  # the title is not a shot
    studio.update_shot(shots[0].id, duration=1.0)
    studio.render(project.id, wait=True, progress=False)
    titled = studio.assemble(project.id, wait=True, progress=False)
    assert titled.params["title"] == "THE LAST TRAIN" and titled.status == "succeeded"
    untitled = studio.assemble(project.id, title="", wait=True, progress=False)
    assert untitled.params["title"] is None
    own = studio.assemble(project.id, title="Last Train Home", progress=False)
    assert own.params["title"] == "Last Train Home"


def test_cancel_a_running_render(sqlite_studio: Studio) -> None:
    studio = sqlite_studio
    pid = small_project(studio)
    shot = studio.shots(pid)[0]
    studio.update_shot(shot.id, duration=60)
    (job,) = studio.render(pid, [shot.id])
    while studio.job(job.id).status != "running":
        time.sleep(0.01)
    studio.cancel(job.id)
    (done,) = studio.wait([job], progress=False, timeout=60)
    assert done.status == JobStatus.cancelled and done.artifact_id is None
    retried = studio.retry(job.id)
    assert retried.status == "queued"
    studio.cancel(job.id)


def test_a_failed_film_shows_its_error_and_retries(sqlite_studio: Studio) -> None:
    studio = sqlite_studio
    pid = small_project(studio)
    takes = studio.render(pid, wait=True)
    lost = studio.artifact_path(takes[0].artifact_id)  # type: ignore[arg-type]
    saved = lost.read_bytes()
    lost.unlink()  # the take's file is unreachable (e.g. a storage outage)
    film = studio.assemble(pid, wait=True)
    assert film.status == "failed" and "No object stored" in (film.error or "")
    lost.write_bytes(saved)  # storage is back
    studio.retry(film.id)
    (film,) = studio.wait([film], progress=False)
    assert film.status == "succeeded" and film.attempts == 1


def test_a_take_whose_file_is_gone_renders_again(sqlite_studio: Studio) -> None:
    studio = sqlite_studio
    pid = small_project(studio)
    (take,) = studio.render(pid, [studio.shots(pid)[0].id], wait=True)
    studio.artifact_path(take.artifact_id).unlink()  # type: ignore[arg-type]
    (again,) = studio.render(pid, [take.shot_id], wait=True)  # type: ignore[list-item]
    assert again.id != take.id and not again.cache_hit and again.status == "succeeded"
    assert studio.artifact_path(again.artifact_id).exists()  # type: ignore[arg-type]


def _rows(studio: Studio) -> tuple[int, int, int]:
    with Session(studio.engine) as session:
        return (
            session.exec(select(func.count()).select_from(Project)).one(),
            session.exec(select(func.count()).select_from(Shot)).one(),
            session.exec(select(func.count()).select_from(RenderJob)).one(),
        )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, p: s.breakdown(p, ""), "empty"),
        (lambda s, p: s.breakdown(p, "x" * 1_000_000), "limit"),
        (lambda s, p: s.breakdown(p, b"INT. ROOM\n\xff\xfe bad"), "UTF-8"),
        (lambda s, p: s.update_shot(s.shots(p)[0].id, duration=0), "Duration"),
        (lambda s, p: s.update_shot(s.shots(p)[0].id, duration=-3), "Duration"),
        (lambda s, p: s.update_shot(s.shots(p)[0].id, duration=1e9), "Duration"),
        (lambda s, p: s.update_shot(s.shots(p)[0].id, duration=float("nan")), "finite"),
        (lambda s, p: s.update_shot(s.shots(p)[0].id, camera_move="barrel roll"), "Camera"),
        (lambda s, p: s.update_shot(s.shots(p)[0].id, seed=-1), "Seed"),
        (lambda s, p: s.update_shot(s.shots(p)[0].id, clip_pipeline="sdxl-nope"), "Pipeline"),
        (lambda s, p: s.update_project(p, fps=0), "Frames per second"),
        (lambda s, p: s.update_project(p, fps=10_000), "Frames per second"),
        (lambda s, p: s.update_project(p, height=4320), "pixels"),
        (lambda s, p: s.update_project(p, aspect_ratio="7:3"), "Aspect"),
        (lambda s, p: s.update_project(p, preview_pipeline="nope"), "Preview pipeline"),
        (lambda s, p: s.create_project("   "), "empty"),
        (lambda s, p: s.assemble(p), "Render these shots first"),
        (lambda s, p: s.assemble(p, crossfade=-1), "Crossfade"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    sqlite_studio: Studio, call: object, message: str
) -> None:
    studio = sqlite_studio
    pid = small_project(studio)
    before = _rows(studio)
    shots_before = [s.model_dump() for s in studio.shots(pid)]
    with pytest.raises(InvalidInput, match=message):
        call(studio, pid)  # type: ignore[operator]
    assert _rows(studio) == before
    assert [s.model_dump() for s in studio.shots(pid)] == shots_before


def test_missing_ids_are_not_found(sqlite_studio: Studio) -> None:
    with pytest.raises(NotFound, match="project #42"):
        sqlite_studio.breakdown(42, SCRIPT)
    with pytest.raises(NotFound):
        sqlite_studio.update_shot(42, prompt="x")
    with pytest.raises(NotFound):
        sqlite_studio.cancel(42)
    pid = small_project(sqlite_studio)
    with pytest.raises(NotFound, match="No shot"):
        sqlite_studio.render(pid, [9999])


def test_shot_editing_add_move_delete(sqlite_studio: Studio) -> None:
    studio = sqlite_studio
    pid = small_project(studio)
    original = [s.id for s in studio.shots(pid)]
    new = studio.add_shot(pid, "a lighthouse at dawn", position=1, duration=2.5)
    assert [s.id for s in studio.shots(pid)] == [original[0], new.id, *original[1:]]
    studio.move_shot(new.id, 99)
    assert [s.id for s in studio.shots(pid)][-1] == new.id
    studio.update_shot(original[0], position=2)
    assert [s.id for s in studio.shots(pid)].index(original[0]) == 2
    studio.delete_shot(new.id)
    assert new.id not in [s.id for s in studio.shots(pid)]
    assert [s.position for s in studio.shots(pid)] == list(range(len(original)))


def test_chained_clips_start_from_the_previous_take(sqlite_studio: Studio) -> None:
    import numpy as np

    from studio.film.video import read_frames

    studio = sqlite_studio
    pid = small_project(studio)
    studio.update_project(pid, chain_clips=True)
    for shot in studio.shots(pid):
        studio.update_shot(shot.id, camera_move="static")
    first, second, *_ = studio.render(pid, wait=True, progress=False)
    assert second.depends_on == first.id and second.params["_runtime"]["chain_from_job"] == first.id
    assert second.params["chain_from"] == first.params_hash
    # An unchanged chain renders again from the cache, every shot of it.
    again = studio.render(pid)
    assert all(j.cache_hit for j in again), [(j.id, j.status) for j in again]
    assert second.started_at and first.finished_at and second.started_at >= first.finished_at
    end_of_first = list(read_frames(studio.artifact_path(first.artifact_id)))[-1]  # type: ignore[arg-type]
    start_of_second = next(read_frames(studio.artifact_path(second.artifact_id)))  # type: ignore[arg-type]
    # Encoded twice (lossy), so nearly, not exactly, equal.
    assert np.abs(end_of_first.astype(int) - start_of_second.astype(int)).mean() < 6
    # Without chaining the second shot starts from its own storyboard panel instead.
    studio.update_project(pid, chain_clips=False)
    (own,) = studio.render(pid, [second.shot_id], wait=True, progress=False)  # type: ignore[list-item]
    start_of_own = next(read_frames(studio.artifact_path(own.artifact_id)))  # type: ignore[arg-type]
    assert np.abs(end_of_first.astype(int) - start_of_own.astype(int)).mean() > 10


def test_a_chained_clip_fails_clearly_when_its_source_fails(sqlite_studio: Studio) -> None:
    from studio.core import lifecycle
    from studio.core.db import session_scope

    studio = sqlite_studio
    studio.queue.stop()  # hold the queue: fail the first take by hand, as a crash would
    pid = small_project(studio)
    studio.update_project(pid, chain_clips=True)
    first, second, *_ = studio.render(pid)
    with session_scope(studio.engine) as session:
        lifecycle.fail(session, first.id, "the GPU fell over")
        lifecycle.requeue_abandoned(session)
    orphan = studio.job(second.id)
    assert orphan.status == "failed" and f"Job #{first.id}" in (orphan.error or "")


def test_chained_clips_can_stop_at_scene_cuts(sqlite_studio: Studio) -> None:
    studio = sqlite_studio
    project = studio.create_project("Two places", height=120, chain_clips=True)
    script = "INT. HALL - DAY\n\nA door opens.\n\nA hand on the frame.\n\n"
    script += "EXT. YARD - DAY\n\nRain on the gravel.\n"
    hall, frame, yard = studio.breakdown(project.id, script)
    assert hall.scene == frame.scene != yard.scene
    for shot in (hall, frame, yard):
        studio.update_shot(shot.id, duration=1.0)
    across = {j.shot_id: j for j in studio.render(project.id)}
    assert across[frame.id].depends_on == across[hall.id].id
    assert across[yard.id].depends_on == across[frame.id].id  # through the cut
    studio.update_project(project.id, chain_within_scene=True)
    within = {j.shot_id: j for j in studio.render(project.id, wait=True, progress=False)}
    assert within[frame.id].params["chain_from"] == across[hall.id].params_hash
    assert "chain_from" not in within[yard.id].params  # a new place starts from its preview
    assert "preview" in within[yard.id].params
    with pytest.raises(InvalidInput, match="Chain within scene must be true or false"):
        studio.update_project(project.id, chain_within_scene="yes")


def test_the_workers_page_shows_what_the_inline_worker_loaded(sqlite_studio: Studio) -> None:
    from studio.ui.workers_tab import workers_html

    studio = sqlite_studio
    pid = small_project(studio)
    (worker,) = studio.workers()
    assert worker.pipelines == []  # nothing rendered yet
    studio.preview(pid, wait=True, progress=False)
    deadline = time.monotonic() + 10  # reported just after the job's result is stored
    while studio.workers()[0].pipelines == [] and time.monotonic() < deadline:
        time.sleep(0.05)
    (worker,) = studio.workers()
    assert worker.pipelines == ["draft"]  # was "—" after the pipeline loaded
    assert "<td>draft</td>" in workers_html(studio)


def test_the_workers_page_drops_jobs_lost_workers_no_longer_run(sqlite_studio: Studio) -> None:
    """A worker that stopped beating long ago is not listed; a lost one does not claim a
    job that finished (or went back to the queue) after it was lost."""
    from datetime import timedelta

    from studio.core.db import session_scope
    from studio.core.models import Worker, utcnow
    from studio.farm import registry
    from studio.ui.workers_tab import workers_html

    studio = sqlite_studio
    pid = small_project(studio)
    done, *_others = studio.preview(pid, wait=True, progress=False)
    registry.register(studio.engine, "gpu-lost", "redis")
    registry.register(studio.engine, "gpu-gone", "redis")
    registry.beat(studio.engine, "gpu-lost", current_job_id=done.id, state="busy")
    with session_scope(studio.engine) as session:
        for name, ago in (("gpu-lost", 120), ("gpu-gone", 7200)):
            worker = session.get(Worker, name)
            assert worker is not None
            worker.heartbeat_at = utcnow() - timedelta(seconds=ago)
            session.add(worker)
    page = workers_html(studio)
    assert "gpu-lost" in page and "gpu-gone" not in page
    assert "1 worker gone for over an hour (not listed)" in page
    lost_row = next(r for r in page.split("<tr") if "gpu-lost" in r)
    assert "data-state='lost'" in lost_row and f"#{done.id}" not in lost_row


def test_a_pipelines_first_job_says_it_is_loading_it(sqlite_studio: Studio) -> None:
    """Loading weights can take a while: the job's progress says so (not "Starting 0%"), and
    only the first job of a pipeline in a worker loads it."""
    studio = sqlite_studio
    pid = small_project(studio)
    subscription = studio.events.subscribe()
    first, *_rest = studio.preview(pid, wait=True, progress=False)
    messages = [e.get("message", "") for e in subscription.drain() if e.get("job") == first.id]
    assert "Loading draft (its first job in this worker)" in messages
    shot = studio.shots(pid)[0]
    studio.update_shot(shot.id, seed=shot.seed + 1)
    (again,) = studio.preview(pid, [shot.id], wait=True, progress=False)
    later = [e.get("message", "") for e in subscription.drain() if e.get("job") == again.id]
    assert later and not any(m.startswith("Loading") for m in later)


def test_a_batch_of_renders_is_read_and_inserted_at_once(tmp_path: Path, database_url: str) -> None:
    """Previews of 12 shots: one read for the twins of all of them (a job already queued for
    a shot is not queued twice) and one INSERT for the new rows, not a read and an insert
    per shot: the first render of a large batch starts that much sooner."""
    from sqlalchemy import event

    with Studio.local(tmp_path / "data", database_url=database_url, start_worker=False) as s:
        project = s.create_project("Harbour", height=64)
        assert project.id is not None
        shots = [s.add_shot(project.id, f"A gull, take {n}", seed=n).id for n in range(12)]
        (queued,) = s.preview(project.id, [shots[3]])
        statements: list[str] = []
        event.listen(
            s.engine,
            "before_cursor_execute",
            lambda _c, _cur, sql, *_a: statements.append(" ".join(sql.split()[:3]).upper()),
        )
        jobs = s.preview(project.id)
    assert [j.shot_id for j in jobs] == shots
    assert jobs[3].id == queued.id  # the one already queued
    assert len({j.id for j in jobs}) == 12 and {j.status for j in jobs} == {"queued"}
    assert sum(s.startswith("SELECT RENDERJOB.OWNER") for s in statements) == 1
    # PostgreSQL takes the 11 new rows in one statement (a round trip each was the cost);
    # SQLAlchemy inserts them one by one into SQLite, in process, to get their ids in order.
    postgres = database_url.startswith("postgresql")
    assert statements.count("INSERT INTO RENDERJOB") == (1 if postgres else 11)
