"""What the studio offers: the pipeline catalogue and the render workers."""

from __future__ import annotations

from fastapi import APIRouter

from studio.core.lab import HIDDEN_PREFIX
from studio.web.rest.common import StudioDep
from studio.web.rest.schemas import PipelineList, PipelineOut

router = APIRouter(tags=["catalogue"])


@router.get("/pipelines", response_model=PipelineList)
def pipelines(studio: StudioDep) -> PipelineList:
    """Pipelines a project or shot can name (catalogue entries and saved Lab presets)."""
    entries = [studio.catalogue.get(name) for name in studio.catalogue.names()]
    return PipelineList(
        items=[
            PipelineOut(
                name=e.name,
                tasks=list(e.tasks),
                description=e.description,
                cost_factor=e.cost_factor,
                supports_references=e.supports_references,
            )
            for e in entries
            if not e.name.startswith(HIDDEN_PREFIX)
        ]
    )
