"""The timeline (studio/core/timeline.py): read and edit it, list the assembled cuts and
go back to one. Handing it to an editing suite: studio/api/handoff.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session, col, select

from studio.api.team import TeamArea
from studio.core.errors import InvalidInput, NotFound
from studio.core.models import (
    Artifact,
    JobKind,
    Project,
    RenderJob,
    Shot,
    ident,
)
from studio.core.team import Access, TakeReview
from studio.core.timeline import (
    ClipEdit,
    CutPublic,
    TimelineClip,
    TimelinePublic,
    TimelineSound,
    check_fits,
    check_transition,
    check_trim,
    dialogue_item,
    effects_item,
    lay_out,
)
from studio.core.voices import spoken_line
from studio.film.breakdown import script_title

TITLE_SECONDS = 2.0


class TimelineArea(TeamArea):
    def timeline(self, project_id: int) -> TimelinePublic:
        with self._session() as session:
            project = self._project(session, project_id, Access.view)
            return self._timeline(session, project)

    def edit_timeline(
        self,
        project_id: int,
        clips: Sequence[ClipEdit | Mapping[str, Any]] = (),
        order: Sequence[int] | None = None,
    ) -> TimelinePublic:
        """Change shots on the timeline, all or none: `clips` trim them, set their
        transitions or pick their takes; `order` (every shot id, once) reorders them."""
        edits = [c if isinstance(c, ClipEdit) else ClipEdit.model_validate(c) for c in clips]
        with self._session(write=True) as session:
            project = self._project(session, project_id, Access.edit)
            shots = {ident(s): s for s in self._shots(session, project_id)}
            for edit in edits:
                shot = shots.get(edit.shot_id)
                if shot is None:
                    raise NotFound(f"No shot #{edit.shot_id} in project #{project_id}")
                self._apply(session, shot, edit)
            if order is not None:
                self._reorder(session, list(shots.values()), order)
            return self._checked(session, project)

    def _apply(self, session: Session, shot: Shot, edit: ClipEdit) -> None:
        if edit.take_id is not None:
            if edit.take_id not in {t.id for t in self._takes(session, ident(shot))}:
                raise InvalidInput(
                    f"Job #{edit.take_id} is not a finished take of shot #{shot.id}", "take_id"
                )
            shot.chosen_take_id = edit.take_id
        if edit.trim_in is not None:
            shot.trim_in = round(float(edit.trim_in), 4)
        if edit.trim_out is not None:
            shot.trim_out = None if edit.trim_out == "end" else round(float(edit.trim_out), 4)
        if edit.transition is not None or edit.transition_seconds is not None:
            kind = edit.transition if edit.transition is not None else shot.transition
            seconds = edit.transition_seconds
            if seconds is None and kind == shot.transition:
                seconds = shot.transition_seconds
            shot.transition, shot.transition_seconds = check_transition(kind, seconds)
        session.add(shot)

    def _reorder(self, session: Session, shots: list[Shot], order: Sequence[int]) -> None:
        ids = [ident(s) for s in shots]
        if sorted(order) != sorted(ids):
            raise InvalidInput("order must list every shot of the project once", "order")
        by_id = {ident(s): s for s in shots}
        for position, shot_id in enumerate(order):
            by_id[shot_id].position = position
            session.add(by_id[shot_id])

    def _checked(self, session: Session, project: Project) -> TimelinePublic:
        """The timeline after an edit, refused (the transaction rolls back) if it no longer
        fits: a trim beyond its take, transitions longer than a shot."""
        session.flush()
        timeline = self._timeline(session, project)
        for clip in timeline.clips:
            check_trim(clip.number, clip.trim_in, clip.trim_out, clip.take_seconds)
        check_fits(timeline.clips)
        return timeline

    def _timeline(self, session: Session, project: Project) -> TimelinePublic:
        shots = self._shots(session, ident(project))
        verdicts = {
            r.job_id: r.verdict
            for r in session.exec(
                select(TakeReview).where(TakeReview.project_id == ident(project))
            ).all()
        }
        clips, missing = [], []
        for number_, shot in enumerate(shots, start=1):
            take = self._take_for(session, shot)
            if take is None:
                missing.append(number_)
            clip = self._timeline_clip(session, shot, number_, take)
            clip.verdict = verdicts.get(ident(take), "") if take is not None else ""
            clips.append(clip)
        title = script_title(project.script) or ""
        title_seconds = TITLE_SECONDS if title else 0.0
        seconds = lay_out(clips, title_seconds, [s.duration for s in shots])
        return TimelinePublic(
            project_id=ident(project),
            title=title,
            title_seconds=title_seconds,
            clips=clips,
            sounds=self._sounds(session, shots, clips),
            seconds=seconds,
            missing=missing,
        )

    def _sounds(
        self, session: Session, shots: Sequence[Shot], clips: Sequence[TimelineClip]
    ) -> list[TimelineSound]:
        """The dialogue and effects tracks: each shot's spoken line at its offset, its sound
        under the whole shot."""
        found = []
        for shot, clip in zip(shots, clips, strict=True):
            line = spoken_line(shot.dialogue)
            spoken = self._take_for(session, shot, JobKind.speech) if line else None
            artifact = session.get(Artifact, spoken.artifact_id) if spoken else None
            if line and spoken and artifact and spoken.params["request"]["text"] == line.text:
                found.append(dialogue_item(clip, shot.line_offset, spoken.id, artifact, line.text))
            if shot.sound_artifact_id is not None:
                found.append(effects_item(clip, shot.sound_artifact_id))
        return found

    # ---- versions -------------------------------------------------------------------------
    def cuts(self, project_id: int) -> list[CutPublic]:
        """Every film assembled from the project, newest first, with its decision list."""
        with self._session() as session:
            self._project(session, project_id, Access.view)
            films = session.exec(
                select(RenderJob)
                .where(RenderJob.project_id == project_id, RenderJob.kind == JobKind.film.value)
                .order_by(col(RenderJob.id).desc())
            ).all()
            return [self._cut(session, film) for film in films]

    def _cut(self, session: Session, film: RenderJob) -> CutPublic:
        artifact = session.get(Artifact, film.artifact_id) if film.artifact_id else None
        seconds = artifact.provenance.get("assembly", {}).get("seconds", 0.0) if artifact else 0.0
        clips = [
            {k: v for k, v in take.items() if k not in ("key", "sha256")}
            for take in film.params.get("takes", [])
        ]
        return CutPublic(
            job_id=ident(film),
            status=film.status,
            artifact_id=film.artifact_id,
            created_at=film.created_at,
            seconds=float(seconds),
            clips=clips,
        )

    def restore_cut(self, project_id: int, job_id: int) -> TimelinePublic:
        """Put the timeline back as it was when film `job_id` was assembled: the order, the
        takes, the trims and the transitions. Shots deleted since are listed in `notes`;
        shots added since follow the restored ones."""
        with self._session(write=True) as session:
            project = self._project(session, project_id, Access.edit)
            film = session.get(RenderJob, job_id) if isinstance(job_id, int) else None
            if film is None or film.project_id != project_id or film.kind != JobKind.film.value:
                raise NotFound(f"No film #{job_id} in project #{project_id}")
            edits, notes = [], []
            for take in film.params.get("takes", []):
                shot = session.get(Shot, take["shot_id"])
                if shot is None or shot.project_id != project_id:
                    notes.append(f"Shot #{take['shot_id']} of that cut has been deleted")
                    continue
                edits.append(_edit_from(take))
            timeline = self._replace_cut(session, project, edits, notes)
        return timeline

    def _replace_cut(
        self, session: Session, project: Project, edits: list[ClipEdit], notes: list[str]
    ) -> TimelinePublic:
        """Make the timeline `edits` (in their order, first), checked, all or none."""
        shots = self._shots(session, ident(project))
        by_id = {ident(s): s for s in shots}
        order: list[int] = []
        for edit in edits:
            if edit.shot_id in order:
                notes.append(f"Shot #{edit.shot_id} appears twice: its first place is kept")
                continue
            order.append(edit.shot_id)
            shot = by_id[edit.shot_id]
            if edit.take_id is not None and edit.take_id not in {
                t.id for t in self._takes(session, edit.shot_id)
            }:
                notes.append(f"Take #{edit.take_id} of shot #{edit.shot_id} is gone: kept its take")
                edit = edit.model_copy(update={"take_id": None})
            shot.trim_in, shot.trim_out = 0.0, None
            shot.transition, shot.transition_seconds = "cut", 0.0
            self._apply(session, shot, edit)
        for number_, shot in enumerate(shots, start=1):
            if ident(shot) not in order:
                notes.append(f"Shot {number_} is not in that cut: it now follows it")
                order.append(ident(shot))
        self._reorder(session, shots, order)
        timeline = self._checked(session, project)
        timeline.notes = notes
        return timeline


def _edit_from(take: Mapping[str, Any]) -> ClipEdit:
    return ClipEdit(
        shot_id=take["shot_id"],
        take_id=take.get("job_id"),
        trim_in=take.get("trim_in", 0.0),
        trim_out=take.get("trim_out", "end"),
        transition=take.get("transition", "cut"),
        transition_seconds=take.get("transition_seconds", 0.0),
    )
