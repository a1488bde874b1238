"""Helpers shared by the UI tabs: error translation, labels, waiting with a progress bar."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import gradio as gr

from studio.api import Studio
from studio.config import ConfigError
from studio.errors import StudioError
from studio.models import JobStatus, Project, RenderJob, Shot

F = TypeVar("F", bound=Callable[..., Any])
NO_PROJECT = "Create or choose a project first."


def guarded(fn: F) -> F:
    """Show a creator's mistakes as a short message (gr.Error), never as a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (StudioError, ConfigError, ValueError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return wrapper  # type: ignore[return-value]


def require_project(project_id: Any) -> int:
    if project_id in (None, ""):
        raise gr.Error(NO_PROJECT, print_exception=False)
    return int(project_id)


def project_choices(studio: Studio) -> list[tuple[str, int]]:
    return [(f"#{p.id} {p.name}", p.id) for p in studio.projects()]  # type: ignore[misc]


def shot_label(number: int, shot: Shot) -> str:
    prompt = shot.prompt if len(shot.prompt) <= 60 else shot.prompt[:57] + "…"
    return f"Shot {number}: {prompt}"


def shot_choices(studio: Studio, project_id: int | None) -> list[tuple[str, int]]:
    if project_id is None:
        return []
    return [(shot_label(i, s), s.id) for i, s in enumerate(studio.shots(project_id), 1)]  # type: ignore[misc]


def wait_with_progress(
    studio: Studio, jobs: Sequence[RenderJob], progress: Any, what: str
) -> list[RenderJob]:
    """Poll until the jobs finish, driving the Gradio progress bar."""
    ids = [j.id for j in jobs]
    while True:
        if not studio.queue.running:
            raise gr.Error(
                "The render worker has stopped; restart the studio.", print_exception=False
            )
        current = [studio.job(i) for i in ids]  # type: ignore[arg-type]
        finished = [j for j in current if JobStatus(j.status).finished]
        done = sum(1.0 if JobStatus(j.status).finished else j.progress for j in current)
        progress(done / max(len(ids), 1), desc=f"{what}: {len(finished)}/{len(ids)} done")
        if len(finished) == len(ids):
            return current
        time.sleep(0.3)


def summary(jobs: Sequence[RenderJob], what: str) -> str:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    cached = sum(1 for j in jobs if j.cache_hit)
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    note = f" — {cached} served from the render cache" if cached else ""
    failed = [j for j in jobs if j.status == JobStatus.failed.value]
    error = f"\n\n**Error (job #{failed[0].id}):** {failed[0].error}" if failed else ""
    return f"{what}: {', '.join(parts)}{note}{error}"


def project_or_none(studio: Studio, project_id: Any) -> Project | None:
    if project_id in (None, ""):
        return None
    return studio.project(int(project_id))


class Refresh:
    """What the project bar calls on a tab when the project changes, and the tab's events
    that change shots (other tabs refresh after them)."""

    def __init__(
        self, refresh: Callable[[Any], Any], outputs: list[Any], shot_changes: Sequence[Any] = ()
    ):
        self.refresh, self.outputs, self.shot_changes = refresh, outputs, list(shot_changes)
        self.shots: Refresh | None = None
