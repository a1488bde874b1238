"""What every area of the `Studio` API stands on: the services, the acting user and the
access guards: an object of a project the user neither owns nor is a member of answers
exactly like a missing one (404); a member without the role a call needs gets 403
(studio/core/team.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from pipelines.catalogue import Catalogue
from storage.base import Storage
from studio.core import accounts
from studio.core.config import Settings
from studio.core.db import session_scope
from studio.core.errors import DatabaseUnavailable, Forbidden, NotFound
from studio.core.models import JobKind, JobStatus, Project, RenderJob, Shot
from studio.core.outage import database_down
from studio.core.team import Access, Membership, granted
from studio.core.throttle import LoginThrottle

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from studio.core.idempotency import IdempotencyStore
    from studio.farm.events import EventBus
    from studio.farm.queues.base import QueueBackend
    from studio.farm.runner import JobRunner
    from studio.services import Services


@dataclass(frozen=True)
class Actor:
    """Who a studio acts as: a user name, and whether that user is an admin."""

    name: str
    is_admin: bool = False


LOCAL_ACTOR = Actor(accounts.LOCAL_USER, is_admin=True)

# What a member is told when their role does not allow a call.
_REFUSALS = {
    Access.view: "You cannot see this project",
    Access.review: "You cannot review this project's takes",
    Access.edit: "You are a {role} of this project: only its owner and editors change it",
    Access.render: "Only the owner ({owner}) and editors the owner allowed to render spend "
    "this project's credits",
    Access.own: "Only the project's owner ({owner}) can do this",
}


class StudioBase:
    """The services of one studio process and the user it acts as (`actor`)."""

    services: Services
    actor: Actor
    throttle: LoginThrottle
    _owns_services: bool

    # ---- the services, by name (shared by every user's view) -------------------------------
    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def engine(self) -> Engine:
        return self.services.engine

    @property
    def storage(self) -> Storage:
        return self.services.storage

    @property
    def runner(self) -> JobRunner:
        return self.services.runner

    @property
    def queue(self) -> QueueBackend:
        return self.services.queue

    @property
    def events(self) -> EventBus:
        assert self.services.events is not None, "built for the app role"
        return self.services.events

    @property
    def idempotency(self) -> IdempotencyStore:
        assert self.services.idempotency is not None, "built for the app role"
        return self.services.idempotency

    @property
    def catalogue(self) -> Catalogue:
        return self.services.catalogue

    @property
    def exports_dir(self) -> Path:
        return self.settings.data_dir / "exports"

    def pipelines(self) -> list[str]:
        """The catalogue's pipeline names (presets included)."""
        return self.catalogue.names()

    # ---- the acting user -------------------------------------------------------------------
    @property
    def user(self) -> str:
        return self.actor.name

    @property
    def is_admin(self) -> bool:
        return self.actor.is_admin

    def _visible(self, owner: str) -> bool:
        return self.is_admin or owner == self.user

    def _check_access(self, session: Session, project: Project, need: Access) -> None:
        """NotFound unless the user owns `project`, administers the studio or is a member;
        Forbidden when a member's role does not give `need`."""
        if self._visible(project.owner):
            return
        member = session.get(Membership, (project.id, self.user))
        if member is None:
            raise NotFound(f"No project #{project.id}")
        if not granted(member.role, member.can_render, need):
            raise Forbidden(_REFUSALS[need].format(role=member.role, owner=project.owner))

    def _owner_for(self, owner: str | None) -> str:
        """Whose queue or Lab a call means: one's own; someone else's only for admins."""
        if owner is None or owner == self.user:
            return self.user
        if not self.is_admin:
            raise Forbidden("Only admins act on other users' queues and Labs")
        return owner

    # ---- units of work and guards ---------------------------------------------------------
    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        """One unit of work (`session_scope`). A database that cannot be reached raises
        DatabaseUnavailable, said for people (the REST API answers 503 with Retry-After),
        not the driver's error."""
        try:
            with session_scope(self.engine, write=write) as session:
                yield session
        except DBAPIError as exc:
            if not database_down(exc):
                raise
            raise DatabaseUnavailable(
                "The database cannot be reached right now; try again in a few seconds"
            ) from exc

    def _project(self, session: Session, project_id: int, need: Access = Access.edit) -> Project:
        project = session.get(Project, project_id) if isinstance(project_id, int) else None
        if project is None:
            raise NotFound(f"No project #{project_id}")
        try:
            self._check_access(session, project, need)
        except NotFound:
            raise NotFound(f"No project #{project_id}") from None
        return project

    def _shots(self, session: Session, project_id: int) -> list[Shot]:
        query = select(Shot).where(Shot.project_id == project_id)
        return list(session.exec(query.order_by(col(Shot.position), col(Shot.id))).all())

    def _shot(self, session: Session, shot_id: int, need: Access = Access.edit) -> Shot:
        shot = session.get(Shot, shot_id) if isinstance(shot_id, int) else None
        project = session.get(Project, shot.project_id) if shot is not None else None
        if shot is None or project is None:
            raise NotFound(f"No shot #{shot_id}")
        try:
            self._check_access(session, project, need)
        except NotFound:
            raise NotFound(f"No shot #{shot_id}") from None
        return shot

    def _job(self, session: Session, job_id: int, need: Access = Access.own) -> RenderJob:
        """A job of the user's own, or of a project shared with them where `need` is granted
        (Access.view: its takes and films; Access.own, the default: the owner's queue)."""
        job = session.get(RenderJob, job_id) if isinstance(job_id, int) else None
        if job is None:
            raise NotFound(f"No render job #{job_id}")
        if self._visible(job.owner):
            return job
        project = session.get(Project, job.project_id)
        try:
            if project is None:
                raise NotFound(job_id)
            self._check_access(session, project, need)
        except NotFound:
            raise NotFound(f"No render job #{job_id}") from None
        return job

    def _takes(
        self, session: Session, shot_id: int, kind: JobKind = JobKind.clip
    ) -> list[RenderJob]:
        """A shot's succeeded takes (clips) or line takes (speech), newest first."""
        query = select(RenderJob).where(
            RenderJob.shot_id == shot_id,
            RenderJob.kind == kind.value,
            RenderJob.status == JobStatus.succeeded.value,
        )
        return list(session.exec(query.order_by(col(RenderJob.id).desc())).all())

    def _take_for(
        self, session: Session, shot: Shot, kind: JobKind = JobKind.clip
    ) -> RenderJob | None:
        """The take (or line take) a film uses for a shot: the chosen one, else the newest."""
        chosen_id = shot.chosen_line_id if kind == JobKind.speech else shot.chosen_take_id
        if chosen_id is not None:
            chosen = session.get(RenderJob, chosen_id)
            if chosen is not None and chosen.status == JobStatus.succeeded.value:
                return chosen
        takes = self._takes(session, shot.id, kind)  # type: ignore[arg-type]
        return takes[0] if takes else None

    def _wake(self, jobs: Iterable[RenderJob]) -> None:
        for job in jobs:
            if job.status == JobStatus.queued.value:
                self.queue.enqueue(job.id)  # type: ignore[arg-type]

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
