"""The Film tab's timeline: a strip of the shots (thumbnails sized by their time on screen,
transitions between them, the team's comments as pins, a playhead that follows the player),
the selected shot's trim and transition, reordering (drag a shot, or the arrows), versions
(assembled cuts: compare, go back) and the handoff to an editing suite (OTIO / FCPXML / EDL).

Everything goes through the Studio API (`timeline`, `edit_timeline`, `cuts`, `restore_cut`,
`export_cut`, `import_cut`); the strip's clicks and drags reach Python as its events."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from studio.api import Studio
from studio.core.team import CommentPublic
from studio.core.timeline import TimelineClip, TimelinePublic
from studio.ui.common import (
    Refresh,
    event_data,
    for_request,
    guarded,
    project_id_or_none,
    require_project,
)

# The strip fills about this many pixels, at 24 to 160 pixels per second of film.
STRIP_PIXELS = 1100
TRANSITIONS = [("Cut", "cut"), ("Dissolve", "dissolve"), ("Fade through black", "fade")]

# Clicking a shot selects it and plays the film from there; dragging one onto another moves
# it there (a "submit" with the new order); the playhead follows the film player.
_STRIP_JS = """
const player = () => document.querySelector('#film-video video');
element.addEventListener('click', (event) => {
  const clip = event.target.closest('[data-shot]');
  const pin = event.target.closest('[data-at]');
  const at = pin ? Number(pin.dataset.at) : clip ? Number(clip.dataset.start) : null;
  if (at !== null && player()) { player().currentTime = at; }
  if (clip) { trigger('select', {shot: Number(clip.dataset.shot)}); }
});
element.addEventListener('dragstart', (event) => {
  const clip = event.target.closest('[data-shot]');
  if (clip) { event.dataTransfer.setData('text/plain', clip.dataset.shot); }
});
element.addEventListener('dragover', (event) => event.preventDefault());
element.addEventListener('drop', (event) => {
  event.preventDefault();
  const target = event.target.closest('[data-shot]');
  const moved = event.dataTransfer.getData('text/plain');
  if (!target || !moved || target.dataset.shot === moved) { return; }
  const order = [...element.querySelectorAll('[data-shot]')].map((c) => c.dataset.shot)
    .filter((id) => id !== moved);
  order.splice(order.indexOf(target.dataset.shot), 0, moved);
  trigger('submit', {order: order.map(Number)});
});
setInterval(() => {
  const head = element.querySelector('.tl-playhead');
  const strip = element.querySelector('.tl-track');
  if (head && strip && player()) {
    head.style.left = (player().currentTime * Number(strip.dataset.pps)) + 'px';
  }
}, 200);
"""

_STRIP_CSS = """
.tl-track { position: relative; display: flex; align-items: stretch; overflow-x: auto;
  min-height: 92px; padding: 18px 0 4px; gap: 0; }
