"""`Studio.connect(url, token)`: the notebook API of `Studio`, over a studio's REST API.

    from studio import Studio

    with Studio.connect("https://studio.example.com", "sfs_…") as studio:  # or $STUDIO_TOKEN
        project = studio.create_project("Rain", height=240, fps=12)
        shots = studio.breakdown(project.id, open("script.txt").read())
        studio.update_shot(shots[0].id, camera_move="dolly-in", duration=4)
        studio.render(project.id, wait=True)  # a tqdm bar while the server renders
        film = studio.assemble(project.id, title="Rain", wait=True)
        print(studio.artifact_path(film.artifact_id))  # downloaded, sha256-checked

The methods take and return what `Studio`'s do: the read models `ProjectPublic`,
`ShotPublic`, `JobPublic`, `ArtifactPublic`, `WorkerPublic`, `UserPublic`, `TokenPublic`
(studio.core.models) and `LedgerEntry` (credits.ledger), parsed from the same JSON the REST
API declares for them; the same `studio.core.errors` exceptions (`NotFound`, `InvalidInput`
with `.field`, `Conflict`, `Unauthorized`, `Forbidden`, `PaymentRequired`, `QuotaExceeded`)
are raised for the server's error bodies, so `except NotFound:` works alike. The token is
the caller's: every method acts as that user.

The routed methods (those with an `@route` in studio/surface/protocol.py) are derived from
their declarations (studio/client/derived.py); the others are written here, each needing
more than one request or more than a read model.

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
- An argument the REST API does not take raises `NotImplementedError` unless it has its
  default: `owner=` another user (`create_project`, the queue controls, the Lab).
- `pipelines()` lists the catalogue's pipeline names (locally: `studio.catalogue.names()`).
- `wait()` polls `GET /api/v1/jobs/{id}` (`poll=` seconds); `request(method, path, …)`
  calls any /api/v1 route and returns its JSON.
- `lab_jobs` returns at most 100; `save_preset` returns a `PipelineEntry` with the published
  fields only (name, tasks, description, defaults); `users()` gives name, role and disabled
  (from `usage()`; `created_at` is the time of the call).
- Local only (they raise `NotImplementedError` naming the local way): `as_user`,
  `authenticate`, `set_role`, `reset_password`, `lab_project`, `expand_prompts`, `export`
  and `live_preview`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

from pipelines.catalogue import PipelineEntry
from studio.client.derived import over_rest
from studio.client.transport import (
    ON_SERVER,
    PAGE,
    ServerUnreachable,
    error_from,
    path_id,
)
from studio.client.waiting import RemoteWaiting
from studio.core.models import CastMemberPublic, JobPublic, JobStatus, Priority, ShotPublic
from studio.surface.protocol import StudioAPI


def _local_only(name: str, alternative: str) -> Callable[..., NoReturn]:
    def method(self: RemoteStudio, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise NotImplementedError(
            f"{name}() is not available over the REST API (Studio.connect); {alternative}"
        )

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Not available remotely: {alternative}"
    return method


class RemoteStudio(RemoteWaiting):
    """A studio reached over its REST API, with the methods of `studio.api.Studio`.

    `url`: the studio's address (e.g. https://studio.example.com); `token`: an API token
    (`sfs_…`; default $STUDIO_TOKEN; none for a studio without accounts); `timeout`: seconds
    per request; `retries`/`backoff`: how often and how patiently to retry (see the module
    docstring); `cache_dir`: where `artifact_path` keeps downloads; `transport`: an httpx
    transport (tests, proxies). `page_size`: jobs per page when `jobs()` walks the pages."""

    # ---- routed methods: derived from their declarations in StudioAPI ---------------------
    create_project = over_rest(StudioAPI.create_project)
    projects = over_rest(StudioAPI.projects)
    project = over_rest(StudioAPI.project)
    update_project = over_rest(StudioAPI.update_project)
    delete_project = over_rest(StudioAPI.delete_project)
    shots = over_rest(StudioAPI.shots)
    shot = over_rest(StudioAPI.shot)
    add_shot = over_rest(StudioAPI.add_shot)
    update_shot = over_rest(StudioAPI.update_shot)
    move_shot = over_rest(StudioAPI.move_shot)
    duplicate_shot = over_rest(StudioAPI.duplicate_shot)
    delete_shot = over_rest(StudioAPI.delete_shot)
    takes = over_rest(StudioAPI.takes)
    lines = over_rest(StudioAPI.lines)
    voices = over_rest(StudioAPI.voices)
    cast = over_rest(StudioAPI.cast)
    cast_member = over_rest(StudioAPI.cast_member)
    add_cast_member = over_rest(StudioAPI.add_cast_member)
    update_cast_member = over_rest(StudioAPI.update_cast_member)
    delete_cast_member = over_rest(StudioAPI.delete_cast_member)
    merge_cast_member = over_rest(StudioAPI.merge_cast_member)
    render_character_sheet = over_rest(StudioAPI.render_character_sheet)
    pick_cast_reference = over_rest(StudioAPI.pick_cast_reference)
    clear_cast_reference = over_rest(StudioAPI.clear_cast_reference)

    def set_cast_lora(self, member_id: int, lora: bytes | str | Path) -> CastMemberPublic:
        """Not over REST: a LoRA file (hundreds of MB) is given on the server."""
        raise NotImplementedError(
            "set_cast_lora is not available over the REST API (LoRA files are too large for "
            f"its bodies); {ON_SERVER}, or use the Cast tab"
        )

    def clear_cast_lora(self, member_id: int) -> CastMemberPublic:
        """Not over REST, like set_cast_lora (`update_cast_member(id, lora_scale=0)` turns
        a LoRA off from here)."""
        raise NotImplementedError(
            f"clear_cast_lora is not available over the REST API; {ON_SERVER}, or set "
            "lora_scale=0 with update_cast_member"
        )

    def set_cast_reference(self, member_id: int, image: bytes | str | Path) -> CastMemberPublic:
        """Give a member a reference picture (bytes or a file path): checked and shrunk here
        to the PNG the studio keeps, then uploaded (PUT /cast/{member_id}/reference)."""
        from studio.core.references import normalise_reference, read_picture

        png = normalise_reference(read_picture(image))
        answer = self._put_bytes(f"/cast/{path_id(member_id)}/reference", png, "image/png")
        return CastMemberPublic.model_validate(answer)

    def set_shot_sound(
        self, shot_id: int, sound: bytes | str | Path, gain_db: float | None = None
    ) -> ShotPublic:
        """Put a sound under a shot (an audio file's bytes or path): PUT /shots/{id}/sound."""
        data = sound if isinstance(sound, bytes) else Path(sound).expanduser().read_bytes()
        shot = ShotPublic.model_validate(
            self._put_bytes(f"/shots/{path_id(shot_id)}/sound", data, "application/octet-stream")
        )
        return shot if gain_db is None else self.update_shot(shot_id, sound_gain_db=gain_db)

    clear_shot_sound = over_rest(StudioAPI.clear_shot_sound)
    consistency = over_rest(StudioAPI.consistency)
    scenes = over_rest(StudioAPI.scenes)
    update_scene = over_rest(StudioAPI.update_scene)
    choose_take = over_rest(StudioAPI.choose_take)
    job = over_rest(StudioAPI.job)
    cancel = over_rest(StudioAPI.cancel)
    retry = over_rest(StudioAPI.retry)
    set_priority = over_rest(StudioAPI.set_priority)
    raise_priority = over_rest(StudioAPI.raise_priority)
    move_before = over_rest(StudioAPI.move_before)
    workers = over_rest(StudioAPI.workers)
    create_user = over_rest(StudioAPI.create_user)
    tokens = over_rest(StudioAPI.tokens)
    revoke_token = over_rest(StudioAPI.revoke_token)

    # ---- hand-written: more than one request, or more than the declared shapes -----------

    # ---- script and shots -----------------------------------------------------------------
    def breakdown(self, project_id: int, script: str | bytes | None = None) -> list[ShotPublic]:
        """Replace the project's shots with a breakdown of `script` (or the stored one)."""
        if isinstance(script, bytes):
            from studio.film.breakdown import decode_script

            script = decode_script(script)
        data = self.request(
            "POST", f"/projects/{path_id(project_id)}/breakdown", json={"script": script}
        )
        return [ShotPublic.model_validate(s) for s in data["items"]]

    # ---- rendering ------------------------------------------------------------------------
    def preview(
        self,
        project_id: int,
        shot_ids: Sequence[int] | None = None,
        *,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> list[JobPublic]:
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
    ) -> list[JobPublic]:
        """Queue a clip (a take) per shot (all shots when `shot_ids` is None)."""
        return self._shots_job("renders", project_id, shot_ids, priority, wait, progress)

    def speak(
        self,
        project_id: int,
        shot_ids: Sequence[int] | None = None,
        *,
        seed: int | None = None,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> list[JobPublic]:
        """Queue a speech job per shot's line (shots without one are skipped)."""
        extra = {} if seed is None else {"seed": seed}
        return self._shots_job("lines", project_id, shot_ids, priority, wait, progress, extra)

    def preview_voice(
        self,
        project_id: int,
        text: str = "",
        *,
        member_id: int | None = None,
        engine: str | None = None,
        voice: str | None = None,
        speed: float | None = None,
        pitch: float | None = None,
        wait: bool = True,
        progress: bool = False,
    ) -> JobPublic:
        """Speak `text` in a member's (or the narrator's) voice; the job's artifact is a WAV."""
        body: dict[str, Any] = {"text": text, "member_id": member_id, "engine": engine}
        body |= {"voice": voice}
        body |= {"speed": speed, "pitch": pitch}
        path = f"/projects/{path_id(project_id)}/voice-preview"
        job = _job(self._submit(path, {k: v for k, v in body.items() if v is not None}))
        return self.wait([job], progress=progress)[0] if wait else job

    def _shots_job(
        self,
        route: str,
        project_id: int,
        shot_ids: Sequence[int] | None,
        priority: int,
        wait: bool,
        progress: bool,
        extra: dict[str, Any] | None = None,
    ) -> list[JobPublic]:
        body = {
            "shot_ids": None if shot_ids is None else list(shot_ids),
            "priority": priority,
            **(extra or {}),
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
        dialogue: bool = True,
        subtitles: bool = True,
        burn_subtitles: bool = False,
        speaker_names: bool = False,
        loudness: float | None = -16.0,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> JobPublic:
        """Queue the film: each shot's chosen take (else its newest), in shot order, with
        its spoken lines and subtitles."""
        if audio is not None:
            raise NotImplementedError(
                "assemble(audio=…) is not available over the REST API (it takes no uploads); "
                f"assemble without audio, or {ON_SERVER}"
            )
        body = {
            "crossfade": crossfade,
            "title": title,
            "title_seconds": title_seconds,
            "dialogue": dialogue,
            "subtitles": subtitles,
            "burn_subtitles": burn_subtitles,
            "speaker_names": speaker_names,
            "loudness": loudness,
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

    # ---- jobs and takes -------------------------------------------------------------------
    def jobs(
        self,
        project_id: int | None = None,
        statuses: Iterable[str] | None = None,
        kinds: Iterable[str] | None = None,
        limit: int = 500,
        before_id: int | None = None,
    ) -> list[JobPublic]:
        """Newest first, following the API's pages up to `limit` jobs; `before_id` pages on
        (only jobs with a smaller id)."""
        found: list[JobPublic] = []
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
    def preview_path(self, shot: ShotPublic) -> Path | None:
        """The downloaded file of a shot's latest preview frame, if it has one."""
        if shot.preview_job_id is None:
            return None
        job = self.job(shot.preview_job_id)
        return self.artifact_path(job.artifact_id) if job.artifact_id else None

    def queue_position(self, job_id: int) -> int | None:
        """The job's place in the queue (1 = next); None unless it is queued."""
        self.job(job_id)  # NotFound for a job that is not the caller's
        return self.queue_positions([job_id]).get(job_id)

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
    ) -> JobPublic:
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
    ) -> list[JobPublic]:
        """A grid over up to two parameters (e.g. seed × guidance), one queued job per cell."""
        self._own(owner, "Lab")
        body = _lab_body(pipeline, prompt, negative_prompt, seed, overrides, lora_scale, memory)
        body["axes"] = axes
        jobs = [_job(j) for j in self._submit("/lab/sweeps", body)["items"]]
        return self.wait(jobs, progress=progress) if wait else jobs

    def lab_jobs(self, owner: str | None = None, limit: int = 60) -> list[JobPublic]:
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


def _job(data: dict[str, Any]) -> JobPublic:
    return JobPublic.model_validate(data)


def _finished(job: JobPublic) -> bool:
    return JobStatus(job.status).finished


if TYPE_CHECKING:

    def _satisfies_surface(studio: RemoteStudio) -> StudioAPI:
        return studio  # mypy checks RemoteStudio against the one declared surface
