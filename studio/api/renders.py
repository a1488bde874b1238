"""Submitting renders: previews, clips (takes), films, cost estimates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlmodel import Session

from credits import ledger
from credits.pricing import estimate_cost, job_cost
from storage.base import StorageError
from studio.api.files import FilesArea
from studio.core import cast, holds, job_reads, lifecycle, scenes
from studio.core.artifacts import store_file
from studio.core.errors import InvalidInput, NotFound, PaymentRequired
from studio.core.models import (
    Artifact,
    JobKind,
    JobPublic,
    JobStatus,
    Priority,
    Project,
    RenderJob,
    Shot,
    ident,
    public,
)
from studio.core.params import (
    RUNTIME,
    SCENE_STYLE_SCALE,
    ProjectLooks,
    params_hash,
    resolve_clip,
    resolve_preview,
)
from studio.core.team import Access
from studio.core.timeline import (
    Decision,
    TimelineClip,
    check_fits,
    check_trim,
    has_edits,
    lay_out,
)
from studio.core.validation import DEFAULT_LOUDNESS, film_options, sound_options
from studio.core.voices import spoken_line
from studio.film.breakdown import script_title

# Lengths of takes rendered before they were recorded, by file content: each is probed
# (and, on S3, downloaded) once per process, not at every timeline refresh.
_PROBED_SECONDS: dict[str, float] = {}


class RendersArea(FilesArea):
    def preview(
        self,
        project_id: int,
        shot_ids: Sequence[int] | None = None,
        *,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> list[JobPublic]:
        """Queue preview frames for the shots (all when `shot_ids` is None)."""
        jobs = self._submit_shots(JobKind.preview, project_id, shot_ids, priority)
        return self.wait(jobs, progress=progress) if wait else jobs

    def render(
        self,
        project_id: int,
        shot_ids: Sequence[int] | None = None,
        *,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> list[JobPublic]:
        """Queue clips (takes) for the shots (all when `shot_ids` is None)."""
        jobs = self._submit_shots(JobKind.clip, project_id, shot_ids, priority)
        return self.wait(jobs, progress=progress) if wait else jobs

    def _submit_shots(
        self, kind: JobKind, project_id: int, shot_ids: Sequence[int] | None, priority: int
    ) -> list[JobPublic]:
        try:
            return self._submit_batch(kind, project_id, shot_ids, priority)
        except PaymentRequired:
            # Said for the whole batch (what the estimate showed), not for the one job
            # the balance ran out at.
            total, cached, count = self._estimate_detail(project_id, shot_ids, kind)
            reused = f", {cached} of them served from the render cache" if cached else ""
            raise PaymentRequired(
                f"Not enough credits: these {count} {kind.value}s cost "
                f"{total:,.2f} credits{reused}; your balance is "
                f"{self._owner_balance(project_id):,.2f} credits. "
                "Ask an admin for more credits"
            ) from None

    def _owner_balance(self, project_id: int) -> float:
        """The balance the project's renders are paid from (its owner's)."""
        with self._session() as session:
            owner = self._project(session, project_id, Access.view).owner
            return ledger.balance(session, owner) / 100

    def _submit_batch(
        self, kind: JobKind, project_id: int, shot_ids: Sequence[int] | None, priority: int
    ) -> list[JobPublic]:
        # One transaction for the whole batch: all shots are accepted (and paid for) or none.
        with self._session(write=True) as session:
            project = self._project(session, project_id, Access.render)
            jobs: list[RenderJob] = []
            submitted: dict[int | None, RenderJob] = {}  # shot id → its job in this batch
            plan: Iterable[tuple[Shot, dict[str, Any], RenderJob | None]]
            plan = self._plan(session, kind, project, shot_ids, submitted)
            known: dict[str, list[RenderJob]] | None = None
            digests: list[str] = []
            chained = kind == JobKind.clip and project.chain_clips
            if not chained and not project.scene_style_reference:
                # No job needs another's id: one read of the twins, one INSERT for them all.
                plan = list(plan)
                digests = [params_hash(params) for _shot, params, _after in plan]
                known = lifecycle.same_jobs(session, project.owner, digests)
            for n, (shot, params, after) in enumerate(plan):
                jobs.append(
                    lifecycle.submit(
                        session,
                        kind=kind,
                        project_id=project_id,
                        shot_id=shot.id,
                        params=params,
                        owner=project.owner,
                        priority=priority,
                        max_attempts=self.settings.max_attempts,
                        cost=self._price(params),
                        artifact_available=self._artifact_available,
                        depends_on=ident(after)
                        if after is not None and after.status != JobStatus.succeeded.value
                        else None,
                        same=None if known is None else known.get(digests[n], []),
                        flush=known is None,
                        digest=digests[n] if digests else None,
                        **self._billing(),
                    )
                )
                submitted[shot.id] = jobs[-1]
            holds.reserve_submitted(session)  # (and the jobs' ids, for the answer)
        self._wake(jobs)
        return [public(j) for j in jobs]

    def _plan(
        self,
        session: Session,
        kind: JobKind,
        project: Project,
        shot_ids: Sequence[int] | None,
        submitted: dict[int | None, RenderJob],
    ) -> Iterable[tuple[Shot, dict[str, Any], RenderJob | None]]:
        """Each shot to render with its resolved params and the take it starts from (chained
        clips). A generator: it reads `submitted` as the caller fills it."""
        project_id = ident(project)
        all_shots = self._shots(session, project_id)
        if not all_shots:
            raise InvalidInput("The project has no shots yet: break down a script or add one")
        numbers = {s.id: i + 1 for i, s in enumerate(all_shots)}
        context = ProjectLooks(
            cast=cast.descriptions(session, project_id),
            references=cast.references(session, project_id),
            looks=scenes.looks(session, project_id),
            loras=cast.loras(session, project_id),
        )
        shots = all_shots
        if shot_ids is not None:
            wanted = set(shot_ids)
            missing = wanted - set(numbers)
            if missing:
                raise NotFound(
                    f"No shot(s) {', '.join(map(str, sorted(missing)))} in project #{project_id}"
                )
            shots = [s for s in all_shots if s.id in wanted]
        firsts: dict[str, Shot] = {}
        for candidate in all_shots:
            firsts.setdefault(candidate.scene, candidate)
        for shot in shots:
            number_ = numbers[shot.id]
            resolve = resolve_preview if kind == JobKind.preview else resolve_clip
            params = resolve(self.catalogue, project, shot, number_, context)
            style_job = None
            first = firsts[shot.scene]
            if project.scene_style_reference and first.id != shot.id:
                # The scene's first shot's preview steers this one's look. Keyed on what
                # that preview renders (its params hash): a change there re-renders these.
                first_params = resolve_preview(
                    self.catalogue, project, first, numbers[first.id], context
                )
                preview = params if kind == JobKind.preview else params.get("preview")
                style = self._style_source(session, kind, first, first_params, submitted)
                if (
                    preview is not None
                    and style is not None
                    and self.catalogue.get(preview["pipeline"]["name"]).supports_references
                ):
                    preview["style_from"] = {
                        "preview": params_hash(first_params),
                        "scale": SCENE_STYLE_SCALE,
                    }
                    style_job = style if isinstance(style, RenderJob) else None
            after = None
            previous = all_shots[number_ - 2] if number_ > 1 else None
            if project.chain_within_scene and previous is not None:
                previous = previous if previous.scene == shot.scene else None
            if kind == JobKind.clip and project.chain_clips and previous is not None:
                after = self._chain_source(session, previous, submitted)
            if after is not None and params.get("task") == "image-to-video":
                # Starts from the previous take's last frame: that take is its input.
                # Keyed on what the source renders (its params hash), not on its job id:
                # re-rendering an unchanged chain is served from the cache.
                params["chain_from"] = after.params_hash
                params[RUNTIME] = {"chain_from_job": ident(after)}
                params.pop("preview", None)
            else:
                after = None
            request = params["request"]
            self._check_size(request["width"], request["height"], shot.duration)
            yield shot, params, after if after is not None else style_job

    def _price(self, params: dict[str, Any]) -> float:
        return job_cost(params, self.settings.pricing)

    def _billing(self) -> dict[str, Any]:
        """What lifecycle.submit needs to charge: credits on, cache-hit price, quota."""
        return {
            "billing": self.settings.resolved_credits,
            "cache_hit_price": self.settings.price_cache_hit,
            "max_queued": self.settings.max_queued_per_user,
        }

    def estimate(
        self, project_id: int, shot_ids: Sequence[int] | None = None, kind: str = "clip"
    ) -> float:
        """What rendering these shots' clips (or previews) would cost now, in credits: shots
        the render cache would serve cost the policy's cache-hit price."""
        job_kind = JobKind(kind) if kind in ("preview", "clip") else None
        if job_kind is None:
            raise InvalidInput("kind must be 'preview' or 'clip'", "kind")
        return self._estimate_detail(project_id, shot_ids, job_kind)[0]

    def _estimate_detail(
        self, project_id: int, shot_ids: Sequence[int] | None, job_kind: JobKind
    ) -> tuple[float, int, int]:
        """The estimate, how many of the renders the cache would serve, how many there are."""
        with self._session() as session:
            project = self._project(session, project_id, Access.view)
            planned = [
                (self._price(params), params_hash(params))
                for _shot, params, _after in self._plan(session, job_kind, project, shot_ids, {})
            ]
            # Which of these the render cache would serve, in one query, not one per shot.
            cached = job_reads.succeeded_digests(session, project.owner, [d for _, d in planned])
        total = sum(
            cost * self.settings.price_cache_hit if digest in cached else cost
            for cost, digest in planned
        )
        hits = sum(digest in cached for _cost, digest in planned)
        return round(total, 2), hits, len(planned)

    def _style_source(
        self,
        session: Session,
        kind: JobKind,
        first: Shot,
        first_params: dict[str, Any],
        submitted: dict[int | None, RenderJob],
    ) -> RenderJob | bool | None:
        """Where a scene's first preview comes from: its job in this submission (the others
        wait for it), True when it is already rendered, None when it is neither (the shot
        renders without the style reference: preview the scene's first shot first)."""
        if kind == JobKind.preview and first.id in submitted:
            return submitted[first.id]
        return True if job_reads.succeeded_artifact(session, params_hash(first_params)) else None

    def _chain_source(
        self, session: Session, previous: Shot, submitted: dict[int | None, RenderJob]
    ) -> RenderJob | None:
        """The take a chained clip starts from: the previous shot's job in this submission,
        else its chosen (or newest) take; None when it has none (the clip uses its preview)."""
        if previous.id in submitted:
            return submitted[previous.id]
        return self._take_for(session, previous)

    def _check_size(self, width: int, height: int, duration: float) -> None:
        if width * height > self.settings.max_pixels:
            raise InvalidInput(
                f"{width}×{height} exceeds the {self.settings.max_pixels:,}-pixel limit", "height"
            )
        if not 0 < duration <= self.settings.max_duration:
            raise InvalidInput(
                f"Shot duration {duration:g}s is outside 0–{self.settings.max_duration:g}s",
                "duration",
            )

    def _artifact_available(self, artifact: Artifact) -> bool:
        try:
            return self.storage.exists(artifact.key)
        except StorageError:
            return False

    def assemble(
        self,
        project_id: int,
        *,
        crossfade: float = 0.0,
        title: str | None = None,
        title_seconds: float = 2.0,
        audio: str | Path | None = None,
        dialogue: bool = True,
        subtitles: bool = True,
        burn_subtitles: bool = False,
        speaker_names: bool = False,
        loudness: float | None = -16.0,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> JobPublic:
        """Queue the film: the timeline (studio/core/timeline.py): each shot's chosen take
        (else its newest), trimmed, with its transition, in shot order. `crossfade`: a
        dissolve of that length at every cut between shots. `title`: the title card's text;
        None: the script's title page, if it has one; "" (or blank): no title card."""
        if title is None:
            with self._session() as session:
                title = script_title(self._project(session, project_id, Access.view).script)
        options = film_options(self.settings, crossfade, title, title_seconds, audio)
        crossfade, title, title_seconds = options.crossfade, options.title, options.title_seconds
        sound = sound_options(dialogue, subtitles, burn_subtitles, speaker_names, loudness)
        with self._session(write=True) as session:
            project = self._project(session, project_id, Access.render)
            takes, clips = self._decision_list(session, project, crossfade)
            if crossfade and not has_edits(takes):
                # A film without edits keeps the params it always had (render cache).
                shortest = min(
                    self._shot(session, t["shot_id"], Access.view).duration for t in takes
                )
                if crossfade * 2 > shortest:
                    raise InvalidInput(
                        "Crossfade must be at most half the shortest shot", "crossfade"
                    )
            else:
                crossfade = 0.0
            lines, unspoken = self._film_lines(session, takes) if sound.dialogue else ([], [])
            sounds = self._film_sounds(session, takes)
            # Stored only now that the film is accepted: a refusal leaves no orphan file.
            audio_artifact = (
                self._store_audio(options.audio, project.owner) if options.audio else None
            )
            if audio_artifact is not None:
                session.add(audio_artifact)
                session.flush()
            params = {
                "version": 1,
                "kind": JobKind.film.value,
                "project": project.id,
                "pipeline": {"name": "assembly", "model_id": "", "revision": "1"},
                "takes": takes,
                "crossfade": crossfade,
                "title": title,
                "title_seconds": title_seconds if title else 0.0,
                "audio": {"key": audio_artifact.key, "sha256": audio_artifact.sha256}
                if audio_artifact
                else None,
                "request": {"prompt": project.name, "negative_prompt": "", "seed": 0},
            }
            if sound.dialogue:  # films assembled without lines keep the params they had
                params |= {
                    "lines": lines,
                    "unspoken": unspoken,
                    "subtitles": sound.subtitles,
                    "burn_subtitles": sound.burn_subtitles,
                    "speaker_names": sound.speaker_names,
                }
            if sound.loudness != DEFAULT_LOUDNESS:
                params["loudness"] = sound.loudness
            if sounds:
                params["sounds"] = sounds
            seconds = lay_out(clips, title_seconds if title else 0.0, [0.0] * len(clips))
            seconds -= crossfade * (len(takes) - 1)
            job = lifecycle.submit(
                session,
                kind=JobKind.film,
                project_id=project_id,
                shot_id=None,
                params=params,
                owner=project.owner,
                priority=priority,
                max_attempts=self.settings.max_attempts,
                cost=estimate_cost(
                    "film",
                    width=1,
                    height=1,
                    seconds=max(0.0, seconds),
                    policy=self.settings.pricing,
                ),
                artifact_available=self._artifact_available,
                **self._billing(),
            )
        self._wake([job])
        queued = public(job)
        return self.wait([queued], progress=progress)[0] if wait else queued

    def _film_lines(
        self, session: Session, takes: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """Each shot's spoken line, placed in its take: the chosen (else newest) line take
        whose words are the shot's words now. A shot whose line is not spoken yet, or was
        spoken before its words changed, is silent; its number is listed as unspoken."""
        lines: list[dict[str, Any]] = []
        unspoken: list[int] = []
        for index, take in enumerate(takes):
            shot = self._shot(session, take["shot_id"], Access.view)
            line = spoken_line(shot.dialogue)
            if line is None:
                continue
            spoken = self._take_for(session, shot, JobKind.speech)
            artifact = session.get(Artifact, spoken.artifact_id) if spoken else None
            if spoken is None or artifact is None or spoken.params["request"]["text"] != line.text:
                unspoken.append(index + 1)
                continue
            lines.append(
                {
                    "clip": index,
                    "job_id": spoken.id,
                    "key": artifact.key,
                    "sha256": artifact.sha256,
                    "offset": shot.line_offset,
                    "text": line.text,
                    "speaker": line.speaker.title(),
                }
            )
        return lines, unspoken

    def _film_sounds(self, session: Session, takes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The room tone or effects each shot carries, under its take."""
        sounds = []
        for index, take in enumerate(takes):
            shot = self._shot(session, take["shot_id"], Access.view)
            artifact = (
                session.get(Artifact, shot.sound_artifact_id) if shot.sound_artifact_id else None
            )
            if artifact is not None:
                sounds.append(
                    {
                        "clip": index,
                        "key": artifact.key,
                        "sha256": artifact.sha256,
                        "gain_db": shot.sound_gain_db,
                    }
                )
        return sounds

    def _decision_list(
        self, session: Session, project: Project, crossfade: float
    ) -> tuple[list[dict[str, Any]], list[TimelineClip]]:
        """The film's takes with their edits (the film job's `takes`), checked: every shot
        has a take, trims lie within it, each shot fits its transitions. `crossfade` turns
        the cuts between shots into dissolves when any shot carries an edit."""
        shots = self._shots(session, ident(project))
        if not shots:
            raise InvalidInput("The project has no shots")
        takes: list[dict[str, Any]] = []
        clips: list[TimelineClip] = []
        missing: list[str] = []
        for number_, shot in enumerate(shots, start=1):
            take = self._take_for(session, shot)
            if take is None:
                missing.append(str(number_))
                continue
            artifact = session.get(Artifact, take.artifact_id)
            assert artifact is not None
            clip = self._timeline_clip(session, shot, number_, take)
            takes.append(
                {
                    "shot_id": shot.id,
                    "job_id": take.id,
                    "key": artifact.key,
                    "sha256": artifact.sha256,
                }
            )
            clips.append(clip)
        if missing:
            raise InvalidInput("Render these shots first (no take yet): shot " + ", ".join(missing))
        edited = any(
            shot.trim_in or shot.trim_out is not None or shot.transition != "cut" for shot in shots
        )
        for index, clip in enumerate(clips):
            if crossfade and edited and clip.transition == "cut" and index < len(clips) - 1:
                clip.transition, clip.transition_seconds = "dissolve", crossfade
            check_trim(clip.number, clip.trim_in, clip.trim_out, clip.take_seconds)
        check_fits(clips)
        for entry, clip in zip(takes, clips, strict=True):
            entry |= Decision(
                clip.trim_in, clip.trim_out, clip.transition, clip.transition_seconds
            ).params()
        return takes, clips

    def _timeline_clip(
        self, session: Session, shot: Shot, number_: int, take: RenderJob | None
    ) -> TimelineClip:
        """A shot on the timeline (its start and end are set by `lay_out`)."""
        return TimelineClip(
            shot_id=ident(shot),
            number=number_,
            scene=shot.scene,
            prompt=shot.prompt,
            take_id=take.id if take is not None else None,
            take_seconds=self._take_seconds(session, take) if take is not None else None,
            trim_in=shot.trim_in,
            trim_out=shot.trim_out,
            transition=shot.transition,
            transition_seconds=shot.transition_seconds,
            preview_job_id=shot.preview_job_id,
        )

    def _take_seconds(self, session: Session, take: RenderJob) -> float | None:
        """How long a take is: recorded at render time, else read from its file."""
        artifact = session.get(Artifact, take.artifact_id) if take.artifact_id else None
        if artifact is None:
            return None
        recorded = artifact.provenance.get("video", {}).get("seconds")
        if recorded is not None:
            return float(recorded)
        if artifact.sha256 in _PROBED_SECONDS:
            return _PROBED_SECONDS[artifact.sha256]
        from studio.film.video import probe

        try:  # takes rendered before their length was recorded
            info = probe(self.storage.local_path(artifact.key))
        except (OSError, ValueError, StorageError):
            return None
        seconds = _PROBED_SECONDS[artifact.sha256] = round(info.frames / float(info.fps), 4)
        return seconds

    def _store_audio(self, path: Path, owner: str) -> Artifact:
        prov = {"kind": "audio", "source_name": path.name}
        return store_file(
            self.storage,
            path,
            f"audio/{path.suffix.lower().lstrip('.')}",
            prov,
            owner,
            suffix=path.suffix.lower(),
        )
