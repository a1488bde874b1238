"""Uploading a cast member's reference picture: the one API route whose body is not JSON.

The picture is the raw request body (PNG, JPEG or WebP; up to `MAX_UPLOAD_BYTES`, which the
body-size limit allows on this path only). Everything else about the cast is routed from the
StudioAPI declarations (`studio.web.rest.derived`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from studio.core.models import CastMemberPublic
from studio.web.rest.common import MAX_UPLOAD_BYTES, Id, StudioDep

router = APIRouter(tags=["cast"])

_PICTURE = {"schema": {"type": "string", "format": "binary"}}


@router.put(
    "/cast/{member_id}/reference",
    response_model=CastMemberPublic,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": f"The picture's bytes (at most {MAX_UPLOAD_BYTES:,})",
            "content": {kind: _PICTURE for kind in ("image/png", "image/jpeg", "image/webp")},
        }
    },
)
async def set_cast_reference(
    studio: StudioDep, request: Request, member_id: Id
) -> CastMemberPublic:
    """Give a member a reference picture: the shots that name it are conditioned on it by
    pipelines that support references. It is kept as an RGB PNG of at most 1024 px a side;
    a body that is not a PNG, JPEG or WebP picture is a 422."""
    data = await request.body()
    return await run_in_threadpool(studio.set_cast_reference, member_id, data)
