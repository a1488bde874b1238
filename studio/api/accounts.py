"""Accounts and credits: who is acting, users, API tokens, balance, ledger, grants, usage.

Creators manage their own tokens and read their own balance and ledger; admins manage
users and grant credits. Every method checks the acting user (`self.user`, `self.is_admin`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from credits import ledger as credit_ledger
from studio.api.base import StudioBase
from studio.core import accounts
from studio.core.errors import DatabaseUnavailable, Forbidden, InvalidInput, StudioError
from studio.core.models import RenderJob, Role, TokenPublic, User, UserPublic, public
from studio.core.validation import plain_text


class AccountsArea(StudioBase):
    def _require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("Only admins can do that")

    def _subject(self, name: str | None) -> str:
        """Whose account a call means: one's own; another user's only for admins."""
        if name is None or name == self.user:
            return self.user
        self._require_admin()
        return name

    # ---- who am I -------------------------------------------------------------------------
    def user_named(self, name: str) -> User | None:
        """The user row called `name` (enabled or not), for the web layer's session check.
        Admins only (the web layer asks as the studio's own admin)."""
        self._require_admin()
        with self._session() as session:
            return session.get(User, name) if isinstance(name, str) else None

    def user_for_token(self, token: str) -> User | None:
        """The enabled user an API token belongs to, or None (unknown, revoked, disabled).
        Admins only (the web layer asks as the studio's own admin)."""
        self._require_admin()
        try:
            with self._session() as session:
                return accounts.user_for_token(session, token)
        except DatabaseUnavailable:
            raise  # not "no such token": the caller may try again
        except StudioError:
            return None

    def me(self) -> UserPublic:
        with self._session() as session:
            return public(accounts.get_user(session, self.user))

    def authenticate(self, name: str, password: str, client: str = "") -> User:
        """Check a login, throttled per user name + client address and per client address
        (studio.core.throttle): a guesser waits, the owner from elsewhere does not."""
        self.throttle.check(name, client)  # while blocked: 429, and the password is not tried
        try:
            with self._session() as session:
                user = accounts.authenticate(session, name, password)
        except DatabaseUnavailable:
            raise  # no password was checked: not a failed attempt
        except Exception:
            self.throttle.failed(name, client)
            raise
        self.throttle.succeeded(name, client)
        return user

    # ---- users (admin) --------------------------------------------------------------------
    def users(self) -> list[UserPublic]:
        self._require_admin()
        with self._session() as session:
            return [public(u) for u in accounts.users(session)]

    def create_user(
        self, name: str, password: str, *, role: str = Role.creator.value
    ) -> UserPublic:
        """A new account (admins only); it starts with the tier's sign-up credits."""
        self._require_admin()
        with self._session(write=True) as session:
            user = accounts.create_user(
                session,
                name,
                password,
                role=role,
                min_password_length=self.settings.min_password_length,
            )
            if self.settings.signup_credits > 0:
                credit_ledger.grant(
                    session,
                    user.name,
                    credit_ledger.to_cents(self.settings.signup_credits),
                    reason="sign-up credits",
                    actor=self.user,
                )
            return public(user)

    def disable_user(self, name: str, disabled: bool = True) -> UserPublic:
        """Disable (or enable) an account: its sessions end and its tokens are revoked."""
        self._require_admin()
        if name == self.user and disabled:
            raise InvalidInput("Admins cannot disable themselves", "name")
        with self._session() as session:
            return public(accounts.set_disabled(session, name, disabled))

    def set_role(self, name: str, role: str) -> UserPublic:
        self._require_admin()
        with self._session() as session:
            return public(accounts.set_role(session, name, role))

    def reset_password(self, name: str, password: str) -> UserPublic:
        """Set a new password (one's own, or anyone's for admins); open sessions end."""
        subject = self._subject(name)
        with self._session() as session:
            user = accounts.set_password(
                session, subject, password, self.settings.min_password_length
            )
            return public(user)

    # ---- API tokens -----------------------------------------------------------------------
    def create_token(self, name: str) -> tuple[TokenPublic, str]:
        """A new API token for this user: (its record, the token — shown only now)."""
        with self._session() as session:
            token, secret = accounts.create_token(session, self.user, name)
            return public(token), secret

    def tokens(self) -> list[TokenPublic]:
        with self._session() as session:
            return [public(t) for t in accounts.active_tokens(session, self.user)]

    def revoke_token(self, token_id: int) -> TokenPublic:
        with self._session() as session:
            return public(accounts.revoke_token(session, self.user, token_id))

    # ---- credits --------------------------------------------------------------------------
    @property
    def credits_enabled(self) -> bool:
        return self.settings.resolved_credits

    def balance(self, name: str | None = None) -> float:
        """Credits available (not counting what running and queued jobs hold)."""
        subject = self._subject(name)
        with self._session() as session:
            return credit_ledger.balance(session, subject) / 100

    def ledger(self, name: str | None = None, limit: int = 100) -> list[credit_ledger.LedgerEntry]:
        """The newest credit movements, newest first."""
        subject = self._subject(name)
        limit = max(1, min(int(limit), 1000))
        with self._session() as session:
            return credit_ledger.entries(session, subject, limit)

    def grant_credits(self, name: str, amount: float, reason: str) -> credit_ledger.LedgerEntry:
        """Add credits to a user (a negative amount takes unspent credits back). Admins only."""
        self._require_admin()
        try:
            cents = credit_ledger.to_cents(float(amount))
        except (TypeError, ValueError, OverflowError):  # OverflowError: inf
            raise InvalidInput("The amount must be a number of credits", "amount") from None
        if not cents or abs(cents) > 10**11:
            raise InvalidInput("The amount must be non-zero and at most 1e9 credits", "amount")
        if isinstance(reason, str):  # the ledger keeps it: no NUL, escapes or surrogates
            plain_text(reason, "reason")
        with self._session(write=True) as session:
            accounts.get_user(session, name)
            try:
                return credit_ledger.grant(session, name, cents, reason=reason, actor=self.user)
            except credit_ledger.InsufficientCredits as exc:
                raise InvalidInput(
                    f"Cannot take back {credit_ledger.format_credits(-cents)}: the balance is "
                    f"{credit_ledger.format_credits(exc.balance_cents)}",
                    "amount",
                ) from None
            except ValueError as exc:
                raise InvalidInput(str(exc), "reason") from None

    def usage(self) -> list[dict[str, Any]]:
        """Per user: balance, credits held by active jobs, spent, and jobs by status."""
        self._require_admin()
        with self._session() as session:
            counts: dict[str, dict[str, int]] = {}
            rows = session.exec(
                select(RenderJob.owner, RenderJob.status, func.count()).group_by(
                    col(RenderJob.owner), col(RenderJob.status)
                )
            ).all()
            for owner, status, n in rows:
                counts.setdefault(owner, {})[status] = int(n)
            return [
                {
                    "user": user.name,
                    "role": user.role,
                    "disabled": user.disabled,
                    "balance": credit_ledger.balance(session, user.name) / 100,
                    "held": credit_ledger.held(session, user.name) / 100,
                    "spent": credit_ledger.spent(session, user.name) / 100,
                    "jobs": counts.get(user.name, {}),
                }
                for user in accounts.users(session)
            ]
