"""Artifact downloads: an authorized route, or a short-lived signed link bound to the
artifact (studio.links). Raw storage paths are never served."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from studio.web.identity import Identity


def router(identity: Identity) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    studio = identity.studio

    @routes.get("/files/{artifact_id}/{filename}")
    def download(
        request: Request,
        artifact_id: int,
        filename: str,
        exp: int | None = None,
        sig: str | None = None,
    ) -> Response:
        """The artifact's bytes: for its owner (cookie or token), an admin, or anyone
        holding an unexpired signed link."""
        if exp is not None or sig is not None:
            artifact = studio.artifact_by_link(artifact_id, filename, exp, sig)
        else:
            artifact = identity.studio_for(request).stored_artifact(artifact_id)
        url = studio.storage.url(
            artifact.key, expires=min(studio.settings.download_url_seconds, 900), filename=filename
        )
        if url.startswith(("http://", "https://")):  # S3 / CDN: a presigned, short-lived URL
            return RedirectResponse(url, status_code=307)
        return FileResponse(
            studio.storage.local_path(artifact.key),
            media_type=artifact.content_type,
            filename=filename,
        )

    return routes
