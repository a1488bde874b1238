"""Per-request LoRAs (a cast member's own LoRA): the request field, and renders on `tiny-sd`
with the random LoRA file that make_tiny writes for `tiny-sd-lora`, loaded through the same
`load_lora_weights` path as a real one. The pictures are noise; what is checked is what a
user would notice: the LoRA changes the picture, reproducibly; a render without one is the
plain model's picture bit for bit, before and after LoRA renders; a batch renders what single
calls render; a broken LoRA fails in one line naming it and the next render works; loaded
LoRAs stay bounded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipelines.catalogue import Catalogue, load_pipeline
from pipelines.diffusers_loras import MAX_REQUEST_LORAS, adapter_name
from pipelines.errors import PipelineError, WeightsUnavailableError
from pipelines.provenance import record
from pipelines.requests import Reference, RenderRequest, RequestLora

# diffusers' schedulers trip numpy 2's __array__(copy=) deprecation: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers.*")


def _request(*loras: RequestLora, **changes: Any) -> RenderRequest:
    fields: dict[str, Any] = {"prompt": "a lighthouse at night", "seed": 7, "width": 64}
    fields.update({"height": 64, "loras": loras, **changes})
    return RenderRequest(**fields)


# -- the request (no torch) ------------------------------------------------------------------


def test_as_dict_without_loras_is_what_it_always_was() -> None:
    """The studio hashes as_dict() for its render cache: the new field must not move a key."""
    request = RenderRequest(
        prompt="a lighthouse at night",
        negative_prompt="blurry",
        seed=7,
        shot_number=3,
        shot_size="close-up",
        camera_move="pan-left",
        duration=2.5,
        extra={"cast": ["Mara"], "steps": 3},
        loras=(),
    )
    data = request.as_dict()
    assert "loras" not in data and "references" not in data
    # The same hash as tests/pipelines/test_references.py pins, from before either field.
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "3bd911b698f504d70891906af583bf34b64a9fd5bebb599e2502202169a7e11c"
    )


def test_as_dict_with_loras_lists_them_as_given() -> None:
    loras = (
        RequestLora("/loras/mara.safetensors", scale=0.8, digest="sha-mara"),
        RequestLora("/loras/jon", weight_name="jon.safetensors"),
    )
    data = _request(*loras).as_dict()
    assert data["loras"] == [
        {"path": "/loras/mara.safetensors", "scale": 0.8, "weight_name": "", "digest": "sha-mara"},
        {"path": "/loras/jon", "scale": 1.0, "weight_name": "jon.safetensors", "digest": ""},
    ]
    json.dumps(data)  # plain data: hashable by the studio as is
    assert {key for key in data if key != "loras"} == set(_request().as_dict())
    # Another scale is another render.
    rescaled = _request(dataclasses.replace(loras[0], scale=0.5), loras[1]).as_dict()
    assert rescaled != data


def test_a_lora_without_a_digest_is_named_by_its_path() -> None:
    assert RequestLora("/l/a.safetensors").effective_digest == "/l/a.safetensors"
    assert RequestLora("/l", weight_name="a.safetensors").effective_digest == "/l#a.safetensors"
    assert RequestLora("/l/a.safetensors", digest="sha").effective_digest == "sha"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"path": ""}, "needs a path"),
        ({"path": "/l/a.safetensors", "scale": float("nan")}, "scale must be a number"),
        ({"path": "/l/a.safetensors", "scale": "1"}, "scale must be a number"),
        ({"path": "/l/a.safetensors", "scale": True}, "scale must be a number"),
    ],
)
def test_a_bad_request_lora_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RequestLora(**fields)


def test_the_same_lora_twice_in_one_request_is_refused() -> None:
    # diffusers keeps one scale per adapter: the second would silently double the first.
    with pytest.raises(ValueError, match="listed twice"):
        _request(RequestLora("/l/a.safetensors"), RequestLora("/l/a.safetensors", scale=0.5))
    with pytest.raises(TypeError, match="RequestLora"):
        _request("/l/a.safetensors")  # type: ignore[arg-type]


def test_supports_loras() -> None:
    catalogue = Catalogue.load()
    assert catalogue.get("sd-turbo").supports_loras and catalogue.get("sdxl").supports_loras
    for name in ("draft", "animatediff", "svd", "prompt-writer", "clip-vit-b32"):
        assert not catalogue.get(name).supports_loras, name


def test_provenance_of_an_entry_that_ignores_loras_says_so() -> None:
    draft = Catalogue.load().get("draft")
    lora = RequestLora("/loras/mara.safetensors", digest="sha-mara")
    out = record(draft, _request(lora))
    assert out["request_loras"] == [] and out["ignored_request_loras"] == [lora.path]
    assert "request_loras" not in record(draft, _request())


def test_the_draft_pipeline_ignores_request_loras() -> None:
    draft = load_pipeline(Catalogue.load().get("draft"))
    lora = RequestLora("/no/such/lora.safetensors")
    with_lora = np.asarray(draft.render_frame(_request(lora, width=160, height=90)))
    assert np.array_equal(with_lora, np.asarray(draft.render_frame(_request(width=160, height=90))))


# -- rendering with request LoRAs (tiny models) ----------------------------------------------


@pytest.fixture(scope="module")
def lora_file(tiny_catalogue: Catalogue) -> Path:
    pytest.importorskip("peft")
    (spec,) = tiny_catalogue.get("tiny-sd-lora").loras
    path = Path(spec.path) / spec.weight_name
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def plain(tiny_catalogue: Catalogue) -> Any:
    """tiny-sd as it always was: this one never sees a request LoRA."""
    return load_pipeline(tiny_catalogue.get("tiny-sd"))


@pytest.fixture(scope="module")
def sd(tiny_catalogue: Catalogue, lora_file: Path) -> Any:
    """tiny-sd that renders with request LoRAs."""
    return load_pipeline(tiny_catalogue.get("tiny-sd"))


def _mara(lora_file: Path, **changes: Any) -> RequestLora:
    return RequestLora(**{"path": str(lora_file), "digest": "sha-mara", **changes})


def _render(pipeline: Any, request: RenderRequest) -> np.ndarray:
    """The model's own output, floats in [0, 1]: stricter than 8-bit pixels."""
    return np.asarray(pipeline.render_arrays([request])[0])


