"""Cast: the characters, props and places of the project, each described once and said the
same way in the prompt of every shot that names it. Edit, add, merge and delete members;
give one a reference picture (uploaded, or a shot's frame); see a member's shots side by
side (the consistency report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from studio.api import Studio
from studio.core.models import CastKind, CastMemberPublic, ShotLook
from studio.ui.common import Refresh, for_request, guarded, project_or_none, require_project

TABLE_HEADERS = ["Name", "Kind", "Description", "Shots"]
KINDS = [k.value for k in CastKind]


def cast_rows(members: list[CastMemberPublic], numbers: dict[int, int]) -> list[list[Any]]:
    """A row per member; its shots by number (1 = first), as the Script tab shows them."""
    return [
        [
            m.name.title(),
            m.kind,
            m.description,
            ", ".join(str(numbers[i]) for i in m.shot_ids if i in numbers) or "—",
        ]
        for m in members
    ]


def file_size(size: int) -> str:
    """ "93 bytes", "12.3 kB", "143.2 MB"."""
    if size < 1000:
        return f"{size} bytes"
    return f"{size / 1e3:.1f} kB" if size < 1_000_000 else f"{size / 1e6:.1f} MB"


def look_caption(look: ShotLook) -> str:
    """ "Shot 3", with its similarity to the reference when it was scored."""
    if look.similarity is None:
        return f"Shot {look.number}"
    return f"Shot {look.number} · similarity {look.similarity:.2f}"


def build(studio: Studio, project: gr.Dropdown) -> Refresh:
    gr.Markdown(
        "The breakdown finds the cast: speakers, and names introduced in capitals with a "
        "description, like *MARA (40s, weathered coat)*. A member's description joins the "
        "prompt of every shot that names it, so it reads the same in each; changing it "
        "re-renders only those shots."
    )
    status = gr.Markdown("", elem_id="cast-status")
    table = gr.Dataframe(
        headers=TABLE_HEADERS,
        value=[],
        interactive=False,
        wrap=True,
        type="array",
        label="Cast",
        elem_id="cast-table",
    )
    with gr.Row():
        member = gr.Dropdown(label="Member", choices=[], elem_id="cast-select", scale=2)
        name = gr.Textbox(label="Name", elem_id="cast-name", scale=2)
        kind = gr.Dropdown(KINDS, value="character", label="Kind", scale=1)
        seed = gr.Number(label="Seed", precision=0, minimum=0, scale=1)
    description = gr.Textbox(
        label="Description (appearance, said the same way in every shot)",
        placeholder="40s, weathered coat, grey braid",
        elem_id="cast-description",
    )
    with gr.Row():
        reference = gr.Image(
            label="Reference picture (PNG, JPEG or WebP): upload one",
            type="filepath",
            sources=["upload"],
            height=220,
            elem_id="cast-reference",
            scale=2,
        )
        with gr.Column(scale=3):
            strength = gr.Slider(
                0,
                1,
                value=0.6,
                step=0.05,
                label="Reference strength (0: off; saved with the member)",
                elem_id="cast-strength",
            )
            from_frame = gr.Dropdown(
                label="…or take it from a shot's preview frame or a character sheet",
                choices=[],
                elem_id="cast-from-frame",
                interactive=True,
            )
            with gr.Row():
                use_frame = gr.Button("Use this frame", elem_id="use-frame")
                sheet = gr.Button("Render a character sheet", elem_id="render-sheet")
                clear = gr.Button("Remove picture", elem_id="clear-reference")
            gr.Markdown(
                "Pipelines that support references (the draft, IP-Adapter entries) condition "
                "every shot of the member on its picture; its shots render again."
            )
    with gr.Row():
        lora_file = gr.File(
            label="Its own LoRA (.safetensors trained on the character): upload one",
            file_types=[".safetensors"],
            type="filepath",
            elem_id="cast-lora",
            scale=2,
        )
        with gr.Column(scale=3):
            lora_state = gr.Markdown("No LoRA.", elem_id="cast-lora-state")
            lora_strength = gr.Slider(
                0,
                2,
                value=0.8,
                step=0.05,
                label="LoRA strength (0: off; saved with the member)",
                elem_id="cast-lora-strength",
            )
            clear_lora = gr.Button("Remove LoRA", elem_id="clear-lora")
    with gr.Row():
        save = gr.Button("Save member", variant="primary", elem_id="save-cast")
        add = gr.Button("Add as new member", elem_id="add-cast")
        delete = gr.Button("Delete member", variant="stop", elem_id="delete-cast")
    with gr.Row():
        into = gr.Dropdown(
            label="Same person as…", choices=[], elem_id="merge-into", scale=3, interactive=True
        )
        merge = gr.Button("Merge into it", elem_id="merge-cast", scale=1)
    gr.Markdown(
        "**Scenes**: a look every shot of a scene shares (palette, light, weather). Location "
        "and time of day come from the heading and are in each shot's prompt already."
    )
    with gr.Row():
        scene_pick = gr.Dropdown(label="Scene", choices=[], elem_id="scene-select", scale=2)
        look = gr.Textbox(
            label="Look",
            placeholder="teal and amber palette, low fog",
            elem_id="scene-look",
            scale=3,
        )
        save_look = gr.Button("Save look", elem_id="save-look", scale=1)
    gr.Markdown("**Consistency**: the member's shots side by side, to spot where it drifts.")
    looks = gr.Gallery(
        label="Preview frames of the member's shots",
        columns=4,
        height="auto",
        format="png",
        object_fit="contain",
        elem_id="cast-looks",
    )
    missing = gr.Markdown("", elem_id="cast-missing")

    editor = [member, name, kind, seed, description, into, looks, missing]
    editor += [reference, strength, from_frame, lora_state, lora_strength]

    def frame_choices(
        view: Studio, project_id: int, chosen: CastMemberPublic
    ) -> list[tuple[str, int]]:
        """What a reference can be taken from: shots' preview frames, the member's sheets."""
        frames = [
            (f"Shot {number}", shot.preview_job_id)
            for number, shot in enumerate(view.shots(project_id), 1)
            if shot.preview_job_id is not None
        ]
        finished = view.jobs(project_id, statuses=["succeeded"], kinds=["preview"], limit=200)
        return frames + [
            (f"Character sheet (job #{job.id})", job.id)
            for job in finished
            if job.shot_id is None
            and job.params.get("request", {}).get("extra", {}).get("sheet") == chosen.name.title()
        ]

    def reference_values(view: Studio, project_id: int, chosen: CastMemberPublic) -> list[Any]:
        path = (
            str(view.artifact_path(chosen.reference_artifact_id))
            if chosen.reference_artifact_id is not None
            else None
        )
        frames = frame_choices(view, project_id, chosen)
        lora = (
            view.artifact(chosen.lora_artifact_id) if chosen.lora_artifact_id is not None else None
        )
        lora_text = (
            f"LoRA: {lora.provenance.get('file') or 'uploaded'} ({file_size(lora.bytes)}, "
            f"sha256 {lora.sha256[:12]}…). Pipelines that support LoRAs (diffusers image "
            "entries) apply it to its shots; the draft does not."
            if lora is not None
            else "No LoRA."
        )
        return [
            path,
            chosen.reference_scale,
            gr.Dropdown(choices=frames, value=None),
            lora_text,
            chosen.lora_scale,
        ]

    def consistency_values(view: Studio, project_id: int, member_id: int) -> list[Any]:
        report = next((c for c in view.consistency(project_id) if c.member_id == member_id), None)
        if report is None or not report.shots:
            return [[], "In no shot yet: name it in a shot's *Cast in this shot*."]
        frames = [
            (str(view.artifact_path(look.preview_artifact_id)), look_caption(look))
            for look in report.shots
            if look.preview_artifact_id is not None
        ]
        without = [str(look.number) for look in report.shots if look.preview_artifact_id is None]
        notes = []
        if without:
            notes.append(f"No preview yet: shot {', '.join(without)} (Storyboard → Preview all).")
        if report.scored_with:
            notes.append(
                f"Scored against the reference picture with {report.scored_with}: the least "
                "alike come first."
            )
        if report.score_error:
            notes.append(f"Not scored: {report.score_error}")
        return [frames, " ".join(notes)]

    def editor_values(view: Studio, project_id: int | None, member_id: Any = None) -> list[Any]:
        members = view.cast(project_id) if project_id is not None else []
        choices = [(m.name.title(), m.id) for m in members]
        chosen = next((m for m in members if m.id == member_id), members[0] if members else None)
        if chosen is None or project_id is None:
            empty = gr.Dropdown(choices=[], value=None)
            return [
                empty,
                "",
                "character",
                None,
                "",
                gr.Dropdown(choices=[], value=None),
                [],
                "",
                None,
                0.6,
                gr.Dropdown(choices=[], value=None),
                "No LoRA.",
                0.8,
            ]
        others = [c for c in choices if c[1] != chosen.id]
        return [
            gr.Dropdown(choices=choices, value=chosen.id),
            chosen.name.title(),
            chosen.kind,
            chosen.seed,
            chosen.description,
            gr.Dropdown(choices=others, value=None),
            *consistency_values(view, project_id, chosen.id),
            *reference_values(view, project_id, chosen),
        ]

    def table_values(view: Studio, project_id: int) -> list[list[Any]]:
        numbers = {s.id: n for n, s in enumerate(view.shots(project_id), 1)}
        return cast_rows(view.cast(project_id), numbers)

    def scene_values(view: Studio, project_id: int | None, scene_id: Any = None) -> list[Any]:
        found = view.scenes(project_id) if project_id is not None else []
        numbers = (
            {s.id: n for n, s in enumerate(view.shots(project_id), 1)}
            if project_id is not None
            else {}
        )
        choices = [
            (
                f"{scene.heading} (shots {', '.join(str(numbers[i]) for i in scene.shot_ids)})"
                if scene.shot_ids
                else scene.heading,
                scene.id,
            )
            for scene in found
        ]
        chosen = next((s for s in found if s.id == scene_id), found[0] if found else None)
        if chosen is None:
            return [gr.Dropdown(choices=[], value=None), ""]
        return [gr.Dropdown(choices=choices, value=chosen.id), chosen.look]

    def refresh(view: Studio, project_id: Any) -> list[Any]:
        p = project_or_none(view, project_id)
        if p is None:
            return ["", [], *editor_values(view, None), *scene_values(view, None)]
        return ["", table_values(view, p.id), *editor_values(view, p.id), *scene_values(view, p.id)]

    def after(
        view: Studio, pid: int, message: str, member_id: Any = None, scene_id: Any = None
    ) -> list[Any]:
        return [
            message,
            table_values(view, pid),
            *editor_values(view, pid, member_id),
            *scene_values(view, pid, scene_id),
        ]

    @guarded
    def on_select(project_id: Any, member_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        return editor_values(view, require_project(project_id), member_id)

    @guarded
    def on_save(
        project_id: Any,
        member_id: Any,
        new_name: str,
        new_kind: str,
        new_seed: Any,
        new_description: str,
        new_strength: Any,
        new_lora_strength: Any,
        request: gr.Request,
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if member_id is None:
            raise gr.Error("Choose a member to save, or add a new one.", print_exception=False)
        changes: dict[str, Any] = {"name": new_name, "kind": new_kind}
        changes["description"] = new_description
        if new_strength is not None:
            changes["reference_scale"] = new_strength
        if new_lora_strength is not None:
            changes["lora_scale"] = new_lora_strength
        if new_seed is not None:
            changes["seed"] = new_seed
        saved = view.update_cast_member(member_id, **changes)
        return after(view, pid, f"Saved {saved.name.title()}.", saved.id)

    @guarded
    def on_add(
        project_id: Any,
        new_name: str,
        new_kind: str,
        new_seed: Any,
        new_description: str,
        new_strength: Any,
        new_lora_strength: Any,
        request: gr.Request,
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        values: dict[str, Any] = {"kind": new_kind, "description": new_description}
        if new_strength is not None:
            values["reference_scale"] = new_strength
        if new_lora_strength is not None:
            values["lora_scale"] = new_lora_strength
        if new_seed is not None:
            values["seed"] = new_seed
        added = view.add_cast_member(pid, new_name, **values)
        return after(view, pid, f"Added {added.name.title()} to the cast.", added.id)

    @guarded
    def on_delete(project_id: Any, member_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if member_id is None:
            raise gr.Error("Choose a member to delete.", print_exception=False)
        view.delete_cast_member(member_id)
        return after(view, pid, "Deleted; its shots no longer name it.")

    @guarded
    def on_merge(project_id: Any, member_id: Any, into_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if member_id is None or into_id is None:
            raise gr.Error("Choose a member and the one it is the same as.", print_exception=False)
        kept = view.merge_cast_member(member_id, into_id)
        return after(view, pid, f"Merged into {kept.name.title()}.", kept.id)

    def chosen_member(member_id: Any) -> int:
        if member_id is None:
            raise gr.Error("Choose a member first.", print_exception=False)
        return int(member_id)

    @guarded
    def on_upload(project_id: Any, member_id: Any, path: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        chosen = chosen_member(member_id)
        if not path:
            return after(view, pid, "", chosen)
        kept = view.set_cast_reference(chosen, Path(path))
        return after(view, pid, f"{kept.name.title()} has a reference picture now.", kept.id)

    @guarded
    def on_use_frame(
        project_id: Any, member_id: Any, job_id: Any, request: gr.Request
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        chosen = chosen_member(member_id)
        if job_id is None:
            raise gr.Error("Choose a shot's frame to take.", print_exception=False)
        kept = view.pick_cast_reference(chosen, int(job_id))
        return after(view, pid, f"{kept.name.title()}'s reference is that frame now.", kept.id)

    @guarded
    def on_sheet(project_id: Any, member_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        job = view.render_character_sheet(chosen_member(member_id))
        message = (
            f"Character sheet queued (job #{job.id}). When it is done, choose it under "
            "*…take it from a shot's preview frame or a character sheet* (reopen the Cast tab "
            "to refresh the list)."
        )
        if job.status == "succeeded":
            message = f"Character sheet ready (job #{job.id}): choose it below to use it."
        return after(view, pid, message, member_id)

    @guarded
    def on_lora(project_id: Any, member_id: Any, path: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        chosen = chosen_member(member_id)
        if not path:
            return after(view, pid, "", chosen)
        kept = view.set_cast_lora(chosen, Path(path))
        return after(view, pid, f"{kept.name.title()} has its own LoRA now.", kept.id)

    @guarded
    def on_clear_lora(project_id: Any, member_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        kept = view.clear_cast_lora(chosen_member(member_id))
        return after(view, pid, f"Removed {kept.name.title()}'s LoRA.", kept.id)

    @guarded
    def on_clear(project_id: Any, member_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        kept = view.clear_cast_reference(chosen_member(member_id))
        return after(view, pid, f"Removed {kept.name.title()}'s reference picture.", kept.id)

    @guarded
    def on_scene(project_id: Any, scene_id: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        return scene_values(view, require_project(project_id), scene_id)

    @guarded
    def on_save_look(
        project_id: Any, member_id: Any, scene_id: Any, new_look: str, request: gr.Request
    ) -> list[Any]:
        view = for_request(studio, request)
        pid = require_project(project_id)
        if scene_id is None:
            raise gr.Error("Choose a scene (Break down the script first).", print_exception=False)
        saved = view.update_scene(int(scene_id), look=new_look)
        message = f"Saved the look of {saved.heading}: its {len(saved.shot_ids)} shots say it."
        return after(view, pid, message, member_id, saved.id)

    @guarded
    def on_looks(project_id: Any, member_id: Any, request: gr.Request) -> list[Any]:
        """Only the frames (and what a reference can be taken from): opening the tab must
        not overwrite what is being typed."""
        if project_id in (None, "") or member_id is None:
            return [[], "", gr.Dropdown(choices=[], value=None)]
        view, pid = for_request(studio, request), int(project_id)
        chosen = view.cast_member(int(member_id))
        choices = gr.Dropdown(choices=frame_choices(view, pid, chosen), value=None)
        return [*consistency_values(view, pid, int(member_id)), choices]

    outputs = [status, table, *editor, scene_pick, look]
    fields = [name, kind, seed, description, strength, lora_strength]
    member.input(on_select, [project, member], editor)
    scene_pick.input(on_scene, [project, scene_pick], [scene_pick, look])
    changes = [
        save.click(on_save, [project, member, *fields], outputs),
        add.click(on_add, [project, *fields], outputs),
        delete.click(on_delete, [project, member], outputs),
        merge.click(on_merge, [project, member, into], outputs),
        reference.upload(on_upload, [project, member, reference], outputs),
        use_frame.click(on_use_frame, [project, member, from_frame], outputs),
        clear.click(on_clear, [project, member], outputs),
        reference.clear(on_clear, [project, member], outputs),  # its × removes it too
        lora_file.upload(on_lora, [project, member, lora_file], outputs),
        clear_lora.click(on_clear_lora, [project, member], outputs),
        save_look.click(on_save_look, [project, member, scene_pick, look], outputs),
    ]
    sheet_queued = sheet.click(on_sheet, [project, member], outputs)
    tab = Refresh(refresh, outputs, changes, submits=[sheet_queued])
    tab.looks = (on_looks, [member], [looks, missing, from_frame])
    return tab
