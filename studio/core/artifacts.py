"""Turn a rendered file into a stored, content-addressed Artifact with a JSON sidecar."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from storage.base import Storage, content_key
from studio.core.models import Artifact
from studio.core.provenance import as_json

SUFFIXES = {
    "image/png": ".png",
    "video/mp4": ".mp4",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "application/x-subrip": ".srt",
    "text/vtt": ".vtt",
}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def store_file(
    storage: Storage,
    path: Path,
    content_type: str,
    provenance: dict[str, Any],
    owner: str,
    suffix: str | None = None,
) -> Artifact:
    """Upload the file (once per content) and its sidecar; return an unsaved Artifact row."""
    sha = sha256_file(path)
    key = content_key(sha, suffix or SUFFIXES.get(content_type, ".bin"))
    if not storage.exists(key):
        storage.put_file(key, path, content_type)
    # The sidecar is a copy of what the database records (and the file's own tags): one
    # disk flush per artifact is enough, the file's.
    storage.put_bytes(
        key + ".json", as_json(provenance).encode("utf-8"), "application/json", durable=False
    )
    return Artifact(
        owner=owner,
        key=key,
        content_type=content_type,
        bytes=path.stat().st_size,
        sha256=sha,
        provenance=provenance,
    )


def store_bytes(
    storage: Storage, data: bytes, content_type: str, provenance: dict[str, Any], owner: str
) -> Artifact:
    """Like `store_file`, for content already in memory (a reference picture)."""
    sha = hashlib.sha256(data).hexdigest()
    key = content_key(sha, SUFFIXES.get(content_type, ".bin"))
    if not storage.exists(key):
        storage.put_bytes(key, data, content_type)
    # The sidecar is a copy of what the database records (and the file's own tags): one
    # disk flush per artifact is enough, the file's.
    storage.put_bytes(
        key + ".json", as_json(provenance).encode("utf-8"), "application/json", durable=False
    )
    return Artifact(
        owner=owner,
        key=key,
        content_type=content_type,
        bytes=len(data),
        sha256=sha,
        provenance=provenance,
    )