def test_a_request_lora_changes_the_picture_and_without_one_it_is_the_plain_model(
    sd: Any, plain: Any, lora_file: Path
) -> None:
    base = _render(plain, _request())
    assert np.array_equal(_render(sd, _request()), base)
    with_lora = _render(sd, _request(_mara(lora_file)))
    assert np.abs(with_lora - base).mean() * 255 > 2  # clearly, not a rounding difference
    # After a LoRA render the LoRA is still loaded, but off: bit for bit the plain model.
    assert sd.request_lora_adapters
    assert np.array_equal(_render(sd, _request()), base)
    assert np.array_equal(_render(sd, _request(seed=8)), _render(plain, _request(seed=8)))
    # Strength 0 is no LoRA at all.
    assert np.array_equal(_render(sd, _request(_mara(lora_file, scale=0.0))), base)


def test_the_same_lora_and_seed_reproduce_and_another_scale_differs(
    sd: Any, lora_file: Path
) -> None:
    first = _render(sd, _request(_mara(lora_file)))
    assert np.array_equal(first, _render(sd, _request(_mara(lora_file))))
    half = _render(sd, _request(_mara(lora_file, scale=0.5)))
    assert np.abs(first - half).mean() * 255 > 1
    assert not np.array_equal(_render(sd, _request(_mara(lora_file), seed=8)), first)


def test_a_request_lora_renders_what_an_entry_with_that_lora_renders(
    tiny_catalogue: Catalogue, sd: Any, lora_file: Path
) -> None:
    entry = load_pipeline(tiny_catalogue.get("tiny-sd-lora"))  # the same file, at load
    as_entry = _render(entry, _request())
    # By file, and by the folder and weight_name the entry names it with.
    assert np.array_equal(_render(sd, _request(_mara(lora_file))), as_entry)
    by_folder = RequestLora(str(lora_file.parent), weight_name=lora_file.name)
    assert np.array_equal(_render(sd, _request(by_folder)), as_entry)


