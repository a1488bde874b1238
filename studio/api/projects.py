"""Projects, their script and breakdown, shots and takes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, or_, select

from pipelines.catalogue import UnknownPipelineError
from studio.api.base import StudioBase
from studio.core import cast, lifecycle, scenes, shot_order, takes, voices
from studio.core.errors import InvalidInput
from studio.core.models import (
    JobKind,
    JobPublic,
    Project,
    ProjectPublic,
    RenderJob,
    Shot,
    ShotBase,
    ShotPublic,
    ident,
    public,
    utcnow,
)
from studio.core.team import Access, Membership, forget_project
from studio.core.validation import (
    id_list,
    number,
    plain_text,
    project_fields,
    shot_fields,
    text,
)
from studio.film.breakdown import break_down_with_cast

# What a duplicated shot keeps: what the creator set, not its place, renders or age.
_NOT_COPIED = {"position", "preview_job_id", "chosen_take_id", "chosen_line_id", "created_at"}
_COPIED = set(ShotBase.model_fields) - _NOT_COPIED


class ProjectsArea(StudioBase):
    def create_project(
        self, name: str, script: str = "", *, owner: str | None = None, **fields: Any
    ) -> ProjectPublic:
        for key in ("preview_pipeline", "clip_pipeline"):
            fields.setdefault(key, self.settings.default_pipeline)
        values = project_fields(
            self.settings,
            self.catalogue.names(),
            {"name": name, **fields},
            fields.get("aspect_ratio", "16:9"),
            fields.get("height", 360),
        )
        if "speech_pipeline" in values:
            voices.check_engine(self.catalogue, values["speech_pipeline"])
        else:
            values["speech_pipeline"] = voices.default_engine(self.catalogue)
        script = self._check_script(script) if script else ""
        with self._session() as session:
            project = Project(**values, script=script, owner=self._owner_for(owner))
            session.add(project)
            session.flush()
            return public(project)

    def projects(self) -> list[ProjectPublic]:
        with self._session() as session:
            query = select(Project).where(Project.kind == "film")
            if not self.is_admin:  # one's own, and those shared with one (studio/core/team.py)
                shared = select(Membership.project_id).where(Membership.user == self.user)
                query = query.where(or_(Project.owner == self.user, col(Project.id).in_(shared)))
            return [public(p) for p in session.exec(query.order_by(col(Project.id).desc()))]

    def project(self, project_id: int) -> ProjectPublic:
        with self._session() as session:
            return public(self._project(session, project_id, Access.view))

    def update_project(self, project_id: int, **changes: Any) -> ProjectPublic:
        with self._session() as session:
            project = self._project(session, project_id)
            values = project_fields(
                self.settings, self.catalogue.names(), changes, project.aspect_ratio, project.height
            )
            if "speech_pipeline" in values:
                voices.check_engine(self.catalogue, values["speech_pipeline"])
            for key, value in values.items():
                setattr(project, key, value)
            project.updated_at = utcnow()
            session.add(project)
            return public(project)

    def delete_project(self, project_id: int) -> None:
        with self._session() as session:
            project = self._project(session, project_id, Access.own)
            forget_project(session, project_id)  # its shares, verdicts and comments
            jobs = session.exec(select(RenderJob).where(RenderJob.project_id == project_id)).all()
            for job in jobs:
                if job.status in lifecycle.ACTIVE:
                    lifecycle.cancel(session, ident(job))
                session.delete(job)
            for shot in session.exec(select(Shot).where(Shot.project_id == project_id)).all():
                session.delete(shot)
            for member in cast.members(session, project_id):
                session.delete(member)
            for scene in scenes.scenes(session, project_id):
                session.delete(scene)
            session.flush()
            session.delete(project)

    def _check_script(self, script: str | bytes) -> str:
        from studio.film.breakdown import MAX_SCRIPT_CHARS, decode_script

        if isinstance(script, bytes):
            script = decode_script(script)
        if not isinstance(script, str):
            raise InvalidInput("The script must be text", "script")
        # Page breaks from PDF conversions are line breaks; NUL, escapes and unpaired
        # surrogates are refused (the databases cannot store the last two kinds).
        script = plain_text(script.replace("\f", "\n"), "Script")
        if len(script) > MAX_SCRIPT_CHARS:
            raise InvalidInput(
                f"The script is {len(script):,} characters; the limit is {MAX_SCRIPT_CHARS:,}",
                "script",
            )
        return script

    def breakdown(self, project_id: int, script: str | bytes | None = None) -> list[ShotPublic]:
        """Replace the project's shots with a fresh breakdown of its script (or `script`);
        the cast it finds joins the project's cast (members already there are kept)."""
        with self._session() as session:
            project = self._project(session, project_id)
            text_ = self._check_script(script) if script is not None else project.script
            drafts, found = break_down_with_cast(text_)
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
            cast.add_found(session, project_id, [(c.name, c.description) for c in found])
            scenes.add_found(session, project_id, [d.scene for d in drafts])
            session.flush()
            return [public(s) for s in shots]

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

    def shots(self, project_id: int, ids: list[int] | None = None) -> list[ShotPublic]:
        wanted = None if ids is None else id_list(ids, "ids")
        with self._session() as session:
            self._project(session, project_id, Access.view)
            if wanted is None:
                return [public(s) for s in self._shots(session, project_id)]
            query = select(Shot).where(Shot.project_id == project_id, col(Shot.id).in_(wanted))
            found = session.exec(query.order_by(col(Shot.position), col(Shot.id))).all()
            return [public(s) for s in found]

    def shot(self, shot_id: int) -> ShotPublic:
        with self._session() as session:
            return public(self._shot(session, shot_id, Access.view))

    def add_shot(
        self, project_id: int, prompt: str = "", position: int | None = None, **fields: Any
    ) -> ShotPublic:
        values = shot_fields(self.settings, self.catalogue.names(), {"prompt": prompt, **fields})
        with self._session() as session:
            self._project(session, project_id)
            place = shot_order.make_room(session, project_id, position)  # one UPDATE
            shot = Shot(project_id=project_id, position=place, **values)
            session.add(shot)
            session.flush()
            self._cast_joins(session, shot)
            return public(shot)

    def update_shot(self, shot_id: int, **changes: Any) -> ShotPublic:
        position = changes.pop("position", None)
        values = shot_fields(self.settings, self.catalogue.names(), changes)
        if "duration" in values:  # a duration the creator sets stays, whatever the line says
            values.setdefault("duration_pinned", True)
        with self._session() as session:
            shot = self._shot(session, shot_id)
            for key, value in values.items():
                setattr(shot, key, value)
            line = session.get(RenderJob, shot.chosen_line_id) if shot.chosen_line_id else None
            if line is not None and {"line_offset", "duration_pinned"} & set(values):
                takes.choose_line(session, shot, line)  # the duration follows the new offset
            session.add(shot)
            if position is not None:
                self._move(session, shot, position)
            self._cast_joins(session, shot)
            return public(shot)

    def move_shot(self, shot_id: int, position: int) -> ShotPublic:
        with self._session() as session:
            shot = self._shot(session, shot_id)
            self._move(session, shot, position)
            return public(shot)

    def duplicate_shot(self, shot_id: int) -> ShotPublic:
        with self._session() as session:
            shot = self._shot(session, shot_id)
            copy = Shot(**shot.model_dump(include=_COPIED))
            session.refresh(shot)
            copy.position = shot_order.make_room(session, shot.project_id, shot.position + 1)
            session.add(copy)
            session.flush()
            return public(copy)

    def _cast_joins(self, session: Session, shot: Shot) -> None:
        """Names a shot is given that the cast lacks join it (to be described there), and so
        does a scene heading the project has no scene for."""
        cast.add_found(session, shot.project_id, [(name, "") for name in shot.characters])
        scenes.add_found(session, shot.project_id, [shot.scene])

    def _move(self, session: Session, shot: Shot, position: Any) -> None:
        index = int(number(position, "Position", 0, 100_000, integer=True))
        shot_order.move(session, shot, index)  # shifts only the shots in between

    def delete_shot(self, shot_id: int) -> None:
        with self._session() as session:
            shot = self._shot(session, shot_id)
            project_id, position = shot.project_id, shot.position
            self._detach_shot(session, shot)
            session.delete(shot)
            session.flush()
            shot_order.close_gap(session, project_id, position)

    def takes(self, shot_id: int) -> list[JobPublic]:
        with self._session() as session:
            self._shot(session, shot_id, Access.view)
            return [public(j) for j in self._takes(session, shot_id)]

    def lines(self, shot_id: int) -> list[JobPublic]:
        with self._session() as session:
            self._shot(session, shot_id, Access.view)
            return [public(j) for j in self._takes(session, shot_id, JobKind.speech)]

    def choose_take(self, shot_id: int, job_id: int) -> ShotPublic:
        with self._session() as session:
            shot = self._shot(session, shot_id)
            if job_id in {t.id for t in self._takes(session, shot_id)}:
                shot.chosen_take_id = job_id
            elif line := next(
                (t for t in self._takes(session, shot_id, JobKind.speech) if t.id == job_id), None
            ):
                takes.choose_line(session, shot, line)
            else:
                raise InvalidInput(f"Job #{job_id} is not a finished take of shot #{shot_id}")
            session.add(shot)
            return public(shot)

    def expand_prompts(
        self, project_id: int, shot_ids: Sequence[int] | None = None, *, pipeline: str | None = None
    ) -> list[ShotPublic]:
        """Rewrite terse shot prompts into detailed ones with a text-generation model (the
        optional prompt writer), seeded by each shot's seed. Runs in this process."""
        with self._session() as session:  # rewriting prompts is an edit
            project = public(self._project(session, project_id, Access.edit))
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
                shot = self._shot(session, shot_id)
                shot.prompt = text(prompt, "Prompt", 2000) or shot.prompt
                session.add(shot)
        return self.shots(project_id)
