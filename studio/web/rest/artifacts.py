"""Artifacts (frames, clips, films): metadata and a short-lived download link."""

from __future__ import annotations

from fastapi import APIRouter

from studio.web.rest.common import Id, StudioDep
from studio.web.rest.schemas import ArtifactOut

router = APIRouter(tags=["artifacts"])


@router.get("/artifacts/{artifact_id}", response_model=ArtifactOut)
def get_artifact(studio: StudioDep, artifact_id: Id) -> ArtifactOut:
    """Metadata with provenance, and `download_url`: a signed site path that fetches the
    bytes without credentials until it expires (relative to this API's origin)."""
    artifact = studio.artifact(artifact_id)
    return ArtifactOut(
        id=artifact_id,
        owner=artifact.owner,
        content_type=artifact.content_type,
        bytes=artifact.bytes,
        sha256=artifact.sha256,
        provenance=artifact.provenance,
        created_at=artifact.created_at,
        download_url=studio.signed_link(artifact_id),
        direct_url=studio.download_url(artifact_id),
    )