.tl-clip, .tl-title { position: relative; flex: none; height: 64px; box-sizing: border-box;
  border: 2px solid #555; border-radius: 4px; background: #222 center/cover no-repeat;
  color: #fff; font-size: 11px; overflow: hidden; cursor: grab; }
.tl-title { background: #000; cursor: default; }
.tl-clip.selected { outline: 3px solid #f59e0b; }
.tl-clip.approved { border-color: #16a34a; }
.tl-clip.rejected { border-color: #dc2626; }
.tl-label { position: absolute; left: 0; right: 0; bottom: 0; padding: 1px 3px;
  background: rgba(0,0,0,.6); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.tl-join { position: absolute; right: -9px; top: 22px; z-index: 2; width: 18px; height: 18px;
  border-radius: 9px; background: #f59e0b; color: #000; font-size: 10px; text-align: center;
  line-height: 18px; }
.tl-pin { position: absolute; top: 0; z-index: 3; width: 10px; height: 14px; margin-left: -5px;
  background: #3b82f6; border-radius: 5px 5px 0 5px; cursor: pointer; }
.tl-playhead { position: absolute; top: 12px; bottom: 0; width: 2px; background: #ef4444;
  z-index: 4; pointer-events: none; }
.tl-total { font-size: 12px; opacity: .8; }
.tl-lane { position: relative; height: 18px; margin-top: 3px; overflow: hidden; }
.tl-sound { position: absolute; top: 0; height: 16px; border-radius: 3px; font-size: 10px;
  line-height: 16px; padding: 0 3px; white-space: nowrap; overflow: hidden; cursor: pointer;
  color: #fff; box-sizing: border-box; }
.tl-sound.dialogue { background: #7c3aed; }
.tl-sound.effects { background: #0d9488; }
"""


def strip_html(
    view: Studio,
    timeline: TimelinePublic,
    comments: list[CommentPublic],
    selected: int | None = None,
) -> str:
    """The timeline strip: each shot as wide as its time on screen, its preview frame as the
    thumbnail, a badge where it dissolves or fades, pins where someone commented."""
    if not timeline.clips:
        return "<p>No shots yet: break down a script on the Script tab.</p>"
    pps = max(24.0, min(160.0, STRIP_PIXELS / max(timeline.seconds, 0.1)))
    parts = [f'<div class="tl-track" data-pps="{pps:.3f}">', '<div class="tl-playhead"></div>']
    if timeline.title_seconds:
        width = int(timeline.title_seconds * pps)
        parts.append(
            f'<div class="tl-title" style="width:{width}px" title="Title card">'
            f'<span class="tl-label">{html.escape(timeline.title)}</span></div>'
        )
    for clip in timeline.clips:
        parts.append(_clip_html(view, clip, pps, selected))
    starts = {c.take_id: c.start - c.trim_in for c in timeline.clips if c.take_id}
    for comment in comments:
        if comment.seconds is None:
            continue
        at = comment.seconds + (starts.get(comment.job_id, 0.0) if comment.job_id else 0.0)
        tip = html.escape(f"{comment.author}: {comment.text}", quote=True)
        parts.append(
            f'<div class="tl-pin" data-at="{at:.3f}" style="left:{at * pps:.0f}px" '
            f'title="{tip}"></div>'
        )
    parts.append("</div>")
    parts.append(_lanes(timeline, pps))
    missing = (
        f" · no take yet: shot {', '.join(map(str, timeline.missing))}" if timeline.missing else ""
    )
    parts.append(
        f'<div class="tl-total">Film length {timeline.seconds:.2f} s · '
        f"{len(timeline.clips)} shots{missing} · click a shot to select it and play from "
        "there; drag a shot onto another to move it</div>"
    )
    return "".join(parts)


def _lanes(timeline: TimelinePublic, pps: float) -> str:
    """The audio tracks under the pictures: each spoken line and shot sound where it plays."""
    rows = []
    for track, label in (("dialogue", "Dialogue"), ("effects", "Effects")):
        items = [s for s in timeline.sounds if s.track == track]
        if not items:
            continue
        bars = "".join(
            f'<div class="tl-sound {track}" data-at="{s.start:.3f}" '
            f'style="left:{s.start * pps:.0f}px;width:{max(4.0, (s.end - s.start) * pps):.0f}px" '
            f'title="{html.escape(s.text or label, quote=True)}">{html.escape(s.text)}</div>'
            for s in items
        )
        rows.append(f'<div class="tl-lane" title="{label}">{bars}</div>')
    return "".join(rows)


def _clip_html(view: Studio, clip: TimelineClip, pps: float, selected: int | None) -> str:
    width = max(24, int((clip.end - clip.start) * pps))
    style = f"width:{width}px"
    thumbnail = _thumbnail(view, clip)
    if thumbnail:
        style += f";background-image:url('{thumbnail}')"
    if clip.transition == "dissolve":  # drawn overlapping the next shot, as in the film
        style += f";margin-right:-{int(clip.transition_seconds * pps)}px"
    classes = ["tl-clip", clip.verdict]
    if clip.shot_id == selected:
        classes.append("selected")
    trim = f" · in {clip.trim_in:g} s" if clip.trim_in else ""
    if clip.trim_out is not None:
        trim += f" · out {clip.trim_out:g} s"
    label = html.escape(f"#{clip.number} {clip.end - clip.start:.1f} s{trim}")
    tip = html.escape(f"Shot {clip.number}: {clip.prompt}", quote=True)
    join = {"dissolve": "◇", "fade": "■"}.get(clip.transition)
    badge = (
        f'<span class="tl-join" title="{clip.transition} {clip.transition_seconds:g} s">'
        f"{join}</span>"
        if join
        else ""
    )
    return (
        f'<div class="{" ".join(c for c in classes if c)}" draggable="true" '
        f'data-shot="{clip.shot_id}" data-start="{clip.start:.3f}" style="{style}" '
        f'title="{tip}"><span class="tl-label">{label}</span>{badge}</div>'
    )


def _thumbnail(view: Studio, clip: TimelineClip) -> str | None:
    """A short-lived link to the shot's preview frame, if it has one."""
    if clip.preview_job_id is None:
        return None
    job = view.job(clip.preview_job_id)
    if job.artifact_id is None:
        return None
    return view.signed_link(job.artifact_id, f"shot-{clip.number}.png")


def clip_fields(timeline: TimelinePublic | None, shot_id: Any) -> list[Any]:
    """The trim and transition boxes for the selected shot."""
    clip = next((c for c in timeline.clips if c.shot_id == shot_id), None) if timeline else None
    if clip is None:
        return [None, None, None, "cut", 0.5]
    return [
        clip.shot_id,
        clip.trim_in,
        clip.trim_out if clip.trim_out is not None else clip.take_seconds,
        clip.transition,
        clip.transition_seconds or 0.5,
    ]


def clip_choices(timeline: TimelinePublic | None) -> list[tuple[str, int]]:
    if timeline is None:
        return []
    return [(f"Shot {c.number}: {c.prompt[:50]}", c.shot_id) for c in timeline.clips]


def cut_choices(view: Studio, project_id: int | None) -> list[tuple[str, int]]:
    if project_id is None:
        return []
    return [
        (
            f"Film #{c.job_id} · {c.created_at:%Y-%m-%d %H:%M} · {c.seconds:.1f} s · {c.status}",
            c.job_id,
        )
        for c in view.cuts(project_id)
    ]


class Panel:
    """The timeline's components, made inside the Film tab."""

    def __init__(self) -> None:
        gr.Markdown("### Timeline")
        self.strip = gr.HTML(
            "", elem_id="timeline-strip", js_on_load=_STRIP_JS, css_template=_STRIP_CSS
        )
        with gr.Row(equal_height=True):
            self.shot = gr.Dropdown(label="Shot", choices=[], elem_id="timeline-shot", scale=2)
            self.trim_in = gr.Number(
                label="In (s into its take)", minimum=0, elem_id="trim-in", scale=1
            )
            self.trim_out = gr.Number(
                label="Out (s into its take)", minimum=0, elem_id="trim-out", scale=1
            )
            self.transition = gr.Dropdown(
                TRANSITIONS, value="cut", label="Transition at its end", elem_id="transition"
            )
            self.seconds = gr.Number(
                value=0.5, minimum=0, maximum=10, label="Transition (s)", elem_id="transition-s"
            )
        with gr.Row():
            self.apply = gr.Button("Apply to this shot", variant="primary", elem_id="trim-apply")
            self.untrim = gr.Button("Whole take", elem_id="trim-reset")
            self.earlier = gr.Button("◀ Earlier", elem_id="move-earlier")
            self.later = gr.Button("Later ▶", elem_id="move-later")
        self.status = gr.Markdown("", elem_id="timeline-status")
        with gr.Accordion("Versions and handoff to an editor", open=False):
            with gr.Row():
                self.cuts = gr.Dropdown(label="Assembled cuts", choices=[], elem_id="cuts")
                self.restore = gr.Button("Go back to this cut", elem_id="restore-cut")
                self.export = gr.Button(
                    "Export for an editor (OTIO, FCPXML, EDL)", elem_id="export-cut"
                )
            with gr.Row():
                self.compare = gr.Video(
                    label="This cut (compare with the film above)",
                    interactive=False,
                    elem_id="compare-video",
                    height=240,
                )
                self.exported = gr.File(label="Cut + media (zip)", elem_id="exported-cut")
                self.upload = gr.File(
                    label="Import an edited cut (.otio, .fcpxml, .edl)",
                    file_types=[".otio", ".fcpxml", ".edl"],
                    type="filepath",
                    elem_id="import-cut",
                )

    @property
    def outputs(self) -> list[Any]:
        return [self.strip, self.shot, self.trim_in, self.trim_out, self.transition,
                self.seconds, self.cuts, self.status]  # fmt: skip

    def refresh(
        self, view: Studio, project_id: Any, shot_id: Any = None, note: str = ""
    ) -> list[Any]:
        pid = project_id_or_none(project_id)
        timeline = view.timeline(pid) if pid is not None else None
        comments = view.comments(pid) if pid is not None else []
        ids = [c.shot_id for c in timeline.clips] if timeline else []
        selected = shot_id if shot_id in ids else (ids[0] if ids else None)
        _id, trim_in, trim_out, kind, seconds = clip_fields(timeline, selected)
        strip = strip_html(view, timeline, comments, selected) if timeline else ""
        return [
            strip,
            gr.Dropdown(choices=clip_choices(timeline), value=selected),
            trim_in,
            trim_out,
            kind,
            seconds,
            gr.Dropdown(choices=cut_choices(view, pid)),
            note,
        ]


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    panel = Panel()

    def refresh(view: Studio, project_id: Any) -> list[Any]:
        return panel.refresh(view, project_id)

    @guarded
    def on_pick(project_id: Any, shot_id: Any, request: gr.Request) -> list[Any]:
        return panel.refresh(for_request(studio, request), project_id, shot_id)

    @guarded
    def on_strip_select(project_id: Any, evt: gr.EventData, request: gr.Request) -> list[Any]:
        shot = event_data(evt).get("shot")
        return panel.refresh(for_request(studio, request), project_id, shot)

    @guarded
    def on_apply(
        project_id: Any, shot_id: Any, trim_in: Any, trim_out: Any, kind: str, seconds: Any,
        request: gr.Request,
    ) -> list[Any]:  # fmt: skip
        view = for_request(studio, request)
        pid = require_project(project_id)
        if shot_id in (None, ""):
            raise gr.Error("Choose a shot on the timeline first.", print_exception=False)
        edit = {
            "shot_id": int(shot_id),
            "trim_in": float(trim_in or 0),
            "trim_out": "end" if trim_out in (None, "") else float(trim_out),
            "transition": kind or "cut",
            "transition_seconds": float(seconds or 0),
        }
        timeline = view.edit_timeline(pid, [edit])
        return panel.refresh(
            view, pid, shot_id, f"Shot changed: the film is now {timeline.seconds:.2f} s."
        )

    @guarded
    def on_untrim(project_id: Any, shot_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if shot_id in (None, ""):
            raise gr.Error("Choose a shot on the timeline first.", print_exception=False)
        view.edit_timeline(pid, [{"shot_id": int(shot_id), "trim_in": 0.0, "trim_out": "end"}])
        return panel.refresh(view, pid, shot_id, "The shot shows its whole take again.")

    def move(view: Studio, project_id: Any, shot_id: Any, step: int) -> list[Any]:
        pid = require_project(project_id)
        order = [c.shot_id for c in view.timeline(pid).clips]
        if shot_id not in order:
            raise gr.Error("Choose a shot on the timeline first.", print_exception=False)
        index = order.index(shot_id)
        order.insert(min(max(index + step, 0), len(order) - 1), order.pop(index))
        view.edit_timeline(pid, order=order)
        return panel.refresh(view, pid, shot_id, "")

    @guarded
    def on_earlier(project_id: Any, shot_id: Any, request: gr.Request) -> list[Any]:
        return move(for_request(studio, request), project_id, shot_id, -1)

    @guarded
    def on_later(project_id: Any, shot_id: Any, request: gr.Request) -> list[Any]:
        return move(for_request(studio, request), project_id, shot_id, 1)

    @guarded
    def on_drop(project_id: Any, shot_id: Any, evt: gr.EventData, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        order = event_data(evt).get("order") or []
        view.edit_timeline(pid, order=[int(i) for i in order])
        return panel.refresh(view, pid, shot_id, "Shots reordered.")

    @guarded
    def on_restore(project_id: Any, cut: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if cut in (None, ""):
            raise gr.Error("Choose an assembled cut first.", print_exception=False)
        timeline = view.restore_cut(pid, int(cut))
        note = f"Back to film #{cut}'s cut. " + " ".join(timeline.notes)
        return panel.refresh(view, pid, None, note)

    @guarded
    def on_compare(project_id: Any, cut: Any, request: gr.Request) -> Any:
        view = for_request(studio, request)
        if cut in (None, ""):
            return None
        job = view.job(int(cut))
        if job.artifact_id is None:
            return None
        return str(view.export(job.artifact_id, f"{view.project(job.project_id).name}-cut-{cut}"))

    @guarded
    def on_export(project_id: Any, cut: Any, request: gr.Request) -> Any:
        view = for_request(studio, request)
        pid = require_project(project_id)
        artifact = view.export_cut(pid, int(cut) if cut not in (None, "") else None)
        return str(view.export(artifact.id, f"{view.project(pid).name}-cut"))

    @guarded
    def on_import(project_id: Any, path: str | None, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if not path:
            return panel.refresh(view, pid)
        timeline = view.import_cut(pid, path)
        notes = " ".join(timeline.notes)
        return panel.refresh(view, pid, None, f"Edited cut imported. {notes}".strip())

    fields = [panel.trim_in, panel.trim_out, panel.transition, panel.seconds]
    outputs = panel.outputs
    panel.shot.input(on_pick, [project, panel.shot], outputs)
    panel.strip.select(on_strip_select, [project], outputs)
    panel.strip.submit(on_drop, [project, panel.shot], outputs)
    panel.apply.click(on_apply, [project, panel.shot, *fields], outputs)
    panel.untrim.click(on_untrim, [project, panel.shot], outputs)
    panel.earlier.click(on_earlier, [project, panel.shot], outputs)
    panel.later.click(on_later, [project, panel.shot], outputs)
    panel.cuts.input(on_compare, [project, panel.cuts], panel.compare)
    panel.restore.click(on_restore, [project, panel.cuts], outputs)
    panel.export.click(on_export, [project, panel.cuts], panel.exported)
    panel.upload.upload(on_import, [project, panel.upload], outputs)

    @guarded
    def on_open(project_id: Any, shot_id: Any, request: gr.Request) -> list[Any]:
        return panel.refresh(for_request(studio, request), project_id, shot_id)[:-1]

    tab = Refresh(refresh, outputs)
    # When the Film tab is opened: the timeline as other tabs and members left it, on the
    # selected shot; the status line keeps an action's answer.
    tab.looks = (on_open, [panel.shot], outputs[:-1])
    return tab
