"""The Gradio UI: a project bar over the tabs (Script & shots, Storyboard, Render queue,
Film, Lab, Workers).

Every handler calls the `Studio` Python API — the UI holds no logic of its own.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.api import Studio
from studio.ui import film_tab, lab_tab, queue_tab, script_tab, storyboard_tab, workers_tab
from studio.ui.common import guarded, project_choices


def build_ui(studio: Studio) -> gr.Blocks:
    with gr.Blocks(title="AI Film Studio") as blocks:
        gr.Markdown("# AI Film Studio\nScript → storyboard → render queue → film.")
        with gr.Row(equal_height=True):
            project = gr.Dropdown(
                label="Project",
                choices=[],
                value=None,
                scale=3,
                elem_id="project-select",
                interactive=True,
            )
            new_name = gr.Textbox(
                label="New project name",
                placeholder="My short film",
                scale=2,
                elem_id="new-project-name",
            )
            create = gr.Button(
                "Create project", variant="primary", scale=1, elem_id="create-project"
            )
        with gr.Tabs():
            with gr.Tab("Script & shots", id="script"):
                script = script_tab.build(studio, project)
            with gr.Tab("Storyboard", id="storyboard"):
                board = storyboard_tab.build(studio, project)
            with gr.Tab("Render queue", id="queue"):
                queue = queue_tab.build(studio, project)
            with gr.Tab("Film", id="film"):
                film = film_tab.build(studio, project)
            with gr.Tab("Lab", id="lab"):
                lab = lab_tab.build(studio)
            with gr.Tab("Workers", id="workers"):
                farm = workers_tab.build(studio)

        tabs = (script, board, queue, film, lab, farm)
        tab_outputs = [component for tab in tabs for component in tab.outputs]

        def refresh_tabs(project_id: Any) -> list[Any]:
            return [value for tab in tabs for value in tab.refresh(project_id)]

        @guarded
        def create_project(name: str) -> list[Any]:
            created = studio.create_project(name)
            choices = project_choices(studio)
            return [gr.Dropdown(choices=choices, value=created.id), "", *refresh_tabs(created.id)]

        def load(current: Any) -> list[Any]:
            choices = project_choices(studio)
            ids = [value for _label, value in choices]
            value = current if current in ids else (ids[0] if ids else None)
            return [gr.Dropdown(choices=choices, value=value), *refresh_tabs(value)]

        # One event updates the project bar and every tab together, so nothing a creator
        # types right after creating a project is overwritten by a late refresh.
        create.click(create_project, new_name, [project, new_name, *tab_outputs])
        new_name.submit(create_project, new_name, [project, new_name, *tab_outputs])
        project.input(refresh_tabs, project, tab_outputs)
        # Shots changed on the Script tab: the other tabs show the new shots.
        others = (board, queue, film)
        other_outputs = [component for tab in others for component in tab.outputs]

        def refresh_others(project_id: Any) -> list[Any]:
            return [value for tab in others for value in tab.refresh(project_id)]

        for change in script.shot_changes:
            change.success(refresh_others, project, other_outputs)
        # A regenerated preview changed a shot's seed: the shot editor must not hold the old one.
        assert script.shots is not None
        for change in board.shot_changes:
            change.success(script.shots.refresh, project, script.shots.outputs)
        blocks.load(load, project, [project, *tab_outputs])
    return blocks
