"""`Studio`: the Python API over the core. The UI, the CLI and notebooks all go through it.

from studio import Studio
s = Studio.local("my-studio")
p = s.create_project("Short", script=open("script.txt").read())
s.breakdown(p.id)
s.render(p.id, wait=True)
film = s.assemble(p.id, wait=True)
print(s.artifact_path(film.artifact_id))

It is made of one class per area (studio/api/<area>.py), each building on those before it:
base (services, acting user, guards) → projects → queue → files → renders → lab, plus
the cast, its voices, the team (sharing, review), the timeline and its handoff, the scenes
and accounts.
Its public surface is declared once in `studio.surface.StudioAPI`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio import display
from studio.api.accounts import AccountsArea
from studio.api.base import LOCAL_ACTOR, Actor
from studio.api.handoff import HandoffArea
from studio.api.lab import LabArea
from studio.api.scenes import ScenesArea
from studio.api.voices import VoicesArea
from studio.core import accounts
from studio.core.config import Settings, load_settings
from studio.core.errors import Unauthorized
from studio.core.models import User
from studio.core.throttle import LoginThrottle
from studio.services import Services, build_services

if TYPE_CHECKING:
    from studio.client.remote import RemoteStudio


class Studio(LabArea, VoicesArea, HandoffArea, ScenesArea, AccountsArea):
    """One studio: settings, database, storage, catalogue and a queue, wired once.

    Every method acts as one user (`self.user`): it sees and changes only what that user owns
    or what is shared with them (studio/core/team.py; admins: everything), and anything else
    is "not found", exactly like a missing id. The
    studio itself acts as the local admin; `as_user(name)` gives a view acting as `name`
    that shares the database, storage, queue and workers."""

    def __init__(self, settings: Settings, *, start_worker: bool = True, migrate: bool = True):
        services = build_services(settings, "app", migrate=migrate)
        self._bind(services, LOCAL_ACTOR, owns_services=True)
        self.throttle = LoginThrottle.from_settings(settings)  # in Redis when there is one
        with self._session() as session:
            # The studio's own account (CLI, notebooks on the server): an admin that cannot
            # log in; the only user when auth is off.
            accounts.ensure_local_user(session)
        if start_worker:
            self.queue.start()
        display.activate(self)

    def _bind(self, services: Services, actor: Actor, *, owns_services: bool) -> None:
        self.services, self.actor, self._owns_services = services, actor, owns_services

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
        view = Studio.__new__(Studio)  # shares the services; nothing is built or started
        view._bind(self.services, Actor(user.name, user.is_admin), owns_services=False)
        view.throttle = self.throttle
        return view

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
        (default: $STUDIO_TOKEN). `options`: see studio.client.remote.RemoteStudio."""
        from studio.client.remote import RemoteStudio

        return RemoteStudio(url, token, **options)

    def close(self) -> None:
        """Stop the queue and release the database; a user's view closes nothing (the
        studio it came from owns the services)."""
        if self._owns_services:
            self.services.close()

    def __enter__(self) -> Studio:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


if TYPE_CHECKING:
    from studio.surface import StudioAPI

    def _satisfies_surface(studio: Studio) -> StudioAPI:
        return studio  # mypy checks Studio against the one declared surface