def test_the_entry_s_own_loras_stay_on_beside_a_request_lora(
    tiny_catalogue: Catalogue, plain: Any, lora_file: Path
) -> None:
    entry = load_pipeline(tiny_catalogue.get("tiny-sd-lora"))
    own = _render(entry, _request())
    # The entry's LoRA at 1 plus the same weights at -1: they cancel, back to the plain model.
    cancelled = _render(entry, _request(_mara(lora_file, scale=-1.0)))
    assert np.abs(cancelled - _render(plain, _request())).max() < 1e-4
    assert np.abs(cancelled - own).mean() * 255 > 2
    # Without a request LoRA, the entry's own at its catalogue scale, exactly as before.
    assert np.array_equal(_render(entry, _request()), own)


def test_a_request_lora_and_reference_pictures_work_together(
    tiny_catalogue: Catalogue, lora_file: Path
) -> None:
    """A cast member with both a picture (IP-Adapter) and a LoRA."""
    entry = tiny_catalogue.get("tiny-sd-reference")
    pipeline, fresh = load_pipeline(entry), load_pipeline(entry)
    mara = Reference("Mara", Image.new("RGB", (48, 48), (220, 30, 30)), digest="sha-picture")
    picture_only = _render(fresh, _request(references=(mara,)))
    both = _render(pipeline, _request(_mara(lora_file), references=(mara,)))
    assert np.abs(both - picture_only).mean() * 255 > 2
    assert np.array_equal(_render(pipeline, _request(references=(mara,))), picture_only)
    assert np.array_equal(_render(pipeline, _request()), _render(fresh, _request()))


def test_a_mixed_batch_renders_what_one_by_one_calls_render(sd: Any, lora_file: Path) -> None:
    requests = [
        _request(),
        _request(_mara(lora_file)),
        _request(_mara(lora_file, scale=0.5)),  # same LoRA, another strength: its own call
        _request(_mara(lora_file), seed=9, prompt="a red door"),
        _request(seed=8),
        _request(_mara(lora_file, digest="sha-jon")),  # another LoRA (same bytes): its own call
    ]
    seen: list[tuple[int, int]] = []
    batched = sd.render_arrays(requests, lambda done, total: seen.append((done, total)))
    for request, pixels in zip(requests, batched, strict=True):
        assert np.abs(pixels - _render(sd, request)).max() < 1e-5
    # Four calls of 2 steps: the two plain requests shared one, the two at scale 1 another.
    assert seen[-1] == (8, 8)


def test_provenance_lists_the_request_loras(sd: Any, lora_file: Path) -> None:
    by_path = RequestLora(str(lora_file), scale=0.5)
    out = sd.provenance(_request(_mara(lora_file), by_path))
    assert out["request_loras"] == [
        {"path": str(lora_file), "scale": 1.0, "weight_name": "", "digest": "sha-mara"},
        {"path": str(lora_file), "scale": 0.5, "weight_name": "", "digest": str(lora_file)},
    ]
    assert out["loras"] == []  # the entry's own: none
    json.dumps(out)
    assert "request_loras" not in sd.provenance(_request())


# -- LoRAs that do not load ------------------------------------------------------------------


