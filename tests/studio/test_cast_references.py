"""Reference pictures of the cast: uploaded, taken from a render, removed; kept as one PNG
form; the shots of their member (only those) render again, drawn with the picture; bad
pictures are refused with nothing written. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio import Studio
from studio.core.errors import InvalidInput, NotFound
from studio.core.references import MAX_REFERENCE_BYTES, REFERENCE_SIDE
from tests.studio.test_cast import SCREENPLAY


@pytest.fixture
def studio(tmp_path: Path, database_url: str) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", database_url=database_url) as s:
        yield s


def picture(
    color: tuple[int, int, int], size: tuple[int, int] = (64, 80), fmt: str = "PNG"
) -> bytes:
    image = Image.new("RGB", size, color)
    image.paste((255, 255, 255), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def known(artifact_id: int | None) -> int:
    """An id the test expects to be there."""
    assert artifact_id is not None
    return artifact_id


def setup(studio: Studio) -> tuple[int, dict[str, int]]:
    project = studio.create_project("Rails", height=120)
    for shot in studio.breakdown(project.id, SCREENPLAY):
        studio.update_shot(shot.id, duration=0.5)
    return project.id, {m.name: m.id for m in studio.cast(project.id)}


def test_a_reference_re_renders_exactly_its_members_shots_drawn_with_it(studio: Studio) -> None:
    pid, cast = setup(studio)
    mara_shots = {s.id for s in studio.shots(pid) if "MARA" in s.characters}
    before = {j.shot_id: j for j in studio.preview(pid, wait=True, progress=False)}

    red = studio.set_cast_reference(cast["MARA"], picture((200, 30, 30)))
    assert red.reference_artifact_id is not None and red.reference_scale == 0.6
    stored = studio.artifact(known(red.reference_artifact_id))
    assert stored.content_type == "image/png" and stored.provenance["source"] == "upload"

    after = {j.shot_id: j for j in studio.preview(pid, wait=True, progress=False)}
    assert {i for i, j in after.items() if not j.cache_hit} == mara_shots
    some = next(iter(mara_shots))
    assert after[some].params["references"] == [
        {"name": "Mara", "digest": stored.sha256, "scale": 0.6}
    ]
    # The draft draws Mara in the picture's tone: the panel changed, and is reddish where
    # it was not.
    old = np.asarray(
        Image.open(studio.artifact_path(known(before[some].artifact_id))), dtype=np.float64
    )
    new = np.asarray(
        Image.open(studio.artifact_path(known(after[some].artifact_id))), dtype=np.float64
    )
    assert np.abs(new - old).mean() > 0.5
    changed = np.abs(new - old).sum(axis=2) > 30
    assert new[changed][:, 0].mean() > new[changed][:, 2].mean()

    # Same picture again: same digest, every render served from the cache.
    studio.set_cast_reference(cast["MARA"], picture((200, 30, 30)))
    assert all(j.cache_hit for j in studio.preview(pid, wait=True, progress=False))
    # Strength 0 switches it off: the panels are the ones without a reference.
    studio.update_cast_member(cast["MARA"], reference_scale=0)
    off = {j.shot_id: j for j in studio.preview(pid, wait=True, progress=False)}
    assert off[some].params_hash == before[some].params_hash and off[some].cache_hit
    # Removing it does the same.
    studio.update_cast_member(cast["MARA"], reference_scale=0.8)
    cleared = studio.clear_cast_reference(cast["MARA"])
    assert cleared.reference_artifact_id is None
    assert all(j.cache_hit for j in studio.preview(pid, wait=True, progress=False))


def test_a_reference_taken_from_a_render_and_the_clip_that_inherits_it(studio: Studio) -> None:
    pid, cast = setup(studio)
    tomas_shot = next(s for s in studio.shots(pid) if "TOMAS" in s.characters)
    (frame,) = studio.preview(pid, [tomas_shot.id], wait=True, progress=False)
    picked = studio.pick_cast_reference(cast["TOMAS"], frame.id)
    kept = studio.artifact(known(picked.reference_artifact_id))
    with Image.open(studio.artifact_path(kept.id)) as image:
        assert image.mode == "RGB" and max(image.size) <= REFERENCE_SIDE
    assert kept.provenance["source"] == f"job {frame.id}"

    (take,) = studio.render(pid, [tomas_shot.id], wait=True, progress=False)
    # The clip is conditioned on its preview, which carries the reference.
    assert take.params["preview"]["references"][0]["digest"] == kept.sha256
    from_take = studio.pick_cast_reference(cast["MARA"], take.id)  # a take: its first frame
    assert from_take.reference_artifact_id is not None
    assert studio.artifact(known(from_take.reference_artifact_id)).content_type == "image/png"

    # Merging a member without a picture into... keeps the picture of the one that has it.
    boy = studio.add_cast_member(pid, "the boy")
    merged = studio.merge_cast_member(cast["TOMAS"], boy.id)
    assert merged.reference_artifact_id == picked.reference_artifact_id


def test_pictures_are_normalised_whatever_their_format(studio: Studio, tmp_path: Path) -> None:
    _pid, cast = setup(studio)
    big = tmp_path / "big.jpg"
    big.write_bytes(picture((10, 120, 200), (2400, 1600), "JPEG"))
    member = studio.set_cast_reference(cast["MARA"], big)  # a path works on a local studio
    with Image.open(studio.artifact_path(known(member.reference_artifact_id))) as image:
        assert image.format == "PNG" and image.size == (REFERENCE_SIDE, 683)
    # Transparency lies on white; a WebP is accepted.
    cutout = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    buffer = io.BytesIO()
    cutout.save(buffer, format="PNG")
    member = studio.set_cast_reference(cast["TOMAS"], buffer.getvalue())
    with Image.open(studio.artifact_path(known(member.reference_artifact_id))) as image:
        assert image.getpixel((5, 5)) == (255, 255, 255)
    studio.set_cast_reference(cast["TOMAS"], picture((1, 2, 3), fmt="WEBP"))


def test_bad_pictures_are_refused_and_change_nothing(studio: Studio, tmp_path: Path) -> None:
    pid, cast = setup(studio)
    studio.set_cast_reference(cast["MARA"], picture((200, 30, 30)))
    before = studio.cast(pid)
    bomb = io.BytesIO()
    Image.new("1", (9000, 9000)).save(bomb, format="PNG")  # 81 MP, a few kB
    big_bomb = io.BytesIO()
    Image.new("1", (20000, 10000)).save(big_bomb, format="PNG")  # 200 MP: Pillow refuses it
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\0" * (MAX_REFERENCE_BYTES + 1))
    shots = studio.shots(pid)
    (take,) = studio.render(pid, [shots[0].id], wait=True, progress=False)
    cases = [
        (lambda: studio.set_cast_reference(cast["MARA"], b"%PDF-1.4 not a picture"), "readable"),
        (lambda: studio.set_cast_reference(cast["MARA"], b""), "empty"),
        (lambda: studio.set_cast_reference(cast["MARA"], bomb.getvalue()), "megapixels"),
        (lambda: studio.set_cast_reference(cast["MARA"], big_bomb.getvalue()), "megapixels"),
        (lambda: studio.set_cast_reference(cast["MARA"], gif.getvalue()), "not GIF"),
        (lambda: studio.set_cast_reference(cast["MARA"], huge), "limit is 20 MB"),
        (lambda: studio.set_cast_reference(cast["MARA"], tmp_path / "none.png"), "No picture"),
        (lambda: studio.update_cast_member(cast["MARA"], reference_scale=2), "Reference"),
        (lambda: studio.pick_cast_reference(cast["MARA"], take.id + 99), "No render job"),
    ]
    for call, words in cases:
        with pytest.raises((InvalidInput, NotFound), match=words):
            call()
    assert studio.cast(pid) == before
    with pytest.raises(NotFound):
        studio.set_cast_reference(10_000, picture((1, 1, 1)))


def test_someone_elses_render_cannot_become_a_reference(tmp_path: Path) -> None:
    with Studio.local(tmp_path / "auth", auth=True, credits=False) as admin:
        for name in ("ann", "bob"):
            admin.create_user(name, "correct-horse-9")
        ann, bob = admin.as_user("ann"), admin.as_user("bob")
        hers = ann.create_project("Hers")
        shot = ann.add_shot(hers.id, "A lighthouse")
        (frame,) = ann.preview(hers.id, [shot.id], wait=True, progress=False)
        his = bob.create_project("His")
        member = bob.add_cast_member(his.id, "Keeper")
        with pytest.raises(NotFound):  # her render is invisible to him
            bob.pick_cast_reference(member.id, frame.id)
        with pytest.raises(InvalidInput, match="owner"):  # an admin cannot mix owners either
            admin.pick_cast_reference(member.id, frame.id)
        assert bob.cast_member(member.id).reference_artifact_id is None


def test_a_character_sheet_becomes_the_reference(studio: Studio) -> None:
    pid, cast = setup(studio)
    studio.set_cast_reference(cast["TOMAS"], picture((40, 160, 60)))
    job = studio.render_character_sheet(cast["TOMAS"])
    (done,) = studio.wait([job], progress=False)
    assert done.status == "succeeded" and done.shot_id is None and done.project_id == pid
    request = done.params["request"]
    assert request["extra"]["sheet"] == "Tomas"
    assert "character sheet of Tomas (10, barefoot)" in request["prompt"]
    assert "profile" in request["prompt"]
    assert done.params["references"][0]["name"] == "Tomas"  # his picture steers the sheet
    with Image.open(studio.artifact_path(known(done.artifact_id))) as sheet:
        pixels = np.asarray(sheet.convert("RGB"), dtype=int)
    # A plain background (the draft's light grey), figures in his picture's green tone.
    assert (pixels[2, 2] == (226, 226, 222)).all()
    figure = pixels[np.abs(pixels - (226, 226, 222)).sum(axis=2) > 60]
    assert figure[:, 1].mean() > figure[:, 0].mean()

    again = studio.render_character_sheet(cast["TOMAS"])
    assert again.cache_hit or again.id == done.id  # the same sheet: served from the cache
    member = studio.pick_cast_reference(cast["MARA"], done.id)
    assert (
        studio.artifact(known(member.reference_artifact_id)).provenance["source"]
        == f"job {done.id}"
    )
    with pytest.raises(NotFound):
        studio.render_character_sheet(10_000)


def fake_lora(path: Path, names: tuple[str, ...] = ("unet.up.lora_A.weight",)) -> Path:
    """A minimal safetensors file (header + data) with tensors of these names."""
    import json
    import struct

    header = {
        name: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
        for i, name in enumerate(names)
    }
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 4 * len(names))
    return path


def test_a_members_lora_is_checked_stored_and_removed(studio: Studio, tmp_path: Path) -> None:
    pid, cast = setup(studio)
    lora = fake_lora(tmp_path / "mara.safetensors")
    member = studio.set_cast_lora(cast["MARA"], lora)
    stored = studio.artifact(known(member.lora_artifact_id))
    assert stored.provenance == {"kind": "cast-lora", "member": "MARA", "file": "mara.safetensors"}
    assert studio.artifact_path(stored.id).suffix == ".safetensors"
    assert studio.set_cast_lora(cast["TOMAS"], lora.read_bytes()).lora_artifact_id is not None
    # The draft cannot apply LoRAs: its renders ignore them (and keep their cache keys).
    first = studio.preview(pid, wait=True, progress=False)
    assert all("loras" not in j.params for j in first)

    before = studio.cast(pid)
    (tmp_path / "notes.safetensors").write_text("hello")
    cases = [
        (tmp_path / "notes.safetensors", "not a .safetensors file"),
        (fake_lora(tmp_path / "model.safetensors", ("unet.conv.weight",)), "no LoRA weights"),
        (tmp_path / "none.safetensors", "No LoRA file"),
        (b"\x08\0\0\0\0\0\0\0not json", "not a .safetensors file"),
        (12, "file path or its bytes"),
    ]
    for bad, words in cases:
        with pytest.raises(InvalidInput, match=words):
            studio.set_cast_lora(cast["MARA"], bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="LoRA strength"):
        studio.update_cast_member(cast["MARA"], lora_scale=3)
    assert studio.cast(pid) == before

    boy = studio.add_cast_member(pid, "the boy")
    assert studio.merge_cast_member(cast["MARA"], boy.id).lora_artifact_id == stored.id
    assert studio.clear_cast_lora(boy.id).lora_artifact_id is None
