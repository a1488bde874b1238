"""The credits ledger: append-only entries, a balance per owner, and one hold per job.

Amounts are integer *cents* (1 credit = 100 cents) so sums are exact on every database.

    grant   +amount          an admin (or sign-up) adds credits
    reserve −cost            a job is submitted: the cost is held
    settle   0               the job succeeded: the hold becomes spending
    refund  +cost            the job failed or was cancelled: the hold comes back

Invariants: the balance never goes below zero (reserve is one conditional UPDATE, atomic on
SQLite and PostgreSQL alike), the balance equals the sum of the owner's entries (every change
writes both in the caller's transaction), and each hold moves reserved → settled or
reserved → refunded exactly once (conditional UPDATE on the hold), so a retried settle or
refund changes nothing. A refunded job that is retried is reserved again.

Functions take the caller's Session and never commit: a refused reserve raises and the
caller's whole transaction (the job row included) rolls back.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import BigInteger, Column, bindparam, exists, func, insert, update
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Field, Session, SQLModel, col, select


def _now() -> datetime:
    return datetime.now(UTC)


# Rows per multi-row INSERT of `reserve_many` (at most 8 values each: under SQLite's 32,766 and
# PostgreSQL's 65,535 parameters per statement).
INSERT_CHUNK = 500


class Movement(StrEnum):
    grant = "grant"
    reserve = "reserve"
    settle = "settle"
    refund = "refund"


class HoldState(StrEnum):
    reserved = "reserved"
    settled = "settled"
    refunded = "refunded"


class CreditAccount(SQLModel, table=True):
    owner: str = Field(primary_key=True, max_length=64)
    balance_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    updated_at: datetime = Field(default_factory=_now)


class CreditHold(SQLModel, table=True):
    """What one job holds: its cost, and whether that was spent or given back."""

    job_id: int = Field(primary_key=True)
    owner: str = Field(max_length=64, index=True)
    cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    state: str = Field(max_length=16)
    updated_at: datetime = Field(default_factory=_now)


class LedgerEntry(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=16)
    amount_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    balance_after_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    job_id: int | None = Field(default=None, index=True)
    reason: str = Field(default="", max_length=300)
    actor: str = Field(default="", max_length=64)  # who caused it (the admin of a grant)
    created_at: datetime = Field(default_factory=_now)


class InsufficientCredits(Exception):
    def __init__(self, owner: str, needed_cents: int, balance_cents: int):
        self.owner, self.needed_cents, self.balance_cents = owner, needed_cents, balance_cents
        super().__init__(
            f"Not enough credits: this costs {format_credits(needed_cents)}, "
            f"the balance is {format_credits(balance_cents)}"
        )


def to_cents(credits: float) -> int:
    return round(credits * 100)


def format_credits(cents: int) -> str:
    return f"{cents / 100:,.2f} credits"


def balance(session: Session, owner: str) -> int:
    account = session.get(CreditAccount, owner)
    return account.balance_cents if account else 0


def lock_account(session: Session, owner: str) -> None:
    """Lock the owner's account row, created at zero if new, until the transaction ends
    (PostgreSQL: FOR UPDATE; SQLite transactions that write are serialised anyway). Serialises
    one owner's submissions, so checks made after this (quotas) hold at commit."""
    transaction = session.get_transaction()
    held = _locked.get(transaction) if transaction is not None else None
    if held is not None and owner in held:  # already locked in this transaction (a batch)
        return
    query = select(CreditAccount).where(CreditAccount.owner == owner).with_for_update()
    account = session.exec(query).first()
    if account is None:
        # Two first submissions of a new owner may race to create the row: the loser's
        # insert does nothing (instead of failing on the primary key), then both lock it.
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = session.get_bind().dialect.name
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            upsert(CreditAccount)
            .values(owner=owner, balance_cents=0, updated_at=_now())
            .on_conflict_do_nothing()
        )
        session.exec(query).one()
    if transaction is not None:
        _locked.setdefault(transaction, set()).add(owner)


