"""A project's cast: the characters, props and places that must look the same in every shot."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image
from sqlmodel import Session

from pipelines.catalogue import UnknownPipelineError
from pipelines.diffusers_base import first_line
from pipelines.errors import PipelineError
from storage.base import StorageError
from studio.api.renders import RendersArea
from studio.core import cast, lifecycle, voices
from studio.core.artifacts import store_bytes, store_file
from studio.core.errors import Conflict, InvalidInput, NotFound
from studio.core.loras import SUFFIX, check_lora
from studio.core.models import (
    Artifact,
    CastConsistency,
    CastKind,
    CastMember,
    CastMemberPublic,
    JobKind,
    JobPublic,
    JobStatus,
    Priority,
    Project,
    RenderJob,
    ShotLook,
    ident,
    public,
)
from studio.core.params import resolve_sheet
from studio.core.references import normalise_reference, read_picture
from studio.core.team import Access


class CastArea(RendersArea):
    def cast(self, project_id: int) -> list[CastMemberPublic]:
        with self._session() as session:
            self._project(session, project_id, Access.view)
            shots = self._shots(session, project_id)
            return [self._cast_public(m, shots) for m in cast.members(session, project_id)]

    def cast_member(self, member_id: int) -> CastMemberPublic:
        with self._session() as session:
            member = self._member(session, member_id, Access.view)
            return self._cast_public(member, self._shots(session, member.project_id))

    def add_cast_member(self, project_id: int, name: str, **fields: Any) -> CastMemberPublic:
        values = self._checked_cast_fields({"name": name, **fields})
        with self._session(write=True) as session:
            self._project(session, project_id)
            existing = cast.members(session, project_id)
            if values["name"] in {m.name for m in existing}:
                raise Conflict(f"{values['name']} is already in the cast")
            if len(existing) >= cast.MAX_CAST:
                raise InvalidInput(f"A project has at most {cast.MAX_CAST} cast members")
            values.setdefault("seed", cast.stable_seed(values["name"]))
            if values.get("kind", CastKind.character.value) == CastKind.character.value:
                values.setdefault("voice_pitch", cast.default_pitch(existing))
            member = CastMember(project_id=project_id, **values)
            session.add(member)
            session.flush()
            return self._cast_public(member, self._shots(session, project_id))

    def update_cast_member(self, member_id: int, **changes: Any) -> CastMemberPublic:
        values = self._checked_cast_fields(changes)
        with self._session(write=True) as session:
            member = self._member(session, member_id)
            name = values.get("name", member.name)
            if name != member.name:
                if name in {m.name for m in cast.members(session, member.project_id)}:
                    raise Conflict(
                        f"{name} is already in the cast: merge the two instead of renaming"
                    )
                cast.replace_in_shots(session, member.project_id, member.name, name)
            for key, value in values.items():
                setattr(member, key, value)
            session.add(member)
            session.flush()
            return self._cast_public(member, self._shots(session, member.project_id))

    def _checked_cast_fields(self, changes: dict[str, Any]) -> dict[str, Any]:
        values = cast.cast_fields(changes)
        if values.get("voice_engine"):  # "" speaks with the project's engine
            voices.check_engine(self.catalogue, values["voice_engine"], "voice_engine")
        return values

    def delete_cast_member(self, member_id: int) -> None:
        with self._session(write=True) as session:
            member = self._member(session, member_id)
            cast.replace_in_shots(session, member.project_id, member.name, None)
            session.delete(member)

    def merge_cast_member(self, member_id: int, into_id: int) -> CastMemberPublic:
        with self._session(write=True) as session:
            member = self._member(session, member_id)
            into = self._member(session, into_id)
            if member.id == into.id:
                raise InvalidInput("A cast member cannot be merged into itself", "into_id")
            if member.project_id != into.project_id:
                raise InvalidInput("Both cast members must be of the same project", "into_id")
            cast.replace_in_shots(session, member.project_id, member.name, into.name)
            if not into.description:
                into.description = member.description
            if into.lora_artifact_id is None:
                into.lora_artifact_id = member.lora_artifact_id
                into.lora_scale = member.lora_scale
            if into.reference_artifact_id is None:
                into.reference_artifact_id = member.reference_artifact_id
                into.reference_scale = member.reference_scale
            session.add(into)
            session.delete(member)
            session.flush()
            return self._cast_public(into, self._shots(session, into.project_id))

    def set_cast_reference(self, member_id: int, image: bytes | str | Path) -> CastMemberPublic:
        with self._session() as session:
            self._member(session, member_id)  # NotFound before looking at the picture
        png = normalise_reference(read_picture(image))
        return self._keep_reference(member_id, png, {"source": "upload"})

    def pick_cast_reference(self, member_id: int, job_id: int) -> CastMemberPublic:
        with self._session() as session:
            member = self._member(session, member_id)
            job = self._job(session, job_id, Access.view)
            artifact = session.get(Artifact, job.artifact_id) if job.artifact_id else None
            if job.status != JobStatus.succeeded.value or artifact is None:
                raise InvalidInput(f"Job #{job_id} has no finished picture to take", "job_id")
            if job.kind not in (JobKind.preview.value, JobKind.clip.value):
                raise InvalidInput(f"Job #{job_id} is a {job.kind}, not a shot's render", "job_id")
            project = session.get(Project, member.project_id)
            if project is not None and job.owner != project.owner:
                raise InvalidInput(f"Job #{job_id} is not of this project's owner", "job_id")
            key, kind = artifact.key, job.kind
        path = self.storage.local_path(key)
        data = _frame_png(path) if kind == JobKind.clip.value else path.read_bytes()
        return self._keep_reference(
            member_id, normalise_reference(data), {"source": f"job {job_id}"}
        )

    def set_cast_lora(self, member_id: int, lora: bytes | str | Path) -> CastMemberPublic:
        with self._session() as session:
            member = self._member(session, member_id)
            project = session.get(Project, member.project_id)
            owner = project.owner if project is not None else self.user
            provenance = {"kind": "cast-lora", "member": member.name}
        with tempfile.TemporaryDirectory(prefix="lora-") as folder:
            if isinstance(lora, bytes | bytearray):
                path = Path(folder) / f"upload{SUFFIX}"
                path.write_bytes(lora)
            elif isinstance(lora, str | Path):
                path = Path(lora).expanduser()
            else:
                raise InvalidInput("The LoRA must be a file path or its bytes", "lora")
            check_lora(path)
            provenance["file"] = path.name if not isinstance(lora, bytes | bytearray) else ""
            # Stored before the transaction (storage is not transactional; an unused file is
            # harmless), content-addressed: workers fetch it by its sha256.
            artifact = store_file(
                self.storage, path, "application/octet-stream", provenance, owner, suffix=SUFFIX
            )
        with self._session(write=True) as session:
            member = self._member(session, member_id)
            session.add(artifact)
            session.flush()
            member.lora_artifact_id = artifact.id
            session.add(member)
            session.flush()
            return self._cast_public(member, self._shots(session, member.project_id))

    def clear_cast_lora(self, member_id: int) -> CastMemberPublic:
        with self._session(write=True) as session:
            member = self._member(session, member_id)
            member.lora_artifact_id = None
            session.add(member)
            session.flush()
            return self._cast_public(member, self._shots(session, member.project_id))

    def clear_cast_reference(self, member_id: int) -> CastMemberPublic:
        with self._session(write=True) as session:
            member = self._member(session, member_id)
            member.reference_artifact_id = None
            session.add(member)
            session.flush()
            return self._cast_public(member, self._shots(session, member.project_id))

    def _keep_reference(
        self, member_id: int, png: bytes, origin: dict[str, str]
    ) -> CastMemberPublic:
        """Store the picture (before the transaction: storage is not transactional, and an
        unused stored picture is harmless) and point the member at it."""
        with self._session() as session:
            member = self._member(session, member_id)
            project = session.get(Project, member.project_id)
            owner = project.owner if project is not None else self.user
            provenance = {"kind": "cast-reference", "member": member.name, **origin}
        artifact = store_bytes(self.storage, png, "image/png", provenance, owner)
        with self._session(write=True) as session:
            member = self._member(session, member_id)
            session.add(artifact)
            session.flush()
            member.reference_artifact_id = artifact.id
            session.add(member)
            session.flush()
            return self._cast_public(member, self._shots(session, member.project_id))

    def render_character_sheet(self, member_id: int) -> JobPublic:
        with self._session(write=True) as session:
            member = self._member(session, member_id)
            project = self._project(session, member.project_id, Access.render)
            references = cast.references(session, ident(project))
            params = resolve_sheet(self.catalogue, project, member, references)
            self._check_size(project.width, project.height, 1.0)
            job = lifecycle.submit(
                session,
                kind=JobKind.preview,
                project_id=ident(project),
                shot_id=None,
                params=params,
                owner=project.owner,
                priority=Priority.normal,
                max_attempts=self.settings.max_attempts,
                cost=self._price(params),
                artifact_available=self._artifact_available,
                **self._billing(),
            )
        self._wake([job])
        return public(job)

    def consistency(self, project_id: int) -> list[CastConsistency]:
        with self._session() as session:
            self._project(session, project_id, Access.view)
            shots = self._shots(session, project_id)
            looks = {}
            for number, shot in enumerate(shots, 1):
                preview = (
                    session.get(RenderJob, shot.preview_job_id) if shot.preview_job_id else None
                )
                take = self._take_for(session, shot)
                looks[shot.id] = ShotLook(
                    shot_id=ident(shot),
                    number=number,
                    preview_artifact_id=preview.artifact_id if preview else None,
                    take_artifact_id=take.artifact_id if take else None,
                )
            reports = [
                CastConsistency(
                    member_id=ident(member),
                    name=member.name,
                    description=member.description,
                    shots=[looks[i].model_copy() for i in cast.appearances(shots, member.name)],
                    reference_artifact_id=member.reference_artifact_id,
                )
                for member in cast.members(session, project_id)
            ]
        for report in reports:
            self._score(report)
        return reports

    def _score(self, report: CastConsistency) -> None:
        """With a similarity model configured and a reference picture, each shot's frame (its
        preview, else its take's first frame) scored against the picture, lowest first: the
        shots where the member drifts most come first."""
        name = self.settings.similarity_pipeline
        if not name or report.reference_artifact_id is None or not report.shots:
            return
        try:
            entry = self.catalogue.get(name)
        except UnknownPipelineError as exc:
            report.score_error = str(exc)
            return
        if not entry.supports("image-similarity"):
            report.score_error = f"Pipeline {name!r} does not do image-similarity"
            return
        frames = [(look, self._look_frame(look)) for look in report.shots]
        scored = [(look, frame) for look, frame in frames if frame is not None]
        if not scored:
            return
        try:
            model = self.runner.pipeline(name)
            with Image.open(self.artifact_path(report.reference_artifact_id)) as stored:
                reference = stored.convert("RGB")
            values = model.scores(reference, [frame for _look, frame in scored])
        except (PipelineError, OSError, StorageError) as exc:
            report.score_error = f"{name}: {first_line(exc)}"
            return
        for (look, _frame), value in zip(scored, values, strict=True):
            look.similarity = round(float(value), 4)
        report.scored_with = name
        report.shots.sort(key=lambda look: (look.similarity is None, look.similarity or 0.0))

    def _look_frame(self, look: ShotLook) -> Image.Image | None:
        if look.preview_artifact_id is not None:
            with Image.open(self.artifact_path(look.preview_artifact_id)) as frame:
                return frame.convert("RGB")
        if look.take_artifact_id is not None:
            return Image.open(io.BytesIO(_frame_png(self.artifact_path(look.take_artifact_id))))
        return None

    # ---- helpers --------------------------------------------------------------------------
    def _member(self, session: Session, member_id: int, need: Access = Access.edit) -> CastMember:
        member = session.get(CastMember, member_id) if isinstance(member_id, int) else None
        project = session.get(Project, member.project_id) if member is not None else None
        if member is None or project is None:
            raise NotFound(f"No cast member #{member_id}")
        try:
            self._check_access(session, project, need)
        except NotFound:
            raise NotFound(f"No cast member #{member_id}") from None
        return member

    def _cast_public(self, member: CastMember, shots: Any) -> CastMemberPublic:
        found = CastMemberPublic.model_validate(member)
        found.shot_ids = cast.appearances(shots, member.name)
        return found


def _frame_png(path: Path) -> bytes:
    """A take's first frame as PNG bytes (the frame a chained shot would continue from is the
    last; a reference wants the character as the take first shows it)."""
    from studio.film.video import read_frames

    frames = read_frames(path)
    try:
        first = next(frames, None)
    finally:
        frames.close()
    if first is None:
        raise InvalidInput("That take has no frames", "job_id")
    buffer = io.BytesIO()
    Image.fromarray(first).save(buffer, format="PNG")
    return buffer.getvalue()
