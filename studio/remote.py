"""`Studio.connect(url, token)`: the notebook API of `Studio`, over a studio's REST API.

    from studio import Studio

    with Studio.connect("https://studio.example.com", "sfs_…") as studio:  # or $STUDIO_TOKEN
        project = studio.create_project("Rain", height=240, fps=12)
        shots = studio.breakdown(project.id, open("script.txt").read())
        studio.update_shot(shots[0].id, camera_move="dolly-in", duration=4)
        studio.render(project.id, wait=True)  # a tqdm bar while the server renders
        film = studio.assemble(project.id, title="Rain", wait=True)
        print(studio.artifact_path(film.artifact_id))  # downloaded, sha256-checked

The methods take and return what `Studio`'s do: `Project`, `Shot`, `RenderJob`, `Artifact`,
`Worker`, `User` (studio.models) and `LedgerEntry` (credits.ledger), built from the JSON and
detached like the local ones; the same `studio.errors` exceptions (`NotFound`,
`InvalidInput` with `.field`, `Conflict`, `Unauthorized`, `Forbidden`, `PaymentRequired`,
`QuotaExceeded`) are raised for the server's error bodies, so `except NotFound:` works alike.
The token is the caller's: every method acts as that user.

Transport: one `httpx.Client` (`timeout=` seconds per request). Reads (GET) are retried on
connection errors and 5xx answers (`retries=`, with back-off); a request that never reached
the server (connect error) is retried whatever its method. Submissions (`preview`, `render`,
`assemble`, `lab_run`, `lab_sweep`) send an `Idempotency-Key` (a fresh uuid4 per call) and
are retried with the SAME key after a lost reply or a 5xx, so the server queues and charges
them once. Other writes are not retried once sent. Failures after the retries raise
`ServerUnreachable` (also a `ConnectionError`) or `ServerError` (a 5xx).

Files: `artifact_path(id)` downloads an artifact once into a cache folder
(`cache_dir=`, default `~/.cache/ai-film-studio/<host>/`, or `$XDG_CACHE_HOME`), checks its
sha256 and returns the local `Path`; `download_url(id)` is the signed link as an absolute
URL (no credentials needed until it expires); `signed_link(id)` the same as a site path.

Differences from the local `Studio`:
- `balance()`/`ledger()` are the caller's own (`ledger` returns at most 100 entries; their
  `actor` is empty); `assemble(audio=…)` is refused (the REST API takes no uploads).
- `pipelines()` lists the catalogue's pipeline names (locally: `studio.catalogue.names()`).
- `wait()` polls `GET /api/v1/jobs/{id}` (`poll=` seconds); `request(method, path, …)`
  calls any /api/v1 route and returns its JSON.
- The queue controls (`queue_positions`, `pause_queue`, …), the Lab (`lab_run`, `lab_sweep`,
  `lab_jobs`) and the admin methods take no other user than the caller (`owner=` another
  user raises `NotImplementedError`); `lab_jobs` returns at most 100; `save_preset` returns a
  `PipelineEntry` with the published fields only (name, tasks, description, defaults);
  `users()` gives name, role and disabled (from `usage()`); `tokens()` records have no hash.
- Local only (they raise `NotImplementedError` naming the local way): `as_user`,
  `authenticate`, `set_role`, `reset_password`, `lab_project`, `expand_prompts`, `export`
  and `live_preview`.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urljoin, urlsplit

import httpx

from credits.ledger import LedgerEntry
from pipelines.catalogue import PipelineEntry
from studio.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PaymentRequired,
    QuotaExceeded,
    StudioError,
    Unauthorized,
)
from studio.models import (
    ApiToken,
    Artifact,
    JobStatus,
    Priority,
    Project,
    RenderJob,
    Shot,
    User,
    Worker,
)

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
    """The `studio.errors` exception for an error answer (`{"error": {code, message, field}}`)."""
    try:
        detail = response.json().get("error") or {}
    except (ValueError, AttributeError):
        detail = {}
    message = str(detail.get("message") or response.text[:500] or response.reason_phrase)
    code, field = detail.get("code"), detail.get("field")
    if code == "script_error":
        from studio.breakdown import ScriptError

        return ScriptError(message)
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


def _local_only(name: str, alternative: str) -> Callable[..., NoReturn]:
    def method(self: RemoteStudio, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise NotImplementedError(
            f"{name}() is not available over the REST API (Studio.connect); {alternative}"
        )

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Not available remotely: {alternative}"
    return method


_ON_SERVER = "use Studio.local(...) on the studio's data folder"


class RemoteStudio:
    """A studio reached over its REST API, with the methods of `studio.api.Studio`.

    `url`: the studio's address (e.g. https://studio.example.com); `token`: an API token
    (`sfs_…`; default $STUDIO_TOKEN; none for a studio without accounts); `timeout`: seconds
    per request; `retries`/`backoff`: how often and how patiently to retry (see the module
    docstring); `cache_dir`: where `artifact_path` keeps downloads; `transport`: an httpx
    transport (tests, proxies). `page_size`: jobs per page when `jobs()` walks the pages."""

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
        from studio import __version__

        headers = {"User-Agent": f"ai-film-studio/{__version__} (Studio.connect)"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )
        self._me: User | None = None
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
    ) -> httpx.Response:
        """One request, retried where that is safe; an error answer raises its exception."""
        keyed = bool(headers and "Idempotency-Key" in headers)
        resent = False  # a keyed request went out and its answer was lost
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.client.request(
                    method, path, json=json, params=params, headers=headers
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

    def _get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=query or None)

    def _submit(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, json=body, idempotency_key=str(uuid.uuid4()))

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> RemoteStudio:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- who am I -------------------------------------------------------------------------
    def me(self) -> User:
        data = self._get("/me")
        self._me = User.model_validate({"name": data["name"], "role": data["role"]})
        self._credits_enabled = bool(data["credits_enabled"])
        return self._me

    def _whoami(self) -> User:
        return self._me if self._me is not None else self.me()

    @property
    def user(self) -> str:
        """The acting user's name (the token's owner)."""
        return self._whoami().name

    @property
    def is_admin(self) -> bool:
        return self._whoami().is_admin

    @property
    def credits_enabled(self) -> bool:
        if self._credits_enabled is None:
            self.me()
        return bool(self._credits_enabled)

    def _own(self, name: str | None, what: str) -> None:
        if name is not None and name != self.user:
            raise NotImplementedError(
                f"Another user's {what} is not available over the REST API; {_ON_SERVER}"
            )

    def balance(self, name: str | None = None) -> float:
        """Credits available (what queued and running jobs hold is already taken off)."""
        self._own(name, "balance")
        return float(self._get("/credits")["balance"])

    def ledger(self, name: str | None = None, limit: int = 100) -> list[LedgerEntry]:
        """The newest credit movements, newest first (at most 100 over the API)."""
        self._own(name, "ledger")
        items = self._get("/credits/ledger", limit=max(1, min(int(limit), PAGE)))["items"]
        owner = self.user
        return [
            LedgerEntry.model_validate(
                {
                    "id": e["id"],
                    "owner": owner,
                    "kind": e["kind"],
                    "amount_cents": round(e["amount"] * 100),
                    "balance_after_cents": round(e["balance_after"] * 100),
                    "job_id": e["job_id"],
                    "reason": e["reason"],
                    "created_at": e["created_at"],
                }
            )
            for e in items
        ]

    # ---- projects -------------------------------------------------------------------------
    def create_project(
        self, name: str, script: str = "", *, owner: str | None = None, **fields: Any
    ) -> Project:
        self._own(owner, "project")
        body = {"name": name, "script": script, **fields}
        return Project.model_validate(self.request("POST", "/projects", json=body))

    def projects(self) -> list[Project]:
        return [Project.model_validate(p) for p in self._get("/projects")["items"]]

    def project(self, project_id: int) -> Project:
        return Project.model_validate(self._get(f"/projects/{_id(project_id)}"))

    def update_project(self, project_id: int, **changes: Any) -> Project:
        data = self.request("PATCH", f"/projects/{_id(project_id)}", json=changes)
        return Project.model_validate(data)

    def delete_project(self, project_id: int) -> None:
        self.request("DELETE", f"/projects/{_id(project_id)}")

    # ---- script and shots -----------------------------------------------------------------
    def breakdown(self, project_id: int, script: str | bytes | None = None) -> list[Shot]:
        """Replace the project's shots with a breakdown of `script` (or the stored one)."""
        if isinstance(script, bytes):
            from studio.breakdown import decode_script

            script = decode_script(script)
        data = self.request(
            "POST", f"/projects/{_id(project_id)}/breakdown", json={"script": script}
        )
        return [Shot.model_validate(s) for s in data["items"]]

    def shots(self, project_id: int) -> list[Shot]:
        return [
            Shot.model_validate(s) for s in self._get(f"/projects/{_id(project_id)}/shots")["items"]
        ]

    def shot(self, shot_id: int) -> Shot:
        return Shot.model_validate(self._get(f"/shots/{_id(shot_id)}"))

    def add_shot(
        self, project_id: int, prompt: str = "", position: int | None = None, **fields: Any
    ) -> Shot:
        body = {"prompt": prompt, **fields}
        if position is not None:
            body["position"] = position
        data = self.request("POST", f"/projects/{_id(project_id)}/shots", json=body)
        return Shot.model_validate(data)

    def update_shot(self, shot_id: int, **changes: Any) -> Shot:
        return Shot.model_validate(self.request("PATCH", f"/shots/{_id(shot_id)}", json=changes))

    def move_shot(self, shot_id: int, position: int) -> Shot:
        data = self.request("POST", f"/shots/{_id(shot_id)}/move", json={"position": position})
        return Shot.model_validate(data)

    def delete_shot(self, shot_id: int) -> None:
        self.request("DELETE", f"/shots/{_id(shot_id)}")

    # ---- rendering ------------------------------------------------------------------------
    def preview(
        self,
        project_id: int,
        shot_ids: Sequence[int] | None = None,
        *,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> list[RenderJob]:
        """Queue a preview frame per shot (all shots when `shot_ids` is None)."""
        return self._shots_job("previews", project_id, shot_ids, priority, wait, progress)

    def render(
        self,
        project_id: int,
        shot_ids: Sequence[int] | None = None,
        *,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> list[RenderJob]:
        """Queue a clip (a take) per shot (all shots when `shot_ids` is None)."""
        return self._shots_job("renders", project_id, shot_ids, priority, wait, progress)

    def _shots_job(
        self,
        route: str,
        project_id: int,
        shot_ids: Sequence[int] | None,
        priority: int,
        wait: bool,
        progress: bool,
    ) -> list[RenderJob]:
        body = {
            "shot_ids": None if shot_ids is None else list(shot_ids),
            "priority": priority,
        }
        data = self._submit(f"/projects/{_id(project_id)}/{route}", body)
        jobs = [_job(j) for j in data["items"]]
        return self.wait(jobs, progress=progress) if wait else jobs

    def assemble(
        self,
        project_id: int,
        *,
        crossfade: float = 0.0,
        title: str | None = None,
        title_seconds: float = 2.0,
        audio: str | Path | None = None,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> RenderJob:
        """Queue the film: each shot's chosen take (else its newest), in shot order."""
        if audio is not None:
            raise NotImplementedError(
                "assemble(audio=…) is not available over the REST API (it takes no uploads); "
                f"assemble without audio, or {_ON_SERVER}"
            )
        body = {
            "crossfade": crossfade,
            "title": title,
            "title_seconds": title_seconds,
            "priority": priority,
        }
        job = _job(self._submit(f"/projects/{_id(project_id)}/film", body))
        return self.wait([job], progress=progress)[0] if wait else job

    def estimate(
        self, project_id: int, shot_ids: Sequence[int] | None = None, kind: str = "clip"
    ) -> float:
        """What `render` (or, with kind="preview", `preview`) of these shots would cost now."""
        params: dict[str, Any] = {"kind": kind}
        if shot_ids is not None:
            params["shot_ids"] = list(shot_ids)
        return float(self._get(f"/projects/{_id(project_id)}/estimate", **params)["credits"])

    def wait(
        self,
        jobs: Sequence[RenderJob],
        *,
        progress: bool = True,
        timeout: float | None = None,
        poll: float = 0.5,
    ) -> list[RenderJob]:
        """Block until every job finishes, with a tqdm bar; returns the jobs' final state.
        `TimeoutError` after `timeout` seconds."""
        from tqdm.auto import tqdm

        if not jobs:
            return []
        current: dict[int, RenderJob] = {_id(j.id): j for j in jobs}
        order = list(current)
        kinds = {j.kind for j in jobs}
        desc = {"preview": "Previews", "clip": "Clips", "film": "Film"}.get(
            kinds.pop() if len(kinds) == 1 else "", "Renders"
        )
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = tqdm(
            total=len(order),
            desc=desc,
            unit="job",
            disable=not progress,
            bar_format="{l_bar}{bar}| {n:.1f}/{total} jobs [{elapsed}<{remaining}]",
        )
        try:
            first = True
            while True:
                for job_id in order:
                    if first or not _finished(current[job_id]):
                        current[job_id] = self.job(job_id)
                first = False
                done = [_finished(current[i]) for i in order]
                bar.n = sum(
                    1 if d else current[i].progress for i, d in zip(order, done, strict=True)
                )
                bar.refresh()
                if all(done):
                    return [current[i] for i in order]
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"Jobs still running after {timeout}s")
                time.sleep(poll)
        finally:
            bar.close()

    # ---- jobs and takes -------------------------------------------------------------------
    def jobs(
        self,
        project_id: int | None = None,
        statuses: Iterable[str] | None = None,
        kinds: Iterable[str] | None = None,
        limit: int = 500,
        before_id: int | None = None,
    ) -> list[RenderJob]:
        """Newest first, following the API's pages up to `limit` jobs; `before_id` pages on
        (only jobs with a smaller id)."""
        found: list[RenderJob] = []
        cursor = None if before_id is None else str(int(before_id))
        params: dict[str, Any] = {
            "project_id": project_id,
            "status": [str(s) for s in statuses] if statuses else None,
            "kind": [str(k) for k in kinds] if kinds else None,
        }
        while len(found) < limit:
            page = self._get(
                "/jobs", **params, limit=min(self.page_size, limit - len(found)), cursor=cursor
            )
            found += [_job(j) for j in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        return found

    def job(self, job_id: int) -> RenderJob:
        return _job(self._get(f"/jobs/{_id(job_id)}"))

    def cancel(self, job_id: int) -> RenderJob:
        return _job(self.request("POST", f"/jobs/{_id(job_id)}/cancel"))

    def retry(self, job_id: int) -> RenderJob:
        """Failed or cancelled → queued again (its cost is reserved again)."""
        return _job(self.request("POST", f"/jobs/{_id(job_id)}/retry"))

    def set_priority(self, job_id: int, priority: int) -> RenderJob:
        data = self.request("POST", f"/jobs/{_id(job_id)}/priority", json={"priority": priority})
        return _job(data)

    def raise_priority(self, job_id: int) -> RenderJob:
        """Move a queued job to the front."""
        return _job(self.request("POST", f"/jobs/{_id(job_id)}/raise"))

    def takes(self, shot_id: int) -> list[RenderJob]:
        """The shot's succeeded clips, newest first."""
        data = self._get(f"/shots/{_id(shot_id)}/takes")
        return [_job(j) for j in data["items"]]

    def choose_take(self, shot_id: int, job_id: int) -> Shot:
        data = self.request("POST", f"/shots/{_id(shot_id)}/takes/{_id(job_id)}/choose")
        return Shot.model_validate(data)

    def workers(self) -> list[Worker]:
        """Every worker that ever reported, newest heartbeat first."""
        return [Worker.model_validate(w) for w in self._get("/workers")["items"]]

    def pipelines(self) -> list[str]:
        """The pipeline names a project or shot can use (local: `studio.catalogue.names()`)."""
        return [p["name"] for p in self._get("/pipelines")["items"]]

    def readiness(self) -> dict[str, str]:
        """'ok' or the error for each of the server's dependencies: database, storage, queue."""
        try:
            response = self.client.get("/readyz")
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"Cannot reach {self.url}: {exc}") from exc
        try:
            checks: dict[str, str] = dict(response.json()["checks"])
        except (ValueError, KeyError, TypeError):
            raise error_from(response) from None
        return checks

    # ---- files ----------------------------------------------------------------------------
    def _artifact_data(self, artifact_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self._get(f"/artifacts/{_id(artifact_id)}")
        return data

    def artifact(self, artifact_id: int) -> Artifact:
        """Content type, bytes, sha256, provenance (`key` is the file's name remotely)."""
        data = self._artifact_data(artifact_id)
        return _artifact(data)

    def signed_link(self, artifact_id: int, filename: str | None = None) -> str:
        """A site path (/files/…) that downloads the artifact without a login until it
        expires; prefix it with the studio's address (or use `download_url`)."""
        link = str(self._artifact_data(artifact_id)["download_url"])
        if filename:
            path, _, query = link.partition("?")
            link = f"{path.rsplit('/', 1)[0]}/{quote(filename)}?{query}"
        return link

    def download_url(self, artifact_id: int, filename: str | None = None) -> str:
        """The signed download link as an absolute URL (usable without a token until it
        expires)."""
        return urljoin(self.url + "/", self.signed_link(artifact_id, filename).lstrip("/"))

    def artifact_path(self, artifact_id: int) -> Path:
        """The artifact as a local file: downloaded once into `cache_dir`, sha256-checked."""
        data = self._artifact_data(artifact_id)
        name = _file_name(data)
        target = self.cache_dir / f"{_id(artifact_id)}-{data['sha256'][:16]}{Path(name).suffix}"
        if target.exists() and _sha256(target) == data["sha256"]:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        for attempt in range(self.retries + 1):
            try:
                digest = self._download(str(data["download_url"]), partial)
            except (httpx.TransportError, ServerError) as exc:
                partial.unlink(missing_ok=True)
                if attempt == self.retries:
                    if isinstance(exc, ServerError):
                        raise
                    raise ServerUnreachable(f"Download from {self.url} failed: {exc}") from exc
                time.sleep(min(self.backoff * 2**attempt, 5.0))
                continue
            if digest != data["sha256"]:
                partial.unlink(missing_ok=True)
                raise ServerError(
                    f"Artifact #{artifact_id} arrived corrupted (sha256 {digest[:12]}…, "
                    f"expected {data['sha256'][:12]}…)"
                )
            partial.replace(target)
            return target
        raise AssertionError("unreachable")  # pragma: no cover

    def _download(self, link: str, path: Path) -> str:
        digest = hashlib.sha256()
        with self.client.stream("GET", link, follow_redirects=True) as response:
            if response.status_code >= 400:
                response.read()
                raise error_from(response)
            with path.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        return digest.hexdigest()

    def preview_path(self, shot: Shot) -> Path | None:
        """The downloaded file of a shot's latest preview frame, if it has one."""
        if shot.preview_job_id is None:
            return None
        job = self.job(shot.preview_job_id)
        return self.artifact_path(job.artifact_id) if job.artifact_id else None

    # ---- the queue ------------------------------------------------------------------------
    def queue_positions(self) -> dict[int, int]:
        """Position in the queue (1 = next) of every queued job this user can see."""
        return {e["job_id"]: e["position"] for e in self._get("/queue")["items"]}

    def queue_position(self, job_id: int) -> int | None:
        """The job's place in the queue (1 = next); None unless it is queued."""
        self.job(job_id)  # NotFound for a job that is not the caller's
        return self.queue_positions().get(job_id)

    def pause_queue(self, owner: str | None = None) -> None:
        """Hold this user's queued jobs (running ones finish)."""
        self._own(owner, "queue")
        self.request("POST", "/queue/pause")

    def resume_queue(self, owner: str | None = None) -> None:
        self._own(owner, "queue")
        self.request("POST", "/queue/resume")

    def queue_paused(self, owner: str | None = None) -> bool:
        self._own(owner, "queue")
        return bool(self._get("/queue/paused")["paused"])

    def move_before(self, job_id: int, before_job_id: int) -> RenderJob:
        """Reorder queued jobs: `job_id` runs right before `before_job_id`."""
        body = {"before_job_id": _id(before_job_id)}
        return _job(self.request("POST", f"/jobs/{_id(job_id)}/move-before", json=body))

    # ---- the Lab --------------------------------------------------------------------------
    def lab_run(
        self,
        pipeline: str,
        prompt: str,
        *,
        negative_prompt: str = "",
        seed: int = 0,
        overrides: dict[str, Any] | None = None,
        lora_scale: float | str | None = None,
        memory: list[str] | None = None,
        owner: str | None = None,
        wait: bool = False,
        progress: bool = True,
    ) -> RenderJob:
        """One render of a catalogue pipeline with tweaked parameters (see studio.lab.KNOBS)."""
        self._own(owner, "Lab")
        body = _lab_body(pipeline, prompt, negative_prompt, seed, overrides, lora_scale, memory)
        job = _job(self._submit("/lab/runs", body))
        return self.wait([job], progress=progress)[0] if wait else job

    def lab_sweep(
        self,
        pipeline: str,
        prompt: str,
        *,
        axes: dict[str, list[Any]],
        negative_prompt: str = "",
        seed: int = 0,
        overrides: dict[str, Any] | None = None,
        lora_scale: float | str | None = None,
        memory: list[str] | None = None,
        owner: str | None = None,
        wait: bool = False,
        progress: bool = True,
    ) -> list[RenderJob]:
        """A grid over up to two parameters (e.g. seed × guidance), one queued job per cell."""
        self._own(owner, "Lab")
        body = _lab_body(pipeline, prompt, negative_prompt, seed, overrides, lora_scale, memory)
        body["axes"] = axes
        jobs = [_job(j) for j in self._submit("/lab/sweeps", body)["items"]]
        return self.wait(jobs, progress=progress) if wait else jobs

    def lab_jobs(self, owner: str | None = None, limit: int = 60) -> list[RenderJob]:
        """The Lab's jobs, newest first (at most 100 over the API)."""
        self._own(owner, "Lab")
        data = self._get("/lab/jobs", limit=max(1, min(int(limit), PAGE)))
        return [_job(j) for j in data["items"]]

    def save_preset(
        self,
        name: str,
        pipeline: str,
        overrides: dict[str, Any] | None = None,
        *,
        lora_scale: float | str | None = None,
        memory: list[str] | None = None,
        description: str = "",
    ) -> PipelineEntry:
        """Save tweaks as a catalogue entry that shots and projects can use by `name`. The
        entry returned has the published fields (name, tasks, description, defaults)."""
        body = {
            "name": name,
            "pipeline": pipeline,
            "overrides": overrides,
            "lora_scale": lora_scale,
            "memory": memory,
            "description": description,
        }
        data = self.request("POST", "/presets", json=body)
        return PipelineEntry(
            name=data["name"],
            tasks=tuple(data["tasks"]),
            implementation="",
            description=data["description"],
            defaults=dict(data["defaults"]),
        )

    # ---- API tokens -----------------------------------------------------------------------
    def create_token(self, name: str) -> tuple[ApiToken, str]:
        """A new API token for this user: (its record, the token — shown only now)."""
        data = self.request("POST", "/tokens", json={"name": name})
        return self._token(data), str(data["token"])

    def tokens(self) -> list[ApiToken]:
        return [self._token(t) for t in self._get("/tokens")["items"]]

    def revoke_token(self, token_id: int) -> ApiToken:
        return self._token(self.request("DELETE", f"/tokens/{_id(token_id)}"))

    def _token(self, data: dict[str, Any]) -> ApiToken:
        """An ApiToken from its JSON (the hash is not published: empty here)."""
        fields = {k: data[k] for k in ("id", "name", "prefix", "created_at", "last_used_at")}
        return ApiToken.model_validate({**fields, "owner": self.user, "token_hash": ""})

    # ---- users and credits (admins) -------------------------------------------------------
    def users(self) -> list[User]:
        """Every account (admins only; `created_at` is not published here: now)."""
        return [
            User.model_validate({"name": u["user"], "role": u["role"], "disabled": u["disabled"]})
            for u in self.usage()
        ]

    def create_user(self, name: str, password: str, *, role: str = "creator") -> User:
        """A new account (admins only); it starts with the tier's sign-up credits."""
        body = {"name": name, "password": password, "role": role}
        return User.model_validate(self.request("POST", "/users", json=body))

    def disable_user(self, name: str, disabled: bool = True) -> User:
        """Disable (or enable) an account: its sessions end and its tokens are revoked."""
        action = "disable" if disabled else "enable"
        return User.model_validate(self.request("POST", f"/users/{_name(name)}/{action}"))

    def grant_credits(self, name: str, amount: float, reason: str) -> LedgerEntry:
        """Add credits to a user (a negative amount takes unspent credits back). Admins only."""
        body = {"user": name, "amount": amount, "reason": reason}
        e = self.request("POST", "/credits/grants", json=body)
        return LedgerEntry.model_validate(
            {
                "id": e["id"],
                "owner": name,
                "kind": e["kind"],
                "amount_cents": round(e["amount"] * 100),
                "balance_after_cents": round(e["balance_after"] * 100),
                "job_id": e["job_id"],
                "reason": e["reason"],
                "created_at": e["created_at"],
            }
        )

    def usage(self) -> list[dict[str, Any]]:
        """Per user: balance, credits held by active jobs, spent, and jobs by status."""
        return [dict(row) for row in self._get("/users")["items"]]

    # ---- local only -----------------------------------------------------------------------
    as_user = _local_only("as_user", "connect with that user's token instead")
    authenticate = _local_only("authenticate", "log in on the web UI, or use an API token")
    set_role = _local_only("set_role", _ON_SERVER)
    reset_password = _local_only("reset_password", "use the Account tab, or " + _ON_SERVER)
    lab_project = _local_only("lab_project", "use lab_jobs(), or " + _ON_SERVER)
    expand_prompts = _local_only(
        "expand_prompts", "it runs a model in the calling process; " + _ON_SERVER
    )
    export = _local_only("export", "artifact_path(id) downloads the file; copy it from there")
    live_preview = _local_only("live_preview", "use the Render tab, or " + _ON_SERVER)


def _id(value: int | None) -> int:
    """An id for a URL path: an int (a bool or a string would build another route)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotFound(f"No object #{value}")
    return value


def _name(value: str) -> str:
    """A user name for a URL path (quoted; an empty or non-string name is no user)."""
    if not isinstance(value, str) or not value.strip():
        raise NotFound(f"No user {value!r}")
    return quote(value, safe="")


def _lab_body(
    pipeline: str,
    prompt: str,
    negative_prompt: str,
    seed: int,
    overrides: dict[str, Any] | None,
    lora_scale: float | str | None,
    memory: list[str] | None,
) -> dict[str, Any]:
    return {
        "pipeline": pipeline,
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "seed": seed,
        "overrides": overrides,
        "lora_scale": lora_scale,
        "memory": memory,
    }


def _job(data: dict[str, Any]) -> RenderJob:
    """A RenderJob from its JSON (the params hash is not published: empty here)."""
    return RenderJob.model_validate({"params_hash": "", **data})


def _finished(job: RenderJob) -> bool:
    return JobStatus(job.status).finished


def _file_name(data: dict[str, Any]) -> str:
    """The file name in an artifact's signed link (it carries the file's extension)."""
    return str(data["download_url"]).partition("?")[0].rsplit("/", 1)[-1]


def _artifact(data: dict[str, Any]) -> Artifact:
    fields = {k: v for k, v in data.items() if k not in ("download_url", "direct_url")}
    return Artifact.model_validate({**fields, "key": _file_name(data)})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
