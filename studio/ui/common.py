"""Helpers shared by the UI tabs: error translation, labels, waiting with a progress bar."""

from __future__ import annotations

import functools
import html
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import gradio as gr

from studio.api import Studio
from studio.core.config import ConfigError
from studio.core.errors import StudioError
from studio.core.models import JobPublic, JobStatus, ProjectPublic, ShotPublic

F = TypeVar("F", bound=Callable[..., Any])
NO_PROJECT = "Create or choose a project first."


def guarded(fn: F) -> F:
    """Show a creator's mistakes as a short message (gr.Error), never as a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise  # already a message for the creator (gr.Error is a ValueError: not twice)
        except (StudioError, ConfigError, ValueError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return wrapper  # type: ignore[return-value]


def event_data(evt: gr.EventData | None) -> dict[str, Any]:
    """What a page's own HTML sent with an event (`trigger(name, {...})` in a gr.HTML's
    js_on_load): the queue rows, storyboard cards, timeline strip, review takes."""
    data = getattr(evt, "_data", None)
    return dict(data) if isinstance(data, dict) else {}


def for_request(studio: Studio, request: gr.Request | None) -> Studio:
    """The studio acting as the logged-in user of this event (the local user with auth off).
    Every handler goes through this: what a creator sees and changes is checked against them."""
    if not studio.settings.resolved_auth:
        return studio
    name = getattr(request, "username", None)
    if not name:
        raise gr.Error("Log in first (your session may have ended).", print_exception=False)
    try:
        return studio.as_user(name)
    except StudioError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def require_project(project_id: Any) -> int:
    if project_id in (None, ""):
        raise gr.Error(NO_PROJECT, print_exception=False)
    return int(project_id)


def project_choices(view: Studio) -> list[tuple[str, int]]:
    """The acting user's projects (an admin sees everyone's, marked with their owner)."""
    return [
        (f"#{p.id} {p.name}" + (f" ({p.owner})" if p.owner != view.user else ""), p.id)
        for p in view.projects()
    ]


def credits_text(amount: float) -> str:
    return f"{amount:,.2f} credits"


def account_bar(view: Studio) -> str:
    """The top bar's line (HTML): who is signed in, their balance and a "Log out" link;
    nothing in a local studio without credits."""
    parts = []
    if view.settings.resolved_auth:
        role = " (admin)" if view.is_admin else ""
        parts.append(f"Signed in as <b>{html.escape(view.user)}</b>{role}")
    elif view.settings.resolved_credits:
        parts.append("Local studio")
    if view.settings.resolved_credits:
        parts.append(f"Balance: <b>{credits_text(view.balance())}</b>")
    if view.settings.resolved_auth:
        # A form, not a link: logging out is a POST (a link from any page must not end it).
        parts.append(
            "<form method='post' action='/logout' style='display:inline;margin:0'>"
            "<button type='submit' id='log-out' style='background:none;border:0;padding:0;"
            "color:var(--link-text-color,#5a4fcf);text-decoration:underline;cursor:pointer;"
            "font:inherit'>Log out</button></form>"
        )
    if not parts:
        return ""
    return f"<div style='text-align:right;padding:0.4em 0'>{' · '.join(parts)}</div>"


def estimate_text(
    view: Studio,
    project_id: Any,
    kind: str,
    selected: Sequence[int] | None = None,
    *,
    all_label: str = "all shots",
    selected_label: str = "selected",
) -> str:
    """ "Estimated cost: …" for rendering a project's shots (and the selected ones), shown
    next to the buttons that submit renders; empty when credits are off."""
    if not view.settings.resolved_credits or project_id in (None, ""):
        return ""
    pid = int(project_id)
    try:
        total = view.estimate(pid, None, kind)
        parts = [f"**{credits_text(total)}** ({all_label})"]
        if selected:
            chosen = view.estimate(pid, list(selected), kind)
            parts.append(f"**{credits_text(chosen)}** ({selected_label})")
        balance = view.balance()
    except StudioError as exc:
        return f"Estimated cost: — {exc}"
    note = f" — more than your balance ({credits_text(balance)})" if total > balance else ""
    return "Estimated cost: " + " · ".join(parts) + note


def shot_label(number: int, shot: ShotPublic) -> str:
    prompt = shot.prompt if len(shot.prompt) <= 60 else shot.prompt[:57] + "…"
    return f"Shot {number}: {prompt}"


def shot_choices(view: Studio, project_id: int | None) -> list[tuple[str, int]]:
    if project_id is None:
        return []
    return [(shot_label(i, s), s.id) for i, s in enumerate(view.shots(project_id), 1)]


def wait_with_progress(
    view: Studio, jobs: Sequence[JobPublic], progress: Any, what: str
) -> list[JobPublic]:
    """Poll until the jobs finish, driving the Gradio progress bar."""
    ids = [j.id for j in jobs]
    while True:
        if not view.queue.running:
            raise gr.Error(
                "The render worker has stopped; restart the studio.", print_exception=False
            )
        current = [view.job(i) for i in ids]
        finished = [j for j in current if JobStatus(j.status).finished]
        done = sum(1.0 if JobStatus(j.status).finished else j.progress for j in current)
        progress(done / max(len(ids), 1), desc=f"{what}: {len(finished)}/{len(ids)} done")
        if len(finished) == len(ids):
            return current
        time.sleep(0.3)


def summary(jobs: Sequence[JobPublic], what: str) -> str:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    cached = sum(1 for j in jobs if j.cache_hit)
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    note = f" — {cached} served from the render cache" if cached else ""
    failed = [j for j in jobs if j.status == JobStatus.failed.value]
    error = f"\n\n**Error (job #{failed[0].id}):** {failed[0].error}" if failed else ""
    return f"{what}: {', '.join(parts)}{note}{error}"


def project_or_none(view: Studio, project_id: Any) -> ProjectPublic | None:
    if project_id in (None, ""):
        return None
    return view.project(int(project_id))


def project_id_or_none(project_id: Any) -> int | None:
    return None if project_id in (None, "") else int(project_id)


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


class Refresh:
    """What the project bar calls on a tab when the project changes — `refresh(view,
    project_id)`, `view` being the studio acting as the requesting user — and the tab's
    events: those that change shots (other tabs refresh after them), those that submit
    renders or move credits (the balance refreshes after them) and its polling timers."""

    def __init__(
        self,
        refresh: Callable[[Studio, Any], list[Any]],
        outputs: list[Any],
        shot_changes: Sequence[Any] = (),
        *,
        submits: Sequence[Any] = (),
        polls: Sequence[gr.Timer] = (),
    ):
        self.refresh, self.outputs, self.shot_changes = refresh, outputs, list(shot_changes)
        self.submits, self.polls = list(submits), list(polls)
        self.shots: Refresh | None = None
        # (handler, inputs after the project, outputs) refreshing what may be stale when
        # the tab is opened, without touching its editable fields.
        self.looks: tuple[Callable[..., list[Any]], list[Any], list[Any]] | None = None

    def handler(self, studio: Studio) -> Callable[..., list[Any]]:
        """An event handler refreshing this tab for the requesting user."""

        @guarded
        def refresh_for_request(project_id: Any, request: gr.Request) -> list[Any]:
            return self.refresh(for_request(studio, request), project_id)

        return refresh_for_request