def _broken_loras(lora_file: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """name → (file, what the message says)."""
    from safetensors.torch import load_file, save_file

    weights = load_file(str(lora_file))
    garbage = folder / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    # Made for a wider model: every lora_A has 3 input features too many.
    wide = folder / "other-model.safetensors"
    save_file(
        {
            key: value.new_ones((value.shape[0], value.shape[1] + 3)) if "lora_A" in key else value
            for key, value in weights.items()
        },
        str(wide),
    )
    # Made for another kind of model: none of its layer names are this UNet's.
    foreign = folder / "other-kind.safetensors"
    save_file(
        {key.replace("unet.", "unet.transformer."): v for key, v in weights.items()}, str(foreign)
    )
    full = folder / "not-a-lora.safetensors"  # model weights, not a LoRA
    save_file({"conv_in.weight": next(iter(weights.values())).clone()}, str(full))
    return {
        "garbage": (garbage, "could not be loaded"),
        "wide": (wide, "shapes do not match this model"),
        "foreign": (foreign, "none of its layers are in this model"),
        "full": (full, "could not be loaded: Invalid LoRA checkpoint"),
    }


def test_a_broken_lora_fails_in_one_line_and_the_next_render_works(
    sd: Any, plain: Any, lora_file: Path, tmp_path: Path
) -> None:
    base = _render(plain, _request())
    good = _render(sd, _request(_mara(lora_file)))
    loaded = sd.request_lora_adapters
    for path, says in _broken_loras(lora_file, tmp_path).values():
        with pytest.raises(PipelineError) as failed:
            sd.render_frame(_request(RequestLora(str(path))))
        message = str(failed.value)
        assert str(path) in message and says in message, message
        assert "\n" not in message and not isinstance(failed.value, WeightsUnavailableError)
        # Nothing of it stays loaded; the next renders are what they were.
        assert sd.request_lora_adapters == loaded
        assert np.array_equal(_render(sd, _request()), base)
        assert np.array_equal(_render(sd, _request(_mara(lora_file))), good)


def test_a_failed_load_puts_the_offload_hooks_back(
    sd: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a GPU with model_cpu_offload, diffusers takes the hooks off to load a LoRA and puts
    them back only on success; without them the next render would run on the CPU. (On this
    CPU the offload is skipped, so the re-placing is watched instead.)"""
    placed: list[Any] = []

    def place(pipe: Any) -> list[str]:
        placed.append(pipe)
        return []

    monkeypatch.setattr(sd, "applied_memory", ["model_cpu_offload", "vae_slicing"])
    monkeypatch.setattr(sd, "_place", place)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(PipelineError, match="could not be loaded"):
        sd.render_frame(_request(RequestLora(str(garbage))))
    assert placed == [sd._pipes["text-to-image"]]


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("missing.safetensors", "there is no file or folder at"),
        ("org/cast-lora", "there is no file or folder at"),  # a hub id is never fetched
        (".", "has no nosuch.safetensors"),  # a folder without the file named
    ],
)
def test_a_missing_lora_names_its_path(
    sd: Any, plain: Any, lora_file: Path, where: str, says: str
) -> None:
    path = str(lora_file.parent / where) if where != "org/cast-lora" else where
    weight_name = "nosuch.safetensors" if where == "." else ""
    with pytest.raises(WeightsUnavailableError) as missing:
        sd.render_frame(_request(RequestLora(path, weight_name=weight_name)))
    message = str(missing.value)
    assert path in message and says in message and "\n" not in message
    assert np.array_equal(_render(sd, _request()), _render(plain, _request()))


def test_without_peft_a_request_lora_says_what_to_install(
    sd: Any, lora_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.diffusers_loras as loras

    real = loras.importlib.util.find_spec
    monkeypatch.setattr(
        loras.importlib.util, "find_spec", lambda name: None if name == "peft" else real(name)
    )
    with pytest.raises(PipelineError, match=r"needs peft \(`pip install peft`\)") as failed:
        sd.render_frame(_request(_mara(lora_file, digest="sha-never-loaded")))
    assert str(lora_file) in str(failed.value)


def test_loaded_loras_stay_bounded_least_recently_used_first(
    tiny_catalogue: Catalogue, plain: Any, lora_file: Path
) -> None:
    pipeline = load_pipeline(tiny_catalogue.get("tiny-sd"))
    diffusers_pipe = pipeline._pipes["text-to-image"]
    # Ten cast members whose LoRAs happen to hold the same bytes: ten digests, ten adapters.
    members = [_mara(lora_file, digest=f"sha-member-{i}") for i in range(10)]
    first = [_render(pipeline, _request(m)) for m in members[:MAX_REQUEST_LORAS]]
    assert len(pipeline.request_lora_adapters) == MAX_REQUEST_LORAS
    _render(pipeline, _request(members[0]))  # member 0 is now the most recent
    _render(pipeline, _request(members[8]))  # evicts member 1, the least recently used
    _render(pipeline, _request(members[9]))  # and member 2
    names = [adapter_name(f"digest:{m.digest}") for m in members]
    assert pipeline.request_lora_adapters == [*names[3:8], names[0], names[8], names[9]]
    # The models hold only those: the evicted ones' layers are gone.
    assert sorted(diffusers_pipe.get_list_adapters()["unet"]) == sorted(names[3:10] + names[:1])
    # An evicted LoRA loads again and renders what it rendered.
    assert np.array_equal(_render(pipeline, _request(members[1])), first[1])
    assert len(pipeline.request_lora_adapters) == MAX_REQUEST_LORAS
    assert np.array_equal(_render(pipeline, _request()), _render(plain, _request()))
