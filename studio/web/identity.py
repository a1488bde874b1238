"""Who is asking: the session cookie (browser) or a bearer API token (scripts, notebooks).

With auth off every request is the local user."""

from __future__ import annotations

from fastapi import Request

from studio.api import Studio
from studio.core import accounts
from studio.core.errors import Unauthorized
from studio.core.models import User
from studio.web.sessions import COOKIE, SessionSigner


class Identity:
    def __init__(self, studio: Studio):
        self.studio = studio
        settings = studio.settings
        self.signer = SessionSigner(
            settings.secret_key.get_secret_value(), settings.session_hours * 3600
        )

    @property
    def enabled(self) -> bool:
        return self.studio.settings.resolved_auth

    def user(self, request: Request) -> User | None:
        """The enabled user behind the request, or None."""
        if not self.enabled:  # the studio's own local user (made when the studio started)
            return self.studio.user_named(accounts.LOCAL_USER)
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            return self.studio.user_for_token(header[7:].strip())
        signed = self.signer.read(request.cookies.get(COOKIE))
        if signed is None:
            return None
        name, epoch = signed
        user = self.studio.user_named(name)
        if user is None or user.disabled or user.session_epoch != epoch:
            return None
        return user

    def name(self, request: Request) -> str | None:
        """For Gradio's auth_dependency: the user name, or None (Gradio answers 401)."""
        user = self.user(request)
        return user.name if user is not None else None

    def studio_for(self, request: Request) -> Studio:
        """The studio acting as the requester; Unauthorized without a valid login or token."""
        if not self.enabled:
            return self.studio
        user = self.user(request)
        if user is None:
            raise Unauthorized("Log in, or send an API token as 'Authorization: Bearer …'")
        return self.studio.as_user(user)  # the row just read: no second lookup
