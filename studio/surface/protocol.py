"""The studio's public surface, declared once: `StudioAPI`, a typed Protocol of every method a
notebook, the CLI or the UI may call, with its signature and docstring.

Both backends satisfy it, and mypy proves it (each module ends with a TYPE_CHECKING-only
assignment of an instance to `StudioAPI`):
- `Studio` (studio/api/): the local studio, one class per area;
- `RemoteStudio` (studio/client/): the same surface over the REST API (`Studio.connect`).

Code that should work with either (the SDK tests, examples, a notebook helper) is typed
against `StudioAPI`. A new public method starts here; the local studio adds a few calls that
only make sense inside the server (`as_user`, `authenticate`, `export`, ...), listed in
docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from credits.ledger import LedgerEntry
from pipelines.catalogue import PipelineEntry
from studio.core.models import (
    ArtifactPublic,
    CastConsistency,
    CastMemberPublic,
    JobPublic,
    Priority,
    ProjectPublic,
    ScenePublic,
    ShotPublic,
    TokenPublic,
    UserPublic,
    WorkerPublic,
)
from studio.surface.requests import (
    CastCreate,
    CastUpdate,
    MergeIn,
    MoveBeforeIn,
    MoveIn,
    PickReferenceIn,
    PriorityIn,
    ProjectCreate,
    ProjectUpdate,
    SceneUpdate,
    ShotCreate,
    ShotUpdate,
    UserIn,
)
from studio.surface.routes import route, routes_of
from studio.surface.timeline import TimelineAPI
from studio.surface.voices import VoicesAPI


@runtime_checkable
class StudioAPI(VoicesAPI, TimelineAPI, Protocol):
    """Every public method of a studio, local or remote; each acts as one user."""

    def pipelines(self) -> list[str]:
        """The catalogue's pipeline names (presets included), for a shot's or project's
        `preview_pipeline` / `clip_pipeline`."""
        ...

    @property
    def user(self) -> str:
        """The acting user's name (the token's owner)."""
        ...

    @property
    def is_admin(self) -> bool:
        """Whether the acting user is an admin (admins see and change every row)."""
        ...

    def readiness(self) -> dict[str, str]:
        """'ok' or the error for each dependency: database, storage, queue."""
        ...

    @route("POST", "/projects", tag="projects", body=ProjectCreate, status=201, omit_nulls=True)
    def create_project(
        self, name: str, script: str = "", *, owner: str | None = None, **fields: Any
    ) -> ProjectPublic:
        """A new film project owned by the acting user (`owner`: another user, admins only);
        `fields`: style_prompt, negative_prompt, aspect_ratio, height, fps, pipelines,
        chain_clips, chain_within_scene, scene_style_reference."""
        ...

    @route("GET", "/projects", tag="projects")
    def projects(self) -> list[ProjectPublic]:
        """The acting user's film projects (an admin's: everyone's), newest first."""
        ...

    @route("GET", "/projects/{project_id}", tag="projects")
    def project(self, project_id: int) -> ProjectPublic:
        """One project (NotFound when missing or not yours)."""
        ...

    @route("PATCH", "/projects/{project_id}", tag="projects", body=ProjectUpdate)
    def update_project(self, project_id: int, **changes: Any) -> ProjectPublic:
        """Change a project's fields (validated as in `create_project`)."""
        ...

    @route("DELETE", "/projects/{project_id}", tag="projects", status=204)
    def delete_project(self, project_id: int) -> None:
        """Delete a project with its shots and jobs (active jobs are cancelled first)."""
        ...

    def breakdown(self, project_id: int, script: str | bytes | None = None) -> list[ShotPublic]:
        """Replace the project's shots with a fresh breakdown of its script (or `script`)."""
        ...

    @route("GET", "/projects/{project_id}/shots", tag="shots", query=("ids",))
    def shots(self, project_id: int, ids: list[int] | None = None) -> list[ShotPublic]:
        """A project's shots in order; with `ids` (at most 500), only those of them. A shot's
        number in the film is its `position` + 1."""
        ...

    @route("GET", "/shots/{shot_id}", tag="shots")
    def shot(self, shot_id: int) -> ShotPublic:
        """One shot (NotFound when missing or not yours)."""
        ...

    @route("POST", "/projects/{project_id}/shots", tag="shots", body=ShotCreate, status=201)
    def add_shot(
        self, project_id: int, prompt: str = "", position: int | None = None, **fields: Any
    ) -> ShotPublic:
        """Insert a shot at `position` (default: last); `fields`: scene, dialogue, characters
        (cast names; new ones join the cast), duration, shot_size, camera_move, seed,
        pipelines."""
        ...

    @route("PATCH", "/shots/{shot_id}", tag="shots", body=ShotUpdate)
    def update_shot(self, shot_id: int, **changes: Any) -> ShotPublic:
        """Change a shot's fields (`position` moves it)."""
        ...

    @route("POST", "/shots/{shot_id}/move", tag="shots", body=MoveIn)
    def move_shot(self, shot_id: int, position: int) -> ShotPublic:
        """Move a shot to `position` (0 = first); the others are renumbered."""
        ...

    @route("POST", "/shots/{shot_id}/duplicate", tag="shots", status=201)
    def duplicate_shot(self, shot_id: int) -> ShotPublic:
        """A copy of the shot right after it: the same prompt, seed, timing and pipelines,
        without its preview frame or takes, to try a variation and keep the original."""
        ...

    @route("DELETE", "/shots/{shot_id}", tag="shots", status=204)
    def delete_shot(self, shot_id: int) -> None:
        """Delete a shot; its jobs are kept (history, render cache), active ones cancelled."""
        ...

    @route("GET", "/projects/{project_id}/cast", tag="cast")
    def cast(self, project_id: int) -> list[CastMemberPublic]:
        """The project's cast (characters, props, places), each with the shots it is in."""
        ...

    @route("GET", "/cast/{member_id}", tag="cast")
    def cast_member(self, member_id: int) -> CastMemberPublic:
        """One cast member (NotFound when missing or not yours)."""
        ...

    @route("POST", "/projects/{project_id}/cast", tag="cast", body=CastCreate, status=201)
    def add_cast_member(self, project_id: int, name: str, **fields: Any) -> CastMemberPublic:
        """A new cast member; `fields`: kind (character, prop, place), description, seed,
        reference_scale (0–1: how strongly its reference picture steers renders),
        lora_scale (0–2: its LoRA's strength).
        Its description joins the prompt of every shot that names it."""
        ...

    @route("PATCH", "/cast/{member_id}", tag="cast", body=CastUpdate)
    def update_cast_member(self, member_id: int, **changes: Any) -> CastMemberPublic:
        """Change a member: a new description changes the prompts of its shots (only those
        render again); a new name is written into its shots."""
        ...

    @route("DELETE", "/cast/{member_id}", tag="cast", status=204)
    def delete_cast_member(self, member_id: int) -> None:
        """Delete a cast member; its shots no longer name it."""
        ...

    @route("POST", "/cast/{member_id}/merge", tag="cast", body=MergeIn)
    def merge_cast_member(self, member_id: int, into_id: int) -> CastMemberPublic:
        """Two names for one person: the member's shots name `into_id` instead, which keeps
        its description (or takes this one's when it has none); the member is deleted."""
        ...

    def set_cast_reference(self, member_id: int, image: bytes | str | Path) -> CastMemberPublic:
        """Give a member a reference picture (PNG, JPEG or WebP bytes, or a file path): shots
        that name it are conditioned on it by pipelines that support references (the draft
        draws it beside the name). Kept as an RGB PNG of at most 1024 px a side; over the REST
        API this is `PUT /cast/{member_id}/reference` with the picture as the body."""
        ...

    def set_cast_lora(self, member_id: int, lora: bytes | str | Path) -> CastMemberPublic:
        """Give a member its own LoRA (a .safetensors file trained on the character, as a
        path or bytes): pipelines that support LoRAs apply it to its shots at `lora_scale`.
        Checked (a safetensors file of LoRA weights) and stored by content; a local studio
        only (LoRA files are too large for the REST API's bodies)."""
        ...

    def clear_cast_lora(self, member_id: int) -> CastMemberPublic:
        """Remove a member's LoRA; its shots render without it."""
        ...

    @route("POST", "/cast/{member_id}/sheet", tag="cast", status=202, errors=("billed",))
    def render_character_sheet(self, member_id: int) -> JobPublic:
        """Queue a character sheet of the member through the project's preview pipeline: it
        from the front, three-quarter and profile on a plain background (its reference, if
        any, steers it). Billed like a preview; once it has succeeded, make it the member's
        reference with `pick_cast_reference(member_id, job.id)`."""
        ...

    @route("POST", "/cast/{member_id}/reference", tag="cast", body=PickReferenceIn)
    def pick_cast_reference(self, member_id: int, job_id: int) -> CastMemberPublic:
        """Take a member's reference picture from a render: a finished preview (a shot's frame,
        or a character sheet) or a take (its first frame)."""
        ...

    @route("DELETE", "/cast/{member_id}/reference", tag="cast")
    def clear_cast_reference(self, member_id: int) -> CastMemberPublic:
        """Remove a member's reference picture; its shots render from their prompts alone."""
        ...

    @route("GET", "/projects/{project_id}/scenes", tag="scenes")
    def scenes(self, project_id: int) -> list[ScenePublic]:
        """The project's scenes (one per heading its shots name), each with its shots and the
        look they share; the breakdown adds them."""
        ...

    @route("PATCH", "/scenes/{scene_id}", tag="scenes", body=SceneUpdate)
    def update_scene(self, scene_id: int, **changes: Any) -> ScenePublic:
        """Change a scene's `look` (palette, light, weather: at most 300 characters): every
        shot of the scene says it in its prompt, so exactly those shots render again."""
        ...

    @route("GET", "/projects/{project_id}/consistency", tag="cast")
    def consistency(self, project_id: int) -> list[CastConsistency]:
        """For each cast member, its shots side by side (each shot's latest preview frame and
        the take its film uses), to spot a character that drifts from shot to shot."""
        ...

    @route("GET", "/shots/{shot_id}/takes", tag="shots")
    def takes(self, shot_id: int) -> list[JobPublic]:
        """The shot's succeeded clips, newest first."""
        ...

    @route("POST", "/shots/{shot_id}/takes/{job_id}/choose", tag="shots")
    def choose_take(self, shot_id: int, job_id: int) -> ShotPublic:
        """Make a succeeded take (clip job) or line take (speech job) of the shot the one its
        film uses; a chosen line sets the shot's duration unless it is pinned."""
        ...

    def jobs(
        self,
        project_id: int | None = None,
        statuses: Iterable[str] | None = None,
        kinds: Iterable[str] | None = None,
        limit: int = 500,
        before_id: int | None = None,
    ) -> list[JobPublic]:
        """Newest first; `before_id` pages on (only jobs with a smaller id)."""
        ...

    @route("GET", "/jobs/{job_id}", tag="jobs")
    def job(self, job_id: int) -> JobPublic:
        """One render job (NotFound when missing or not yours)."""
        ...

    def queue_position(self, job_id: int) -> int | None:
        """The job's place in the queue (1 = next); None unless it is queued."""
        ...

    def queue_positions(self, job_ids: list[int] | None = None) -> dict[int, int]:
        """Position in the queue (1 = next) of every queued job this user can see, or only of
        those of `job_ids` (at most 500) that are queued."""
        ...

    @route("POST", "/jobs/{job_id}/cancel", tag="jobs")
    def cancel(self, job_id: int) -> JobPublic:
        """Cancel a queued job, or ask a running one to stop (Conflict when it finished)."""
        ...

    def pause_queue(self, owner: str | None = None) -> None:
        """Hold this user's queued jobs (running ones finish)."""
        ...

    def resume_queue(self, owner: str | None = None) -> None:
        """Release this user's held queued jobs."""
        ...

    def queue_paused(self, owner: str | None = None) -> bool:
        """Whether this user's queue is held."""
        ...

    @route("POST", "/jobs/{job_id}/move-before", tag="queue", body=MoveBeforeIn)
    def move_before(self, job_id: int, before_job_id: int) -> JobPublic:
        """Reorder queued jobs: `job_id` runs right before `before_job_id`."""
        ...

    @route("GET", "/workers", tag="catalogue")
    def workers(self) -> list[WorkerPublic]:
        """Every worker that ever reported, newest heartbeat first."""
        ...

    @route("POST", "/jobs/{job_id}/retry", tag="jobs", errors=("billed",))
    def retry(self, job_id: int) -> JobPublic:
        """Failed or cancelled → queued again (its cost is reserved again)."""
        ...

    @route("POST", "/jobs/{job_id}/priority", tag="jobs", body=PriorityIn)
    def set_priority(self, job_id: int, priority: int) -> JobPublic:
        """A queued job's priority (higher runs first)."""
        ...

    @route("POST", "/jobs/{job_id}/raise", tag="jobs")
    def raise_priority(self, job_id: int) -> JobPublic:
        """Move a queued job to the front: one above the highest queued priority."""
        ...

    def wait(
        self,
        jobs: Sequence[JobPublic],
        *,
        progress: bool = True,
        timeout: float | None = None,
        poll: float = 0.2,
    ) -> list[JobPublic]:
        """Block until every job finishes, with a tqdm bar; returns the jobs' final state."""
        ...

    def artifact(self, artifact_id: int) -> ArtifactPublic:
        """Content type, bytes, sha256, provenance (the storage key stays on the server)."""
        ...

    def artifact_path(self, artifact_id: int) -> Path:
        """The artifact as a local file: downloaded once into `cache_dir`, sha256-checked."""
        ...

    def download_url(self, artifact_id: int, filename: str | None = None) -> str | None:
        """A time-limited direct link (S3 presigned or CDN), or None for local storage."""
        ...

    def signed_link(self, artifact_id: int, filename: str | None = None) -> str:
        """A site path (/files/…) that downloads the artifact without logging in, for a short
        while (download_url_seconds, at most an hour). It is bound to this artifact and its
        owner: changing the id or the expiry breaks the signature."""
        ...

    def preview_path(self, shot: ShotPublic) -> Path | None:
        """The file of a shot's latest preview frame, if it has one."""
        ...

    def preview(
        self,
        project_id: int,
        shot_ids: Sequence[int] | None = None,
        *,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> list[JobPublic]:
        """Queue preview frames for the shots (all when `shot_ids` is None)."""
        ...

    def render(
        self,
        project_id: int,
        shot_ids: Sequence[int] | None = None,
        *,
        wait: bool = False,
        priority: int = Priority.normal,
        progress: bool = True,
    ) -> list[JobPublic]:
        """Queue clips (takes) for the shots (all when `shot_ids` is None)."""
        ...

    def estimate(
        self, project_id: int, shot_ids: Sequence[int] | None = None, kind: str = "clip"
    ) -> float:
        """What rendering these shots' clips (or previews) would cost now, in credits: shots
        the render cache would serve cost the policy's cache-hit price."""
        ...

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
        """Queue the film: each shot's chosen take (else its newest take), in shot order.
        `title`: the title card; null: the script's title page, if it has one; "": none.
        `dialogue`: each shot's spoken line at its offset (a line not spoken yet is silent and
        listed in the film's params as `unspoken`); `subtitles`: SRT and WebVTT files (the
        film artifact's `attachments`) and a soft subtitle track; `burn_subtitles`: drawn into
        the picture; `speaker_names`: "Anna: …" cues; `loudness`: the mix's integrated LUFS
        target (None: levels as mixed); the soundtrack is ducked under speech."""
        ...

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
        """One render of a catalogue pipeline with tweaked parameters (see studio.core.lab.KNOBS;
        `lora_scale` and `memory` options change how it is loaded)."""
        ...

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
        ...

    def lab_jobs(self, owner: str | None = None, limit: int = 60) -> list[JobPublic]:
        """The Lab's jobs, newest first (at most 100 over the API)."""
        ...

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
        """Save tweaks as a catalogue entry that shots and projects can use by `name`:
        per-call `overrides` (studio.core.lab.KNOBS), a LoRA scale and memory options. Presets are
        shared by everyone in the studio; only their maker (or an admin) can change one."""
        ...

    def me(self) -> UserPublic:
        """The acting user."""
        ...

    def users(self) -> list[UserPublic]:
        """Every account (admins only; over the REST API `created_at` is not known: now)."""
        ...

    @route("POST", "/users", tag="admin", body=UserIn, status=201, errors=("admin",))
    def create_user(self, name: str, password: str, *, role: str = "creator") -> UserPublic:
        """A new account (admins only); it starts with the tier's sign-up credits."""
        ...

    def disable_user(self, name: str, disabled: bool = True) -> UserPublic:
        """Disable (or enable) an account: its sessions end and its tokens are revoked."""
        ...

    def create_token(self, name: str) -> tuple[TokenPublic, str]:
        """A new API token for this user: (its record, the token — shown only now)."""
        ...

    @route("GET", "/tokens", tag="tokens")
    def tokens(self) -> list[TokenPublic]:
        """The acting user's API tokens (an admin's: everyone's), without their secrets."""
        ...

    @route("DELETE", "/tokens/{token_id}", tag="tokens")
    def revoke_token(self, token_id: int) -> TokenPublic:
        """Revoke an API token: it stops working at once."""
        ...

    @property
    def credits_enabled(self) -> bool:
        """Whether renders cost credits in this studio."""
        ...

    def balance(self, name: str | None = None) -> float:
        """Credits available (not counting what running and queued jobs hold)."""
        ...

    def ledger(self, name: str | None = None, limit: int = 100) -> list[LedgerEntry]:
        """The newest credit movements, newest first."""
        ...

    def grant_credits(self, name: str, amount: float, reason: str) -> LedgerEntry:
        """Add credits to a user (a negative amount takes unspent credits back). Admins only."""
        ...

    def usage(self) -> list[dict[str, Any]]:
        """Per user: balance, credits held by active jobs, spent, and jobs by status."""
        ...

    def close(self) -> None:
        """Release what this studio holds (connections; a local studio stops its queue)."""
        ...


# The routed methods: served by the REST API and called by `Studio.connect` as declared.
ROUTES = routes_of(StudioAPI)
