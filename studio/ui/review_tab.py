"""Review tab, for small teams: every take of a shot side by side, each with Approve, Reject
and Use this take on it; comments pinned to a time in a take or in the film; and the
project's sharing (who is a viewer, who an editor, who may render with the owner's credits).

The takes' buttons and "Comment here" (the playing take's time) reach Python as events of
the takes' HTML; everything goes through the Studio API (`review_take`, `choose_take`,
`comment`, `share_project`, ...), so a viewer gets the same refusals here as anywhere."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from studio.api import Studio
from studio.core.models import JobPublic
from studio.core.team import CommentPublic
from studio.ui.activation import ACTIVATE_JS
from studio.ui.common import (
    Refresh,
    event_data,
    for_request,
    guarded,
    project_id_or_none,
    require_project,
    shot_choices,
    when,
)

CUT = 0  # the comment target meaning "the film's cut", not one take

# A take's buttons act on release, even over the same button drawn again (activation.py).
_TAKES_JS = (
    ACTIVATE_JS
    + """
activate('button[data-action]', (b) => `${b.dataset.action} ${b.dataset.take}`, (button) => {
  const take = Number(button.dataset.take);
  if (button.dataset.action === 'here') {
    const video = element.querySelector(`video[data-take="${take}"]`);
    trigger('select', {take: take, at: video ? video.currentTime : 0});
  } else {
    trigger('click', {take: take, action: button.dataset.action});
  }
});
"""
)

_TAKES_CSS = """
.rv-grid { display: flex; flex-wrap: wrap; gap: 12px; }
.rv-take { flex: 1 1 260px; max-width: 420px; margin: 0; padding: 6px; border-radius: 6px;
  border: 2px solid #555; }
.rv-take.approved { border-color: #16a34a; }
.rv-take.rejected { border-color: #dc2626; }
.rv-take video { width: 100%; height: auto; border-radius: 4px; background: #000; }
.rv-take figcaption { font-size: 12px; margin: 4px 0; }
.rv-take button { margin: 2px 4px 2px 0; padding: 2px 8px; border-radius: 4px;
  border: 1px solid #888; cursor: pointer; }
"""


def takes_html(
    view: Studio, takes: list[JobPublic], chosen: int | None, verdicts: dict[int, Any]
) -> str:
    if not takes:
        return "<p>No takes of this shot yet: render it on the Render queue tab.</p>"
    cards = []
    for take in takes:
        verdict = verdicts.get(take.id)
        state = f" · {verdict.verdict} by {verdict.reviewer}" if verdict else ""
        state += " · <b>in the film</b>" if take.id == chosen else ""
        request = take.params.get("request", {})
        seed = request.get("seed", "")
        link = view.signed_link(take.artifact_id, f"take-{take.id}.mp4") if take.artifact_id else ""
        # Its size up front: a take drawn again keeps its place while the video loads, so
        # the buttons under the pointer stay where they were.
        width, height = int(request.get("width") or 16), int(request.get("height") or 9)
        size = f'width="{width}" height="{height}"'
        cards.append(
            f'<figure class="rv-take {verdict.verdict if verdict else ""}" id="take-{take.id}">'
            f'<video controls preload="metadata" data-take="{take.id}" {size} src="{link}"></video>'
            f"<figcaption>Take #{take.id} · seed {html.escape(str(seed))} · "
            f"{when(take.finished_at)}{state}</figcaption>"
            f'<button data-action="approved" data-take="{take.id}">Approve</button>'
            f'<button data-action="rejected" data-take="{take.id}">Reject</button>'
            f'<button data-action="use" data-take="{take.id}">Use this take</button>'
            f'<button data-action="here" data-take="{take.id}">Comment here</button>'
            "</figure>"
        )
    return f'<div class="rv-grid">{"".join(cards)}</div>'


def comments_markdown(comments: list[CommentPublic]) -> str:
    if not comments:
        return "_No comments yet._"
    lines = []
    for c in comments:
        where = f"take #{c.job_id}" if c.job_id else "the cut"
        at = f" at {c.seconds:.2f} s" if c.seconds is not None else ""
        text = c.text.replace("\n", " ")
        lines.append(f"- **{c.author}** on {where}{at}: {text} _(#{c.id}, {when(c.created_at)})_")
    return "\n".join(lines)


def members_markdown(view: Studio, project_id: int | None) -> str:
    if project_id is None:
        return ""
    project = view.project(project_id)
    rows = [f"- **{project.owner}**: owner (pays for renders)"]
    for m in view.members(project_id):
        render = ", may render" if m.can_render else ""
        rows.append(f"- **{m.user}**: {m.role}{render}")
    return "\n".join(rows)


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    shot = gr.Dropdown(label="Shot", choices=[], elem_id="review-shot")
    takes = gr.HTML("", elem_id="review-takes", js_on_load=_TAKES_JS, css_template=_TAKES_CSS)
    status = gr.Markdown("", elem_id="review-status")
    with gr.Row(equal_height=True):
        target = gr.Dropdown(
            label="Comment on", choices=[("The film's cut", CUT)], value=CUT, elem_id="review-on"
        )
        at = gr.Number(label="At (s)", minimum=0, elem_id="review-at")
        text = gr.Textbox(label="Comment", scale=3, elem_id="review-text")
        send = gr.Button("Comment", variant="primary", elem_id="review-send")
    comments = gr.Markdown("", elem_id="review-comments")
    with gr.Accordion("Share this project", open=False):
        with gr.Row(equal_height=True):
            user = gr.Textbox(label="User name", elem_id="share-user")
            role = gr.Radio(
                [("Viewer: sees, reviews, comments", "viewer"), ("Editor: also edits", "editor")],
                value="viewer",
                label="Role",
                elem_id="share-role",
            )
            may_render = gr.Checkbox(
                label="May render with my credits (editors)", elem_id="share-render"
            )
        with gr.Row():
            share = gr.Button("Share", elem_id="share")
            unshare = gr.Button("Remove access", elem_id="unshare")
        members = gr.Markdown("", elem_id="members")

    def show(view: Studio, project_id: Any, shot_id: Any, note: str = "") -> list[Any]:
        pid = project_id_or_none(project_id)
        choices = shot_choices(view, pid)
        ids = [value for _label, value in choices]
        selected = shot_id if shot_id in ids else (ids[0] if ids else None)
        listed = view.takes(selected) if selected is not None else []
        chosen = view.shot(selected).chosen_take_id if selected is not None else None
        chosen = chosen or (listed[0].id if listed else None)
        verdicts = {r.job_id: r for r in view.reviews(pid)} if pid is not None else {}
        targets = [("The film's cut", CUT), *[(f"Take #{t.id}", t.id) for t in listed]]
        return [
            gr.Dropdown(choices=choices, value=selected),
            takes_html(view, listed, chosen, verdicts),
            gr.Dropdown(choices=targets, value=CUT),
            comments_markdown(view.comments(pid)) if pid is not None else "",
            members_markdown(view, pid),
            note,
        ]

    outputs = [shot, takes, target, comments, members, status]

    def refresh(view: Studio, project_id: Any) -> list[Any]:
        return show(view, project_id, None)

    @guarded
    def on_shot(project_id: Any, shot_id: Any, request: gr.Request) -> list[Any]:
        return show(for_request(studio, request), project_id, shot_id)

    @guarded
    def on_take_action(
        project_id: Any, shot_id: Any, evt: gr.EventData, request: gr.Request
    ) -> list[Any]:
        view = for_request(studio, request)
        data = event_data(evt)
        take, action = int(data["take"]), str(data["action"])
        if action == "use":
            view.choose_take(int(shot_id), take)
            note = f"Take #{take} is now the one the film uses."
        else:
            view.review_take(take, action)
            note = f"Take #{take} {action}."
        return show(view, project_id, shot_id, note)

    @guarded
    def on_here(evt: gr.EventData, request: gr.Request) -> list[Any]:
        for_request(studio, request)  # signed in, like every handler
        data = event_data(evt)
        return [gr.Dropdown(value=int(data["take"])), round(float(data.get("at", 0)), 2)]

    @guarded
    def on_comment(
        project_id: Any, shot_id: Any, on: Any, seconds: Any, words: str, request: gr.Request
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        job = int(on) if on not in (None, "", CUT) else None
        view.comment(pid, words, job_id=job, seconds=None if seconds in (None, "") else seconds)
        return [*show(view, pid, shot_id, "Comment added."), ""]

    @guarded
    def on_share(
        project_id: Any, name: str, kind: str, render: bool, request: gr.Request
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        member = view.share_project(pid, (name or "").strip(), kind, bool(render))
        return [members_markdown(view, pid), f"Shared with {member.user} as {member.role}."]

    @guarded
    def on_unshare(project_id: Any, name: str, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        view.unshare_project(pid, (name or "").strip())
        return [members_markdown(view, pid), f"{name} no longer has access."]

    shot.input(on_shot, [project, shot], outputs)
    takes.click(on_take_action, [project, shot], outputs)
    takes.select(on_here, None, [target, at])
    send.click(on_comment, [project, shot, target, at, text], [*outputs, text])
    share.click(on_share, [project, user, role, may_render], [members, status])
    unshare.click(on_unshare, [project, user], [members, status])

    @guarded
    def on_open(project_id: Any, shot_id: Any, request: gr.Request) -> list[Any]:
        return show(for_request(studio, request), project_id, shot_id)[:-1]

    tab = Refresh(refresh, outputs)
    # Opening the tab shows the takes and verdicts as they are now, on the shot shown (its
    # status line is left alone: an action's answer may already be there).
    tab.looks = (on_open, [shot], outputs[:-1])
    return tab
