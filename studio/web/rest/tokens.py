"""The caller's API tokens: list, create (the token is shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter

from studio.web.rest.common import StudioDep
from studio.web.rest.schemas import TokenCreated, TokenIn

router = APIRouter(tags=["tokens"])


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(studio: StudioDep, payload: TokenIn) -> TokenCreated:
    """A new token for the caller; `token` is in this answer only, so keep it."""
    record, plain = studio.create_token(payload.name)
    return TokenCreated(**record.model_dump(), token=plain)
