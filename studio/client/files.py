"""The SDK client's files: artifacts, signed links, checked downloads into a cache."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from studio.client.accounts import RemoteAccounts
from studio.client.transport import ServerError, ServerUnreachable, error_from, path_id
from studio.core.models import ArtifactPublic


class RemoteFiles(RemoteAccounts):
    # ---- files ----------------------------------------------------------------------------
    def _artifact_data(self, artifact_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self._get(f"/artifacts/{path_id(artifact_id)}")
        return data

    def artifact(self, artifact_id: int) -> ArtifactPublic:
        """Content type, bytes, sha256, provenance."""
        return ArtifactPublic.model_validate(self._artifact_data(artifact_id))

    def signed_link(self, artifact_id: int, filename: str | None = None) -> str:
        """A site path (/files/…) that downloads the artifact without a login until it
        expires; prefix it with the studio's address (or use `download_url`)."""
        link = str(self._artifact_data(artifact_id)["download_url"])
        if filename:
            path, _, query = link.partition("?")
            link = f"{path.rsplit('/', 1)[0]}/{quote(filename)}?{query}"
        return link

    def download_url(self, artifact_id: int, filename: str | None = None) -> str:
        """The signed download link as an absolute URL (usable without a token until it
        expires)."""
        return urljoin(self.url + "/", self.signed_link(artifact_id, filename).lstrip("/"))

    def artifact_path(self, artifact_id: int) -> Path:
        """The artifact as a local file: downloaded once into `cache_dir`, sha256-checked."""
        data = self._artifact_data(artifact_id)
        name = _file_name(data)
        target = self.cache_dir / f"{path_id(artifact_id)}-{data['sha256'][:16]}{Path(name).suffix}"
        if target.exists() and _sha256(target) == data["sha256"]:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        for attempt in range(self.retries + 1):
            try:
                digest = self._download(str(data["download_url"]), partial)
            except (httpx.TransportError, ServerError) as exc:
                partial.unlink(missing_ok=True)
                if attempt == self.retries:
                    if isinstance(exc, ServerError):
                        raise
                    raise ServerUnreachable(f"Download from {self.url} failed: {exc}") from exc
                time.sleep(min(self.backoff * 2**attempt, 5.0))
                continue
            if digest != data["sha256"]:
                partial.unlink(missing_ok=True)
                raise ServerError(
                    f"Artifact #{artifact_id} arrived corrupted (sha256 {digest[:12]}…, "
                    f"expected {data['sha256'][:12]}…)"
                )
            partial.replace(target)
            return target
        raise AssertionError("unreachable")  # pragma: no cover

    def _download(self, link: str, path: Path) -> str:
        digest = hashlib.sha256()
        with self.client.stream("GET", link, follow_redirects=True) as response:
            if response.status_code >= 400:
                response.read()
                raise error_from(response)
            with path.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        return digest.hexdigest()


def _file_name(data: dict[str, Any]) -> str:
    """The file name in an artifact's signed link (it carries the file's extension)."""
    return str(data["download_url"]).partition("?")[0].rsplit("/", 1)[-1]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
