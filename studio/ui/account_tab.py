"""Account tab: the signed-in user's balance and credit ledger, API tokens and password.

Built only when the studio has logins (auth on); every handler acts as the requesting user.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.api import Studio
from studio.ui.common import Refresh, credits_text, for_request, guarded, when

LEDGER_HEADERS = ["When", "Kind", "Amount", "Balance after", "Job", "Reason"]
TOKEN_HEADERS = ["ID", "Name", "Starts with", "Created", "Last used"]
TOKEN_NOTE = "Your new token — copy it now; it is not shown again"


def balance_text(view: Studio) -> str:
    if not view.settings.resolved_credits:
        return ""
    return f"Balance: **{credits_text(view.balance())}** (credits held by queued jobs excluded)"


def ledger_rows(view: Studio, limit: int = 200) -> list[list[Any]]:
    if not view.settings.resolved_credits:
        return []
    return [
        [
            when(e.created_at),
            e.kind,
            f"{e.amount_cents / 100:+,.2f}",
            f"{e.balance_after_cents / 100:,.2f}",
            f"#{e.job_id}" if e.job_id else "",
            e.reason + (f" (by {e.actor})" if e.actor and e.actor != view.user else ""),
        ]
        for e in view.ledger(limit=limit)
    ]


def token_rows(view: Studio) -> list[list[Any]]:
    return [
        [t.id, t.name, f"{t.prefix}…", when(t.created_at), when(t.last_used_at)]
        for t in view.tokens()
    ]


def build(studio: Studio) -> Refresh:
    credits = studio.settings.resolved_credits
    with gr.Column(visible=credits):
        gr.Markdown(
            "### Credits\nEvery render reserves its cost when queued and settles when it ends."
        )
        with gr.Row(equal_height=True):
            balance = gr.Markdown("", elem_id="account-balance")
            reload = gr.Button("Refresh", size="sm", scale=0, min_width=100)
        ledger = gr.Dataframe(
            headers=LEDGER_HEADERS,
            value=[],
            interactive=False,
            wrap=True,
            type="array",
            label="Credit ledger (newest first)",
            elem_id="ledger",
        )
    gr.Markdown(
        "### API tokens\nScripts and notebooks use a token instead of your password. "
        "Revoke one you no longer use."
    )
    with gr.Row(equal_height=True):
        token_name = gr.Textbox(
            label="Token name", placeholder="my-notebook", scale=3, elem_id="token-name"
        )
        create = gr.Button("Create token", variant="primary", scale=1, elem_id="create-token")
    new_token = gr.Textbox(
        label=TOKEN_NOTE,
        interactive=False,
        visible=False,
        buttons=["copy"],
        elem_id="new-token",
    )
    tokens = gr.Dataframe(
        headers=TOKEN_HEADERS,
        value=[],
        interactive=False,
        type="array",
        label="Active tokens",
        elem_id="tokens",
    )
    with gr.Row(equal_height=True):
        token_id = gr.Number(
            label="Token ID", value=None, precision=0, minimum=1, elem_id="token-id"
        )
        revoke = gr.Button("Revoke token", variant="stop", elem_id="revoke-token")
    token_status = gr.Markdown("", elem_id="token-status")
    gr.Markdown("### Password")
    with gr.Row(equal_height=True):
        password = gr.Textbox(label="New password", type="password", elem_id="new-password")
        again = gr.Textbox(label="New password again", type="password", elem_id="new-password-2")
        change = gr.Button("Change password", elem_id="change-password")
    password_status = gr.Markdown("", elem_id="password-status")

    def refresh(view: Studio, _project_id: Any) -> list[Any]:
        return [
            balance_text(view),
            ledger_rows(view),
            token_rows(view),
            gr.Textbox(value="", visible=False),
        ]

    @guarded
    def on_reload(request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        return [balance_text(view), ledger_rows(view)]

    @guarded
    def on_create_token(name: str, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        token, plain = view.create_token(name)
        return [
            gr.Textbox(value=plain, visible=True),
            token_rows(view),
            "",
            f"Token #{token.id} **{token.name}** created. Copy it now: it is not shown again.",
        ]

    @guarded
    def on_revoke(number: Any, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        if number in (None, ""):
            raise gr.Error("Enter the ID of a token from the table.", print_exception=False)
        token = view.revoke_token(int(number))
        return [token_rows(view), f"Token #{token.id} **{token.name}** revoked."]

    @guarded
    def on_password(first: str, second: str, request: gr.Request) -> list[Any]:
        view = for_request(studio, request)
        if not first:
            raise gr.Error("Enter a new password.", print_exception=False)
        if first != second:
            raise gr.Error("The two passwords differ.", print_exception=False)
        view.reset_password(view.user, first)
        return [
            "",
            "",
            "Password changed. Your sessions have ended: "
            "[log in again](/login) with the new password.",
        ]

    reload.click(on_reload, None, [balance, ledger])
    create.click(on_create_token, token_name, [new_token, tokens, token_name, token_status])
    token_name.submit(on_create_token, token_name, [new_token, tokens, token_name, token_status])
    revoke.click(on_revoke, token_id, [tokens, token_status])
    change.click(on_password, [password, again], [password, again, password_status])
    return Refresh(refresh, [balance, ledger, tokens, new_token])
