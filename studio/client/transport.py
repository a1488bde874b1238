"""The SDK client's transport: one httpx client, retries, error answers as studio errors."""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote, urlsplit

import httpx

from studio.core.errors import (
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    InvalidInput,
    NotFound,
    PaymentRequired,
    QuotaExceeded,
    StudioError,
    Unauthorized,
)
from studio.core.models import UserPublic

API = "/api/v1"
TOKEN_ENV = "STUDIO_TOKEN"
PAGE = 100  # the API's largest page


class ServerError(StudioError):
    """The server failed (a 5xx answer, after the retries)."""

    status = 500

    def __init__(self, message: str, status: int = 500):
        super().__init__(message)
        self.status = status


class ServerUnreachable(StudioError, ConnectionError):
    """No answer from the server (connection refused, reset, timed out), after the retries."""

    status = 503


_BY_STATUS: dict[int, type[StudioError]] = {
    400: InvalidInput,
    401: Unauthorized,
    402: PaymentRequired,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
    415: InvalidInput,
    422: InvalidInput,
    429: QuotaExceeded,
}


def error_from(response: httpx.Response) -> StudioError:
    """The `studio.core.errors` exception for an error answer
    (`{"error": {code, message, field}}`)."""
    try:
        detail = response.json().get("error") or {}
    except (ValueError, AttributeError):
        detail = {}
    message = str(detail.get("message") or response.text[:500] or response.reason_phrase)
    code, field = detail.get("code"), detail.get("field")
    if code == "script_error":
        from studio.film.breakdown import ScriptError

        return ScriptError(message)
    if code == "database_unavailable":  # (a proxy's own 503 stays a ServerError)
        return DatabaseUnavailable(message)
    cls = _BY_STATUS.get(response.status_code)
    if cls is InvalidInput:
        return InvalidInput(message, field)
    if cls is not None:
        return cls(message)
    if response.status_code >= 500:
        return ServerError(message, response.status_code)
    error = StudioError(message)
    error.status = response.status_code
    return error


def default_cache_dir(url: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    host = re.sub(r"[^A-Za-z0-9._-]+", "_", urlsplit(url).netloc) or "studio"
    return Path(base) / "ai-film-studio" / host


def path_id(value: int | None) -> int:
    """An id for a URL path: an int (a bool or a string would build another route)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotFound(f"No object #{value}")
    return value


def path_name(value: str) -> str:
    """A user name for a URL path (quoted; an empty or non-string name is no user)."""
    if not isinstance(value, str) or not value.strip():
        raise NotFound(f"No user {value!r}")
    return quote(value, safe="")


ON_SERVER = "use Studio.local(...) on the studio's data folder"


class Transport:
    """HTTP to one studio's /api/v1 (see studio.client.remote for what is retried)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        cache_dir: str | Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"Not an http(s) URL: {url!r}", "url")
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.retries, self.backoff = max(0, int(retries)), backoff
        self.page_size = PAGE  # jobs per page when listing jobs
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(url)
        from studio.core.version import __version__

        headers = {"User-Agent": f"ai-film-studio/{__version__} (Studio.connect)"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )
        self._me: UserPublic | None = None
        self._credits_enabled: bool | None = None
        from studio import display

        display.activate(self)  # shots, takes and projects display from this server

    def __repr__(self) -> str:
        return f"<RemoteStudio {self.url}>"

    # ---- plumbing -------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Call an /api/v1 route (`path` relative to it, e.g. "/jobs") and return its JSON
        (None for an empty answer). With `idempotency_key` the call is retried with that key
        after a lost reply or a 5xx."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        response = self._send(
            method.upper(),
            API + path,
            json=json,
            params=params,
            headers=headers,
            retry_sent=method.upper() == "GET" or idempotency_key is not None,
        )
        return response.json() if response.content else None

    def _send(
        self,
        method: str,
        path: str,
        *,
        retry_sent: bool,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request, retried where that is safe; an error answer raises its exception."""
        keyed = bool(headers and "Idempotency-Key" in headers)
        resent = False  # a keyed request went out and its answer was lost
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.client.request(
                    method, path, json=json, params=params, headers=headers, content=content
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if last:  # never reached the server: retrying is safe for any method
                    raise ServerUnreachable(f"Cannot reach {self.url}: {exc}") from exc
            except httpx.TransportError as exc:
                if last or not retry_sent:
                    raise ServerUnreachable(f"No answer from {self.url}: {exc}") from exc
                resent = keyed
            else:
                if response.status_code < 400:
                    return response
                # 409 after a lost answer: the first request may still be running on the
                # server ("still in progress"); asking again returns its stored response.
                again = response.status_code >= 500 or (response.status_code == 409 and resent)
                if last or not retry_sent or not again:
                    raise error_from(response)
            time.sleep(min(self.backoff * 2**attempt, 5.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def _put_bytes(self, path: str, data: bytes, content_type: str) -> Any:
        """PUT a raw body (an upload); a PUT replaces, so resending after a lost answer is
        safe."""
        response = self._send(
            "PUT",
            API + path,
            content=data,
            headers={"Content-Type": content_type},
            retry_sent=True,
        )
        return response.json() if response.content else None

    def _get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=query or None)

    def _submit(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, json=body, idempotency_key=str(uuid.uuid4()))

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
