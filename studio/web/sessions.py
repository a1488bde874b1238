"""Signed, stateless session cookies (itsdangerous): any app replica can check them.

The cookie holds the user name and the account's `session_epoch`; a password reset or
disable bumps the epoch, which ends every session signed before it."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "studio_session"


class SessionSigner:
    def __init__(self, secret: str, max_age_seconds: float):
        self._serializer = URLSafeTimedSerializer(secret, salt="studio-session")
        self.max_age = int(max_age_seconds)

    def sign(self, name: str, epoch: int) -> str:
        return self._serializer.dumps({"u": name, "e": epoch})

    def read(self, cookie: str | None) -> tuple[str, int] | None:
        """(name, epoch) of a valid, unexpired cookie; None otherwise."""
        if not cookie:
            return None
        try:
            data: Any = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # also expired (SignatureExpired is a BadSignature)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            return None
        epoch = data.get("e")
        return (data["u"], epoch) if isinstance(epoch, int) else None
