"""The login page, login and logout. A plain HTML form (no JavaScript) in front of the UI."""

from __future__ import annotations

import html
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studio.core.errors import QuotaExceeded, StudioError
from studio.web.identity import Identity
from studio.web.sessions import COOKIE

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Log in · AI Film Studio</title>
<style>
 body {{ font-family: system-ui, sans-serif; background: #f4f5fb; display: grid;
        place-items: center; min-height: 100vh; margin: 0; }}
 form {{ background: white; padding: 2rem 2.2rem; border-radius: 12px; width: 20rem;
        box-shadow: 0 2px 14px rgba(0,0,0,.08); }}
 h1 {{ font-size: 1.3rem; margin: 0 0 1.2rem; }}
 label {{ display: block; font-size: .9rem; margin: .8rem 0 .3rem; color: #333; }}
 input {{ width: 100%; box-sizing: border-box; padding: .55rem; border: 1px solid #ccd;
         border-radius: 6px; font-size: 1rem; }}
 button {{ margin-top: 1.3rem; width: 100%; padding: .6rem; border: 0; border-radius: 6px;
          background: #5a4fcf; color: white; font-size: 1rem; cursor: pointer; }}
 .error {{ color: #b00020; font-size: .9rem; margin-top: .8rem; }}
</style></head><body>
<form method="post" action="/login">
 <h1>AI Film Studio</h1>
 <label for="username">User name</label>
 <input id="username" name="username" autocomplete="username" required value="{name}" autofocus>
 <label for="password">Password</label>
 <input id="password" name="password" type="password" autocomplete="current-password" required>
 <input type="hidden" name="next" value="{next}">
 <button type="submit">Log in</button>
 {error}
</form></body></html>"""


_LOGOUT_PAGE = (
    _PAGE.split("<form", 1)[0].format().replace("<title>Log in", "<title>Log out")
    + """<form method="post" action="/logout">
 <h1>Log out of AI Film Studio?</h1>
 <button type="submit" id="log-out">Log out</button>
</form></body></html>"""
)


def _safe_next(target: str | None) -> str:
    # Only paths on this site: never an open redirect to another host.
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def login_page(name: str = "", target: str = "/", error: str = "", status: int = 200) -> Response:
    body = _PAGE.format(
        name=html.escape(name),
        next=html.escape(_safe_next(target)),
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
    )
    return HTMLResponse(body, status_code=status)


def router(identity: Identity) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/login")
    def show(request: Request, next: str = "/") -> Response:
        if identity.enabled and identity.user(request) is not None:
            return RedirectResponse(_safe_next(next), status_code=303)
        if not identity.enabled:
            return RedirectResponse("/", status_code=303)
        return login_page(target=next)

    @routes.post("/login")
    def login(
        request: Request,
        username: str = Form("", max_length=200),
        password: str = Form("", max_length=300),
        next: str = Form("/", max_length=500),
    ) -> Response:
        if not identity.enabled:
            return RedirectResponse("/", status_code=303)
        client = request.client.host if request.client else ""
        try:
            user = identity.studio.authenticate(username, password, client)
        except QuotaExceeded as exc:
            refused = login_page(username, next, str(exc), status=429)
            if exc.retry_after is not None:
                refused.headers["Retry-After"] = str(exc.retry_after)
            return refused
        except StudioError as exc:
            return login_page(username, next, str(exc), status=401)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(
            COOKIE,
            identity.signer.sign(user.name, user.session_epoch),
            max_age=identity.signer.max_age,
            httponly=True,
            samesite="lax",
            secure=identity.studio.settings.tier != "dev",
            path="/",
        )
        return response

    @routes.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @routes.get("/logout")
    def confirm_logout() -> Response:
        # Logging out changes state, so it is a POST (from the studio's own pages: see
        # studio.web.origin); a link from anywhere must not end a session. Typed in, the
        # address shows the button.
        return HTMLResponse(_LOGOUT_PAGE)

    return routes


def login_redirect(path: str) -> Response:
    return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
