"""Script & shots tab: project style, the script, "Break down", and a shot editor."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import gradio as gr

from pipelines.requests import CAMERA_MOVES, SHOT_SIZES
from studio.api import Studio
from studio.core.models import ASPECT_RATIOS, JobKind, JobStatus
from studio.film.breakdown import decode_script
from studio.ui.common import (
    Refresh,
    for_request,
    guarded,
    project_id_or_none,
    project_or_none,
    require_project,
    shot_choices,
)

HEIGHTS = [240, 360, 480, 576, 720, 1080]
# The shots table's columns and their widths (px): together they fill the table on a desktop
# screen (1400 px wide: a 1216 px page), the prompt and dialogue wrapped, not cut; on a
# narrower screen the table scrolls sideways inside its box (studio/ui/layout.py).
TABLE_COLUMNS = [
    ("#", 40),
    ("Scene", 130),
    ("Prompt", 300),
    ("Dialogue", 150),
    ("Duration (s)", 96),
    ("Size", 84),
    ("Camera", 86),
    ("Cast", 100),
    ("Seed", 110),
    ("Renders", 96),
]
TABLE_HEADERS = [name for name, _width in TABLE_COLUMNS]


def shot_rows(view: Studio, project_id: int | None) -> list[list[Any]]:
    if project_id is None:
        return []
    renders = render_states(view, project_id)
    return [
        [
            i,
            s.scene,
            s.prompt,
            s.dialogue,
            round(s.duration, 2),
            s.shot_size,
            s.camera_move,
            ", ".join(s.characters),
            s.seed,
            renders.get(s.id, "—"),
        ]
        for i, s in enumerate(view.shots(project_id), 1)
    ]


def render_states(view: Studio, project_id: int) -> dict[int, str]:
    """Per shot, what has been rendered: "preview, 2 takes", "rendering" (one query)."""
    live = (JobStatus.queued.value, JobStatus.running.value)
    jobs = view.jobs(
        project_id,
        statuses=(*live, JobStatus.succeeded.value),
        kinds=(JobKind.preview.value, JobKind.clip.value),
        limit=10_000,
    )
    previews: set[int] = set()
    rendering: set[int] = set()
    takes: Counter[int] = Counter()
    for job in jobs:
        if job.shot_id is None:
            continue
        if job.status in live:
            rendering.add(job.shot_id)
        elif job.kind == JobKind.preview.value:
            previews.add(job.shot_id)
        else:
            takes[job.shot_id] += 1
    states: dict[int, str] = {}
    for shot_id in previews | set(takes) | rendering:
        parts = ["preview"] if shot_id in previews else []
        if takes[shot_id]:
            parts.append(f"{takes[shot_id]} take" + ("s" if takes[shot_id] > 1 else ""))
        if shot_id in rendering:
            parts.append("rendering")
        states[shot_id] = ", ".join(parts)
    return states


def pipeline_choices(studio: Studio) -> dict[str, list[str]]:
    """Catalogue names per use, read anew each time: Lab presets appear without a restart."""
    from studio.core.lab import HIDDEN_PREFIX

    visible = [e for e in studio.catalogue if not e.name.startswith(HIDDEN_PREFIX)]
    return {
        "text-to-image": [e.name for e in visible if e.supports("text-to-image")],
        "image-to-video": [
            e.name for e in visible if e.supports("image-to-video") or e.supports("text-to-video")
        ],
    }


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    pipelines_for = pipeline_choices(studio)
    with gr.Accordion("Project style and format", open=False):
        with gr.Row():
            style = gr.Textbox(
                label="Style prompt (appended to every shot)",
                lines=2,
                placeholder="35mm film, moody lighting",
                elem_id="style-prompt",
            )
            negative = gr.Textbox(label="Global negative prompt", lines=2)
        with gr.Row():
            aspect = gr.Dropdown(list(ASPECT_RATIOS), value="16:9", label="Aspect ratio")
            height = gr.Dropdown(HEIGHTS, value=360, label="Height (px)")
            # No precision: 23.976 reaches the studio (which says it needs a whole number)
            # instead of being rounded to 24 without a word.
            fps = gr.Number(value=24, label="Frames per second", minimum=1, step=1, elem_id="fps")
            preview_pipe = gr.Dropdown(
                pipelines_for["text-to-image"],
                value=studio.settings.default_pipeline,
                label="Preview pipeline",
            )
            clip_pipe = gr.Dropdown(
                pipelines_for["image-to-video"],
                value=studio.settings.default_pipeline,
                label="Clip pipeline",
            )
        chain = gr.Checkbox(
            label="Chain clips: start each clip from the last frame of the "
            "previous shot's take (image-to-video pipelines)",
            value=False,
        )
        chain_scene = gr.Checkbox(
            label="…only within a scene: a scene's first shot starts from its own preview",
            value=False,
            elem_id="chain-within-scene",
        )
        scene_style = gr.Checkbox(
            label="A scene's shots take its first shot's preview as a style reference "
            "(reference pipelines)",
            value=False,
            elem_id="scene-style-reference",
        )
        save_style = gr.Button("Save project settings")
    with gr.Row():
        with gr.Column(scale=3):
            script = gr.Textbox(
                label="Script",
                lines=14,
                max_lines=30,
                elem_id="script-text",
                placeholder="INT. KITCHEN - NIGHT\n\nAnna stands by the window...",
            )
        with gr.Column(scale=2):
            upload = gr.File(
                label="…or upload a script (.txt, .fountain)",
                file_types=[".txt", ".fountain", ".md"],
                type="filepath",
                height=160,
            )
            with gr.Row():
                breakdown = gr.Button("Break down", variant="primary", elem_id="break-down")
                expand = gr.Button(
                    "Expand prompts",
                    visible=bool(studio.settings.prompt_writer),
                    elem_id="expand-prompts",
                )
            status = gr.Markdown("", elem_id="script-status")
    # The whole page's width: every column in view on a desktop, scrolling sideways inside
    # its box on a narrower screen.
    table = gr.Dataframe(
        headers=TABLE_HEADERS,
        value=[],
        interactive=False,
        wrap=True,
        type="array",
        label="Shots",
        elem_id="shot-table",
        column_widths=[width for _name, width in TABLE_COLUMNS],
    )
    with gr.Accordion("Edit a shot", open=True):
        with gr.Row():
            shot = gr.Dropdown(label="Shot", choices=[], elem_id="shot-select", scale=3)
            position = gr.Number(label="Position (1 = first)", precision=0, minimum=1, scale=1)
        prompt = gr.Textbox(label="Prompt", lines=2, elem_id="shot-prompt")
        shot_negative = gr.Textbox(label="Negative prompt")
        with gr.Row():
            duration = gr.Number(label="Duration (s)", elem_id="shot-duration")
            size = gr.Dropdown(list(SHOT_SIZES), label="Shot size")
            move = gr.Dropdown(list(CAMERA_MOVES), label="Camera move")
            seed = gr.Number(label="Seed", precision=0, minimum=0)
        with gr.Row():
            # Blank = the project's pipeline; a shot can use another one (or a Lab preset).
            shot_preview_pipe = gr.Dropdown(
                ["", *pipelines_for["text-to-image"]],
                value="",
                label="Preview pipeline (blank: project's)",
            )
            shot_clip_pipe = gr.Dropdown(
                ["", *pipelines_for["image-to-video"]],
                value="",
                label="Clip pipeline (blank: project's)",
            )
        characters = gr.Dropdown(
            [],
            value=[],
            multiselect=True,
            allow_custom_value=True,
            label="Cast in this shot (a new name joins the Cast tab)",
            elem_id="shot-cast",
        )
        with gr.Row():
            save_shot = gr.Button("Save shot", variant="primary", elem_id="save-shot")
            add_shot = gr.Button("Add shot after this one")
            duplicate_shot = gr.Button("Duplicate shot", elem_id="duplicate-shot")
            delete_shot = gr.Button("Delete shot", variant="stop")

    editor = [
        shot,
        position,
        prompt,
        shot_negative,
        duration,
        size,
        move,
        seed,
        shot_preview_pipe,
        shot_clip_pipe,
        characters,
    ]

    def editor_values(view: Studio, project_id: int | None, shot_id: Any = None) -> list[Any]:
        choices = shot_choices(view, project_id)
        ids = [value for _label, value in choices]
        if shot_id not in ids:
            shot_id = ids[0] if ids else None
        if shot_id is None:
            return [
                gr.Dropdown(choices=choices, value=None),
                None,
                "",
                "",
                None,
                None,
                None,
                None,
                "",
                "",
                gr.Dropdown(choices=[], value=[], multiselect=True),
            ]
        s = view.shot(shot_id)
        names = [m.name for m in view.cast(s.project_id)]
        live = pipeline_choices(view)
        return [
            gr.Dropdown(choices=choices, value=shot_id),
            ids.index(shot_id) + 1,
            s.prompt,
            s.negative_prompt,
            s.duration,
            s.shot_size,
            s.camera_move,
            s.seed,
            gr.Dropdown(choices=["", *live["text-to-image"]], value=s.preview_pipeline or ""),
            gr.Dropdown(choices=["", *live["image-to-video"]], value=s.clip_pipeline or ""),
            gr.Dropdown(
                choices=list(dict.fromkeys([*names, *s.characters])),
                value=s.characters,
                multiselect=True,
            ),
        ]

    def refresh(view: Studio, project_id: Any) -> list[Any]:
        p = project_or_none(view, project_id)
        if p is None:
            default = view.settings.default_pipeline
            return [
                "",
                "",
                "16:9",
                360,
                24,
                default,
                default,
                False,
                False,
                False,
                "",
                "",
                [],
                *editor_values(view, None),
            ]
        choices = pipeline_choices(view)
        return [
            p.style_prompt,
            p.negative_prompt,
            p.aspect_ratio,
            p.height,
            p.fps,
            gr.Dropdown(choices=choices["text-to-image"], value=p.preview_pipeline),
            gr.Dropdown(choices=choices["image-to-video"], value=p.clip_pipeline),
            p.chain_clips,
            p.chain_within_scene,
            p.scene_style_reference,
            p.script,
            "",
            shot_rows(view, p.id),
            *editor_values(view, p.id),
        ]

    outputs = [
        style,
        negative,
        aspect,
        height,
        fps,
        preview_pipe,
        clip_pipe,
        chain,
        chain_scene,
        scene_style,
        script,
        status,
        table,
        *editor,
    ]

    @guarded
    def on_save_style(request: gr.Request, project_id: Any, *values: Any) -> str:
        view = for_request(studio, request)
        pid = require_project(project_id)
        keys = [
            "style_prompt",
            "negative_prompt",
            "aspect_ratio",
            "height",
            "fps",
            "preview_pipeline",
            "clip_pipeline",
            "chain_clips",
            "chain_within_scene",
            "scene_style_reference",
        ]
        view.update_project(pid, **dict(zip(keys, values, strict=True)))
        return "Project settings saved."

    @guarded
    def on_upload(path: str | None, request: gr.Request) -> str:
        for_request(studio, request)  # only a signed-in user's upload is read
        if not path:
            return gr.skip()
        return decode_script(Path(path).read_bytes())

    @guarded
    def on_breakdown(project_id: Any, text: str, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        shots = view.breakdown(pid, text)
        seconds = sum(s.duration for s in shots)
        note = (
            f"**{len(shots)} shots**, {seconds:.1f} s in all. Preview them in the Storyboard tab."
        )
        return [note, shot_rows(view, pid), *editor_values(view, pid)]

    @guarded
    def on_expand(
        project_id: Any, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        progress(0.1, desc="Writing prompts")
        shots = view.expand_prompts(pid)
        return [
            f"Expanded {len(shots)} prompts with {view.settings.prompt_writer}.",
            shot_rows(view, pid),
            *editor_values(view, pid),
        ]

    @guarded
    def on_select(project_id: Any, shot_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        return editor_values(view, require_project(project_id), shot_id)[1:]

    @guarded
    def on_save_shot(
        request: gr.Request, project_id: Any, shot_id: Any, pos: Any, *values: Any
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if shot_id is None:
            raise gr.Error("Choose a shot to edit.", print_exception=False)
        keys = [
            "prompt",
            "negative_prompt",
            "duration",
            "shot_size",
            "camera_move",
            "seed",
            "preview_pipeline",
            "clip_pipeline",
            "characters",
        ]
        changes = dict(zip(keys, values, strict=True))
        changes["characters"] = list(changes["characters"] or [])
        if pos not in (None, ""):
            changes["position"] = int(pos) - 1
        view.update_shot(shot_id, **changes)
        return ["Shot saved.", shot_rows(view, pid), *editor_values(view, pid, shot_id)]

    @guarded
    def on_add(project_id: Any, shot_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        ids = [s.id for s in view.shots(pid)]
        after = ids.index(shot_id) + 1 if shot_id in ids else len(ids)
        new = view.add_shot(
            pid, "New shot: describe what the camera sees", position=after, duration=3.0
        )
        return ["Shot added.", shot_rows(view, pid), *editor_values(view, pid, new.id)]

    @guarded
    def on_duplicate(project_id: Any, shot_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if shot_id is None:
            raise gr.Error("Choose a shot to duplicate.", print_exception=False)
        copy = view.duplicate_shot(shot_id)
        return [
            f"Shot duplicated: the copy is shot {copy.position + 1}, without renders yet.",
            shot_rows(view, pid),
            *editor_values(view, pid, copy.id),
        ]

    @guarded
    def on_delete(project_id: Any, shot_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if shot_id is None:
            raise gr.Error("Choose a shot to delete.", print_exception=False)
        view.delete_shot(shot_id)
        return ["Shot deleted.", shot_rows(view, pid), *editor_values(view, pid)]

    changes = [
        save_style.click(
            on_save_style,
            [
                project,
                style,
                negative,
                aspect,
                height,
                fps,
                preview_pipe,
                clip_pipe,
                chain,
                chain_scene,
                scene_style,
            ],
            status,
        ),
        breakdown.click(on_breakdown, [project, script], [status, table, *editor]),
        expand.click(on_expand, project, [status, table, *editor]),
        save_shot.click(
            on_save_shot,
            [project, *editor],  # the handler takes the editor's fields in this order
            [status, table, *editor],
        ),
        add_shot.click(on_add, [project, shot], [status, table, *editor]),
        duplicate_shot.click(on_duplicate, [project, shot], [status, table, *editor]),
        delete_shot.click(on_delete, [project, shot], [status, table, *editor]),
    ]
    upload.change(on_upload, upload, script)
    shot.input(on_select, [project, shot], editor[1:])

    def refresh_shots(view: Studio, project_id: Any) -> list[Any]:
        pid = project_id_or_none(project_id)
        return [shot_rows(view, pid), *editor_values(view, pid)]

    @guarded
    def on_open(project_id: Any, request: gr.Request) -> list[list[Any]]:
        """The tab opened: the table shows what was rendered since (the editor is untouched).
        Its one output's value: the rows."""
        return shot_rows(for_request(studio, request), project_id_or_none(project_id))

    tab = Refresh(refresh, outputs, shot_changes=changes)
    tab.shots = Refresh(refresh_shots, [table, *editor])  # after edits made in other tabs
    tab.looks = (on_open, [], [table])
    return tab
