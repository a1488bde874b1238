"""`Studio`: the Python API over the core. The UI, the CLI and notebooks all go through it.

from studio import Studio
s = Studio.local("my-studio")
p = s.create_project("Short", script=open("script.txt").read())
s.breakdown(p.id)
s.render(p.id, wait=True)
film = s.assemble(p.id, wait=True)
print(s.artifact_path(film.artifact_id))
"""

from __future__ import annotations

import copy
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from credits.pricing import estimate_cost, job_cost
from pipelines.catalogue import Catalogue, PipelineEntry, UnknownPipelineError
from storage.base import Storage, StorageError
from storage.local import LocalStorage
from studio import accounts, display, events, lab, lifecycle, workers
from studio.account_api import AccountMethods
from studio.artifacts import store_file
from studio.breakdown import break_down
from studio.config import Settings, load_settings
from studio.db import make_engine, session_scope, upgrade
from studio.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from studio.models import (
    Artifact,
    JobKind,
    JobStatus,
    Preset,
    Priority,
    Project,
    RenderJob,
    Shot,
    User,
    Worker,
    ident,
    utcnow,
)
from studio.params import RUNTIME, params_hash, resolve_clip, resolve_preview
from studio.queues import InlineQueue, QueueBackend
from studio.runner import JobRunner
from studio.validation import film_options, number, project_fields, shot_fields, text

if TYPE_CHECKING:
    from studio.remote import RemoteStudio


def make_storage(settings: Settings) -> Storage:
    """The storage backend the settings name."""
    if settings.storage_backend == "s3":
        from storage.s3 import S3Storage

        secret = settings.s3_secret_access_key
        return S3Storage(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            cdn_base_url=settings.cdn_base_url,
            cache_dir=settings.data_dir / "cache" / "s3",
        )
    return LocalStorage(settings.resolved_storage_root)


def make_runner(
    settings: Settings, engine: Any, storage: Storage, catalogue: Catalogue
) -> JobRunner:
    budget = settings.pipeline_memory_gb
    return JobRunner(
        engine,
        storage,
        catalogue,
        settings.lease_seconds,
        memory_budget=int(budget * 2**30) if budget else None,
        preview_batch=settings.preview_batch,
        max_running_per_owner=settings.max_running_per_user,
    )


def make_queue(
    settings: Settings, engine: Any, runner: JobRunner, catalogue: Catalogue
) -> QueueBackend:
    """The queue backend the settings name: inline thread, or dispatch to Redis workers."""
    if settings.resolved_queue == "redis":
        from studio.queues.redis import RedisQueue

        return RedisQueue(
            engine,
            settings.redis_url,
            pipelines=catalogue.names(),
            window_per_worker=settings.dispatch_window,
            worker_stale_seconds=settings.worker_stale_seconds,
            lease_seconds=settings.lease_seconds,
            max_running_per_owner=settings.max_running_per_user,
        )
    return InlineQueue(engine, runner, settings.lease_seconds)


class _Shared:
    """State every user's view of one studio shares (the catalogue grows with presets)."""

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue


