"""A project's cast in the database. Who is in which shot is `Shot.characters` (the members'
names, as the script writes them), so a rename or a merge rewrites those lists and a
deletion takes the name out of them, in the same transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlmodel import Session, col, select

from studio.core.errors import InvalidInput
from studio.core.models import Artifact, CastKind, CastMember, Shot
from studio.core.validation import (
    MAX_SEED,
    cast_name,
    choice,
    number,
    text,
    voice_id,
    voice_pitch,
    voice_speed,
)

MAX_DESCRIPTION = 500
MAX_CAST = 200  # members per project
CAST_FIELDS = {
    "name",
    "kind",
    "description",
    "seed",
    "reference_scale",
    "lora_scale",
    "voice_engine",
    "voice",
    "voice_speed",
    "voice_pitch",
}


def cast_fields(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - CAST_FIELDS
    if unknown:
        raise InvalidInput(f"Unknown cast field(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "name":
            out[key] = cast_name(value)
        elif key == "kind":
            out[key] = choice(value, "Kind", [k.value for k in CastKind])
        elif key == "description":
            out[key] = " ".join(text(value, "Description", MAX_DESCRIPTION).split())
        elif key == "reference_scale":
            out[key] = number(value, "Reference strength", 0.0, 1.0)
        elif key == "lora_scale":
            out[key] = number(value, "LoRA strength", 0.0, 2.0)
        elif key == "voice_engine":
            out[key] = text(value, "Voice engine", 100)  # the catalogue checks the name
        elif key == "voice":
            out[key] = voice_id(value, "Voice")
        elif key == "voice_speed":
            out[key] = voice_speed(value, "Voice speed")
        elif key == "voice_pitch":
            out[key] = voice_pitch(value, "Voice pitch")
        else:
            out[key] = int(number(value, "Seed", 0, MAX_SEED, integer=True))
    return out


# Pitch shifts (semitones) given to new characters in turn, so that two characters never
# share a voice by default; the creator changes them in the Voices tab.
VOICE_PITCHES = (0.0, 4.0, -3.0, 7.0, -5.0, 2.0, -1.0, 5.0)


def default_pitch(existing: Sequence[CastMember]) -> float:
    """The pitch shift of the next new character of a cast."""
    characters = sum(1 for m in existing if m.kind == CastKind.character.value)
    return VOICE_PITCHES[characters % len(VOICE_PITCHES)]


def stable_seed(name: str) -> int:
    """A member's default seed: from its name, so a new breakdown keeps it."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % (MAX_SEED + 1)


def members(session: Session, project_id: int) -> list[CastMember]:
    query = select(CastMember).where(CastMember.project_id == project_id)
    return list(session.exec(query.order_by(col(CastMember.id))).all())


def descriptions(session: Session, project_id: int) -> dict[str, str]:
    """Name → description of the members that have one: what prompts say about them."""
    return {m.name: m.description for m in members(session, project_id) if m.description}


def references(session: Session, project_id: int) -> dict[str, dict[str, Any]]:
    """Name → {digest, scale} of the members with a reference image: what reference-capable
    pipelines are conditioned on (the digest is the stored PNG's sha256, so the render cache
    and provenance key on the picture itself, not on which upload brought it)."""
    found = {}
    for member in members(session, project_id):
        if member.reference_artifact_id is None:
            continue
        artifact = session.get(Artifact, member.reference_artifact_id)
        if artifact is not None:
            found[member.name] = {"digest": artifact.sha256, "scale": member.reference_scale}
    return found


def loras(session: Session, project_id: int) -> dict[str, dict[str, Any]]:
    """Name → {digest, scale} of the members with a LoRA (the stored file's sha256)."""
    found = {}
    for member in members(session, project_id):
        if member.lora_artifact_id is None:
            continue
        artifact = session.get(Artifact, member.lora_artifact_id)
        if artifact is not None:
            found[member.name] = {"digest": artifact.sha256, "scale": member.lora_scale}
    return found


def appearances(shots: Sequence[Shot], name: str) -> list[int]:
    """The ids of the shots `name` is in, in shot order."""
    return [s.id for s in shots if s.id is not None and name in s.characters]


def add_found(
    session: Session, project_id: int, found: Iterable[tuple[str, str]]
) -> list[CastMember]:
    """Add the (name, description) pairs a breakdown found that the cast lacks; a member the
    creator already has keeps its own description, unless it has none yet."""
    existing = {m.name: m for m in members(session, project_id)}
    added = []
    for name, description in found:
        member = existing.get(name)
        if member is None:
            if len(existing) >= MAX_CAST:
                break
            member = CastMember(
                project_id=project_id,
                name=name,
                description=description[:MAX_DESCRIPTION],
                seed=stable_seed(name),
                voice_pitch=default_pitch(list(existing.values())),
            )
            existing[name] = member
            added.append(member)
        elif not member.description and description:
            member.description = description[:MAX_DESCRIPTION]
        session.add(member)
    session.flush()
    return added


def replace_in_shots(session: Session, project_id: int, old: str, new: str | None) -> None:
    """Every shot of the project naming `old` names `new` instead (once), or nobody."""
    for shot in session.exec(select(Shot).where(Shot.project_id == project_id)).all():
        if old not in shot.characters:
            continue
        names = [new if n == old else n for n in shot.characters if new is not None or n != old]
        shot.characters = [n for n in dict.fromkeys(names) if n is not None]
        session.add(shot)
    session.flush()
