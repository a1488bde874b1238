"""A job's credit hold, taken when it is submitted: one by one, or for a batch at once.

A batch (`submit(..., flush=False)`, `RendersArea._submit_batch`) defers its jobs' holds
(`defer`) and takes them together before it commits (`reserve_submitted`): one conditional
UPDATE of each owner's balance and one INSERT of holds and entries, instead of ~5 statements
per job. A transaction holding deferred jobs refuses to commit (they would render for free).
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from credits import ledger
from studio.core.errors import PaymentRequired
from studio.core.models import RenderJob, ident

# Per open transaction: its batch's jobs whose holds are not taken yet.
_deferred: WeakKeyDictionary[SessionTransaction, list[RenderJob]] = WeakKeyDictionary()


def reserve(session: Session, job: RenderJob) -> None:
    """Hold `job`'s cost now (it has its id); PaymentRequired when the balance falls short."""
    try:
        ledger.reserve(session, job.owner, ledger.to_cents(job.cost), ident(job))
    except ledger.InsufficientCredits as exc:
        raise _refusal(exc) from None


def defer(session: Session, job: RenderJob) -> None:
    """Hold `job`'s cost with the rest of its batch, at `reserve_submitted`."""
    transaction = session.get_transaction()
    assert transaction is not None, "submit runs inside a transaction"
    _deferred.setdefault(transaction, []).append(job)


def reserve_submitted(session: Session) -> None:
    """The deferred holds of this transaction: the batch's rows in one flush, then each owner's
    holds at once (`ledger.reserve_many`); PaymentRequired when an owner's balance does not
    cover the sum (the caller's transaction rolls back: nothing changes)."""
    session.flush()
    transaction = session.get_transaction()
    jobs = _deferred.pop(transaction, []) if transaction is not None else []
    by_owner: dict[str, list[tuple[int, int]]] = {}
    for job in jobs:
        by_owner.setdefault(job.owner, []).append((ident(job), ledger.to_cents(job.cost)))
    for owner, costs in by_owner.items():
        try:
            ledger.reserve_many(session, owner, costs)
        except ledger.InsufficientCredits as exc:
            raise _refusal(exc) from None


def _refusal(exc: ledger.InsufficientCredits) -> PaymentRequired:
    return PaymentRequired(f"{exc}; ask an admin for more credits")


@event.listens_for(Session, "before_commit")
def _refuse_unpaid(session: Session) -> None:
    """A batch that never called `reserve_submitted` would render for free: no commit."""
    transaction = session.get_transaction()
    if transaction is not None and _deferred.get(transaction):
        raise RuntimeError("jobs submitted with billing but not reserved (reserve_submitted)")
