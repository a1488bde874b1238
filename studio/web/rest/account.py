"""The caller's account: who am I, credit balance, ledger."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from studio.web.rest.common import MAX_PAGE, StudioDep
from studio.web.rest.schemas import BalanceOut, LedgerEntryOut, LedgerList, MeOut

router = APIRouter(tags=["account"])


@router.get("/me", response_model=MeOut)
def me(studio: StudioDep) -> MeOut:
    """The caller's account and credit balance."""
    return MeOut(
        **studio.me().model_dump(),
        credits_enabled=studio.credits_enabled,
        balance=studio.balance(),
    )


@router.get("/credits", response_model=BalanceOut)
def balance(studio: StudioDep) -> BalanceOut:
    return BalanceOut(credits_enabled=studio.credits_enabled, balance=studio.balance())


@router.get("/credits/ledger", response_model=LedgerList)
def ledger(studio: StudioDep, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50) -> LedgerList:
    """The newest credit movements (grant, reserve, settle, refund), newest first."""
    return LedgerList(
        items=[
            LedgerEntryOut(
                id=entry.id or 0,
                kind=entry.kind,
                amount=entry.amount_cents / 100,
                balance_after=entry.balance_after_cents / 100,
                job_id=entry.job_id,
                reason=entry.reason,
                created_at=entry.created_at,
            )
            for entry in studio.ledger(limit=limit)
        ]
    )
