"""The Lab: tweaked renders and sweeps through the queue, presets that shots can use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.catalogue import Catalogue
from studio import Studio
from studio.core.errors import InvalidInput


@pytest.fixture
def studio(tmp_path: Path, tiny_catalogue: Catalogue) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", pipelines_file=tiny_catalogue.source) as s:
        yield s


def image(studio: Studio, job: object) -> np.ndarray:
    with Image.open(studio.artifact_path(job.artifact_id)) as png:  # type: ignore[attr-defined]
        return np.asarray(png.convert("RGB"), dtype=np.int16)


def test_a_sweep_renders_every_cell_with_its_parameters(studio: Studio) -> None:
    jobs = studio.lab_sweep(
        "tiny-sd",
        "a lighthouse",
        axes={"seed": [1, 2], "steps": [1, 3]},
        overrides={"width": 64, "height": 64},
        wait=True,
        progress=False,
    )
    assert len(jobs) == 4 and {j.status for j in jobs} == {"succeeded"}, [j.error for j in jobs]
    cells = [j.params["cell"] for j in jobs]
    assert cells == [
        {"seed": 1, "steps": 1},
        {"seed": 1, "steps": 3},
        {"seed": 2, "steps": 1},
        {"seed": 2, "steps": 3},
    ]
    for job in jobs:  # each render used its own cell's values
        details = studio.artifact(job.artifact_id).provenance["pipeline_details"]  # type: ignore[arg-type]
        assert details["steps"] == job.params["cell"]["steps"]
        assert details["seed"] == job.params["cell"]["seed"]
    assert not np.array_equal(image(studio, jobs[0]), image(studio, jobs[2]))  # seeds differ
    assert studio.lab_project().kind == "lab"
    assert all(p.kind == "film" for p in studio.projects())  # the Lab stays out of the way


def test_a_saved_preset_is_a_pipeline_shots_can_use(studio: Studio) -> None:
    tweak = {"steps": 3, "guidance": 2.0, "width": 64, "height": 64}
    lab_job = studio.lab_run(
        "tiny-sd", "an orchard", seed=5, overrides=tweak, wait=True, progress=False
    )
    entry = studio.save_preset("orchard-look", "tiny-sd", tweak, description="3 steps")
    assert entry.defaults["steps"] == 3 and "orchard-look" in studio.catalogue
    project = studio.create_project(
        "P", height=64, aspect_ratio="1:1", preview_pipeline="orchard-look"
    )
    assert project.id is not None
    shot = studio.add_shot(project.id, "an orchard", seed=5)
    (job,) = studio.preview(project.id, wait=True, progress=False)
    assert job.status == "succeeded", job.error
    details = studio.artifact(job.artifact_id).provenance["pipeline_details"]  # type: ignore[arg-type]
    assert details["steps"] == 3 and details["guidance"] == 2.0
    # Same model, same settings, same seed and prompt: the shot looks like the Lab render.
    assert np.abs(image(studio, job) - image(studio, lab_job)).max() <= 1
    # Updating the preset changes what its shots render: no stale cache hit.
    studio.save_preset("orchard-look", "orchard-look", {"steps": 1})
    (redo,) = studio.preview(project.id, wait=True, progress=False)
    assert not redo.cache_hit and redo.status == "succeeded"
    assert studio.artifact(redo.artifact_id).provenance["pipeline_details"]["steps"] == 1  # type: ignore[arg-type]
    del shot


def test_bad_lab_input_is_refused(studio: Studio) -> None:
    with pytest.raises(InvalidInput, match="one or two"):
        studio.lab_sweep("tiny-sd", "x", axes={"seed": [1], "steps": [1], "guidance": [1]})
    with pytest.raises(InvalidInput, match="too big"):
        studio.lab_sweep("tiny-sd", "x", axes={"seed": list(range(7)), "steps": list(range(1, 7))})
    with pytest.raises(InvalidInput, match="Steps"):
        studio.lab_run("tiny-sd", "x", overrides={"steps": 0})
    with pytest.raises(InvalidInput, match="multiple of 8"):
        studio.lab_run("tiny-sd", "x", overrides={"width": 100})
    with pytest.raises(InvalidInput, match="Unknown pipeline"):
        studio.lab_run("nope", "x")
    with pytest.raises(InvalidInput, match="already a catalogue pipeline"):
        studio.save_preset("tiny-sd", "tiny-sd", {})
    with pytest.raises(InvalidInput, match="no LoRA"):
        studio.save_preset("scaled", "tiny-sd", {}, lora_scale=0.5)
    assert studio.lab_jobs() == []  # nothing was queued by the refused calls


def test_the_prompt_writer_expands_shot_prompts_and_is_off_by_default(
    tmp_path: Path, tiny_catalogue: Catalogue
) -> None:
    with Studio.local(tmp_path / "off", pipelines_file=tiny_catalogue.source) as off:
        project = off.create_project("P")
        assert project.id is not None
        off.add_shot(project.id, "a kite")
        with pytest.raises(InvalidInput, match="No prompt writer configured"):
            off.expand_prompts(project.id)
    with Studio.local(
        tmp_path / "on", pipelines_file=tiny_catalogue.source, prompt_writer="tiny-prompt-writer"
    ) as studio:
        project = studio.create_project("P", style_prompt="watercolour")
        assert project.id is not None
        studio.add_shot(project.id, "a kite over the sea", seed=3)
        studio.add_shot(project.id, "a lighthouse", seed=4)
        after = [s.prompt for s in studio.expand_prompts(project.id)]
        again = [s.prompt for s in studio.expand_prompts(project.id)]
        assert all(p and "\n" not in p for p in after)  # one clean line per shot
        # Random tiny weights write noise, which the writer may reject and keep the shot's
        # own line (pipelines/prompt_writer.py); what text comes out is not asserted here.
        assert again == [s.prompt for s in studio.shots(project.id)]
        assert studio.runner.cache.loads["tiny-prompt-writer"] == 1
        with pytest.raises(InvalidInput, match="cannot write prompts"):
            studio.expand_prompts(project.id, pipeline="tiny-sd")
        with pytest.raises(InvalidInput, match="renders no images"):
            studio.lab_run("tiny-prompt-writer", "x")


def test_lab_runs_with_a_lora_scale_and_memory_options(studio: Studio) -> None:
    base = dict(overrides={"width": 64, "height": 64}, seed=2, wait=True, progress=False)
    full = studio.lab_run("tiny-sd-lora", "a kite", **base)  # type: ignore[arg-type]
    off = studio.lab_run("tiny-sd-lora", "a kite", lora_scale=0, **base)  # type: ignore[arg-type]
    plain = studio.lab_run("tiny-sd", "a kite", **base)  # type: ignore[arg-type]
    sliced = studio.lab_run("tiny-sd", "a kite", memory=["attention_slicing"], **base)  # type: ignore[arg-type]
    assert {j.status for j in (full, off, plain, sliced)} == {"succeeded"}
    # Scale 0 switches the LoRA off: the picture equals the base model's.
    assert np.abs(image(studio, off) - image(studio, plain)).max() <= 1
    assert np.abs(image(studio, full) - image(studio, off)).max() > 1
    # A memory option changes how the model runs, not what it draws.
    assert np.abs(image(studio, sliced) - image(studio, plain)).max() <= 1
    variant = off.params["pipeline"]["name"]
    assert variant.startswith("lab-") and variant in studio.catalogue  # a hidden preset
    with pytest.raises(InvalidInput, match="kept for Lab runs"):
        studio.save_preset("lab-mine", "tiny-sd", {})
    with pytest.raises(InvalidInput, match="Unknown memory option"):
        studio.lab_run("tiny-sd", "x", memory=["turbo"])
