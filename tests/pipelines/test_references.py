"""Reference pictures: the request field, the catalogue's ip_adapter, and IP-Adapter renders on
`tiny-sd-reference` (tiny-sd with a random IP-Adapter, loaded through the same
`load_ip_adapter` path as real weights). The pictures are noise; what is checked is what a
user would notice: a reference changes the render, the same reference reproduces it, a batch
renders what single calls render, provenance says which picture was used, and missing or
broken adapter files say so in one line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipelines.catalogue import Catalogue, CatalogueError, IpAdapterSpec, load_pipeline
from pipelines.errors import PipelineError, WeightsUnavailableError
from pipelines.requests import Reference, RenderRequest

# diffusers' schedulers trip numpy 2's __array__(copy=) deprecation: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers.*")

RED = Image.new("RGB", (48, 48), (220, 30, 30))
BLUE = Image.new("RGB", (48, 48), (20, 40, 230))


def _request(*references: Reference, **changes: Any) -> RenderRequest:
    fields: dict[str, Any] = {"prompt": "a lighthouse at night", "seed": 7, "width": 64}
    fields.update({"height": 64, "references": references, **changes})
    return RenderRequest(**fields)


def _mara(image: Image.Image = RED, **changes: Any) -> Reference:
    return Reference(**{"name": "Mara", "image": image, "digest": "sha-mara", **changes})


# -- the request (no torch) ------------------------------------------------------------------


def test_as_dict_without_references_is_what_it_always_was() -> None:
    """The studio hashes as_dict() for its render cache: adding the field must not move a key."""
    request = RenderRequest(
        prompt="a lighthouse at night",
        negative_prompt="blurry",
        seed=7,
        shot_number=3,
        shot_size="close-up",
        camera_move="pan-left",
        duration=2.5,
        extra={"cast": ["Mara"], "steps": 3},
    )
    data = request.as_dict()
    assert data == {
        "prompt": "a lighthouse at night",
        "negative_prompt": "blurry",
        "seed": 7,
        "width": 640,
        "height": 360,
        "shot_number": 3,
        "shot_size": "close-up",
        "camera_move": "pan-left",
        "duration": 2.5,
        "fps": 24,
        "extra": {"cast": ["Mara"], "steps": 3},
    }
    # The studio's canonical JSON (studio.core.params.params_hash) of the same request, as
    # computed before references existed.
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "3bd911b698f504d70891906af583bf34b64a9fd5bebb599e2502202169a7e11c"
    )
    data["extra"]["cast"].append("Jon")  # a copy: the request is untouched
    assert request.extra == {"cast": ["Mara"], "steps": 3}


def test_as_dict_with_references_names_them_by_digest_without_pixels() -> None:
    unnamed = Reference("Lighthouse", BLUE, scale=0.4)
    data = _request(_mara(), unnamed).as_dict()
    assert data["references"] == [
        {"name": "Mara", "scale": 0.6, "digest": "sha-mara"},
        {"name": "Lighthouse", "scale": 0.4, "digest": unnamed.effective_digest},
    ]
    json.dumps(data)  # plain data: hashable by the studio as is
    assert {key for key in data if key != "references"} == set(_request().as_dict())


def test_a_reference_without_a_digest_is_named_by_its_pixels() -> None:
    digest = Reference("a", RED).effective_digest
    assert digest.startswith("pixels-") and len(digest) == len("pixels-") + 64
    assert Reference("b", RED.copy(), scale=1.0).effective_digest == digest  # same pixels
    assert Reference("a", BLUE).effective_digest != digest
    assert Reference("a", RED, digest="given").effective_digest == "given"
    assert "image" not in repr(Reference("a", RED))  # no pixel dump in logs


@pytest.mark.parametrize("scale", [-0.1, float("nan"), "0.5"])
def test_a_reference_scale_must_be_a_number_at_least_zero(scale: Any) -> None:
    with pytest.raises(ValueError, match="scale"):
        Reference("Mara", RED, scale=scale)


# -- the catalogue (no torch) ----------------------------------------------------------------


def _catalogue(tmp_path: Path, body: str, implementation: str = "diffusers-image") -> Catalogue:
    path = tmp_path / "pipelines.yaml"
    path.write_text(
        "pipelines:\n  m:\n    tasks: [text-to-image]\n"
        f"    implementation: {implementation}\n    model_id: org/model\n" + body,
        encoding="utf-8",
    )
    return Catalogue.load(path)


def test_catalogue_reads_ip_adapter_with_its_defaults(tmp_path: Path) -> None:
    entry = _catalogue(tmp_path, "    ip_adapter: {weight_name: ip.safetensors}\n").get("m")
    assert entry.ip_adapter == IpAdapterSpec(weight_name="ip.safetensors", model_id="org/model")
    assert entry.ip_adapter.image_encoder_folder == "image_encoder"
    assert entry.supports_references and entry.reference_scale == 0.6
    body = (
        "    ip_adapter:\n      model_id: h94/IP-Adapter\n      subfolder: models\n"
        "      weight_name: ip-adapter_sd15.safetensors\n      revision: abc\n      scale: 0.8\n"
        "      image_encoder_folder: models/image_encoder\n"
    )
    spec = _catalogue(tmp_path, body).get("m").ip_adapter
    assert spec is not None
    assert (spec.model_id, spec.weight_path, spec.revision, spec.scale) == (
        "h94/IP-Adapter",
        "models/ip-adapter_sd15.safetensors",
        "abc",
        0.8,
    )
    assert spec.image_encoder_folder == "models/image_encoder"


def test_supports_references(tmp_path: Path) -> None:
    plain = _catalogue(tmp_path, "").get("m")
    assert plain.ip_adapter is None and not plain.supports_references
    assert plain.reference_scale == 0.6
    assert Catalogue.load().get("draft").supports_references  # draws them
    assert Catalogue.load().get("sd15-reference").supports_references
    assert not Catalogue.load().get("sd-turbo").supports_references


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    ip_adapter: models/ip.safetensors\n", "'ip_adapter' must be a mapping"),
        ("    ip_adapter: {subfolder: models}\n", "ip_adapter needs a 'weight_name'"),
        ("    ip_adapter: {weight_name: ''}\n", "ip_adapter needs a 'weight_name'"),
        ("    ip_adapter: {weight_name: 3}\n", "ip_adapter.weight_name must be a string, not 3"),
        ("    ip_adapter: {weight_name: a, subfolder: [m]}\n", r"ip_adapter.subfolder must be a"),
        ("    ip_adapter: {weight_name: a, scal: 1}\n", r"ip_adapter has unknown keys \['scal'\]"),
        ("    ip_adapter: {weight_name: a, scale: -1}\n", "ip_adapter.scale must be a number ≥ 0"),
        ("    ip_adapter: {weight_name: a, scale: high}\n", "ip_adapter.scale must be a number"),
        (
            "    ip_adapter: {weight_name: a, image_encoder_folder: ''}\n",
            "ip_adapter.image_encoder_folder must name a folder",
        ),
    ],
)
def test_catalogue_rejects_bad_ip_adapter_fields(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(CatalogueError, match=message) as error:
        _catalogue(tmp_path, body)
    assert "pipeline 'm'" in str(error.value)  # names the entry (and the file)


def test_ip_adapter_needs_an_implementation_that_can_use_it(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="ip_adapter needs a diffusers-image entry"):
        _catalogue(tmp_path, "    ip_adapter: {weight_name: a}\n", "diffusers-video")
    path = tmp_path / "no-model.yaml"
    path.write_text(
        "pipelines:\n  m:\n    tasks: [text-to-image]\n    implementation: my.module:Mine\n"
        "    ip_adapter: {weight_name: a}\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogueError, match="ip_adapter needs a 'model_id'"):
        Catalogue.load(path)


# -- rendering with references (tiny models) -------------------------------------------------


@pytest.fixture(scope="module")
def ref_sd(tiny_catalogue: Catalogue) -> Any:
    return load_pipeline(tiny_catalogue.get("tiny-sd-reference"))


@pytest.fixture(scope="module")
def plain_sd(tiny_catalogue: Catalogue) -> Any:
    return load_pipeline(tiny_catalogue.get("tiny-sd"))


def _render(pipeline: Any, request: RenderRequest) -> np.ndarray:
    return np.asarray(pipeline.render_frame(request), dtype=np.int16)


def test_the_tiny_reference_entry_is_tiny_sd_with_an_ip_adapter(tiny_catalogue: Catalogue) -> None:
    entry = tiny_catalogue.get("tiny-sd-reference")
    assert entry.supports_references and entry.model_id == tiny_catalogue.get("tiny-sd").model_id
    assert entry.ip_adapter is not None
    folder = Path(entry.ip_adapter.model_id)
    assert (folder / entry.ip_adapter.weight_path).is_file()
    assert (folder / "models" / "image_encoder" / "config.json").is_file()
    assert not tiny_catalogue.get("tiny-sd").supports_references


def test_a_reference_changes_the_render_and_none_leaves_it_as_the_plain_model(
    ref_sd: Any, plain_sd: Any
) -> None:
    without = _render(ref_sd, _request())
    # No reference: the adapter runs at scale 0, which is the model without it.
    assert np.abs(without - _render(plain_sd, _request())).max() <= 1
    with_reference = _render(ref_sd, _request(_mara()))
    assert np.abs(with_reference - without).mean() > 5  # clearly, not a rounding difference
    # Strength 0 is no reference at all.
    assert np.array_equal(_render(ref_sd, _request(_mara(scale=0.0))), without)


def test_the_same_reference_reproduces_and_another_differs(ref_sd: Any) -> None:
    first = _render(ref_sd, _request(_mara()))
    assert np.array_equal(first, _render(ref_sd, _request(_mara())))
    blue = _render(ref_sd, _request(_mara(BLUE, digest="sha-blue")))
    assert np.abs(first - blue).mean() > 2
    stronger = _render(ref_sd, _request(_mara(scale=1.0)))
    assert np.abs(first - stronger).mean() > 2
    both = _render(ref_sd, _request(_mara(), Reference("Jon", BLUE, digest="sha-jon")))
    assert not np.array_equal(both, first) and not np.array_equal(both, blue)


def test_a_mixed_batch_renders_what_one_by_one_calls_render(ref_sd: Any) -> None:
    red, blue = _mara(), _mara(BLUE, digest="sha-blue")
    requests = [
        _request(red),
        _request(),
        _request(blue, seed=8),
        _request(red, seed=9, prompt="a red door"),
        _request(red, blue),
        _request(_mara(scale=0.9)),  # same picture, another strength: a call of its own
    ]
    seen: list[tuple[int, int]] = []
    batched = ref_sd.render_arrays(requests, lambda done, total: seen.append((done, total)))
    for request, pixels in zip(requests, batched, strict=True):
        assert np.abs(pixels - ref_sd.render_arrays([request])[0]).max() < 1e-5
    # Five calls of 2 steps: the two requests with the same picture and scale shared one.
    assert seen[-1] == (10, 10)


def test_provenance_names_the_references_and_the_adapter(ref_sd: Any) -> None:
    unnamed = Reference("Jon", BLUE, scale=0.4)
    record = ref_sd.provenance(_request(_mara(), unnamed))
    assert record["references"] == [
        {"name": "Mara", "scale": 0.6, "digest": "sha-mara"},
        {"name": "Jon", "scale": 0.4, "digest": unnamed.effective_digest},
    ]
    assert record["reference_scale"] == pytest.approx(0.5)  # one adapter: the mean
    assert record["ip_adapter"]["weight_name"] == "ip-adapter_tiny.safetensors"
    assert record["ip_adapter"]["revision"].startswith("folder-")
    json.dumps(record)
    plain = ref_sd.provenance(_request())
    assert "references" not in plain and plain["reference_scale"] == 0.0


def test_references_to_a_model_without_an_adapter_are_ignored_with_a_warning(
    plain_sd: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pipelines"):
        ignored = _render(plain_sd, _request(_mara()))
    assert np.array_equal(ignored, _render(plain_sd, _request()))
    assert "Mara" in caplog.text and "no ip_adapter" in caplog.text
    record = plain_sd.provenance(_request(_mara()))
    assert record["references"] == [] and record["ignored_references"] == ["Mara"]
    assert "reference_scale" not in record and "ip_adapter" not in record


# -- adapter files that are missing or broken -------------------------------------------------


def _with_adapter(entry: Any, **changes: Any) -> Any:
    return dataclasses.replace(entry, ip_adapter=dataclasses.replace(entry.ip_adapter, **changes))


def test_a_missing_adapter_file_or_folder_is_a_clear_error(
    tiny_catalogue: Catalogue, tmp_path: Path
) -> None:
    entry = tiny_catalogue.get("tiny-sd-reference")
    with pytest.raises(WeightsUnavailableError) as missing:
        load_pipeline(_with_adapter(entry, weight_name="ip-adapter_sd15.safetensors"))
    message = str(missing.value)
    assert "ip_adapter" in message and "models/ip-adapter_sd15.safetensors" in message
    assert "\n" not in message and "Traceback" not in message
    with pytest.raises(WeightsUnavailableError, match="tiny-sd-reference's ip_adapter"):
        load_pipeline(_with_adapter(entry, model_id=str(tmp_path / "no-adapter")))
    # A hub id that is not in the (empty, offline) cache: how to fetch just what is needed.
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE") as offline:
        load_pipeline(_with_adapter(entry, model_id="h94/IP-Adapter"))
    assert "hf download h94/IP-Adapter --include" in str(offline.value)


def test_a_missing_image_encoder_is_a_clear_error(
    tiny_catalogue: Catalogue, tmp_path: Path
) -> None:
    entry = tiny_catalogue.get("tiny-sd-reference")
    assert entry.ip_adapter is not None
    source = Path(entry.ip_adapter.model_id) / entry.ip_adapter.weight_path
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / source.name).write_bytes(source.read_bytes())  # no image_encoder/
    with pytest.raises(WeightsUnavailableError, match="ip_adapter") as missing:
        load_pipeline(_with_adapter(entry, model_id=str(tmp_path)))
    assert "image_encoder" in str(missing.value)


def test_a_damaged_adapter_file_is_a_one_line_pipeline_error(
    tiny_catalogue: Catalogue, tmp_path: Path
) -> None:
    entry = tiny_catalogue.get("tiny-sd-reference")
    assert entry.ip_adapter is not None
    copy = tmp_path / "adapter"
    shutil.copytree(entry.ip_adapter.model_id, copy)
    (copy / entry.ip_adapter.weight_path).write_bytes(b"not a safetensors file")
    with pytest.raises(PipelineError, match="its ip_adapter models/ip-adapter_tiny") as bad:
        load_pipeline(_with_adapter(entry, model_id=str(copy)))
    assert not isinstance(bad.value, WeightsUnavailableError) and "\n" not in str(bad.value)