# The owners whose account each open transaction has locked: a batch of submissions locks
# it once (a lock lasts until the transaction ends; the entry goes with the transaction).
# The set is all it needs: it used to read the row again from the session, which held it
# only weakly, so each job of a batch queried it again.
_locked: WeakKeyDictionary[SessionTransaction, set[str]] = WeakKeyDictionary()


def _move(
    session: Session,
    owner: str,
    kind: Movement,
    cents: int,
    *,
    job_id: int | None = None,
    reason: str = "",
    actor: str = "",
    require_cover: bool = False,
) -> LedgerEntry:
    """Change the balance by `cents` and append the entry, in the caller's transaction."""
    after = _change_balance(session, owner, cents, require_cover=require_cover)
    entry = LedgerEntry(
        owner=owner,
        kind=kind.value,
        amount_cents=cents,
        balance_after_cents=after,
        job_id=job_id,
        reason=reason[:300],
        actor=actor[:64],
    )
    session.add(entry)
    session.flush()
    return entry


def _change_balance(session: Session, owner: str, cents: int, *, require_cover: bool) -> int:
    """Add `cents` to the owner's balance (its account locked first); returns the balance."""
    lock_account(session, owner)
    condition = [col(CreditAccount.owner) == owner]
    if require_cover:
        # The conditional UPDATE is the atomic check: never below zero, whoever races.
        condition.append(col(CreditAccount.balance_cents) + cents >= 0)
    changed = session.execute(
        update(CreditAccount)
        .where(*condition)
        .values(balance_cents=CreditAccount.balance_cents + cents, updated_at=_now())
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise InsufficientCredits(owner, -cents, balance_of(session, owner))
    return balance_of(session, owner)


def balance_of(session: Session, owner: str) -> int:
    """The balance as the database has it now (not a cached row)."""
    value = session.exec(
        select(CreditAccount.balance_cents).where(CreditAccount.owner == owner)
    ).first()
    return int(value or 0)


def grant(session: Session, owner: str, cents: int, *, reason: str, actor: str = "") -> LedgerEntry:
    """Add credits (or take unspent ones back with a negative amount, never below zero)."""
    if cents == 0:
        raise ValueError("A grant of zero credits changes nothing")
    if not reason.strip():
        raise ValueError("A grant needs a reason (it is kept in the ledger)")
    return _move(
        session, owner, Movement.grant, cents, reason=reason, actor=actor, require_cover=cents < 0
    )


def reserve(session: Session, owner: str, cents: int, job_id: int) -> LedgerEntry | None:
    """Hold a job's cost. Raises InsufficientCredits (nothing changed) when the balance does
    not cover it; None when the job already holds its cost (a repeated reserve)."""
    if cents < 0:
        raise ValueError("A cost cannot be negative")
    hold = session.get(CreditHold, job_id)
    if hold is None:
        session.add(CreditHold(job_id=job_id, owner=owner, cents=cents, state=HoldState.reserved))
        session.flush()
    else:
        taken = session.execute(
            update(CreditHold)
            .where(col(CreditHold.job_id) == job_id, col(CreditHold.state) == HoldState.refunded)
            .values(state=HoldState.reserved.value, cents=cents, owner=owner, updated_at=_now())
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
    return _move(session, owner, Movement.reserve, -cents, job_id=job_id, require_cover=True)


def reserve_many(session: Session, owner: str, costs: Sequence[tuple[int, int]]) -> None:
    """Hold the costs of a batch of new jobs ((job id, cents), none holding anything yet)
    at once: one conditional UPDATE for their sum, then their holds and entries inserted
    together, each entry with the balance after it, in order, as `reserve` one by one
    would have written them. Raises InsufficientCredits for the sum (nothing changed) when
    the balance does not cover it. A batch of 96 costs ~4 statements, not ~5 per job."""
    if any(cents < 0 for _job, cents in costs):
        raise ValueError("A cost cannot be negative")
    if not costs:
        return
    total = sum(cents for _job, cents in costs)
    after = _change_balance(session, owner, -total, require_cover=True)
    now, running = _now(), after + total
    holds, entries = [], []
    for job_id, cents in costs:
        running -= cents
        holds.append(
            {"job_id": job_id, "owner": owner, "cents": cents,
             "state": HoldState.reserved.value, "updated_at": now}
        )  # fmt: skip
        entries.append(
            {"owner": owner, "kind": Movement.reserve.value, "amount_cents": -cents,
             "balance_after_cents": running, "job_id": job_id, "reason": "", "actor": "",
             "created_at": now}
        )  # fmt: skip
    # Multi-row INSERTs as Core (the ORM inserts entries one by one on SQLite, to read
    # their ids back), in chunks that stay under every database's limit on parameters.
    for table, rows in ((CreditHold, holds), (LedgerEntry, entries)):
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(insert(table).values(rows[start : start + INSERT_CHUNK]))


def _release(session: Session, job_id: int, to: HoldState) -> LedgerEntry | None:
    # One conditional UPDATE, built once: it moves a reserved hold and hands back whose it
    # was, or touches nothing (no hold: credits were off at submit; or already released).
    # It runs in every finished job's transaction, so it costs one statement, not three.
    row = (
        session.connection()
        .execute(_release_statement(), {"hold_of": job_id, "to": to.value, "now": _now()})
        .first()
    )
    if row is None:
        return None
    loaded = session.identity_map.get(session.identity_key(CreditHold, job_id))
    if loaded is not None:  # read earlier in this transaction: it must not say "reserved"
        session.expire(loaded)
    owner, cents = row
    if to == HoldState.settled:
        return _move(session, owner, Movement.settle, 0, job_id=job_id, reason="spent")
    return _move(session, owner, Movement.refund, cents, job_id=job_id)


@functools.cache
def _release_statement() -> Any:
    return (
        update(CreditHold)
        .where(
            col(CreditHold.job_id) == bindparam("hold_of"),
            col(CreditHold.state) == HoldState.reserved.value,
        )
        .values(state=bindparam("to"), updated_at=bindparam("now"))
        .returning(col(CreditHold.owner), col(CreditHold.cents))
    )


def holds_reserved(job_id: Any) -> Any:
    """A boolean SQL expression: the job whose id is `job_id` (a column or a value) holds
    credits still reserved. For a statement the caller runs anyway (a job's success): a job
    holding nothing then costs no statement of the ledger's. Read in that statement's
    snapshot, it is never stale for an active job: a hold is only reserved in the
    transaction that makes its job queued (submit, retry), so a snapshot that sees the job
    queued or running sees its hold too; a hold released since makes `settle` a no-op."""
    return exists().where(
        col(CreditHold.job_id) == job_id, col(CreditHold.state) == HoldState.reserved.value
    )


def settle(session: Session, job_id: int) -> LedgerEntry | None:
    """The job succeeded: its hold is spent. A second call changes nothing."""
    return _release(session, job_id, HoldState.settled)


def refund(session: Session, job_id: int) -> LedgerEntry | None:
    """The job failed or was cancelled: its hold comes back. A second call changes nothing."""
    return _release(session, job_id, HoldState.refunded)


def entries(session: Session, owner: str, limit: int = 100) -> list[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.owner == owner)
    return list(session.exec(query.order_by(col(LedgerEntry.id).desc()).limit(limit)).all())


def ledger_sum(session: Session, owner: str) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.owner == owner
        )
    ).one()
    return int(total)


def held(session: Session, owner: str | None = None) -> int:
    """Cents currently reserved (by one owner, or by everyone)."""
    query = select(func.coalesce(func.sum(CreditHold.cents), 0)).where(
        CreditHold.state == HoldState.reserved.value
    )
    if owner is not None:
        query = query.where(CreditHold.owner == owner)
    return int(session.exec(query).one())


def spent(session: Session, owner: str | None = None) -> int:
    """Cents settled (by one owner, or by everyone)."""
    query = select(func.coalesce(func.sum(CreditHold.cents), 0)).where(
        CreditHold.state == HoldState.settled.value
    )
    if owner is not None:
        query = query.where(CreditHold.owner == owner)
    return int(session.exec(query).one())
