"""The caller's API tokens: list, create (the token is shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter

from studio.web.rest.common import Id, StudioDep
from studio.web.rest.schemas import TokenCreated, TokenIn, TokenList, TokenOut

router = APIRouter(tags=["tokens"])


@router.get("/tokens", response_model=TokenList)
def tokens(studio: StudioDep) -> TokenList:
    """The caller's active tokens, oldest first (never the tokens themselves)."""
    return TokenList(items=[TokenOut.model_validate(t) for t in studio.tokens()])


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(studio: StudioDep, payload: TokenIn) -> TokenCreated:
    """A new token for the caller; `token` is in this answer only, so keep it."""
    record, plain = studio.create_token(payload.name)
    return TokenCreated(**TokenOut.model_validate(record).model_dump(), token=plain)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(studio: StudioDep, token_id: Id) -> TokenOut:
    """Revoke one of the caller's tokens: it stops working at once."""
    return TokenOut.model_validate(studio.revoke_token(token_id))
