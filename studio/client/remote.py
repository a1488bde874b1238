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
detached like the local ones; the same `studio.core.errors` exceptions (`NotFound`,
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

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

from pipelines.catalogue import PipelineEntry
from studio.client.files import RemoteFiles
from studio.client.transport import (
    ON_SERVER,
    PAGE,
    ServerUnreachable,
    error_from,
    path_id,
)
from studio.core.models import (
    JobStatus,
    Priority,
    Project,
    RenderJob,
    Shot,
    Worker,
)


def _local_only(name: str, alternative: str) -> Callable[..., NoReturn]:
    def method(self: RemoteStudio, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise NotImplementedError(
            f"{name}() is not available over the REST API (Studio.connect); {alternative}"
        )

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Not available remotely: {alternative}"
    return method


class RemoteStudio(RemoteFiles):
    """A studio reached over its REST API, with the methods of `studio.api.Studio`.

    `url`: the studio's address (e.g. https://studio.example.com); `token`: an API token
    (`sfs_…`; default $STUDIO_TOKEN; none for a studio without accounts); `timeout`: seconds
    per request; `retries`/`backoff`: how often and how patiently to retry (see the module
    docstring); `cache_dir`: where `artifact_path` keeps downloads; `transport`: an httpx
    transport (tests, proxies). `page_size`: jobs per page when `jobs()` walks the pages."""

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
        return Project.model_validate(self._get(f"/projects/{path_id(project_id)}"))

    def update_project(self, project_id: int, **changes: Any) -> Project:
        data = self.request("PATCH", f"/projects/{path_id(project_id)}", json=changes)
        return Project.model_validate(data)

    def delete_project(self, project_id: int) -> None:
        self.request("DELETE", f"/projects/{path_id(project_id)}")

    # ---- script and shots -----------------------------------------------------------------
    def breakdown(self, project_id: int, script: str | bytes | None = None) -> list[Shot]:
        """Replace the project's shots with a breakdown of `script` (or the stored one)."""
        if isinstance(script, bytes):
            from studio.film.breakdown import decode_script

            script = decode_script(script)
        data = self.request(
            "POST", f"/projects/{path_id(project_id)}/breakdown", json={"script": script}
        )
        return [Shot.model_validate(s) for s in data["items"]]

    def shots(self, project_id: int) -> list[Shot]:
        return [
            Shot.model_validate(s)
            for s in self._get(f"/projects/{path_id(project_id)}/shots")["items"]
        ]

    def shot(self, shot_id: int) -> Shot:
        return Shot.model_validate(self._get(f"/shots/{path_id(shot_id)}"))

    def add_shot(
        self, project_id: int, prompt: str = "", position: int | None = None, **fields: Any
    ) -> Shot:
        body = {"prompt": prompt, **fields}
        if position is not None:
            body["position"] = position
        data = self.request("POST", f"/projects/{path_id(project_id)}/shots", json=body)
        return Shot.model_validate(data)

    def update_shot(self, shot_id: int, **changes: Any) -> Shot:
        return Shot.model_validate(
            self.request("PATCH", f"/shots/{path_id(shot_id)}", json=changes)
        )

    def move_shot(self, shot_id: int, position: int) -> Shot:
        data = self.request("POST", f"/shots/{path_id(shot_id)}/move", json={"position": position})
        return Shot.model_validate(data)

    def delete_shot(self, shot_id: int) -> None:
        self.request("DELETE", f"/shots/{path_id(shot_id)}")

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
        data = self._submit(f"/projects/{path_id(project_id)}/{route}", body)
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
                f"assemble without audio, or {ON_SERVER}"
            )
        body = {
            "crossfade": crossfade,
            "title": title,
            "title_seconds": title_seconds,
            "priority": priority,
        }
        job = _job(self._submit(f"/projects/{path_id(project_id)}/film", body))
        return self.wait([job], progress=progress)[0] if wait else job

    def estimate(
        self, project_id: int, shot_ids: Sequence[int] | None = None, kind: str = "clip"
    ) -> float:
        """What `render` (or, with kind="preview", `preview`) of these shots would cost now."""
        params: dict[str, Any] = {"kind": kind}
        if shot_ids is not None:
            params["shot_ids"] = list(shot_ids)
        return float(self._get(f"/projects/{path_id(project_id)}/estimate", **params)["credits"])

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
        current: dict[int, RenderJob] = {path_id(j.id): j for j in jobs}
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
        return _job(self._get(f"/jobs/{path_id(job_id)}"))

    def cancel(self, job_id: int) -> RenderJob:
        return _job(self.request("POST", f"/jobs/{path_id(job_id)}/cancel"))

    def retry(self, job_id: int) -> RenderJob:
        """Failed or cancelled → queued again (its cost is reserved again)."""
        return _job(self.request("POST", f"/jobs/{path_id(job_id)}/retry"))

    def set_priority(self, job_id: int, priority: int) -> RenderJob:
        data = self.request(
            "POST", f"/jobs/{path_id(job_id)}/priority", json={"priority": priority}
        )
        return _job(data)

    def raise_priority(self, job_id: int) -> RenderJob:
        """Move a queued job to the front."""
        return _job(self.request("POST", f"/jobs/{path_id(job_id)}/raise"))

    def takes(self, shot_id: int) -> list[RenderJob]:
        """The shot's succeeded clips, newest first."""
        data = self._get(f"/shots/{path_id(shot_id)}/takes")
        return [_job(j) for j in data["items"]]

    def choose_take(self, shot_id: int, job_id: int) -> Shot:
        data = self.request("POST", f"/shots/{path_id(shot_id)}/takes/{path_id(job_id)}/choose")
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

    # ---- the queue ------------------------------------------------------------------------
    def preview_path(self, shot: Shot) -> Path | None:
        """The downloaded file of a shot's latest preview frame, if it has one."""
        if shot.preview_job_id is None:
            return None
        job = self.job(shot.preview_job_id)
        return self.artifact_path(job.artifact_id) if job.artifact_id else None

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
        body = {"before_job_id": path_id(before_job_id)}
        return _job(self.request("POST", f"/jobs/{path_id(job_id)}/move-before", json=body))

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
        """One render of a catalogue pipeline with tweaked parameters (studio.core.lab.KNOBS)."""
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

    # ---- local only -----------------------------------------------------------------------
    as_user = _local_only("as_user", "connect with that user's token instead")

    authenticate = _local_only("authenticate", "log in on the web UI, or use an API token")

    set_role = _local_only("set_role", ON_SERVER)

    reset_password = _local_only("reset_password", "use the Account tab, or " + ON_SERVER)

    lab_project = _local_only("lab_project", "use lab_jobs(), or " + ON_SERVER)

    expand_prompts = _local_only(
        "expand_prompts", "it runs a model in the calling process; " + ON_SERVER
    )

    export = _local_only("export", "artifact_path(id) downloads the file; copy it from there")

    live_preview = _local_only("live_preview", "use the Render tab, or " + ON_SERVER)


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


if TYPE_CHECKING:
    from studio.api.surface import StudioAPI

    def _satisfies_surface(studio: RemoteStudio) -> StudioAPI:
        return studio  # mypy checks RemoteStudio against the one declared surface
