"""Accounts: users, argon2 password hashes and API tokens (logins are throttled by throttle.py).

Passwords are hashed with argon2id (pwdlib: a maintained wrapper with sane parameters and
rehash-on-upgrade). API tokens are random and stored as SHA-256 only: shown once, never
recoverable. Every function takes the caller's Session and leaves committing to it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from functools import lru_cache
from typing import Any

from sqlmodel import Session, col, select

from studio.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from studio.core.models import ApiToken, Role, User, utcnow
from studio.core.validation import plain_text

LOCAL_USER = "local"  # the one user of a studio with auth off
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
TOKEN_PREFIX = "sfs_"
# Compared against when the user does not exist, so a wrong name costs the same time as a
# wrong password (no user enumeration by timing).
_DUMMY_PASSWORD = "not-a-real-password-only-for-timing"


@lru_cache(maxsize=1)
def _hasher() -> Any:
    from pwdlib import PasswordHash

    return PasswordHash.recommended()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return str(_hasher().hash(_DUMMY_PASSWORD))


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name.strip().lower()):
        raise InvalidInput(
            "A user name is 2–32 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            "name",
        )
    return name.strip().lower()


def check_password(password: Any, min_length: int, name: str = "") -> str:
    """The password policy: long enough, not the user name, not one repeated character."""
    if not isinstance(password, str) or len(password) < min_length:
        raise InvalidInput(f"A password needs at least {min_length} characters", "password")
    if len(password) > 256:
        raise InvalidInput("A password has at most 256 characters", "password")
    if name and name.lower() in password.lower():
        raise InvalidInput("A password must not contain the user name", "password")
    if len(set(password)) < 4:
        raise InvalidInput("A password needs at least 4 different characters", "password")
    return password


def hash_password(password: str) -> str:
    return str(_hasher().hash(password))


def get_user(session: Session, name: str) -> User:
    if isinstance(name, str):  # no name holds these: say so, rather than "no such user"
        plain_text(name, "user")
    user = session.get(User, name) if isinstance(name, str) else None
    if user is None:
        raise NotFound(f"No user {name!r}")
    return user


def create_user(
    session: Session,
    name: str,
    password: str | None,
    *,
    role: str = Role.creator.value,
    min_password_length: int = 10,
) -> User:
    """A new account. `password=None` makes one that cannot log in (the dev local user)."""
    name = check_name(name)
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"Role must be one of: {', '.join(r.value for r in Role)}", "role")
    if session.get(User, name) is not None:
        raise Conflict(f"User {name!r} already exists")
    hashed = None
    if password is not None:
        hashed = hash_password(check_password(password, min_password_length, name))
    user = User(name=name, password_hash=hashed, role=role)
    session.add(user)
    session.flush()
    return user


def ensure_local_user(session: Session) -> User:
    """The single passwordless admin of a studio with auth off."""
    user = session.get(User, LOCAL_USER)
    if user is None:
        user = User(name=LOCAL_USER, role=Role.admin.value)
        session.add(user)
        session.flush()
    return user


def _typable(name: str) -> bool:
    try:
        plain_text(name, "user name")
    except InvalidInput:
        return False
    return True


def authenticate(session: Session, name: str, password: str) -> User:
    """The user whose name and password these are; Unauthorized (one message for every
    reason, so it reveals nothing) otherwise."""
    user = None
    if isinstance(name, str) and _typable(name):  # PostgreSQL cannot even look up a NUL
        user = session.get(User, name.strip().lower())
    hashed = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    try:
        valid, new_hash = _hasher().verify_and_update(password or "", hashed)
    except Exception:  # noqa: BLE001 - a malformed stored hash is a failed login, not a 500
        valid, new_hash = False, None
    if user is None or not user.password_hash or not valid or user.disabled:
        raise Unauthorized("Wrong user name or password, or the account is disabled")
    if new_hash:  # parameters were upgraded since this hash was made
        user.password_hash = new_hash
    user.last_login_at = utcnow()
    session.add(user)
    return user


def set_password(session: Session, name: str, password: str, min_password_length: int) -> User:
    user = get_user(session, name)
    user.password_hash = hash_password(check_password(password, min_password_length, user.name))
    user.session_epoch += 1  # every open session of this user ends
    session.add(user)
    return user


def set_disabled(session: Session, name: str, disabled: bool) -> User:
    user = get_user(session, name)
    user.disabled = disabled
    if disabled:
        user.session_epoch += 1
        for token in active_tokens(session, user.name):
            token.revoked_at = utcnow()
            session.add(token)
    session.add(user)
    return user


def set_role(session: Session, name: str, role: str) -> User:
    user = get_user(session, name)
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"Role must be one of: {', '.join(r.value for r in Role)}", "role")
    user.role = role
    session.add(user)
    return user


def users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.name))).all())


# ---- API tokens -----------------------------------------------------------------------------
def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, owner: str, name: str) -> tuple[ApiToken, str]:
    """A new token; the plain text is returned once and never stored."""
    if not isinstance(name, str):
        raise InvalidInput("A token's name must be text", "name")
    name = plain_text(name, "name").strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("A token needs a name of 1–100 characters (what it is for)", "name")
    user = get_user(session, owner)
    if user.disabled:
        raise Unauthorized("The account is disabled")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        owner=user.name, name=name, token_hash=_digest(plain), prefix=plain[: len(TOKEN_PREFIX) + 6]
    )
    session.add(token)
    session.flush()
    return token, plain


def active_tokens(session: Session, owner: str) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.owner == owner, col(ApiToken.revoked_at).is_(None))
    return list(session.exec(query.order_by(col(ApiToken.id))).all())


def revoke_token(session: Session, owner: str, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id) if isinstance(token_id, int) else None
    if token is None or token.owner != owner or token.revoked_at is not None:
        raise NotFound(f"No active token #{token_id}")
    token.revoked_at = utcnow()
    session.add(token)
    return token


def user_for_token(session: Session, plain: str) -> User:
    """The enabled user an active token belongs to; Unauthorized otherwise."""
    if not isinstance(plain, str) or not plain.startswith(TOKEN_PREFIX) or len(plain) > 200:
        raise Unauthorized("Invalid API token")
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == _digest(plain))).first()
    if token is None or token.revoked_at is not None:
        raise Unauthorized("Invalid or revoked API token")
    user = session.get(User, token.owner)
    if user is None or user.disabled:
        raise Unauthorized("The token's account is disabled")
    token.last_used_at = utcnow()
    session.add(token)
    return user
