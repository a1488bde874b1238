"""The SDK client's accounts and credits: who am I, tokens, balance and ledger, admin."""

from __future__ import annotations

from typing import Any

from credits.ledger import LedgerEntry
from studio.client.transport import ON_SERVER, PAGE, Transport, path_name
from studio.core.models import TokenPublic, UserPublic


class RemoteAccounts(Transport):
    # ---- who am I -------------------------------------------------------------------------
    def me(self) -> UserPublic:
        data = self._get("/me")
        self._me = UserPublic.model_validate(data)
        self._credits_enabled = bool(data["credits_enabled"])
        return self._me

    def _whoami(self) -> UserPublic:
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

    # ---- API tokens (listing and revoking are routed: see RemoteStudio) -------------------
    def create_token(self, name: str) -> tuple[TokenPublic, str]:
        """A new API token for this user: (its record, the token — shown only now)."""
        data = self.request("POST", "/tokens", json={"name": name})
        return TokenPublic.model_validate(data), str(data["token"])

    # ---- users and credits (admins) -------------------------------------------------------
    def users(self) -> list[UserPublic]:
        """Every account (admins only; from `usage()`, so `created_at` is not known: now)."""
        return [
            UserPublic.model_validate(
                {"name": u["user"], "role": u["role"], "disabled": u["disabled"]}
            )
            for u in self.usage()
        ]

    def disable_user(self, name: str, disabled: bool = True) -> UserPublic:
        """Disable (or enable) an account: its sessions end and its tokens are revoked."""
        action = "disable" if disabled else "enable"
        data = self.request("POST", f"/users/{path_name(name)}/{action}")
        return UserPublic.model_validate(data)

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
