"""The studio rendering with real diffusers pipelines (tiny random weights, loaded from disk)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from pipelines.catalogue import Catalogue
from studio import Studio
from studio.film.video import probe, read_metadata

SCRIPT = """EXT. ORCHARD - DAY

Apples hang in the sun. A ladder leans on a tree. Two birds fly off. The wind rises.
"""


@pytest.fixture
def catalogue_file(tiny_catalogue: Catalogue, tmp_path: Path) -> Path:
    """The tiny catalogue plus two broken entries: missing weights, and out of memory."""
    assert tiny_catalogue.source is not None
    raw: dict[str, Any] = yaml.safe_load(tiny_catalogue.source.read_text())
    raw["pipelines"]["missing-weights"] = {
        **raw["pipelines"]["tiny-sd"],
        "model_id": str(tmp_path / "no-such-model"),
    }
    raw["pipelines"]["exhausted"] = {
        "tasks": ["text-to-image"],
        "implementation": "tests.crashing:ExhaustedPipeline",
    }
    path = tmp_path / "pipelines.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def make_studio(root: Path, catalogue: Path, **settings: Any) -> Studio:
    return Studio.local(root, pipelines_file=catalogue, **settings)


@pytest.fixture
def studio(tmp_path: Path, catalogue_file: Path) -> Iterator[Studio]:
    with make_studio(tmp_path / "data", catalogue_file) as s:
        yield s


def new_project(studio: Studio, preview: str = "tiny-sd", clip: str = "tiny-svd") -> int:
    project = studio.create_project(
        "Orchard", height=64, fps=8, preview_pipeline=preview, clip_pipeline=clip
    )
    assert project.id is not None
    for shot in studio.breakdown(project.id, SCRIPT):
        studio.update_shot(shot.id, duration=1.0)
    return project.id


def pixels(studio: Studio, job: Any) -> np.ndarray:
    with Image.open(studio.artifact_path(job.artifact_id)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_previews_and_clips_render_through_the_queue(studio: Studio) -> None:
    pid = new_project(studio)
    previews = studio.preview(pid, wait=True, progress=False)
    assert {j.status for j in previews} == {"succeeded"}, [j.error for j in previews]
    with Image.open(studio.artifact_path(previews[0].artifact_id)) as png:  # type: ignore[arg-type]
        embedded = json.loads(png.text["studio_provenance"])  # type: ignore[attr-defined]
    details = embedded["pipeline_details"]
    assert embedded["pipeline"] == "tiny-sd" and details["steps"] == 2
    assert details["revision"] and details["model_id"].endswith("tiny-sd")
    assert "torch" in embedded["libraries"] and embedded["model_revision"]
    clips = studio.render(pid, wait=True, progress=False)
    assert {j.status for j in clips} == {"succeeded"}, [j.error for j in clips]
    info = probe(studio.artifact_path(clips[0].artifact_id))  # type: ignore[arg-type]
    assert info.frames == 8 and info.width == studio.project(pid).width
    tags = json.loads(
        read_metadata(studio.artifact_path(clips[0].artifact_id))["studio_provenance"]  # type: ignore[arg-type]
    )
    assert tags["pipeline"] == "tiny-svd" and tags["params"]["task"] == "image-to-video"
    # Each pipeline was loaded once for all its jobs: the cache kept it warm.
    assert studio.runner.cache.loads == {"tiny-sd": 1, "tiny-svd": 1}


def test_batched_previews_equal_one_at_a_time(tmp_path: Path, catalogue_file: Path) -> None:
    results = {}
    for batch in (1, 4):
        with make_studio(tmp_path / f"b{batch}", catalogue_file, preview_batch=batch) as s:
            jobs = s.preview(new_project(s), wait=True, progress=False)
            assert {j.status for j in jobs} == {"succeeded"}
            results[batch] = [pixels(s, j) for j in jobs]
            starts = [j.started_at for j in jobs if j.started_at]
            ends = [j.finished_at for j in jobs if j.finished_at]
            together = max(starts) < min(ends)  # all claimed before any finished
            assert together == (batch == 4)  # one call for the batch; one by one otherwise
    assert len(results[1]) == len(results[4]) >= 3
    for one, batched in zip(results[1], results[4], strict=True):
        assert np.abs(one - batched).max() <= 1  # same seeds, same pictures


def test_a_batch_records_its_results_together_and_a_refusal_alone(
    tmp_path: Path, catalogue_file: Path
) -> None:
    """A batch of previews records its pictures in one transaction, not one each (a commit
    per job weighs on a fast GPU's preview); one that ended while the batch rendered (its
    lease ran out and its owner cancelled it) stays cancelled, with no artifact left
    behind, and the others are recorded."""
    from sqlalchemy import event
    from sqlmodel import select

    from studio.core import lifecycle
    from studio.core.db import session_scope
    from studio.core.models import Artifact

    with make_studio(tmp_path / "data", catalogue_file, start_worker=False) as s:
        first, *others = [j.id or 0 for j in s.preview(new_project(s))]
        assert len(others) >= 2
        with session_scope(s.engine) as session:
            job = lifecycle.claim_job(session, first, "local", 60.0)
        assert job is not None
        pipeline = s.runner.pipeline("tiny-sd")
        render_frames = pipeline.render_frames
        commits: list[int] = []

        def rendered(requests: list[Any], **kwargs: Any) -> Any:
            assert len(requests) == 1 + len(others)  # one batch
            images = render_frames(requests, **kwargs)
            with session_scope(s.engine) as session:  # its end, while the GPU worked
                lifecycle.mark_cancelled(session, others[0])
            commits.clear()  # from here on: the batch's results
            return images

        event.listen(s.engine, "commit", lambda _conn: commits.append(1))
        pipeline.render_frames = rendered
        s.runner.execute(job, "local")
        assert len(commits) == 1
        statuses = [s.job(j).status for j in [first, *others]]
        assert statuses == ["succeeded", "cancelled"] + ["succeeded"] * (len(others) - 1)
        assert s.job(others[0]).artifact_id is None
        with session_scope(s.engine) as session:
            assert len(session.exec(select(Artifact)).all()) == len(others)


def test_cancel_mid_render_and_the_pipeline_stays_usable(studio: Studio) -> None:
    pid = new_project(studio)
    shot = studio.shots(pid)[0]
    studio.update_shot(shot.id, duration=60)
    (job,) = studio.render(pid, [shot.id])
    while studio.job(job.id).progress < 0.2:
        assert studio.job(job.id).status in ("queued", "running")
    studio.cancel(job.id)
    (done,) = studio.wait([job], progress=False, timeout=60)
    assert done.status == "cancelled" and done.artifact_id is None
    (next_job,) = studio.render(pid, [studio.shots(pid)[1].id], wait=True, progress=False)
    assert next_job.status == "succeeded"


def test_progress_events_follow_the_denoising_steps(studio: Studio) -> None:
    events: list[dict[str, Any]] = []
    studio.runner.publish = events.append
    pid = new_project(studio)
    studio.update_project(pid, height=480)  # slower, so progress is reported in between
    jobs = studio.preview(pid, wait=True, progress=False)
    assert all(j.status == "succeeded" for j in jobs)
    finished = {e["job"] for e in events if e.get("finished")}
    assert finished == {j.id for j in jobs}
    fractions = [e["progress"] for e in events if "progress" in e]
    assert fractions and all(0 <= f <= 1 for f in fractions)


def test_missing_weights_and_out_of_memory_fail_clearly_and_the_queue_moves_on(
    studio: Studio, tmp_path: Path
) -> None:
    broken = new_project(studio, preview="missing-weights")
    exhausted = new_project(studio, preview="exhausted")
    fine = new_project(studio)
    jobs = studio.preview(broken) + studio.preview(exhausted) + studio.preview(fine)
    final = studio.wait(jobs, progress=False, timeout=120)
    by_project: dict[int, set[str]] = {}
    for job in final:
        by_project.setdefault(job.project_id, set()).add(job.status)
    assert by_project == {broken: {"failed"}, exhausted: {"failed"}, fine: {"succeeded"}}
    missing = next(j for j in final if j.project_id == broken)
    assert str(tmp_path / "no-such-model") in (missing.error or "")
    assert "Traceback" not in (missing.error or "")
    oom = next(j for j in final if j.project_id == exhausted)
    assert "out of memory" in (oom.error or "").lower() and "Traceback" not in (oom.error or "")


def test_a_running_preview_shows_its_latest_step(studio: Studio) -> None:
    from PIL import Image as PILImage

    from studio.core.params import resolve_preview_request

    pid = new_project(studio)
    project = studio.project(pid)
    shot = studio.shots(pid)[0]
    from studio.core.params import shot_request

    params = resolve_preview_request(studio.catalogue, "tiny-sd", shot_request(project, shot, 1))
    studio.runner._frame(params, lambda done, total: None, job_id=999)
    assert studio.storage.exists("live/999.png")  # what the queue tab shows while it runs
    with PILImage.open(studio.storage.local_path("live/999.png")) as live:
        assert max(live.size) <= 256
    # The draft pipeline has no steps to show, and says nothing.
    draft = resolve_preview_request(studio.catalogue, "draft", shot_request(project, shot, 1))
    studio.runner._frame(draft, lambda done, total: None, job_id=1000)
    assert not studio.storage.exists("live/1000.png")
    # A finished job leaves no live image behind.
    (job,) = studio.preview(pid, [shot.id], wait=True, progress=False)
    assert job.status == "succeeded" and studio.live_preview(job.id) is None


def test_a_live_image_left_by_an_earlier_attempt_goes_with_the_job(studio: Studio) -> None:
    """A worker stopped mid-render leaves its live image behind; the worker that renders the
    job again removes it, though it stored none itself (the draft pipeline shows no steps)."""
    from sqlalchemy import delete

    from studio.core import lifecycle
    from studio.core.db import session_scope
    from studio.core.models import QueuePause
    from studio.farm.runner import live_preview_key

    pid = new_project(studio, preview="draft")
    shot = studio.shots(pid)[0]
    studio.pause_queue()  # the job waits for the worker that will be "gone"
    (job,) = studio.preview(pid, [shot.id])
    assert job.id is not None
    with session_scope(studio.engine) as session:  # resumed and claimed at once
        session.execute(delete(QueuePause))
        assert lifecycle.claim_job(session, job.id, "gone", 30.0) is not None
    buffer = io.BytesIO()
    Image.new("RGB", (32, 18)).save(buffer, format="PNG")
    studio.storage.put_bytes(live_preview_key(job.id), buffer.getvalue(), "image/png")
    with session_scope(studio.engine) as session:  # its worker is known dead: re-queued
        (requeued,) = lifecycle.requeue_abandoned(session, dead_workers=lambda w: w == "gone")
        assert requeued.id == job.id
    studio.queue.enqueue(job.id)
    (done,) = studio.wait([job], progress=False)
    assert done.status == "succeeded" and done.attempts == 2
    assert studio.live_preview(job.id) is None


def test_a_cast_reference_conditions_the_ip_adapter_preview(
    tmp_path: Path, catalogue_file: Path
) -> None:
    """Through the whole studio: the worker fetches the member's picture and the tiny
    IP-Adapter renders with it; only her shots change, and reproducibly."""
    script = "EXT. PIER - DAY\n\nMARA (40s, red coat) waits.\n\nThe sea is grey.\n"
    noise = np.random.default_rng(3).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    picture = buffer.getvalue()

    def frames(studio: Studio, project_id: int) -> dict[int, np.ndarray]:
        jobs = studio.preview(project_id, wait=True, progress=False)
        assert all(j.status == "succeeded" for j in jobs), [j.error for j in jobs]
        return {
            j.shot_id: np.asarray(Image.open(studio.artifact_path(j.artifact_id)), dtype=float)
            for j in jobs
            if j.shot_id is not None and j.artifact_id is not None
        }

    renders = []
    for run in ("first", "second"):  # two studios, nothing shared but the catalogue
        with make_studio(tmp_path / run, catalogue_file) as studio:
            project = studio.create_project("Pier", height=64, preview_pipeline="tiny-sd-reference")
            assert project.id is not None
            shots = studio.breakdown(project.id, script)
            mara_shot, sea_shot = shots[0].id, shots[-1].id
            assert "MARA" in shots[0].characters and "MARA" not in shots[-1].characters
            (mara,) = studio.cast(project.id)
            plain = frames(studio, project.id)
            studio.set_cast_reference(mara.id, picture)
            referenced = frames(studio, project.id)
            assert np.abs(referenced[mara_shot] - plain[mara_shot]).mean() > 1.0
            assert np.array_equal(referenced[sea_shot], plain[sea_shot])
            renders.append(referenced[mara_shot])
            if run == "first":
                studio.clear_cast_reference(mara.id)
                assert np.array_equal(frames(studio, project.id)[mara_shot], plain[mara_shot])
    assert np.array_equal(renders[0], renders[1])


def test_the_consistency_report_scores_shots_against_the_reference(
    tmp_path: Path, catalogue_file: Path
) -> None:
    """With a similarity model configured (tiny CLIP), each shot of a member with a picture
    is scored against it and the least alike come first; without a picture, no scores."""
    script = "EXT. PIER - DAY\n\nMARA (40s) waits.\n\nMARA\nLate again.\n\nTOMAS\nComing!\n"
    with make_studio(tmp_path / "data", catalogue_file, similarity_pipeline="tiny-clip") as studio:
        project = studio.create_project("Pier", height=64)
        assert project.id is not None
        studio.breakdown(project.id, script)
        jobs = studio.preview(project.id, wait=True, progress=False)
        cast = {m.name: m for m in studio.cast(project.id)}
        # Her reference is the frame of her second shot: that shot must score highest.
        mara_shots = cast["MARA"].shot_ids
        second = next(j for j in jobs if j.shot_id == mara_shots[1])
        studio.pick_cast_reference(cast["MARA"].id, second.id)

        report = {r.name: r for r in studio.consistency(project.id)}
        mara, tomas = report["MARA"], report["TOMAS"]
        assert mara.scored_with == "tiny-clip" and mara.score_error == ""
        scores = [look.similarity for look in mara.shots if look.similarity is not None]
        assert len(scores) == len(mara.shots) and scores == sorted(scores)  # lowest first
        assert mara.shots[-1].shot_id == mara_shots[1] and scores[-1] > 0.999
        assert {look.shot_id for look in mara.shots} == set(mara_shots)
        assert tomas.scored_with == "" and all(look.similarity is None for look in tomas.shots)

    with make_studio(tmp_path / "data", catalogue_file, similarity_pipeline="tiny-sd") as studio:
        (mara,) = [r for r in studio.consistency(project.id) if r.name == "MARA"]
        assert "does not do image-similarity" in mara.score_error
        assert [look.shot_id for look in mara.shots] == mara_shots  # frames still listed


def test_a_members_lora_changes_only_its_shots(studio: Studio, tiny_catalogue: Catalogue) -> None:
    """The tiny LoRA (the one make-tiny writes for tiny-sd-lora) as Mara's own LoRA on
    tiny-sd: her shot's preview changes, the other shot's does not."""
    lora = Path(tiny_catalogue.get("tiny-sd-lora").loras[0].path)
    if lora.is_dir():
        lora = next(lora.glob("*.safetensors"))
    project = studio.create_project("Pier", height=64, preview_pipeline="tiny-sd")
    assert project.id is not None
    shots = studio.breakdown(project.id, "EXT. PIER - DAY\n\nMARA (40s) waits.\n\nThe sea.\n")
    (mara,) = studio.cast(project.id)

    def frames() -> dict[int | None, Any]:
        jobs = studio.preview(project.id, wait=True, progress=False)
        assert all(j.status == "succeeded" for j in jobs), [j.error for j in jobs]
        return {j.shot_id: j for j in jobs}

    plain = frames()
    member = studio.set_cast_lora(mara.id, lora)
    assert member.lora_artifact_id is not None
    with_lora = frames()
    mara_job, sea_job = with_lora[shots[0].id], with_lora[shots[-1].id]
    digest = studio.artifact(member.lora_artifact_id).sha256
    assert mara_job.params["loras"] == [{"name": "Mara", "digest": digest, "scale": 0.8}]
    assert sea_job.cache_hit and "loras" not in sea_job.params

    def pixels(job: Any) -> np.ndarray:
        return np.asarray(Image.open(studio.artifact_path(job.artifact_id)), dtype=np.float64)

    assert np.abs(pixels(mara_job) - pixels(plain[shots[0].id])).mean() > 0.5
    details = studio.artifact(mara_job.artifact_id).provenance["pipeline_details"]
    assert details["request_loras"][0]["digest"] == digest