class Studio(AccountMethods):
    """One studio: settings, database, storage, catalogue and a queue, wired once.

    Every method acts as one user (`self.user`): it sees and changes only what that user owns
    (admins: everything), and anything else is "not found", exactly like a missing id. The
    studio itself acts as the local admin; `as_user(name)` gives a view acting as `name`
    that shares the database, storage, queue and workers."""

    def __init__(self, settings: Settings, *, start_worker: bool = True, migrate: bool = True):
        self.settings = settings
        url = settings.resolved_database_url
        if migrate:
            upgrade(url)
        self.engine = make_engine(url)
        self.storage: Storage = make_storage(settings)
        catalogue = lab.with_presets(Catalogue.load(settings.pipelines_file), self.engine)
        self._shared = _Shared(catalogue)
        self.runner = make_runner(settings, self.engine, self.storage, catalogue)
        self.queue: QueueBackend = make_queue(settings, self.engine, self.runner, catalogue)
        # Live job events (progress, finished) for the REST API's event streams.
        self.events = events.bus_for(settings, self.runner)
        self.user, self.is_admin, self._is_view = accounts.LOCAL_USER, True, False
        self.throttle = accounts.LoginThrottle(
            settings.login_attempts, settings.login_window_seconds
        )
        with self._session() as session:
            # The studio's own account (CLI, notebooks on the server): an admin that cannot
            # log in; the only user when auth is off.
            accounts.ensure_local_user(session)
        if start_worker:
            self.queue.start()
        display.activate(self)

    @property
    def catalogue(self) -> Catalogue:
        return self._shared.catalogue

    @catalogue.setter
    def catalogue(self, value: Catalogue) -> None:
        self._shared.catalogue = value

    def as_user(self, name: str | User) -> Studio:
        """This studio acting as user `name` (Unauthorized if unknown or disabled). A `User`
        row the caller has just loaded (the web layer) is used as it is."""
        if isinstance(name, User):
            user: User | None = name
        else:
            with self._session() as session:
                user = session.get(User, name) if isinstance(name, str) else None
        if user is None or user.disabled:
            raise Unauthorized(f"No active user {getattr(user, 'name', name)!r}")
        view = copy.copy(self)
        view.user, view.is_admin, view._is_view = user.name, user.is_admin, True
        return view

    def _visible(self, owner: str) -> bool:
        return self.is_admin or owner == self.user

    def _owner_for(self, owner: str | None) -> str:
        """Whose queue or Lab a call means: one's own; someone else's only for admins."""
        if owner is None or owner == self.user:
            return self.user
        if not self.is_admin:
            raise Forbidden("Only admins act on other users' queues and Labs")
        return owner

    @classmethod
    def local(
        cls, data_dir: str | Path | None = None, *, start_worker: bool = True, **overrides: Any
    ) -> Studio:
        """A studio on embedded defaults (SQLite, local storage, inline queue) in `data_dir`."""
        if data_dir is not None:
            overrides["data_dir"] = Path(data_dir)
        return cls(load_settings(**overrides), start_worker=start_worker)

    @classmethod
    def connect(cls, url: str, token: str | None = None, **options: Any) -> RemoteStudio:
        """The same API over a studio's REST API at `url`, acting as the owner of `token`
        (default: $STUDIO_TOKEN). `options`: see studio.remote.RemoteStudio."""
        from studio.remote import RemoteStudio

        return RemoteStudio(url, token, **options)

    def close(self) -> None:
        if self._is_view:
            return  # a user's view shares the studio's services; the studio closes them
        self.queue.stop()
        self.events.close()
        self.engine.dispose()

    def __enter__(self) -> Studio:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _session(self, *, write: bool = False) -> Any:
        return session_scope(self.engine, write=write)

    # ---- projects -------------------------------------------------------------------------
    def create_project(
        self, name: str, script: str = "", *, owner: str | None = None, **fields: Any
    ) -> Project:
        for key in ("preview_pipeline", "clip_pipeline"):
            fields.setdefault(key, self.settings.default_pipeline)
        values = project_fields(
            self.settings,
            self.catalogue.names(),
            {"name": name, **fields},
            fields.get("aspect_ratio", "16:9"),
            fields.get("height", 360),
        )
        script = self._check_script(script) if script else ""
        with self._session() as session:
            project = Project(**values, script=script, owner=self._owner_for(owner))
            session.add(project)
            session.flush()
            return project

    def projects(self) -> list[Project]:
        with self._session() as session:
            query = select(Project).where(Project.kind == "film")
            if not self.is_admin:
                query = query.where(Project.owner == self.user)
            return list(session.exec(query.order_by(col(Project.id).desc())).all())

    def project(self, project_id: int) -> Project:
        with self._session() as session:
            return self._project(session, project_id)

    def update_project(self, project_id: int, **changes: Any) -> Project:
        with self._session() as session:
            project = self._project(session, project_id)
            values = project_fields(
                self.settings, self.catalogue.names(), changes, project.aspect_ratio, project.height
            )
            for key, value in values.items():
                setattr(project, key, value)
            project.updated_at = utcnow()
            session.add(project)
            return project

    def delete_project(self, project_id: int) -> None:
        with self._session() as session:
            project = self._project(session, project_id)
            jobs = session.exec(select(RenderJob).where(RenderJob.project_id == project_id)).all()
            for job in jobs:
                if job.status in lifecycle.ACTIVE:
                    lifecycle.cancel(session, job.id)  # type: ignore[arg-type]
                session.delete(job)
            for shot in session.exec(select(Shot).where(Shot.project_id == project_id)).all():
                session.delete(shot)
            session.flush()
            session.delete(project)

    def _project(self, session: Session, project_id: int) -> Project:
        project = session.get(Project, project_id) if isinstance(project_id, int) else None
        if project is None or not self._visible(project.owner):
            raise NotFound(f"No project #{project_id}")
        return project

    # ---- script and shots -----------------------------------------------------------------
    def _check_script(self, script: str | bytes) -> str:
        from studio.breakdown import MAX_SCRIPT_CHARS, decode_script

        if isinstance(script, bytes):
            script = decode_script(script)
        if len(script) > MAX_SCRIPT_CHARS:
            raise InvalidInput(
                f"The script is {len(script):,} characters; the limit is {MAX_SCRIPT_CHARS:,}",
                "script",
            )
        return script

    def breakdown(self, project_id: int, script: str | bytes | None = None) -> list[Shot]:
        """Replace the project's shots with a fresh breakdown of its script (or `script`)."""
        with self._session() as session:
            project = self._project(session, project_id)
            text_ = self._check_script(script) if script is not None else project.script
            drafts = break_down(text_)
            project.script, project.updated_at = text_, utcnow()
            self._clear_shots(session, project_id)
            shots = []
            for position, draft in enumerate(drafts):
                shot = Shot(
                    project_id=project_id,
                    position=position,
                    scene=draft.scene,
                    prompt=draft.prompt,
                    dialogue=draft.dialogue,
                    characters=list(draft.characters),
                    duration=draft.duration,
                    shot_size=draft.shot_size,
                    camera_move=draft.camera_move,
                    seed=draft.seed,
                )
                session.add(shot)
                shots.append(shot)
            session.add(project)
            session.flush()
            return shots

    def _clear_shots(self, session: Session, project_id: int) -> None:
        for shot in session.exec(select(Shot).where(Shot.project_id == project_id)).all():
            self._detach_shot(session, shot)
            session.delete(shot)
        session.flush()

    def _detach_shot(self, session: Session, shot: Shot) -> None:
        # Jobs outlive the shot (history, cache); active ones are cancelled.
        for job in session.exec(select(RenderJob).where(RenderJob.shot_id == shot.id)).all():
            if job.status in lifecycle.ACTIVE:
                lifecycle.cancel(session, job.id)  # type: ignore[arg-type]
            job.shot_id = None
            session.add(job)
        session.flush()

    def shots(self, project_id: int) -> list[Shot]:
        with self._session() as session:
            self._project(session, project_id)
            return self._shots(session, project_id)

    def _shots(self, session: Session, project_id: int) -> list[Shot]:
        query = select(Shot).where(Shot.project_id == project_id)
        return list(session.exec(query.order_by(col(Shot.position), col(Shot.id))).all())

    def shot(self, shot_id: int) -> Shot:
        with self._session() as session:
            return self._shot(session, shot_id)

    def _shot(self, session: Session, shot_id: int) -> Shot:
        shot = session.get(Shot, shot_id) if isinstance(shot_id, int) else None
        project = session.get(Project, shot.project_id) if shot is not None else None
        if shot is None or project is None or not self._visible(project.owner):
            raise NotFound(f"No shot #{shot_id}")
        return shot

    def add_shot(
        self, project_id: int, prompt: str = "", position: int | None = None, **fields: Any
    ) -> Shot:
        values = shot_fields(self.settings, self.catalogue.names(), {"prompt": prompt, **fields})
        with self._session() as session:
            self._project(session, project_id)
            shots = self._shots(session, project_id)
            index = len(shots) if position is None else max(0, min(int(position), len(shots)))
            shot = Shot(project_id=project_id, **values)
            shots.insert(index, shot)
            self._renumber(session, shots)
            return shot

    def update_shot(self, shot_id: int, **changes: Any) -> Shot:
        position = changes.pop("position", None)
        values = shot_fields(self.settings, self.catalogue.names(), changes)
        with self._session() as session:
            shot = self._shot(session, shot_id)
            for key, value in values.items():
                setattr(shot, key, value)
            session.add(shot)
            if position is not None:
                self._move(session, shot, position)
            return shot

    def move_shot(self, shot_id: int, position: int) -> Shot:
        with self._session() as session:
            shot = self._shot(session, shot_id)
            self._move(session, shot, position)
            return shot

    def _move(self, session: Session, shot: Shot, position: Any) -> None:
        shots = [s for s in self._shots(session, shot.project_id) if s.id != shot.id]
        index = int(number(position, "Position", 0, 100_000, integer=True))
        shots.insert(min(index, len(shots)), shot)
        self._renumber(session, shots)

    def _renumber(self, session: Session, shots: list[Shot]) -> None:
        for position, item in enumerate(shots):
            item.position = position
            session.add(item)
        session.flush()

    def delete_shot(self, shot_id: int) -> None:
        with self._session() as session:
            shot = self._shot(session, shot_id)
            self._detach_shot(session, shot)
            session.delete(shot)
            session.flush()
            self._renumber(session, self._shots(session, shot.project_id))

    # ---- rendering ------------------------------------------------------------------------
    def preview(
        self,
        project_id: int,
        shot_ids: Sequence[int] | None = None,
        *,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> list[RenderJob]:
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
    ) -> list[RenderJob]:
        """Queue clips (takes) for the shots (all when `shot_ids` is None)."""
        jobs = self._submit_shots(JobKind.clip, project_id, shot_ids, priority)
        return self.wait(jobs, progress=progress) if wait else jobs

    def _submit_shots(
        self,
        kind: JobKind,
        project_id: int,
        shot_ids: Sequence[int] | None,
        priority: int,
    ) -> list[RenderJob]:
        # One transaction for the whole batch: all shots are accepted (and paid for) or none.
        with self._session(write=True) as session:
            project = self._project(session, project_id)
            jobs: list[RenderJob] = []
            submitted: dict[int | None, RenderJob] = {}  # shot id → its job in this batch
            for shot, params, after in self._plan(session, kind, project, shot_ids, submitted):
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
                        **self._billing(),
                    )
                )
                submitted[shot.id] = jobs[-1]
        self._wake(jobs)
        return jobs

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
        shots = all_shots
        if shot_ids is not None:
            wanted = set(shot_ids)
            missing = wanted - set(numbers)
            if missing:
                raise NotFound(
                    f"No shot(s) {', '.join(map(str, sorted(missing)))} in project #{project_id}"
                )
            shots = [s for s in all_shots if s.id in wanted]
        for shot in shots:
            number_ = numbers[shot.id]
            resolve = resolve_preview if kind == JobKind.preview else resolve_clip
            params = resolve(self.catalogue, project, shot, number_)
            after = None
            if kind == JobKind.clip and project.chain_clips and number_ > 1:
                after = self._chain_source(session, all_shots[number_ - 2], submitted)
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
            yield shot, params, after

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
        total = 0.0
        with self._session() as session:
            project = self._project(session, project_id)
            for _shot, params, _after in self._plan(session, job_kind, project, shot_ids, {}):
                cost = self._price(params)
                cached = session.exec(
                    select(RenderJob.id).where(
                        RenderJob.owner == project.owner,
                        RenderJob.params_hash == params_hash(params),
                        RenderJob.status == JobStatus.succeeded.value,
                    )
                ).first()
                total += cost * self.settings.price_cache_hit if cached else cost
        return round(total, 2)

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

    def _wake(self, jobs: Iterable[RenderJob]) -> None:
        for job in jobs:
            if job.status == JobStatus.queued.value:
                self.queue.enqueue(job.id)  # type: ignore[arg-type]

    def assemble(
        self,
        project_id: int,
        *,
        crossfade: float = 0.0,
        title: str | None = None,
        title_seconds: float = 2.0,
        audio: str | Path | None = None,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> RenderJob:
        """Queue the film: each shot's chosen take (else its newest take), in shot order."""
        options = film_options(self.settings, crossfade, title, title_seconds, audio)
        crossfade, title, title_seconds = options.crossfade, options.title, options.title_seconds
        with self._session(write=True) as session:
            project = self._project(session, project_id)
            takes = []
            missing = []
            for number_, shot in enumerate(self._shots(session, project_id), start=1):
                take = self._take_for(session, shot)
                if take is None:
                    missing.append(str(number_))
                    continue
                artifact = session.get(Artifact, take.artifact_id)
                assert artifact is not None
                takes.append(
                    {
                        "shot_id": shot.id,
                        "job_id": take.id,
                        "key": artifact.key,
                        "sha256": artifact.sha256,
                    }
                )
            if missing or not takes:
                raise InvalidInput(
                    "Render these shots first (no take yet): shot " + ", ".join(missing)
                    if missing
                    else "The project has no shots"
                )
            if crossfade and crossfade * 2 > min(
                self._shot_duration(session, t["shot_id"]) for t in takes
            ):
                raise InvalidInput("Crossfade must be at most half the shortest shot", "crossfade")
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
            seconds = sum(self._shot_duration(session, t["shot_id"]) for t in takes)
            seconds += (title_seconds if title else 0.0) - crossfade * (len(takes) - 1)
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
        return self.wait([job], progress=progress)[0] if wait else job

    def _shot_duration(self, session: Session, shot_id: int) -> float:
        return self._shot(session, shot_id).duration

    def _take_for(self, session: Session, shot: Shot) -> RenderJob | None:
        if shot.chosen_take_id is not None:
            chosen = session.get(RenderJob, shot.chosen_take_id)
            if chosen is not None and chosen.status == JobStatus.succeeded.value:
                return chosen
        takes = self._takes(session, shot.id)  # type: ignore[arg-type]
        return takes[0] if takes else None

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

    def expand_prompts(
        self, project_id: int, shot_ids: Sequence[int] | None = None, *, pipeline: str | None = None
    ) -> list[Shot]:
        """Rewrite terse shot prompts into detailed ones with a text-generation model (the
        optional prompt writer), seeded by each shot's seed. Runs in this process."""
        project = self.project(project_id)
        name = pipeline or self.settings.prompt_writer
        if not name:
            raise InvalidInput(
                "No prompt writer configured: set STUDIO_PROMPT_WRITER to a "
                "text-generation pipeline (e.g. prompt-writer)",
                "pipeline",
            )
        try:
            entry = self.catalogue.get(name)
        except UnknownPipelineError as exc:
            raise InvalidInput(str(exc), "pipeline") from None
        if not entry.supports("text-generation"):
            raise InvalidInput(f"Pipeline {name!r} cannot write prompts", "pipeline")
        shots = self.shots(project_id)
        if shot_ids is not None:
            shots = [s for s in shots if s.id in set(shot_ids)]
        writer = self.runner.pipeline(name)
        expanded = {
            s.id: writer.expand(s.prompt, style=project.style_prompt, seed=s.seed) for s in shots
        }
        with self._session() as session:  # all or nothing
            for shot_id, prompt in expanded.items():
                shot = self._shot(session, shot_id)  # type: ignore[arg-type]
                shot.prompt = text(prompt, "Prompt", 2000) or shot.prompt
                session.add(shot)
        return self.shots(project_id)

    # ---- the Lab ----------------------------------------------------------------------------
    def lab_project(self, owner: str | None = None) -> Project:
        """The hidden project that holds an owner's Lab renders."""
        owner = self._owner_for(owner)
        with self._session() as session:
            query = select(Project).where(Project.kind == "lab", Project.owner == owner)
            project = session.exec(query).first()
            if project is None:
                project = Project(name="Lab", kind="lab", owner=owner)
                session.add(project)
                session.flush()
            return project

    def lab_run(
        self,
        pipeline: str,
        prompt: str,
        *,
        negative_prompt: str = "",
        seed: int = 0,
        overrides: dict[str, Any] | None = None,
        lora_scale: float | str | None = None,
        memory: list[str] | None = None,
        owner: str | None = None,
        wait: bool = False,
        progress: bool = True,
    ) -> RenderJob:
        """One render of a catalogue pipeline with tweaked parameters (see studio.lab.KNOBS;
        `lora_scale` and `memory` options change how it is loaded)."""
        return self.lab_sweep(
            pipeline,
            prompt,
            axes={},
            negative_prompt=negative_prompt,
            seed=seed,
            overrides=overrides,
            lora_scale=lora_scale,
            memory=memory,
            owner=owner,
            wait=wait,
            progress=progress,
        )[0]

    def lab_sweep(
        self,
        pipeline: str,
        prompt: str,
        *,
        axes: dict[str, list[Any]],
        negative_prompt: str = "",
        seed: int = 0,
        overrides: dict[str, Any] | None = None,
        lora_scale: float | str | None = None,
        memory: list[str] | None = None,
        owner: str | None = None,
        wait: bool = False,
        progress: bool = True,
    ) -> list[RenderJob]:
        """A grid over up to two parameters (e.g. seed × guidance), one queued job per cell."""
        prompt = text(prompt, "Prompt", 2000, required=True)
        negative_prompt = text(negative_prompt, "Negative prompt", 1000)
        base = lab.check_overrides(overrides)
        pipeline = self._lab_variant(pipeline, lora_scale, memory)
        seed = lab.check_knob("seed", seed)
        cells = lab.sweep_cells(axes) if axes else [{}]
        owner = self._owner_for(owner)
        project_id = ident(self.lab_project(owner))
        jobs = []
        with self._session(write=True) as session:
            for cell in cells:
                tweaks = {**base, **{k: v for k, v in cell.items() if k != "seed"}}
                kind, params = lab.lab_params(
                    self.catalogue,
                    pipeline,
                    prompt,
                    negative_prompt,
                    cell.get("seed", seed),
                    tweaks,
                )
                params["cell"] = cell
                request = params["request"]
                self._check_size(request["width"], request["height"], request["duration"])
                jobs.append(
                    lifecycle.submit(
                        session,
                        kind=kind,
                        project_id=project_id,
                        shot_id=None,
                        params=params,
                        owner=owner,
                        max_attempts=self.settings.max_attempts,
                        cost=self._price(params),
                        artifact_available=self._artifact_available,
                        **self._billing(),
                    )
                )
        self._wake(jobs)
        return self.wait(jobs, progress=progress) if wait else jobs

    def _lab_variant(self, pipeline: str, lora_scale: Any, memory: list[str] | None) -> str:
        """The pipeline name a Lab run renders with: the entry itself, or a hidden preset
        holding its load-time options (stored like presets, so any worker can load it)."""
        try:
            entry = self.catalogue.get(pipeline)
        except UnknownPipelineError as exc:
            raise InvalidInput(str(exc), "pipeline") from None
        options = lab.check_load_options(entry, lora_scale, memory)
        if not options:
            return pipeline
        name = lab.hidden_preset_name(pipeline, options)
        if name not in self.catalogue:
            self.save_preset(
                name,
                pipeline,
                {},
                lora_scale=lora_scale,
                memory=memory,
                description=f"Lab variant of {pipeline}",
                _hidden=True,
            )
        return name

    def lab_jobs(self, owner: str | None = None, limit: int = 60) -> list[RenderJob]:
        owner = self._owner_for(owner)
        with self._session() as session:
            query = select(Project.id).where(Project.kind == "lab", Project.owner == owner)
            project_id = session.exec(query).first()
        return [] if project_id is None else self.jobs(project_id, limit=limit)

    def save_preset(
        self,
        name: str,
        pipeline: str,
        overrides: dict[str, Any] | None = None,
        *,
        lora_scale: float | str | None = None,
        memory: list[str] | None = None,
        description: str = "",
        _hidden: bool = False,
    ) -> PipelineEntry:
        """Save tweaks as a catalogue entry that shots and projects can use by `name`:
        per-call `overrides` (studio.lab.KNOBS), a LoRA scale and memory options. Presets are
        shared by everyone in the studio; only their maker (or an admin) can change one."""
        with self._session() as session:
            existing = session.get(Preset, name) if isinstance(name, str) else None
            if existing is not None and not _hidden and not self._visible(existing.owner):
                raise Conflict(f"Preset {name!r} belongs to someone else; choose another name")
            lab.save_preset(
                session,
                self.catalogue,
                name,
                pipeline,
                overrides or {},
                lora_scale,
                description,
                owner=self.user,
                memory=memory,
                hidden=_hidden,
            )
        base = Catalogue.load(self.settings.pipelines_file)
        self.catalogue = lab.with_presets(base, self.engine)
        self.runner.catalogue = self.catalogue
        self.runner.cache.unload(name)  # an updated preset loads afresh
        return self.catalogue.get(name)

    # ---- jobs and takes -------------------------------------------------------------------
    def jobs(
        self,
        project_id: int | None = None,
        statuses: Iterable[str] | None = None,
        kinds: Iterable[str] | None = None,
        limit: int = 500,
        before_id: int | None = None,
    ) -> list[RenderJob]:
        """Newest first; `before_id` pages on (only jobs with a smaller id)."""
        with self._session() as session:
            query = select(RenderJob)
            if not self.is_admin:
                query = query.where(RenderJob.owner == self.user)
            if before_id is not None:
                query = query.where(col(RenderJob.id) < before_id)
            if project_id is not None:
                query = query.where(RenderJob.project_id == project_id)
            if statuses:
                query = query.where(col(RenderJob.status).in_(list(statuses)))
            if kinds:
                query = query.where(col(RenderJob.kind).in_(list(kinds)))
            return list(session.exec(query.order_by(col(RenderJob.id).desc()).limit(limit)).all())

    def job(self, job_id: int) -> RenderJob:
        with self._session() as session:
            return self._job(session, job_id)

    def _job(self, session: Session, job_id: int) -> RenderJob:
        job = session.get(RenderJob, job_id) if isinstance(job_id, int) else None
        if job is None or not self._visible(job.owner):
            raise NotFound(f"No render job #{job_id}")
        return job

    def queue_position(self, job_id: int) -> int | None:
        with self._session() as session:
            return lifecycle.queue_position(session, self._job(session, job_id))

    def queue_positions(self) -> dict[int, int]:
        """Position in the queue (1 = next) of every queued job this user can see."""
        with self._session() as session:
            positions = lifecycle.queue_positions(session)
            if self.is_admin:
                return positions
            mine = set(
                session.exec(
                    select(RenderJob.id).where(
                        RenderJob.owner == self.user,
                        RenderJob.status == JobStatus.queued.value,
                    )
                ).all()
            )
        return {job_id: n for job_id, n in positions.items() if job_id in mine}

    def cancel(self, job_id: int) -> RenderJob:
        with self._session(write=True) as session:
            self._job(session, job_id)
            job = lifecycle.cancel(session, job_id)
        if job.status == JobStatus.running.value:
            self.queue.cancel(job_id)  # reach the worker now, not at its next database check
        return job

    def pause_queue(self, owner: str | None = None) -> None:
        """Hold this user's queued jobs (running ones finish)."""
        owner = self._owner_for(owner)
        with self._session() as session:
            lifecycle.pause(session, owner)

    def resume_queue(self, owner: str | None = None) -> None:
        owner = self._owner_for(owner)
        with self._session() as session:
            lifecycle.resume(session, owner)
        self.queue.enqueue(0)

    def queue_paused(self, owner: str | None = None) -> bool:
        owner = self._owner_for(owner)
        with self._session() as session:
            return lifecycle.is_paused(session, owner)

    def move_before(self, job_id: int, before_job_id: int) -> RenderJob:
        """Reorder queued jobs: `job_id` runs right before `before_job_id`."""
        with self._session() as session:
            self._job(session, job_id)
            self._job(session, before_job_id)
            return lifecycle.move_before(session, job_id, before_job_id)

    def workers(self) -> list[Worker]:
        """Every worker that ever reported, newest heartbeat first."""
        return workers.all_workers(self.engine)

    def retry(self, job_id: int) -> RenderJob:
        with self._session(write=True) as session:
            self._job(session, job_id)
            job = lifecycle.retry(session, job_id, billing=self.settings.resolved_credits)
        self._wake([job])
        return job

    def set_priority(self, job_id: int, priority: int) -> RenderJob:
        with self._session() as session:
            self._job(session, job_id)
            return lifecycle.set_priority(session, job_id, priority)

    def raise_priority(self, job_id: int) -> RenderJob:
        """Move a queued job to the front: one above the highest queued priority."""
        with self._session() as session:
            top = session.exec(
                select(RenderJob.priority)
                .where(RenderJob.status == JobStatus.queued.value)
                .order_by(col(RenderJob.priority).desc())
            ).first()
            job = self._job(session, job_id)
            return lifecycle.set_priority(session, job_id, max(job.priority, (top or 0) + 1))

    def takes(self, shot_id: int) -> list[RenderJob]:
        with self._session() as session:
            self._shot(session, shot_id)
            return self._takes(session, shot_id)

    def _takes(self, session: Session, shot_id: int) -> list[RenderJob]:
        query = select(RenderJob).where(
            RenderJob.shot_id == shot_id,
            RenderJob.kind == JobKind.clip.value,
            RenderJob.status == JobStatus.succeeded.value,
        )
        return list(session.exec(query.order_by(col(RenderJob.id).desc())).all())

    def choose_take(self, shot_id: int, job_id: int) -> Shot:
        with self._session() as session:
            shot = self._shot(session, shot_id)
            if job_id not in {t.id for t in self._takes(session, shot_id)}:
                raise InvalidInput(f"Job #{job_id} is not a finished take of shot #{shot_id}")
            shot.chosen_take_id = job_id
            session.add(shot)
            return shot

    def artifact(self, artifact_id: int) -> Artifact:
        with self._session() as session:
            artifact = session.get(Artifact, artifact_id) if isinstance(artifact_id, int) else None
            if artifact is None or not self._visible(artifact.owner):
                raise NotFound(f"No artifact #{artifact_id}")
            return artifact

    def artifact_path(self, artifact_id: int) -> Path:
        return self.storage.local_path(self.artifact(artifact_id).key)

    def export(self, artifact_id: int, name: str) -> Path:
        """A copy of an artifact under data_dir/exports with a readable file name."""
        artifact = self.artifact(artifact_id)
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
            self.artifact(artifact_id).key,
            expires=self.settings.download_url_seconds,
            filename=filename,
        )
        return url if url.startswith(("http://", "https://")) else None

    def signed_link(self, artifact_id: int, filename: str | None = None) -> str:
        """A site path (/files/…) that downloads the artifact without logging in, for a short
        while (download_url_seconds, at most an hour). It is bound to this artifact and its
        owner: changing the id or the expiry breaks the signature."""
        from urllib.parse import quote

        from studio import links

        artifact = self.artifact(artifact_id)
        seconds = min(self.settings.download_url_seconds, 3600)
        secret = self.settings.secret_key.get_secret_value()
        expires, signature = links.sign(secret, ident(artifact), artifact.owner, seconds)
        name = filename or f"artifact-{artifact_id}{Path(artifact.key).suffix}"
        return f"/files/{artifact_id}/{quote(name)}?exp={expires}&sig={signature}"

    @property
    def exports_dir(self) -> Path:
        return self.settings.data_dir / "exports"

    def live_preview(self, job_id: int) -> Path | None:
        """The latest low-resolution step image of a running render, where its pipeline
        provides one (diffusers image pipelines do; `draft` has no steps to show)."""
        from studio.runner import live_preview_key

        key = live_preview_key(ident(self.job(job_id)))
        try:
            return self.storage.local_path(key) if self.storage.exists(key) else None
        except StorageError:
            return None

    def preview_path(self, shot: Shot) -> Path | None:
        """The file of a shot's latest preview frame, if it has one."""
        if shot.preview_job_id is None:
            return None
        job = self.job(shot.preview_job_id)
        return self.artifact_path(job.artifact_id) if job.artifact_id else None

    def wait(
        self,
        jobs: Sequence[RenderJob],
        *,
        progress: bool = True,
        timeout: float | None = None,
        poll: float = 0.2,
    ) -> list[RenderJob]:
        """Block until every job finishes, with a tqdm bar; returns the jobs' final state."""
        from tqdm.auto import tqdm

        ids = [j.id for j in jobs]
        if not ids:
            return []
        kinds = {j.kind for j in jobs}
        desc = {"preview": "Previews", "clip": "Clips", "film": "Film"}.get(
            kinds.pop() if len(kinds) == 1 else "", "Renders"
        )
        # Inline renders happen in this process; with Redis, remote workers render (and
        # dispatch) even when this process starts no thread of its own.
        inline_idle = isinstance(self.queue, InlineQueue) and not self.queue.running
        if inline_idle and any(j.status in lifecycle.ACTIVE for j in jobs):
            raise RuntimeError(
                "This studio has no render worker running (start_worker=False); "
                "start one or wait from the process that renders"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = tqdm(
            total=len(ids),
            desc=desc,
            unit="job",
            disable=not progress,
            bar_format="{l_bar}{bar}| {n:.1f}/{total} jobs [{elapsed}<{remaining}]",
        )
        try:
            while True:
                with self._session() as session:
                    current = [self._job(session, i) for i in ids]  # type: ignore[arg-type]
                bar.n = sum(j.progress if not JobStatus(j.status).finished else 1 for j in current)
                bar.refresh()
                if all(JobStatus(j.status).finished for j in current):
                    return current
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"Jobs still running after {timeout}s")
                time.sleep(poll)
        finally:
            bar.close()

    # ---- health ---------------------------------------------------------------------------
    def readiness(self) -> dict[str, str]:
        """'ok' or the error for each dependency: database, storage, queue."""
        from sqlalchemy import text as sql

        checks: dict[str, str] = {}
        for name, probe in (
            ("database", lambda: self._ping_db(sql)),
            ("storage", self.storage.ping),
            ("queue", self.queue.ping),
        ):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - readiness reports, it never raises
                checks[name] = f"error: {exc}"
        return checks

    def _ping_db(self, sql: Any) -> None:
        with self.engine.connect() as conn:
            conn.execute(sql("SELECT 1"))
