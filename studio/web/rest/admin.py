"""Administration (admins only, 403 for others): users, their usage, credit grants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from studio.core.models import UserPublic
from studio.web.rest.common import ADMIN, StudioDep
from studio.web.rest.schemas import (
    GrantIn,
    LedgerEntryOut,
    UsageList,
    UsageOut,
)

router = APIRouter(tags=["admin"], responses=ADMIN)

UserName = Annotated[str, Path(min_length=1, max_length=64, description="A user name")]


@router.get("/users", response_model=UsageList)
def users(studio: StudioDep) -> UsageList:
    """Every user with their balance, credits held by active jobs, spent, and jobs by
    status."""
    return UsageList(items=[UsageOut.model_validate(row) for row in studio.usage()])


@router.post("/users/{name}/disable", response_model=UserPublic)
def disable_user(studio: StudioDep, name: UserName) -> UserPublic:
    """Disable an account: its sessions end and its tokens are revoked."""
    return studio.disable_user(name)


@router.post("/users/{name}/enable", response_model=UserPublic)
def enable_user(studio: StudioDep, name: UserName) -> UserPublic:
    return studio.disable_user(name, disabled=False)


@router.post("/credits/grants", response_model=LedgerEntryOut, status_code=201)
def grant_credits(studio: StudioDep, payload: GrantIn) -> LedgerEntryOut:
    """Add credits to a user (a negative amount takes unspent credits back)."""
    entry = studio.grant_credits(payload.user, payload.amount, payload.reason)
    return LedgerEntryOut(
        id=entry.id or 0,
        kind=entry.kind,
        amount=entry.amount_cents / 100,
        balance_after=entry.balance_after_cents / 100,
        job_id=entry.job_id,
        reason=entry.reason,
        created_at=entry.created_at,
    )
