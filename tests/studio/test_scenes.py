"""Scenes: one per heading, found by the breakdown; a scene's look is said in the prompt of
each of its shots, so changing it renders exactly those shots again. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio import Studio
from studio.core.errors import InvalidInput, NotFound
from tests.studio.test_cast import SCREENPLAY


@pytest.fixture
def studio(tmp_path: Path, database_url: str) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", database_url=database_url) as s:
        yield s


def test_a_scene_look_re_renders_exactly_its_shots(studio: Studio) -> None:
    project = studio.create_project("Rails", height=120, style_prompt="35mm film")
    assert project.id is not None
    shots = studio.breakdown(project.id, SCREENPLAY)
    found = studio.scenes(project.id)
    assert [s.heading for s in found] == ["EXT. PRAIRIE RAILWAY - DAY", "INT. STATION OFFICE - DAY"]
    assert [s.look for s in found] == ["", ""]
    outside, office = found
    assert outside.shot_ids + office.shot_ids == [s.id for s in shots]
    first = studio.preview(project.id, wait=True, progress=False)
    assert not any(j.cache_hit for j in first)

    saved = studio.update_scene(office.id, look="  teal and amber   palette, low fog ")
    assert saved.look == "teal and amber palette, low fog"
    again = {j.shot_id: j for j in studio.preview(project.id, wait=True, progress=False)}
    assert {i for i, j in again.items() if not j.cache_hit} == set(office.shot_ids)
    prompt = again[office.shot_ids[0]].params["request"]["prompt"]
    # After the shot's own words and its cast, before the project's style.
    assert prompt.endswith("teal and amber palette, low fog, 35mm film"), prompt

    # A new breakdown keeps the look of a heading that comes back; a new heading joins.
    studio.breakdown(project.id, SCREENPLAY + "\nEXT. WATER TOWER - NIGHT\n\nWind.\n")
    after = {s.heading: s for s in studio.scenes(project.id)}
    assert after["INT. STATION OFFICE - DAY"].look == "teal and amber palette, low fog"
    assert after["EXT. WATER TOWER - NIGHT"].look == ""
    # A shot given a new heading by hand brings its scene.
    added = studio.add_shot(project.id, "A gull", scene="EXT. PIER - DAWN")
    assert any(
        s.heading == "EXT. PIER - DAWN" and added.id in s.shot_ids
        for s in studio.scenes(project.id)
    )


def test_bad_scene_input_is_refused_and_a_deleted_project_takes_its_scenes(
    studio: Studio,
) -> None:
    project = studio.create_project("Rails")
    assert project.id is not None
    studio.breakdown(project.id, SCREENPLAY)
    scene = studio.scenes(project.id)[0]
    for changes, words in (
        ({"look": "x" * 301}, "limit is 300"),
        ({"palette": "red"}, "Unknown scene field"),
        ({"look": 7}, "must be text"),
    ):
        with pytest.raises(InvalidInput, match=words):
            studio.update_scene(scene.id, **changes)
    assert studio.scenes(project.id)[0] == scene
    with pytest.raises(NotFound):
        studio.update_scene(10_000, look="x")
    studio.delete_project(project.id)
    with pytest.raises(NotFound):
        studio.update_scene(scene.id, look="x")


def test_a_scenes_first_preview_lends_the_others_its_look(studio: Studio) -> None:
    project = studio.create_project("Rails", height=120)
    assert project.id is not None
    shots = studio.breakdown(project.id, SCREENPLAY)
    outside, office = studio.scenes(project.id)
    plain = {j.shot_id: j for j in studio.preview(project.id, wait=True, progress=False)}

    studio.update_project(project.id, scene_style_reference=True)
    # Only the office's second shot, its first shot's preview already rendered: it takes it.
    (lone,) = studio.preview(project.id, [office.shot_ids[1]], wait=True, progress=False)
    first_office = plain[office.shot_ids[0]]
    assert lone.params["style_from"]["preview"] == first_office.params_hash
    assert lone.status == "succeeded" and not lone.cache_hit

    styled = {j.shot_id: j for j in studio.preview(project.id, wait=True, progress=False)}
    firsts = {outside.shot_ids[0], office.shot_ids[0]}
    for shot in shots:
        job = styled[shot.id]
        if shot.id in firsts:  # a scene's first shot renders as before
            assert "style_from" not in job.params and job.cache_hit
        else:
            scene_first = outside.shot_ids[0] if shot.id in outside.shot_ids else office.shot_ids[0]
            assert job.params["style_from"]["preview"] == plain[scene_first].params_hash

    # The draft gives the styled panel the first panel's sky: closer to it than before.
    def sky(job_id: int | None) -> np.ndarray:
        job = studio.job(job_id or 0)
        with Image.open(studio.artifact_path(job.artifact_id or 0)) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
        return pixels[15:25, -40:].reshape(-1, 3).mean(axis=0)

    second = outside.shot_ids[1]
    before = np.abs(sky(plain[second].id) - sky(plain[outside.shot_ids[0]].id)).sum()
    after = np.abs(sky(styled[second].id) - sky(plain[outside.shot_ids[0]].id)).sum()
    assert after < before

    # A new look for the first shot (its prompt) re-renders the scene's other shots too.
    studio.update_shot(outside.shot_ids[0], prompt="A red handcar in the rain")
    again = {j.shot_id: j for j in studio.preview(project.id, wait=True, progress=False)}
    rendered = {i for i, j in again.items() if not j.cache_hit}
    assert rendered == set(outside.shot_ids)
    # Off again: the plain renders, from the cache.
    studio.update_project(project.id, scene_style_reference=False)
    studio.update_shot(outside.shot_ids[0], prompt=shots[0].prompt)
    off = studio.preview(project.id, wait=True, progress=False)
    assert all(j.cache_hit and "style_from" not in j.params for j in off)


def test_with_the_option_from_the_start_the_others_wait_for_the_first(studio: Studio) -> None:
    project = studio.create_project("Rails", height=120, scene_style_reference=True)
    assert project.id is not None
    studio.breakdown(project.id, SCREENPLAY)
    outside, _office = studio.scenes(project.id)
    jobs = {j.shot_id: j for j in studio.preview(project.id)}
    first = jobs[outside.shot_ids[0]]
    for shot_id in outside.shot_ids[1:]:
        assert jobs[shot_id].depends_on == first.id
        assert jobs[shot_id].params["style_from"]["preview"] == first.params_hash
    done = studio.wait(list(jobs.values()), progress=False)
    assert all(j.status == "succeeded" for j in done), [j.error for j in done]
