"""A project's cast: the characters, props and places that must look the same in every shot."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from studio.api.base import StudioBase
from studio.core import cast
from studio.core.errors import Conflict, InvalidInput, NotFound
from studio.core.models import (
    CastConsistency,
    CastMember,
    CastMemberPublic,
    Project,
    RenderJob,
    ShotLook,
    ident,
)


class CastArea(StudioBase):
    def cast(self, project_id: int) -> list[CastMemberPublic]:
        with self._session() as session:
            self._project(session, project_id)
            shots = self._shots(session, project_id)
            return [self._cast_public(m, shots) for m in cast.members(session, project_id)]

    def cast_member(self, member_id: int) -> CastMemberPublic:
        with self._session() as session:
            member = self._member(session, member_id)
            return self._cast_public(member, self._shots(session, member.project_id))

    def add_cast_member(self, project_id: int, name: str, **fields: Any) -> CastMemberPublic:
        values = cast.cast_fields({"name": name, **fields})
        with self._session(write=True) as session:
            self._project(session, project_id)
            existing = cast.members(session, project_id)
            if values["name"] in {m.name for m in existing}:
                raise Conflict(f"{values['name']} is already in the cast")
            if len(existing) >= cast.MAX_CAST:
                raise InvalidInput(f"A project has at most {cast.MAX_CAST} cast members")
            values.setdefault("seed", cast.stable_seed(values["name"]))
            member = CastMember(project_id=project_id, **values)
            session.add(member)
            session.flush()
            return self._cast_public(member, self._shots(session, project_id))

    def update_cast_member(self, member_id: int, **changes: Any) -> CastMemberPublic:
        values = cast.cast_fields(changes)
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
            session.add(into)
            session.delete(member)
            session.flush()
            return self._cast_public(into, self._shots(session, into.project_id))

    def consistency(self, project_id: int) -> list[CastConsistency]:
        with self._session() as session:
            self._project(session, project_id)
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
            return [
                CastConsistency(
                    member_id=ident(member),
                    name=member.name,
                    description=member.description,
                    shots=[looks[i] for i in cast.appearances(shots, member.name)],
                )
                for member in cast.members(session, project_id)
            ]

    # ---- helpers --------------------------------------------------------------------------
    def _member(self, session: Session, member_id: int) -> CastMember:
        member = session.get(CastMember, member_id) if isinstance(member_id, int) else None
        project = session.get(Project, member.project_id) if member is not None else None
        if member is None or project is None or not self._visible(project.owner):
            raise NotFound(f"No cast member #{member_id}")
        return member

    def _cast_public(self, member: CastMember, shots: Any) -> CastMemberPublic:
        found = CastMemberPublic.model_validate(member)
        found.shot_ids = cast.appearances(shots, member.name)
        return found
