"""LocalStorage: round trips, key safety (nothing escapes the root), atomic puts, ping."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest

from storage import InvalidKeyError, LocalStorage, Storage, StorageError, content_key
from storage.base import check_key

SHA = hashlib.sha256(b"frame").hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def store(root: Path) -> LocalStorage:
    return LocalStorage(root)


def _files(path: Path) -> list[str]:
    """Every file and link under `path`, relative, sorted (directories left out)."""
    return sorted(
        str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() or p.is_symlink()
    )


def _incoming(path: Path) -> list[Path]:
    return [p for p in path.rglob(".incoming-*")]


# ---- round trips -------------------------------------------------------------------------
def test_local_storage_implements_the_protocol(store: LocalStorage) -> None:
    assert isinstance(store, Storage)


def test_root_is_created_and_absolute(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "a" / "b")
    assert store.root.is_dir()
    assert store.root.is_absolute()


def test_put_bytes_round_trip(store: LocalStorage) -> None:
    key = content_key(SHA, ".png")
    assert not store.exists(key)
    store.put_bytes(key, b"\x89PNG data", "image/png")
    assert store.exists(key)
    with store.open(key) as handle:
        assert handle.read() == b"\x89PNG data"
    path = store.local_path(key)
    assert path.read_bytes() == b"\x89PNG data"
    assert path.is_relative_to(store.root)


def test_put_file_round_trip_leaves_source_untouched(store: LocalStorage, tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"mp4 bytes" * 1000)
    store.put_file("clips/one.mp4", source, "video/mp4")
    assert store.local_path("clips/one.mp4").read_bytes() == b"mp4 bytes" * 1000
    assert source.read_bytes() == b"mp4 bytes" * 1000
    assert _incoming(store.root) == []


def test_put_overwrites_existing_object(store: LocalStorage) -> None:
    store.put_bytes("notes/a.txt", b"first", "text/plain")
    store.put_bytes("notes/a.txt", b"second", "text/plain")
    with store.open("notes/a.txt") as handle:
        assert handle.read() == b"second"


def test_delete_removes_object_and_is_idempotent(store: LocalStorage) -> None:
    store.put_bytes("x/y.bin", b"1", "application/octet-stream")
    store.delete("x/y.bin")
    assert not store.exists("x/y.bin")
    store.delete("x/y.bin")  # deleting twice is not an error
    assert not store.exists("x/y.bin")


def test_missing_object_raises_storage_error(store: LocalStorage) -> None:
    with pytest.raises(StorageError, match=r"no/such\.png"):
        store.open("no/such.png")
    with pytest.raises(StorageError, match=r"no/such\.png"):
        store.local_path("no/such.png")
    assert not store.exists("no/such.png")


# ---- key safety --------------------------------------------------------------------------
BAD_KEYS = [
    "../escape.txt",
    "a/../../escape.txt",
    "a/../b",
    "..",
    ".",
    "a/./b",
    "/etc/passwd",
    "/abs/key",
    "a\\b",
    "..\\escape.txt",
    "Upper/case.png",
    "artifacts/AB.png",
    "a//b",
    "a/",
    "",
    ".hidden",
    "-dash",
    "a b",
    "a" * 300,
    "a/\x00b",
    "art/x\n",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused_and_nothing_is_written(
    key: str, store: LocalStorage, tmp_path: Path
) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"payload")
    before = _files(tmp_path)
    with pytest.raises(InvalidKeyError):
        check_key(key)
    with pytest.raises(InvalidKeyError):
        store.put_bytes(key, b"payload", "application/octet-stream")
    with pytest.raises(InvalidKeyError):
        store.put_file(key, source, "application/octet-stream")
    for call in (store.open, store.exists, store.delete, store.local_path):
        with pytest.raises(InvalidKeyError):
            call(key)
    assert _files(tmp_path) == before
    assert not (tmp_path / "escape.txt").exists()


def test_invalid_key_error_is_a_value_error_and_a_storage_error() -> None:
    with pytest.raises(ValueError):
        check_key("../x")
    with pytest.raises(StorageError):
        check_key("../x")


@pytest.mark.parametrize("key", ["a", "artifacts/ab/file.png", "audio/x_y-z.1.wav", "a" * 251])
def test_good_keys_are_accepted(key: str) -> None:
    assert check_key(key) == key


def test_key_with_trailing_newline_is_refused(store: LocalStorage) -> None:
    # Regression: `$` in the key pattern also matched before a trailing newline.
    with pytest.raises(InvalidKeyError):
        store.put_bytes("art/x\n", b"data", "text/plain")
    assert _files(store.root) == []


def test_symlinked_directory_pointing_outside_is_refused(
    store: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "link").symlink_to(outside, target_is_directory=True)
    (outside / "secret.txt").write_bytes(b"secret")
    source = tmp_path / "src.bin"
    source.write_bytes(b"payload")

    with pytest.raises(InvalidKeyError):
        store.put_bytes("link/evil.txt", b"payload", "text/plain")
    with pytest.raises(InvalidKeyError):
        store.put_file("link/evil.txt", source, "text/plain")
    with pytest.raises(InvalidKeyError):
        store.put_bytes("link/sub/evil.txt", b"payload", "text/plain")
    with pytest.raises(InvalidKeyError):
        store.open("link/secret.txt")
    with pytest.raises(InvalidKeyError):
        store.local_path("link/secret.txt")
    with pytest.raises(InvalidKeyError):
        store.delete("link/secret.txt")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"


def test_symlinked_file_pointing_outside_is_refused(store: LocalStorage, tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    target.write_bytes(b"original")
    (store.root / "leak.txt").symlink_to(target)
    with pytest.raises(InvalidKeyError):
        store.put_bytes("leak.txt", b"overwritten", "text/plain")
    with pytest.raises(InvalidKeyError):
        store.open("leak.txt")
    with pytest.raises(InvalidKeyError):
        store.delete("leak.txt")
    assert target.read_bytes() == b"original"


def test_dangling_symlink_pointing_outside_is_refused(store: LocalStorage, tmp_path: Path) -> None:
    (store.root / "dangling").symlink_to(tmp_path / "not-yet", target_is_directory=True)
    with pytest.raises(InvalidKeyError):
        store.put_bytes("dangling/file.txt", b"payload", "text/plain")
    assert not (tmp_path / "not-yet").exists()


def test_symlink_inside_root_stays_usable(store: LocalStorage) -> None:
    store.put_bytes("real/a.txt", b"inside", "text/plain")
    (store.root / "alias").symlink_to(store.root / "real", target_is_directory=True)
    with store.open("alias/a.txt") as handle:
        assert handle.read() == b"inside"


# ---- interrupted puts --------------------------------------------------------------------
def test_put_file_with_missing_source_leaves_nothing(store: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.put_file("clips/x.mp4", tmp_path / "gone.mp4", "video/mp4")
    assert not store.exists("clips/x.mp4")
    assert _files(store.root) == []


def test_failing_copy_leaves_no_partial_object(
    store: LocalStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"full clip")

    def half_copy(src: Path, dst: str) -> None:
        Path(dst).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfile", half_copy)
    with pytest.raises(OSError, match="disk full"):
        store.put_file("clips/x.mp4", source, "video/mp4")
    assert not store.exists("clips/x.mp4")
    assert _files(store.root) == []


def test_failing_put_keeps_previous_version(
    store: LocalStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put_bytes("clips/x.mp4", b"version 1", "video/mp4")
    source = tmp_path / "v2.mp4"
    source.write_bytes(b"version 2")

    def failing_replace(src: str, dst: Path) -> None:
        raise OSError("interrupted")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="interrupted"):
        store.put_file("clips/x.mp4", source, "video/mp4")
    with pytest.raises(OSError, match="interrupted"):
        store.put_bytes("clips/x.mp4", b"version 2", "video/mp4")
    monkeypatch.undo()
    assert store.local_path("clips/x.mp4").read_bytes() == b"version 1"
    assert _incoming(store.root) == []


def test_put_bytes_with_unwritable_data_leaves_no_temp_file(store: LocalStorage) -> None:
    with pytest.raises(TypeError):
        store.put_bytes("x/y.txt", "not bytes", "text/plain")  # type: ignore[arg-type]
    assert not store.exists("x/y.txt")
    assert _files(store.root) == []


# ---- content keys ------------------------------------------------------------------------
def test_content_key_format() -> None:
    assert content_key(SHA, ".png") == f"artifacts/{SHA[:2]}/{SHA}.png"
    assert content_key(SHA, ".mp4", prefix="films") == f"films/{SHA[:2]}/{SHA}.mp4"
    assert check_key(content_key(SHA, ".wav")) == content_key(SHA, ".wav")


def test_identical_bytes_share_one_object(store: LocalStorage) -> None:
    data = b"same bytes"
    key = content_key(hashlib.sha256(data).hexdigest(), ".bin")
    store.put_bytes(key, data, "application/octet-stream")
    store.put_bytes(key, data, "application/octet-stream")
    assert _files(store.root) == [key]


@pytest.mark.parametrize(
    "sha",
    [SHA.upper(), SHA[:63], SHA + "0", "g" * 64, "", "../" + SHA[3:], SHA[:63] + "\n"],
)
def test_content_key_rejects_bad_sha(sha: str) -> None:
    with pytest.raises(InvalidKeyError, match="sha256"):
        content_key(sha, ".png")


@pytest.mark.parametrize(
    "suffix", ["png", ".PNG", "", ".", ".toolongsuffix", "./x", ".p/g", "..png", ".png\n"]
)
def test_content_key_rejects_bad_suffix(suffix: str) -> None:
    with pytest.raises(InvalidKeyError, match="suffix"):
        content_key(SHA, suffix)


# ---- ping --------------------------------------------------------------------------------
def test_ping_on_writable_root(store: LocalStorage) -> None:
    store.ping()


def test_ping_on_unwritable_root(store: LocalStorage) -> None:
    mode = store.root.stat().st_mode
    store.root.chmod(0o555)
    try:
        if os.access(store.root, os.W_OK):
            pytest.skip("running as root: chmod does not make the directory unwritable")
        with pytest.raises(StorageError, match="not writable"):
            store.ping()
    finally:
        store.root.chmod(mode)


def test_ping_on_removed_root(store: LocalStorage) -> None:
    shutil.rmtree(store.root)
    with pytest.raises(StorageError, match=re.escape(str(store.root))):
        store.ping()
