"""The Gradio UI: a project bar over the tabs (Script & shots, Cast, Voices, Storyboard,
Render queue, Film (with its timeline), Review, Lab, Workers, and with accounts: Account,
Admin).

Every handler calls the `Studio` Python API — the UI holds no logic of its own — acting as
the user of the request (`for_request`): the blocks are built once for everyone, so nothing
user-specific is filled in at build time; the load event fills it per user.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.api import Studio
from studio.ui import (
    account_tab,
    admin_tab,
    api_names,
    cast_tab,
    film_tab,
    lab_tab,
    queue_tab,
    review_tab,
    script_tab,
    storyboard_tab,
    voices_tab,
    workers_tab,
)
from studio.ui.common import Refresh, account_bar, for_request, guarded, project_choices


def build_ui(studio: Studio) -> gr.Blocks:
    auth = studio.settings.resolved_auth
    credits = studio.settings.resolved_credits
    with gr.Blocks(title="AI Film Studio") as blocks:
        with gr.Row():
            gr.Markdown("# AI Film Studio\nScript → storyboard → render queue → film.", scale=3)
            # Who is signed in, the balance and "Log out" (filled per user on load).
            bar = gr.HTML("", elem_id="account-bar", scale=2, container=False, padding=False)
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
        account_tabs: list[tuple[gr.Tab, Refresh]] = []
        with gr.Tabs(overflow_behavior="wrap"):  # every tab in reach on a phone
            with gr.Tab("Script & shots", id="script") as script_page:
                script = script_tab.build(studio, project)
            with gr.Tab("Cast", id="cast") as cast_page:
                cast = cast_tab.build(studio, project)
            with gr.Tab("Voices", id="voices"):
                voices = voices_tab.build(studio, project)
            with gr.Tab("Storyboard", id="storyboard"):
                board = storyboard_tab.build(studio, project)
            with gr.Tab("Render queue", id="queue"):
                queue = queue_tab.build(studio, project)
            with gr.Tab("Film", id="film") as film_page:
                film = film_tab.build(studio, project)
            with gr.Tab("Review", id="review") as review_page:
                review = review_tab.build(studio, project)
            with gr.Tab("Lab", id="lab"):
                lab = lab_tab.build(studio)
            with gr.Tab("Workers", id="workers"):
                farm = workers_tab.build(studio)
            if auth:
                with gr.Tab("Account", id="account") as account_page:
                    account_tabs.append((account_page, account_tab.build(studio)))
            admin_page = None
            if auth or credits:  # users and credits to manage; shown to admins only
                with gr.Tab("Admin", id="admin", visible=False) as admin_page:
                    account_tabs.append((admin_page, admin_tab.build(studio)))

        tabs = (script, cast, voices, board, queue, film, review, lab, farm)
        tab_outputs = [component for tab in tabs for component in tab.outputs]
        extras = [tab for _page, tab in account_tabs]
        extra_outputs = [component for tab in extras for component in tab.outputs]

        def refresh_tabs(view: Studio, project_id: Any) -> list[Any]:
            return [value for tab in tabs for value in tab.refresh(view, project_id)]

        @guarded
        def create_project(name: str, request: gr.Request) -> list[Any]:
            view = for_request(studio, request)
            created = view.create_project(name)
            choices = project_choices(view)
            return [
                gr.Dropdown(choices=choices, value=created.id),
                "",
                *refresh_tabs(view, created.id),
            ]

        @guarded
        def choose_project(project_id: Any, request: gr.Request) -> list[Any]:
            return refresh_tabs(for_request(studio, request), project_id)

        @guarded
        def load(current: Any, request: gr.Request) -> list[Any]:
            view = for_request(studio, request)
            choices = project_choices(view)
            ids = [value for _label, value in choices]
            value = current if current in ids else (ids[0] if ids else None)
            return [
                gr.Dropdown(choices=choices, value=value),
                *refresh_tabs(view, value),
                account_bar(view),
                *[v for tab in extras for v in tab.refresh(view, None)],
                *([gr.Tab(visible=view.is_admin)] if admin_page is not None else []),
            ]

        # One event updates the project bar and every tab together, so nothing a creator
        # types right after creating a project is overwritten by a late refresh.
        create.click(create_project, new_name, [project, new_name, *tab_outputs])
        new_name.submit(create_project, new_name, [project, new_name, *tab_outputs])
        project.input(choose_project, project, tab_outputs)
        # Shots changed on the Script tab: the other tabs show the new shots.
        others = (board, queue, film, review)
        other_outputs = [component for tab in others for component in tab.outputs]

        @guarded
        def refresh_others(project_id: Any, request: gr.Request) -> list[Any]:
            view = for_request(studio, request)
            return [value for tab in others for value in tab.refresh(view, project_id)]

        for change in script.shot_changes:
            change.success(refresh_others, project, other_outputs)
        # A breakdown or a shot's characters change the cast; cast edits change the shots.
        for change in script.shot_changes:
            change.success(cast.handler(studio), project, cast.outputs)
        for change in cast.shot_changes:
            change.success(script.handler(studio), project, script.outputs)
        # Spoken lines set shots' durations; a breakdown changes the lines and the speakers.
        for change in voices.shot_changes:
            change.success(script.handler(studio), project, script.outputs)
            change.success(refresh_others, project, other_outputs)
        for change in (*script.shot_changes, *cast.shot_changes):
            change.success(voices.handler(studio), project, voices.outputs)
        # Opening the Cast tab shows the latest frames of its shots (previews made since).
        assert cast.looks is not None
        looks_fn, looks_inputs, looks_outputs = cast.looks
        cast_page.select(looks_fn, [project, *looks_inputs], looks_outputs, show_progress="hidden")
        # Opening Film or Review shows what other tabs (and other members) changed since;
        # opening Script & shots, what each shot has rendered since.
        for page, tab in ((film_page, film), (review_page, review), (script_page, script)):
            assert tab.looks is not None
            fn, inputs, outputs = tab.looks
            page.select(fn, [project, *inputs], outputs, show_progress="hidden")
        # A regenerated preview changed a shot's seed: the shot editor must not hold the old one.
        assert script.shots is not None
        # A card edited on the Storyboard: the tabs that show shots besides it.
        after_cards = (queue, film, review)
        after_cards_outputs = [component for tab in after_cards for component in tab.outputs]

        @guarded
        def refresh_after_cards(project_id: Any, request: gr.Request) -> list[Any]:
            view = for_request(studio, request)
            return [value for tab in after_cards for value in tab.refresh(view, project_id)]

        for change in board.shot_changes:
            change.success(script.shots.handler(studio), project, script.shots.outputs)
            change.success(refresh_after_cards, project, after_cards_outputs)
        # Account and Admin show the latest ledger and users each time they are opened.
        for page, tab in account_tabs:
            page.select(tab.handler(studio), project, tab.outputs, show_progress="hidden")

        if credits:
            # The balance in the top bar follows renders (reserved when queued, settled when
            # they end), grants and refunds.
            def on_balance(request: gr.Request) -> str:
                return account_bar(for_request(studio, request))

            for tab in (*tabs, *extras):
                for event in tab.submits:
                    event.then(on_balance, None, bar, show_progress="hidden")
                for timer in tab.polls:
                    timer.tick(on_balance, None, bar, show_progress="hidden")

        blocks.load(
            load,
            project,
            [project, *tab_outputs, bar, *extra_outputs, *([admin_page] if admin_page else [])],
        )
    api_names.apply(blocks)
    return blocks
