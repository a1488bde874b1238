"""Artifacts: their files, exports, download links, live and preview frames."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from sqlalchemy import false
from sqlmodel import Session, col, or_, select

from storage.base import StorageError
from studio.api.queue import QueueArea
from studio.core.errors import NotFound
from studio.core.models import (
    Artifact,
    ArtifactPublic,
    CastMember,
    RenderJob,
    Shot,
    ShotPublic,
    ident,
    public,
)
from studio.core.team import Membership


class FilesArea(QueueArea):
    def stored_artifact(self, artifact_id: int) -> Artifact:
        """The artifact's row with its storage key, for the server's download route (not part
        of StudioAPI: clients get links, never storage keys). NotFound when missing, or neither
        yours nor part of a project shared with you."""
        with self._session() as session:
            artifact = session.get(Artifact, artifact_id) if isinstance(artifact_id, int) else None
            if artifact is None or not (
                self._visible(artifact.owner) or self._shared_artifact(session, artifact)
            ):
                raise NotFound(f"No artifact #{artifact_id}")
            return artifact

    def _shared_artifact(self, session: Session, artifact: Artifact) -> bool:
        """Whether `artifact` belongs to a project the user is a member of: a job's result
        (take, line, preview, film), a film's subtitles, an exported cut, a cast reference, a
        shot's sound."""
        shared = select(Membership.project_id).where(Membership.user == self.user)
        artifact_id = ident(artifact)
        project = artifact.provenance.get("project")
        exported = isinstance(project, int) and artifact.provenance.get("kind") == "cut-export"
        if exported and session.get(Membership, (project, self.user)) is not None:
            return True  # a cut exported for an editing suite
        film_job = artifact.provenance.get("film_job_id")
        owned_by_job = or_(
            RenderJob.artifact_id == artifact_id,
            RenderJob.id == film_job if isinstance(film_job, int) else false(),
        )
        found = [
            select(RenderJob.id).where(owned_by_job, col(RenderJob.project_id).in_(shared)),
            select(CastMember.id).where(
                CastMember.reference_artifact_id == artifact_id,
                col(CastMember.project_id).in_(shared),
            ),
            select(Shot.id).where(
                Shot.sound_artifact_id == artifact_id, col(Shot.project_id).in_(shared)
            ),
        ]
        return any(session.exec(query.limit(1)).first() is not None for query in found)

    def artifact(self, artifact_id: int) -> ArtifactPublic:
        return public(self.stored_artifact(artifact_id))

    def artifact_path(self, artifact_id: int) -> Path:
        return self.storage.local_path(self.stored_artifact(artifact_id).key)

    def export(self, artifact_id: int, name: str) -> Path:
        """A copy of an artifact under data_dir/exports with a readable file name."""
        artifact = self.stored_artifact(artifact_id)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:80] or "export"
        suffix = Path(artifact.key).suffix
        target = self.exports_dir / f"{slug}-{artifact.sha256[:8]}{suffix}"
        if not target.exists():
            self.exports_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.storage.local_path(artifact.key), target)
        return target

    def download_url(self, artifact_id: int, filename: str | None = None) -> str | None:
        """A time-limited direct link (S3 presigned or CDN), or None for local storage."""
        url = self.storage.url(
            self.stored_artifact(artifact_id).key,
            expires=self.settings.download_url_seconds,
            filename=filename,
        )
        return url if url.startswith(("http://", "https://")) else None

    def signed_link(self, artifact_id: int, filename: str | None = None) -> str:
        """A site path (/files/…) that downloads the artifact without logging in, for a short
        while (download_url_seconds, at most an hour). It is bound to this artifact and its
        owner: changing the id, the expiry or the file name breaks the signature."""
        from urllib.parse import quote

        from studio.core import links

        artifact = self.stored_artifact(artifact_id)
        seconds = min(self.settings.download_url_seconds, 3600)
        secret = self.settings.secret_key.get_secret_value()
        name = filename or f"artifact-{artifact_id}{Path(artifact.key).suffix}"
        expires, signature = links.sign(secret, artifact_id, artifact.owner, seconds, name)
        return f"/files/{artifact_id}/{quote(name)}?exp={expires}&sig={signature}"

    def artifact_by_link(
        self, artifact_id: int, filename: str, expires: int | None, signature: str | None
    ) -> Artifact:
        """The artifact a signed link (`signed_link`) names, whoever acts: the signature is the
        authorization. A missing artifact and a bad or expired link are the same NotFound."""
        from studio.core import links

        with self._session() as session:
            artifact = session.get(Artifact, artifact_id) if isinstance(artifact_id, int) else None
        secret = self.settings.secret_key.get_secret_value()
        if (
            artifact is None
            or expires is None
            or not links.valid(
                secret, artifact_id, artifact.owner, expires, filename, signature or ""
            )
        ):
            raise NotFound("This download link is invalid or has expired")
        return artifact

    def live_preview(self, job_id: int) -> Path | None:
        """The latest low-resolution step image of a running render, where its pipeline
        provides one (diffusers image pipelines do; `draft` has no steps to show)."""
        from studio.farm.runner import live_preview_key

        key = live_preview_key(self.job(job_id).id)  # (a member may watch a shared render)
        try:
            return self.storage.local_path(key) if self.storage.exists(key) else None
        except StorageError:
            return None

    def preview_path(self, shot: ShotPublic) -> Path | None:
        """The file of a shot's latest preview frame, if it has one."""
        if shot.preview_job_id is None:
            return None
        job = self.job(shot.preview_job_id)
        return self.artifact_path(job.artifact_id) if job.artifact_id else None
