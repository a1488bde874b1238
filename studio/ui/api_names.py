"""The UI's stable API for gradio_client: the creator's actions under documented names; every
other event (polls, page load, refreshes between tabs, editors filling in) hidden.

Gradio names each event after its handler and numbers repeats (`/on_shots_1`), so the names
would change whenever a tab gains an event. Here the public ones are named once, by their
handler (`module.function` under studio.ui), and `apply` sets every event's name and
visibility after the blocks are built. A handler used by several events is public on its
first only. docs/gradio-api.md lists them; tests/studio/test_ui_api.py keeps both true."""

from __future__ import annotations

import gradio as gr

# handler (as "tab_module.function", or the project bar's "function") → api_name
PUBLIC: dict[str, str] = {
    "create_project": "create_project",
    "choose_project": "choose_project",
    "script_tab.on_upload": "upload_script",
    "script_tab.on_breakdown": "break_down",
    "script_tab.on_save_style": "save_project_settings",
    "script_tab.on_select": "select_shot",
    "script_tab.on_save_shot": "save_shot",
    "script_tab.on_add": "add_shot",
    "script_tab.on_duplicate": "duplicate_shot",
    "script_tab.on_delete": "delete_shot",
    "script_tab.on_expand": "expand_prompts",
    "cast_tab.on_select": "select_cast_member",
    "cast_tab.on_save": "save_cast_member",
    "cast_tab.on_add": "add_cast_member",
    "cast_tab.on_delete": "delete_cast_member",
    "cast_tab.on_merge": "merge_cast_member",
    "cast_tab.on_upload": "set_cast_reference",
    "cast_tab.on_use_frame": "use_frame_as_reference",
    "cast_tab.on_clear": "clear_cast_reference",
    "cast_tab.on_sheet": "render_character_sheet",
    "cast_tab.on_lora": "set_cast_lora",
    "cast_tab.on_clear_lora": "clear_cast_lora",
    "cast_tab.on_save_look": "save_scene_look",
    "voices_tab.on_speak": "speak_lines",
    "voices_tab.on_save": "save_voice",
    "voices_tab.on_preview": "preview_voice",
    "voices_tab.on_timing": "save_line_timing",
    "voices_tab.on_use_take": "use_line_take",
    "voices_tab.on_new_take": "new_line_take",
    "voices_tab.on_sound": "set_shot_sound",
    "voices_tab.on_gain": "save_sound_level",
    "voices_tab.on_clear_sound": "clear_shot_sound",
    "storyboard_tab.on_preview_all": "preview_all",
    "storyboard_tab.on_regenerate": "regenerate_preview",
    "queue_tab.on_render_all": "render_all",
    "queue_tab.on_render": "render_shot",
    "queue_tab.on_cancel": "cancel_job",
    "queue_tab.on_retry": "retry_job",
    "queue_tab.on_bump": "raise_priority",
    "queue_tab.on_move": "move_job_before",
    "queue_tab.on_pause": "pause_queue",
    "queue_tab.on_resume": "resume_queue",
    "queue_tab.on_choose": "choose_take",
    "film_tab.on_assemble": "assemble_film",
    "timeline_panel.on_pick": "select_timeline_shot",
    "timeline_panel.on_apply": "edit_timeline_shot",
    "timeline_panel.on_untrim": "untrim_shot",
    "timeline_panel.on_earlier": "move_shot_earlier",
    "timeline_panel.on_later": "move_shot_later",
    "timeline_panel.on_compare": "show_cut",
    "timeline_panel.on_restore": "restore_cut",
    "timeline_panel.on_export": "export_cut",
    "timeline_panel.on_import": "import_cut",
    "review_tab.on_shot": "review_shot",
    "review_tab.on_comment": "comment",
    "review_tab.on_share": "share_project",
    "review_tab.on_unshare": "unshare_project",
    "lab_tab.on_run": "lab_run",
    "lab_tab.on_sweep": "lab_sweep",
    "lab_tab.on_save": "save_preset",
}


def handler_name(fn: object) -> str:
    """ "voices_tab.on_speak" for a tab's handler, "create_project" for the project bar's."""
    module = getattr(fn, "__module__", "").removeprefix("studio.ui").lstrip(".")
    return f"{module}.{getattr(fn, '__name__', '')}".lstrip(".")


def apply(blocks: gr.Blocks) -> None:
    """Name the public events and hide the rest (the page itself still calls them)."""
    named: set[str] = set()
    for block_fn in blocks.fns.values():
        name = PUBLIC.get(handler_name(block_fn.fn)) if block_fn.fn is not None else None
        if name is not None and name not in named:
            named.add(name)
            block_fn.api_name, block_fn.api_visibility = name, "public"
        else:
            block_fn.api_visibility = "private"
