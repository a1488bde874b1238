"""Admin tab: users and their credits — create, disable/enable, change role, reset a password,
grant credits.

The tab is built once for everyone and shown only to admins (the project bar's load event
sets its visibility), but hiding is a courtesy: every handler acts as the requesting user and
the `Studio` methods it calls refuse non-admins (Forbidden).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.api import Studio
from studio.core.models import Role
from studio.ui.common import Refresh, credits_text, for_request, guarded

USER_HEADERS = ["User", "Role", "Disabled", "Balance", "Held", "Spent", "Jobs"]
ROLES = [role.value for role in Role]


def user_rows(view: Studio) -> list[list[Any]]:
    """The users table (admins only: `usage()` raises Forbidden for anyone else)."""
    return [
        [
            u["user"],
            u["role"],
            "disabled" if u["disabled"] else "",
            f"{u['balance']:,.2f}",
            f"{u['held']:,.2f}",
            f"{u['spent']:,.2f}",
            ", ".join(f"{n} {status}" for status, n in sorted(u["jobs"].items())) or "—",
        ]
        for u in view.usage()
    ]


def build(studio: Studio) -> Refresh:
    gr.Markdown("Users, roles and credits. Only admins see this tab.")
    with gr.Row(equal_height=True):
        users = gr.Dataframe(
            headers=USER_HEADERS,
            value=[],
            interactive=False,
            type="array",
            label="Users",
            elem_id="admin-users",
            scale=5,
        )
        reload = gr.Button("Refresh", size="sm", scale=0, min_width=100)
    status = gr.Markdown("", elem_id="admin-status")
    with gr.Accordion("Create a user", open=True), gr.Row(equal_height=True):
        new_name = gr.Textbox(label="User name", elem_id="admin-new-name")
        new_password = gr.Textbox(label="Password", type="password", elem_id="admin-new-password")
        new_role = gr.Dropdown(ROLES, value=Role.creator.value, label="Role")
        create = gr.Button("Create user", variant="primary", elem_id="admin-create")
    with gr.Accordion("Manage a user", open=True):
        user = gr.Dropdown(label="User", choices=[], elem_id="admin-user")
        with gr.Row(equal_height=True):
            disable = gr.Button("Disable", variant="stop", elem_id="admin-disable")
            enable = gr.Button("Enable", elem_id="admin-enable")
            role = gr.Dropdown(ROLES, value=Role.creator.value, label="Role", scale=1)
            set_role = gr.Button("Set role", elem_id="admin-set-role")
        with gr.Row(equal_height=True):
            reset_to = gr.Textbox(
                label="New password", type="password", scale=3, elem_id="admin-reset-password"
            )
            reset = gr.Button("Reset password", scale=1, elem_id="admin-reset")
        with gr.Row(equal_height=True):
            amount = gr.Number(
                label="Credits (negative takes unspent credits back)", elem_id="admin-amount"
            )
            reason = gr.Textbox(label="Reason", placeholder="monthly allowance", scale=2)
            grant = gr.Button("Grant credits", variant="primary", elem_id="admin-grant")

    def user_list(view: Studio, selected: Any = None) -> list[Any]:
        rows = user_rows(view)
        names = [row[0] for row in rows]
        return [rows, gr.Dropdown(choices=names, value=selected if selected in names else None)]

    def refresh(view: Studio, _project_id: Any) -> list[Any]:
        if not view.is_admin:  # nothing to show; the tab stays hidden
            return [[], gr.Dropdown(choices=[], value=None)]
        return user_list(view)

    def chosen(name: Any) -> str:
        if not name:
            raise gr.Error("Choose a user first.", print_exception=False)
        return str(name)

    @guarded
    def on_reload(selected: Any, request: gr.Request) -> list[Any]:
        return user_list(for_request(studio, request), selected)

    @guarded
    def on_create(name: str, password: str, role_: str, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        created = view.create_user(name, password, role=role_)
        return [
            f"User **{created.name}** ({created.role}) created.",
            *user_list(view, created.name),
            "",
            "",
        ]

    @guarded
    def on_disable(name: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        done = view.disable_user(chosen(name), True)
        note = f"**{done.name}** disabled: their sessions ended and their tokens are revoked."
        return [note, *user_list(view, done.name)]

    @guarded
    def on_enable(name: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        done = view.disable_user(chosen(name), False)
        return [f"**{done.name}** enabled.", *user_list(view, done.name)]

    @guarded
    def on_set_role(name: Any, role_: str, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        done = view.set_role(chosen(name), role_)
        return [f"**{done.name}** is now {done.role}.", *user_list(view, done.name)]

    @guarded
    def on_reset(name: Any, password: str, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        done = view.reset_password(chosen(name), password)
        note = f"Password of **{done.name}** reset; their open sessions ended."
        return [note, *user_list(view, done.name), ""]

    @guarded
    def on_grant(name: Any, credits: Any, why: str, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        if credits in (None, ""):
            raise gr.Error("Enter an amount of credits.", print_exception=False)
        entry = view.grant_credits(chosen(name), float(credits), why)
        note = (
            f"{'Granted' if entry.amount_cents > 0 else 'Took back'} "
            f"{credits_text(abs(entry.amount_cents) / 100)} "
            f"{'to' if entry.amount_cents > 0 else 'from'} **{entry.owner}**; "
            f"their balance is {credits_text(entry.balance_after_cents / 100)}."
        )
        return [note, *user_list(view, entry.owner), None, ""]

    listing = [status, users, user]
    reload.click(on_reload, user, [users, user])
    create.click(on_create, [new_name, new_password, new_role], [*listing, new_name, new_password])
    disable.click(on_disable, user, listing)
    enable.click(on_enable, user, listing)
    set_role.click(on_set_role, [user, role], listing)
    reset.click(on_reset, [user, reset_to], [*listing, reset_to])
    granted = grant.click(on_grant, [user, amount, reason], [*listing, amount, reason])
    return Refresh(refresh, [users, user], submits=[granted])
