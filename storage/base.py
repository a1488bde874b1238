"""The Storage protocol every backend implements."""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

_KEY = re.compile(r"[a-z0-9][a-z0-9/_.-]{0,250}")


class StorageError(RuntimeError):
    """A backend could not store or fetch an object."""


class InvalidKeyError(StorageError, ValueError):
    """A key that could escape the storage root or is not one the studio generates."""


def check_key(key: str) -> str:
    parts = key.split("/")
    if not _KEY.fullmatch(key) or any(p in ("", ".", "..") for p in parts):
        raise InvalidKeyError(f"Invalid storage key: {key!r}")
    return key


def content_key(sha256: str, suffix: str, prefix: str = "artifacts") -> str:
    """Content-addressed key: identical bytes are stored once."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise InvalidKeyError("sha256 must be 64 lowercase hex digits")
    if not re.fullmatch(r"\.[a-z0-9]{1,12}", suffix):  # up to .safetensors
        raise InvalidKeyError(f"Invalid suffix: {suffix!r}")
    return f"{prefix}/{sha256[:2]}/{sha256}{suffix}"


@runtime_checkable
class Storage(Protocol):
    def put_file(self, key: str, source: Path, content_type: str) -> None:
        """Store the file at `source` under `key` atomically (readers never see half a file)."""

    def put_bytes(self, key: str, data: bytes, content_type: str, *, durable: bool = True) -> None:
        """Like `put_file`. `durable=False`: the caller can lose this copy in a power cut
        (a sidecar the database also holds): no flush to disk, where a backend has one."""

    def open(self, key: str) -> BinaryIO: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def local_path(self, key: str) -> Path:
        """A local file holding the object (the object itself, or a cached copy)."""

    def url(self, key: str, expires: int = 3600, filename: str | None = None) -> str:
        """Where a client can fetch the object: a time-limited signed URL for remote
        backends; a file:// URI for local disk (served by the app, never handed out)."""

    def ping(self) -> None:
        """Raise StorageError when the backend is unreachable."""
