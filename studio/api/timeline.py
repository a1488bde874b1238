"""The timeline (studio/core/timeline.py): read and edit it, go back to an assembled cut,
hand it to an editing suite and take the edited cut back (studio/film/handoff.py)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from sqlmodel import Session, col, select

from studio.api.team import TeamArea
from studio.core.artifacts import store_file
from studio.core.errors import InvalidInput, NotFound
from studio.core.models import (
    Artifact,
    ArtifactPublic,
    JobKind,
    JobStatus,
    Project,
    RenderJob,
    Shot,
    ident,
    public,
)
from studio.core.team import Access, Comment, TakeReview
from studio.core.timeline import (
    SLACK,
    ClipEdit,
    CutPublic,
    TimelineClip,
    TimelinePublic,
    TimelineSound,
    check_fits,
    check_transition,
    check_trim,
    lay_out,
)
from studio.core.voices import spoken_line
from studio.film.breakdown import script_title

TITLE_SECONDS = 2.0
MAX_CUT_BYTES = 20 * 2**20  # an edit decision list, not media
_TAKE_NAME = re.compile(r"take-(\d+)\b")


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
                start = clip.start + shot.line_offset
                length = float(artifact.provenance.get("speech", {}).get("seconds", 0.0))
                found.append(
                    TimelineSound(
                        track="dialogue",
                        shot_id=clip.shot_id,
                        job_id=spoken.id,
                        artifact_id=artifact.id,
                        start=round(start, 3),
                        end=round(start + length, 3),
                        text=line.text,
                    )
                )
            if shot.sound_artifact_id is not None:
                found.append(
                    TimelineSound(
                        track="effects",
                        shot_id=clip.shot_id,
                        artifact_id=shot.sound_artifact_id,
                        start=clip.start,
                        end=clip.end,
                    )
                )
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

    # ---- handoff --------------------------------------------------------------------------
    def export_cut(self, project_id: int, job_id: int | None = None) -> ArtifactPublic:
        """The cut as a zip for an editing suite: OpenTimelineIO (.otio), FCPXML and CMX 3600
        EDL, with the takes, lines and sounds it uses in media/ (relative paths); each clip
        carries its provenance, comments become markers (docs/handoff.md). `job_id`: an
        assembled film's cut; None: the timeline as it is now."""
        from studio.film.handoff import write_bundle

        with self._session() as session:
            project = self._project(session, project_id, Access.view)
            cut, slug = self._handoff_cut(session, project, job_id)
        with tempfile.TemporaryDirectory(prefix="cut-") as tmp:
            path = write_bundle(cut, Path(tmp) / f"{slug}.zip")
            provenance = {"kind": "cut-export", "project": project_id, "film_job_id": job_id}
            artifact = store_file(
                self.storage, path, "application/zip", provenance, project.owner, suffix=".zip"
            )
        with self._session(write=True) as session:
            session.add(artifact)
            session.flush()
            return public(artifact)

    def import_cut(
        self, project_id: int, cut: bytes | str | Path, filename: str | None = None
    ) -> TimelinePublic:
        """Take back a cut edited in an editing suite (.otio, .fcpxml or .edl; a path, or the
        file's bytes with its `filename`): its order, trims and transitions become the
        timeline. Clips that are not this project's takes are listed in `notes`, not guessed."""
        from studio.film.handoff import HandoffError, read_cut

        with self._session() as session:  # NotFound / Forbidden before reading the file
            fps = self._project(session, project_id, Access.edit).fps
        if isinstance(cut, (str, Path)) and not isinstance(cut, bytes):
            path = Path(cut).expanduser()
            if not path.is_file():
                raise InvalidInput(f"No file {str(path)!r}", "cut")
            data, filename = path.read_bytes(), filename or path.name
        else:
            data = cut
        if not filename:
            raise InvalidInput("Say which format the cut is in: its file name", "filename")
        if len(data) > MAX_CUT_BYTES:
            raise InvalidInput(f"That cut file is over {MAX_CUT_BYTES // 2**20} MB", "cut")
        try:
            imported = read_cut(data, filename, rate=Fraction(fps))  # an EDL has no rate
        except HandoffError as exc:
            raise InvalidInput(str(exc), "cut") from None
        with self._session(write=True) as session:
            project = self._project(session, project_id, Access.edit)
            takes = {
                ident(job): job
                for job in session.exec(
                    select(RenderJob).where(
                        RenderJob.project_id == project_id,
                        RenderJob.kind == JobKind.clip.value,
                        RenderJob.status == JobStatus.succeeded.value,
                    )
                ).all()
            }
            edits, notes = [], list(imported.warnings)
            for clip in imported.clips:
                job_id = clip.job_id or _take_id(clip.media_name)
                take = takes.get(job_id) if job_id is not None else None
                if take is None or take.shot_id is None:
                    notes.append(f"Clip {clip.name!r} is not a take of this project: left out")
                    continue
                trim_in, trim_out = self._within_take(session, take, clip, notes)
                edits.append(
                    ClipEdit(
                        shot_id=take.shot_id,
                        take_id=ident(take),
                        trim_in=trim_in,
                        trim_out=trim_out,
                        transition=clip.transition,
                        transition_seconds=clip.transition_seconds,
                    )
                )
            if not edits:
                raise InvalidInput("None of that cut's clips are takes of this project", "cut")
            return self._replace_cut(session, project, edits, notes)

    def _within_take(
        self, session: Session, take: RenderJob, clip: Any, notes: list[str]
    ) -> tuple[float, float | Literal["end"]]:
        """An imported clip's in and out points, kept within its take. A transition in an
        editor reaches beyond the clip into its take (handles); where the take has no more
        frames there, the studio's transition starts (or ends) at the take's edge instead."""
        trim_in, trim_out = float(clip.trim_in), float(clip.trim_out)
        length = self._take_seconds(session, take)
        if trim_in < 0:
            notes.append(
                f"{clip.name}: its transition needs {-trim_in:g} s before the take's first "
                "frame; it starts at the first frame"
            )
            trim_in = 0.0
        if length is not None and trim_out > length + SLACK:
            notes.append(
                f"{clip.name}: its transition needs {trim_out - length:g} s after the take's "
                "last frame; it ends at the last frame"
            )
            return trim_in, "end"
        if length is not None and trim_out >= length - SLACK:
            return trim_in, "end"
        return trim_in, trim_out

    def _handoff_cut(
        self, session: Session, project: Project, job_id: int | None
    ) -> tuple[Any, str]:
        """The handoff module's Cut for the timeline now, or for an assembled film."""
        from studio.film.handoff import Cut, CutAudio, CutClip, CutMarker

        timeline = self._timeline(session, project)
        if timeline.missing:
            raise InvalidInput(
                "Render these shots first (no take yet): shot "
                + ", ".join(map(str, timeline.missing))
            )
        clips = timeline.clips
        if job_id is not None:
            film = session.get(RenderJob, job_id) if isinstance(job_id, int) else None
            if film is None or film.project_id != project.id or film.kind != JobKind.film.value:
                raise NotFound(f"No film #{job_id} in project #{project.id}")
            clips = self._cut_clips(session, film)
        comments = session.exec(select(Comment).where(Comment.project_id == ident(project))).all()
        cut_clips = []
        for number_, clip in enumerate(clips, start=1):
            take = session.get(RenderJob, clip.take_id) if clip.take_id else None
            artifact = (
                session.get(Artifact, take.artifact_id) if take and take.artifact_id else None
            )
            if take is None or artifact is None:
                raise InvalidInput(f"Shot {number_}'s take is gone: render it again")
            video = artifact.provenance.get("video") or {}
            rate = Fraction(video.get("fps") or take.params["request"].get("fps", 24))
            cut_clips.append(
                CutClip(
                    name=f"Shot {number_} · take #{take.id}",
                    media=self.storage.local_path(artifact.key),
                    media_name=f"shot-{number_:02d}-take-{take.id}.mp4",
                    rate=rate,
                    frames=int(video.get("frames") or round((clip.take_seconds or 0) * rate)),
                    trim_in=clip.trim_in,
                    trim_out=clip.trim_out,
                    transition=clip.transition,
                    transition_seconds=clip.transition_seconds,
                    metadata=_clip_metadata(take, artifact, clip.shot_id),
                    markers=[
                        CutMarker(c.seconds or 0.0, c.text, c.author)
                        for c in comments
                        if c.job_id == take.id
                    ],
                )
            )
        film_comments = [c for c in comments if c.job_id in (None, job_id)]
        audio = []
        for sound in timeline.sounds if job_id is None else []:
            artifact = session.get(Artifact, sound.artifact_id)
            if artifact is None:
                continue
            suffix = Path(artifact.key).suffix
            audio.append(
                CutAudio(
                    kind=sound.track,
                    name=sound.text or f"{sound.track} of shot #{sound.shot_id}",
                    media=self.storage.local_path(artifact.key),
                    media_name=f"{sound.track}-shot-{sound.shot_id}-{artifact.id}{suffix}",
                    start=sound.start,
                    seconds=max(0.001, sound.end - sound.start),
                    metadata={"shot_id": sound.shot_id, "job_id": sound.job_id},
                )
            )
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", project.name).strip("-.")[:60] or "cut"
        cut = Cut(
            name=project.name,
            rate=cut_clips[0].rate,
            clips=cut_clips,
            audio=audio,
            markers=[CutMarker(c.seconds or 0.0, c.text, c.author) for c in film_comments],
            title_seconds=timeline.title_seconds,
            metadata={"project_id": project.id, "film_job_id": job_id},
        )
        return cut, slug

    def _cut_clips(self, session: Session, film: RenderJob) -> list[TimelineClip]:
        """An assembled film's decision list as timeline clips."""
        clips = []
        for number_, take in enumerate(film.params.get("takes", []), start=1):
            job = session.get(RenderJob, take["job_id"])
            clips.append(
                TimelineClip(
                    shot_id=take["shot_id"],
                    number=number_,
                    take_id=take["job_id"],
                    take_seconds=self._take_seconds(session, job) if job else None,
                    trim_in=take.get("trim_in", 0.0),
                    trim_out=take.get("trim_out"),
                    transition=take.get("transition", "cut"),
                    transition_seconds=take.get("transition_seconds", 0.0),
                )
            )
        return clips


