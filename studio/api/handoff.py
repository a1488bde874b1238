"""Handing a project's cut to an editing suite and taking the edited cut back
(studio/film/handoff.py: OpenTimelineIO, FCPXML, CMX 3600 EDL), as a zip artifact with the
cut's media, and an import that becomes the timeline (studio/api/timeline.py)."""

from __future__ import annotations

import re
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from sqlmodel import Session, select

from studio.api.timeline import TimelineArea
from studio.core.artifacts import store_file
from studio.core.errors import InvalidInput, NotFound
from studio.core.models import (
    Artifact,
    ArtifactPublic,
    JobKind,
    JobStatus,
    Project,
    RenderJob,
    ident,
    public,
)
from studio.core.team import Access, Comment
from studio.core.timeline import (
    SLACK,
    ClipEdit,
    TimelineClip,
    TimelinePublic,
    TimelineSound,
    dialogue_item,
    effects_item,
    lay_out,
)

MAX_CUT_BYTES = 20 * 2**20  # an edit decision list, not media
_TAKE_NAME = re.compile(r"take-(\d+)\b")


class HandoffArea(TimelineArea):
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
        clips, sounds, title_seconds = timeline.clips, timeline.sounds, timeline.title_seconds
        if job_id is not None:
            film = session.get(RenderJob, job_id) if isinstance(job_id, int) else None
            if film is None or film.project_id != project.id or film.kind != JobKind.film.value:
                raise NotFound(f"No film #{job_id} in project #{project.id}")
            clips, sounds, title_seconds = self._film_cut(session, film)
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
        for sound in sounds:
            artifact = session.get(Artifact, sound.artifact_id)
            if artifact is None:
                continue
            suffix = Path(artifact.key).suffix
            audio.append(
                CutAudio(
                    kind=sound.track,
                    name=sound.text or f"{sound.track} of shot #{sound.shot_id or '-'}",
                    media=self.storage.local_path(artifact.key),
                    media_name=f"{sound.track}-{sound.shot_id or 'film'}-{artifact.id}{suffix}",
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
            title_seconds=title_seconds,
            metadata={"project_id": project.id, "film_job_id": job_id},
        )
        return cut, slug

    def _film_cut(
        self, session: Session, film: RenderJob
    ) -> tuple[list[TimelineClip], list[TimelineSound], float]:
        """An assembled film's decision list as timeline clips laid out as it was assembled
        (a legacy `crossfade`: a dissolve at every cut), with its lines, shot sounds and
        music, and its title card's length."""
        params = film.params
        crossfade = float(params.get("crossfade", 0.0))
        clips = []
        for number_, take in enumerate(params.get("takes", []), start=1):
            job = session.get(RenderJob, take["job_id"])
            last = number_ == len(params["takes"])
            kind = take.get("transition", "dissolve" if crossfade and not last else "cut")
            clips.append(
                TimelineClip(
                    shot_id=take["shot_id"],
                    number=number_,
                    take_id=take["job_id"],
                    take_seconds=self._take_seconds(session, job) if job else None,
                    trim_in=take.get("trim_in", 0.0),
                    trim_out=take.get("trim_out"),
                    transition=kind,
                    transition_seconds=take.get("transition_seconds", crossfade),
                )
            )
        title_seconds = float(params.get("title_seconds", 0.0)) if params.get("title") else 0.0
        seconds = lay_out(clips, title_seconds, [0.0] * len(clips))
        sounds = []
        for line in params.get("lines", []):
            artifact = session.exec(select(Artifact).where(Artifact.key == line["key"])).first()
            if artifact is not None:
                clip, text = clips[line["clip"]], str(line.get("text", ""))
                sounds.append(
                    dialogue_item(clip, line["offset"], line.get("job_id"), artifact, text)
                )
        for sound in params.get("sounds", []):
            artifact = session.exec(select(Artifact).where(Artifact.key == sound["key"])).first()
            if artifact is not None:
                sounds.append(effects_item(clips[sound["clip"]], artifact.id))
        music = params.get("audio") or {}
        found = session.exec(select(Artifact).where(Artifact.key == music.get("key"))).first()
        if found is not None:
            sounds.append(
                TimelineSound(track="music", artifact_id=found.id, start=0.0, end=seconds)
            )
        return clips, sounds, title_seconds


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
