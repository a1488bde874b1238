"""The diffusers pipelines end to end on tiny random-weight models loaded from disk.

Everything goes through the catalogue path the studio uses (Catalogue.load → load_pipeline or
PipelineCache), offline. The pictures are noise; what is checked is the contract: sizes, frame
counts, determinism per seed, batching, progress, cancellation, caching, errors, provenance.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipelines.cache import PipelineCache
from pipelines.catalogue import Catalogue, CatalogueError, PipelineEntry, load_pipeline
from pipelines.diffusers_image import render_config
from pipelines.diffusers_video import retime
from pipelines.errors import OutOfMemoryError, PipelineError, WeightsUnavailableError
from pipelines.requests import Cancelled, RenderRequest

ROOT = Path(__file__).resolve().parents[2]
# diffusers' schedulers trip numpy 2's __array__(copy=) deprecation: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers.*")


def _request(**changes: Any) -> RenderRequest:
    fields: dict[str, Any] = {"prompt": "a lighthouse at night", "seed": 7, "width": 64}
    fields.update({"height": 64, "duration": 1.0, "fps": 10})
    fields.update(changes)
    return RenderRequest(**fields)


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.fixture(scope="module")
def sd(tiny_catalogue: Catalogue) -> Any:
    return load_pipeline(tiny_catalogue.get("tiny-sd"))


@pytest.fixture(scope="module")
def animatediff(tiny_catalogue: Catalogue) -> Any:
    return load_pipeline(tiny_catalogue.get("tiny-animatediff"))


@pytest.fixture(scope="module")
def svd(tiny_catalogue: Catalogue) -> Any:
    return load_pipeline(tiny_catalogue.get("tiny-svd"))


@pytest.fixture(scope="module")
def still(sd: Any) -> Image.Image:
    return sd.render_frame(_request(width=96, height=54))


# -- text to image ---------------------------------------------------------------------------


def test_tiny_catalogue_loads_with_the_new_fields(tiny_catalogue: Catalogue) -> None:
    assert {"draft", "tiny-sd", "tiny-animatediff", "tiny-svd"} <= set(tiny_catalogue.names())
    entry = tiny_catalogue.get("tiny-animatediff")
    assert entry.tasks == ("text-to-video", "image-to-video")
    assert entry.pipeline_class_for("image-to-video") == "AnimateDiffVideoToVideoPipeline"
    assert entry.dtype == "auto" and entry.device == "auto"
    assert (
        Path(entry.model_id).is_absolute() and (Path(entry.model_id) / "model_index.json").is_file()
    )


def test_text_to_image_has_the_requested_size_and_is_deterministic_per_seed(sd: Any) -> None:
    first = sd.render_frame(_request(width=96, height=48))
    again = sd.render_frame(_request(width=96, height=48))
    other = sd.render_frame(_request(width=96, height=48, seed=8))
    assert first.size == (96, 48) and first.mode == "RGB"
    assert np.array_equal(_pixels(first), _pixels(again))
    assert not np.array_equal(_pixels(first), _pixels(other))
    # Rendered at the model's pixel area in the request's aspect ratio, then resized.
    assert (sd.settings(_request(width=96, height=48))["render_width"], 48) == (88, 48)


def test_a_batch_renders_what_one_by_one_calls_render(sd: Any) -> None:
    requests = [
        _request(seed=1),
        _request(seed=2, prompt="a red door"),
        _request(seed=3, prompt="rain on glass"),
    ]
    batched = sd.render_arrays(requests)
    single = [sd.render_arrays([request])[0] for request in requests]
    for together, alone in zip(batched, single, strict=True):
        assert np.abs(together - alone).max() < 1e-5
    images = sd.render_frames(requests)
    assert [image.size for image in images] == [(64, 64)] * 3
    for image, alone in zip(images, single, strict=True):
        assert np.abs(_pixels(image) - np.round(alone * 255)).max() <= 1


def test_a_batch_with_mixed_settings_keeps_request_order(sd: Any) -> None:
    requests = [_request(seed=1), _request(seed=2, extra={"steps": 3}), _request(seed=3)]
    seen: list[tuple[int, int]] = []
    batched = sd.render_arrays(requests, lambda done, total: seen.append((done, total)))
    for request, pixels in zip(requests, batched, strict=True):
        assert np.abs(pixels - sd.render_arrays([request])[0]).max() < 1e-5
    assert seen[-1] == (5, 5)  # seeds 1 and 3 batched (2 steps), then seed 2 (3 steps)


def test_progress_counts_every_step(sd: Any) -> None:
    seen: list[tuple[int, int]] = []
    sd.render_frame(_request(extra={"steps": 3}), lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_cancel_mid_render_raises_cancelled_and_the_next_call_works(sd: Any) -> None:
    reference = _pixels(sd.render_frame(_request(extra={"steps": 4})))

    def cancel_at_two(done: int, total: int) -> None:
        if done == 2:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        sd.render_frame(_request(extra={"steps": 4}), cancel_at_two)
    with pytest.raises(Cancelled):
        sd.render_frame(_request(extra={"steps": 4}), should_cancel=lambda: True)
    assert np.array_equal(_pixels(sd.render_frame(_request(extra={"steps": 4}))), reference)


def test_live_previews_come_per_step(sd: Any) -> None:
    previews: list[Image.Image] = []
    sd.render_frame(_request(extra={"steps": 3}), on_preview=previews.append)
    assert len(previews) == 3
    assert previews[0].mode == "RGB" and previews[0].size == (32, 32)  # latent size


def test_scheduler_override_by_class_name(tiny_catalogue: Catalogue, sd: Any) -> None:
    entry = tiny_catalogue.get("tiny-sd")
    ddim = load_pipeline(
        dataclasses.replace(entry, defaults={**entry.defaults, "scheduler": "DDIMScheduler"})
    )
    request = _request()
    assert ddim.settings(request)["scheduler"] == "DDIMScheduler"
    assert sd.settings(request)["scheduler"] == "EulerDiscreteScheduler"
    by_entry = _pixels(ddim.render_frame(request))
    assert not np.array_equal(by_entry, _pixels(sd.render_frame(request)))
    # Per request too; the model's own scheduler is back after the call.
    by_request = sd.render_frame(_request(extra={"scheduler": {"class": "DDIMScheduler"}}))
    assert np.array_equal(_pixels(by_request), by_entry)
    assert type(sd._pipes["text-to-image"].scheduler).__name__ == "EulerDiscreteScheduler"
    unknown = _request(extra={"scheduler": "NoSuchScheduler"})
    with pytest.raises(PipelineError, match="NoSuchScheduler"):
        sd.render_frame(unknown)


def test_lora_at_scale_zero_is_no_lora_and_at_one_changes_the_output(
    tiny_catalogue: Catalogue, sd: Any
) -> None:
    pytest.importorskip("peft")
    entry = tiny_catalogue.get("tiny-sd-lora")
    base = _pixels(sd.render_frame(_request()))
    with_lora = load_pipeline(entry)
    zero = load_pipeline(
        dataclasses.replace(entry, loras=(dataclasses.replace(entry.loras[0], scale=0.0),))
    )
    assert np.array_equal(_pixels(zero.render_frame(_request())), base)
    assert np.abs(_pixels(with_lora.render_frame(_request())) - base).max() > 0
    assert with_lora.provenance(_request())["loras"][0]["scale"] == 1.0


def test_memory_options_apply_where_they_can(tiny_catalogue: Catalogue) -> None:
    entry = tiny_catalogue.get("tiny-sd")
    memory = {"model_cpu_offload": True, "vae_slicing": True, "attention_slicing": True}
    pipeline = load_pipeline(dataclasses.replace(entry, memory=memory))
    # On the CPU there is nothing to offload to: that one is skipped, the others apply.
    assert pipeline.device == "cpu"
    assert pipeline.applied_memory == ["vae_slicing", "attention_slicing"]
    assert pipeline.render_frame(_request()).size == (64, 64)


# -- video -----------------------------------------------------------------------------------


def test_image_to_video_is_conditioned_on_the_image(svd: Any, still: Image.Image) -> None:
    request = _request(width=80, height=48, duration=1.3, fps=10)
    seen: list[tuple[int, int]] = []
    frames = list(
        svd.render_clip(request, image=still, on_progress=lambda d, t: seen.append((d, t)))
    )
    assert len(frames) == request.frame_count == 13
    assert all(f.shape == (48, 80, 3) and f.dtype == np.uint8 for f in frames)
    assert seen == [(1, 3), (2, 3), (3, 3)]  # 2 denoising steps + decoding
    again = list(svd.render_clip(request, image=still))
    assert all(np.array_equal(a, b) for a, b in zip(frames, again, strict=True))
    other = Image.new("RGB", still.size, (250, 20, 20))
    changed = list(svd.render_clip(request, image=other))
    assert not np.array_equal(frames[0], changed[0])


def test_image_to_video_needs_an_image(svd: Any) -> None:
    with pytest.raises(ValueError, match="image-to-video only"):
        next(svd.render_clip(_request()))


def test_animatediff_text_to_video_and_sdedit_image_to_video(
    animatediff: Any, still: Image.Image
) -> None:
    request = _request(width=64, height=36, duration=0.5, fps=12)
    text = list(animatediff.render_clip(request))
    assert len(text) == 6 and text[0].shape == (36, 64, 3)
    image = list(animatediff.render_clip(request, image=still))
    other = list(animatediff.render_clip(request, image=Image.new("RGB", (64, 36), "white")))
    assert len(image) == 6 and not np.array_equal(image[0], other[0])
    assert not np.array_equal(text[0], image[0])
    first = animatediff.render_frame(request)
    assert first.size == (64, 36) and np.array_equal(np.asarray(first), text[0])


def test_ltx_text_to_video_and_image_to_video(
    tiny_catalogue: Catalogue, still: Image.Image
) -> None:
    ltx = load_pipeline(tiny_catalogue.get("tiny-ltx"))
    request = _request(width=48, height=48, duration=0.5, fps=12)
    text = list(ltx.render_clip(request))
    image = list(ltx.render_clip(request, image=still))
    other = list(ltx.render_clip(request, image=Image.new("RGB", (48, 48), "white")))
    assert [len(text), len(image)] == [6, 6] and text[0].shape == (48, 48, 3)
    assert not np.array_equal(image[0], other[0]) and not np.array_equal(text[0], image[0])
    assert set(ltx._pipes) == {"text-to-video", "image-to-video"}  # one load, shared models
    assert ltx.loads == 1


def test_cancelling_a_clip(animatediff: Any) -> None:
    def stop(done: int, total: int) -> None:
        raise Cancelled()

    with pytest.raises(Cancelled):
        list(animatediff.render_clip(_request(), on_progress=stop))
    assert len(list(animatediff.render_clip(_request(duration=0.2)))) == 2


def test_retime_spreads_model_frames_over_the_shot() -> None:
    frames = np.arange(4, dtype=np.float32).reshape(4, 1, 1, 1) * np.ones((4, 2, 2, 3))
    blended = [f[0, 0, 0] for f in retime(frames, 7, "blend")]
    assert blended == pytest.approx([0, 0.5, 1, 1.5, 2, 2.5, 3])
    nearest = [f[0, 0, 0] for f in retime(frames, 3, "nearest")]
    assert nearest == [0, 2, 3] or nearest == [0, 1, 3]  # the middle rounds either way
    assert [f[0, 0, 0] for f in retime(frames, 1)] == [0]
    assert len(list(retime(frames[:1], 5))) == 5


# -- loading, cache, errors, provenance --------------------------------------------------------


def test_the_cache_loads_once_and_evicts_least_recently_used(tiny_catalogue: Catalogue) -> None:
    sd_entry, svd_entry = tiny_catalogue.get("tiny-sd"), tiny_catalogue.get("tiny-svd")
    cache = PipelineCache()
    first = cache.get(sd_entry)
    assert cache.get(sd_entry) is first and cache.loads == {"tiny-sd": 1}
    budget = first.memory_bytes() + 1  # room for tiny-sd alone
    small = PipelineCache(budget_bytes=budget)
    sd_pipeline = small.get(sd_entry)
    small.get(svd_entry)  # over budget: tiny-sd (least recently used) goes
    assert small.loaded() == ["tiny-svd"] and small.evictions == ["tiny-sd"]
    assert not sd_pipeline.loaded
    small.get(sd_entry)
    assert small.loads == {"tiny-sd": 2, "tiny-svd": 1} and small.loaded() == ["tiny-sd"]
    assert small.unload("tiny-sd") and not small.unload("tiny-sd")
    small.unload_all()
    assert small.loaded() == [] and small.memory_bytes() == 0


def test_the_cache_loads_once_under_concurrent_gets(tiny_catalogue: Catalogue) -> None:
    cache = PipelineCache()
    entry = tiny_catalogue.get("tiny-sd")
    got: list[Any] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(entry))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.loads == {"tiny-sd": 1} and len({id(p) for p in got}) == 1


def test_missing_weights_name_the_model_and_what_to_do(
    tiny_catalogue: Catalogue, tmp_path: Path
) -> None:
    entry = tiny_catalogue.get("tiny-sd")
    folder = str(tmp_path / "no-such-model")
    with pytest.raises(WeightsUnavailableError, match="no-such-model") as missing:
        load_pipeline(dataclasses.replace(entry, model_id=folder))
    assert "local folder" in str(missing.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WeightsUnavailableError, match=r"model_index\.json"):
        load_pipeline(dataclasses.replace(entry, model_id=str(empty)))
    hub_id = "stabilityai/sd-turbo"  # not in the (empty) cache, and HF_HUB_OFFLINE=1
    with pytest.raises(WeightsUnavailableError, match=hub_id) as offline:
        load_pipeline(dataclasses.replace(entry, model_id=hub_id))
    assert f"hf download {hub_id}" in str(offline.value)
    assert "HF_HUB_OFFLINE" in str(offline.value)


def test_running_out_of_memory_says_what_to_do(sd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe_class = type(sd._pipes["text-to-image"])

    def exhausted(self: Any, **kwargs: Any) -> Any:
        raise MemoryError("simulated")

    with monkeypatch.context() as patch:
        patch.setattr(pipe_class, "__call__", exhausted)
        with pytest.raises(OutOfMemoryError, match="model_cpu_offload") as error:
            sd.render_frame(_request())
    assert "tiny-sd" in str(error.value) and isinstance(error.value, PipelineError)
    assert sd.render_frame(_request()).size == (64, 64)  # usable afterwards


def test_an_out_of_memory_load_evicts_the_others_and_retries_once() -> None:
    loaded: list[str] = []

    class Fake:
        def __init__(self, name: str) -> None:
            self.name, self.unloaded = name, False

        def memory_bytes(self) -> int:
            return 10

        def unload(self) -> None:
            self.unloaded = True

    def loader(entry: PipelineEntry) -> Fake:
        loaded.append(entry.name)
        if entry.name == "big" and loaded.count("big") == 1:
            raise OutOfMemoryError("big", "loading")
        return Fake(entry.name)

    cache = PipelineCache(budget_bytes=100, loader=loader)
    small = cache.get(PipelineEntry("small", ("text-to-image",), "fake"))
    cache.get(PipelineEntry("big", ("text-to-image",), "fake"))
    assert loaded == ["small", "big", "big"] and small.unloaded
    assert cache.loaded() == ["big"] and cache.evictions == ["small"]


def test_a_device_that_is_not_there_is_a_clear_error(tiny_catalogue: Catalogue) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    entry = dataclasses.replace(tiny_catalogue.get("tiny-sd"), device="cuda")
    with pytest.raises(PipelineError, match="no CUDA GPU"):
        load_pipeline(entry)


def test_concurrent_renders_on_one_pipeline_are_serialised_and_reproducible(sd: Any) -> None:
    reference = _pixels(sd.render_frame(_request(seed=11)))
    results: list[np.ndarray] = []
    threads = [
        threading.Thread(target=lambda: results.append(_pixels(sd.render_frame(_request(seed=11)))))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and all(np.array_equal(r, reference) for r in results)


def test_provenance_records_what_made_the_render(sd: Any) -> None:
    request = _request(seed=42, extra={"steps": 3})
    record = sd.provenance(request)
    assert record["model_id"] == sd.model_id and record["pipeline"] == "tiny-sd"
    assert record["revision"].startswith("folder-") and record["revision"] == sd.revision
    assert (record["device"], record["dtype"]) == ("cpu", "float32")
    assert (record["steps"], record["guidance"], record["seed"]) == (3, 5.0, 42)
    assert record["scheduler"] == "EulerDiscreteScheduler"
    assert set(record["libraries"]) >= {"torch", "diffusers", "transformers"}


def test_revisions_resolve_without_importing_torch(tiny_catalogue: Catalogue) -> None:
    assert tiny_catalogue.source is not None
    code = (
        "import sys\n"
        "from pipelines.catalogue import Catalogue, effective_revision\n"
        f"catalogue = Catalogue.load({str(tiny_catalogue.source)!r})\n"
        "print(effective_revision(catalogue.get('tiny-sd')))\n"
        "assert not {'torch', 'diffusers', 'transformers'} & set(sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("folder-")


# -- catalogue validation (no torch needed) --------------------------------------------------


def _entry_yaml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pipelines.yaml"
    path.write_text(
        "pipelines:\n  m:\n    tasks: [text-to-image]\n    implementation: diffusers-image\n"
        "    model_id: org/model\n" + body,
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    dtype: float8\n", "dtype must be one of"),
        ("    device: tpu\n", "device must be one of"),
        ("    memory: {cpu_offload: true}\n", "unknown memory option 'cpu_offload'"),
        ("    memory: {vae_tiling: 3}\n", "memory.vae_tiling must be true or false"),
        ("    defaults: {stpes: 3}\n", "unknown defaults key 'stpes'"),
        ("    defaults: {steps: 0}\n", "defaults.steps must be an integer ≥ 1"),
        ("    loras: [{scale: 1.0}]\n", r"loras\[0\] needs a 'path'"),
        ("    pipeline_class: {text-to-video: X}\n", "pipeline_class maps a listed task"),
        ("    components: {vae: {model_id: x}}\n", "components.vae needs a 'class'"),
    ],
)
def test_catalogue_rejects_bad_fields_clearly(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        Catalogue.load(_entry_yaml(tmp_path, body))


def test_catalogue_reads_the_new_fields(tmp_path: Path) -> None:
    body = (
        "    dtype: bfloat16\n    device: cuda:1\n    variant: fp16\n"
        "    memory: {model_cpu_offload: true, attention_slicing: max}\n"
        "    loras: [some/lora, {path: ./style.safetensors, scale: 0.5}]\n"
        "    pipeline_class: StableDiffusionPipeline\n"
        "    defaults: {steps: 4, guidance: 0, scheduler: {class: DDIMScheduler}}\n"
    )
    entry: PipelineEntry = Catalogue.load(_entry_yaml(tmp_path, body)).get("m")
    assert (entry.dtype, entry.device, entry.variant) == ("bfloat16", "cuda:1", "fp16")
    assert [(lora.path, lora.scale, lora.adapter_name) for lora in entry.loras] == [
        ("some/lora", 1.0, "lora0"),
        ("./style.safetensors", 0.5, "lora1"),
    ]
    assert entry.pipeline_class_for("text-to-image") == "StableDiffusionPipeline"
    assert render_config(entry, _request()).steps == 4


def test_the_shipped_catalogue_parses() -> None:
    catalogue = Catalogue.load()
    assert catalogue.get("draft").implementation == "draft"
    for entry in catalogue:
        assert entry.description, entry.name