def _edit_from(take: Mapping[str, Any]) -> ClipEdit:
    return ClipEdit(
        shot_id=take["shot_id"],
        take_id=take.get("job_id"),
        trim_in=take.get("trim_in", 0.0),
        trim_out=take.get("trim_out", "end"),
        transition=take.get("transition", "cut"),
        transition_seconds=take.get("transition_seconds", 0.0),
    )


def _take_id(media_name: str) -> int | None:
    """The take a media file exported by `export_cut` names (shot-03-take-24.mp4 → 24)."""
    found = _TAKE_NAME.search(media_name)
    return int(found.group(1)) if found else None


def _clip_metadata(take: RenderJob, artifact: Artifact, shot_id: int) -> dict[str, Any]:
    """A clip's provenance, as the editing suite keeps it."""
    request = take.params.get("request", {})
    pipeline = take.params.get("pipeline", {})
    return {
        "shot_id": shot_id,
        "job_id": take.id,
        "prompt": request.get("prompt", ""),
        "negative_prompt": request.get("negative_prompt", ""),
        "seed": request.get("seed"),
        "pipeline": pipeline.get("name", ""),
        "model_id": pipeline.get("model_id", ""),
        "model_revision": pipeline.get("revision", ""),
        "params_hash": take.params_hash,
        "sha256": artifact.sha256,
        "rendered_at": take.finished_at.isoformat() if take.finished_at else "",
    }
