"""The SDK client's accounts and credits: who am I, tokens, balance and ledger, admin."""

from __future__ import annotations

from typing import Any

from credits.ledger import LedgerEntry
from studio.client.transport import ON_SERVER, PAGE, Transport, path_id, path_name
from studio.core.models import (
    ApiToken,
    User,
)


class RemoteAccounts(Transport):
    # ---- who am I -------------------------------------------------------------------------
    def me(self) -> User:
        data = self._get("/me")
        self._me = User.model_validate({"name": data["name"], "role": data["role"]})
        self._credits_enabled = bool(data["credits_enabled"])
        return self._me

    def _whoami(self) -> User:
        return self._me if self._me is not None else self.me()

    @property
    def user(self) -> str:
        """The acting user's name (the token's owner)."""
        return self._whoami().name

    @property
    def is_admin(self) -> bool:
        return self._whoami().is_admin

    @property
    def credits_enabled(self) -> bool:
        if self._credits_enabled is None:
            self.me()
        return bool(self._credits_enabled)

    def _own(self, name: str | None, what: str) -> None:
        if name is not None and name != self.user:
            raise NotImplementedError(
                f"Another user's {what} is not available over the REST API; {ON_SERVER}"
            )

    def balance(self, name: str | None = None) -> float:
        """Credits available (what queued and running jobs hold is already taken off)."""
        self._own(name, "balance")
        return float(self._get("/credits")["balance"])

    def ledger(self, name: str | None = None, limit: int = 100) -> list[LedgerEntry]:
        """The newest credit movements, newest first (at most 100 over the API)."""
        self._own(name, "ledger")
        items = self._get("/credits/ledger", limit=max(1, min(int(limit), PAGE)))["items"]
        owner = self.user
        return [_ledger_entry(e, owner) for e in items]

    # ---- API tokens -----------------------------------------------------------------------
    def create_token(self, name: str) -> tuple[ApiToken, str]:
        """A new API token for this user: (its record, the token — shown only now)."""
        data = self.request("POST", "/tokens", json={"name": name})
        return self._token(data), str(data["token"])

    def tokens(self) -> list[ApiToken]:
        return [self._token(t) for t in self._get("/tokens")["items"]]

    def revoke_token(self, token_id: int) -> ApiToken:
        return self._token(self.request("DELETE", f"/tokens/{path_id(token_id)}"))

    def _token(self, data: dict[str, Any]) -> ApiToken:
        """An ApiToken from its JSON (the hash is not published: empty here)."""
        fields = {k: data[k] for k in ("id", "name", "prefix", "created_at", "last_used_at")}
        return ApiToken.model_validate({**fields, "owner": self.user, "token_hash": ""})

    # ---- users and credits (admins) -------------------------------------------------------
    def users(self) -> list[User]:
        """Every account (admins only; `created_at` is not published here: now)."""
        return [
            User.model_validate({"name": u["user"], "role": u["role"], "disabled": u["disabled"]})
            for u in self.usage()
        ]

    def create_user(self, name: str, password: str, *, role: str = "creator") -> User:
        """A new account (admins only); it starts with the tier's sign-up credits."""
        body = {"name": name, "password": password, "role": role}
        return User.model_validate(self.request("POST", "/users", json=body))

    def disable_user(self, name: str, disabled: bool = True) -> User:
        """Disable (or enable) an account: its sessions end and its tokens are revoked."""
        action = "disable" if disabled else "enable"
        return User.model_validate(self.request("POST", f"/users/{path_name(name)}/{action}"))

    def grant_credits(self, name: str, amount: float, reason: str) -> LedgerEntry:
        """Add credits to a user (a negative amount takes unspent credits back). Admins only."""
        body = {"user": name, "amount": amount, "reason": reason}
        e = self.request("POST", "/credits/grants", json=body)
        return _ledger_entry(e, name)

    def usage(self) -> list[dict[str, Any]]:
        """Per user: balance, credits held by active jobs, spent, and jobs by status."""
        return [dict(row) for row in self._get("/users")["items"]]


def _ledger_entry(e: dict[str, Any], owner: str) -> LedgerEntry:
    """A LedgerEntry from its JSON (amounts in credits there, in cents here)."""
    return LedgerEntry.model_validate(
        {
            "id": e["id"],
            "owner": owner,
            "kind": e["kind"],
            "amount_cents": round(e["amount"] * 100),
            "balance_after_cents": round(e["balance_after"] * 100),
            "job_id": e["job_id"],
            "reason": e["reason"],
            "created_at": e["created_at"],
        }
    )
