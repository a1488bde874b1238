"""Rich display in Jupyter: shots, takes, projects, films and jobs as HTML.

Importing this module gives the read models `ProjectPublic`, `ShotPublic`, `JobPublic` and
`ArtifactPublic` (studio.core.models), which both `Studio` and `RemoteStudio` return, a
`_repr_html_` that calls the functions here (both import this module); the models know
nothing of display, so the core does not depend on it. The rows don't know their
studio, so the files come from the *active studio*: the last `Studio` made (`Studio.connect`
registers its `RemoteStudio` too), or whatever `activate(studio)` names.

- a shot: its preview frame as an inline PNG, captioned with its number and prompt;
- a take or a film (a succeeded `clip`/`film` job): an HTML5 `<video controls>` of the MP4 as
  a data URI, up to `MAX_INLINE_BYTES` (larger: a link or the file's path);
- a project: the storyboard, one cell per shot (its frame or a placeholder);
- any other job: status, a progress bar, its message and cost.

Without an active studio, or when a file is missing, `_repr_html_` returns None and Jupyter
shows the plain text repr. Nothing here imports IPython: the HTML is returned as a string.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from studio.core.models import (
    ArtifactPublic,
    JobKind,
    JobPublic,
    JobStatus,
    ProjectPublic,
    ShotPublic,
)

MAX_INLINE_BYTES = 20 * 2**20  # a video or picture larger than this is linked, not embedded
THUMB_WIDTH = 240  # storyboard cells, px

STATUS_COLOURS = {
    "queued": "#9e9e9e",
    "running": "#1e88e5",
    "succeeded": "#43a047",
    "failed": "#e53935",
    "cancelled": "#757575",
}


class DisplayStudio(Protocol):
    """What the display needs of a studio; `Studio` and `RemoteStudio` both have it."""

    def shots(self, project_id: int) -> list[ShotPublic]: ...

    def preview_path(self, shot: ShotPublic) -> Path | None: ...

    def artifact(self, artifact_id: int) -> ArtifactPublic: ...

    def artifact_path(self, artifact_id: int) -> Path: ...

    def download_url(self, artifact_id: int, filename: str | None = None) -> str | None: ...


_active: DisplayStudio | None = None


def activate(studio: DisplayStudio | Any | None) -> None:
    """Make `studio` the one objects fetch their pictures and videos from (None: no studio)."""
    global _active
    _active = studio


def active() -> DisplayStudio | None:
    """The active studio, if any."""
    return _active


# ---- pieces ---------------------------------------------------------------------------------
def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _short(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def _png(path: Path, width: int | None = None) -> str | None:
    """A PNG data URI of the picture at `path` (scaled down to `width` px), None if unreadable."""
    try:
        if width is None and path.stat().st_size <= MAX_INLINE_BYTES:
            data = path.read_bytes()
            if data.startswith(b"\x89PNG"):
                return _data_uri(data, "image/png")
        from PIL import Image

        with Image.open(path) as image:
            image.thumbnail((width or 1024, 10_000))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
        return _data_uri(buffer.getvalue(), "image/png")
    except (OSError, ValueError):
        return None


def _preview_uri(studio: DisplayStudio, shot: ShotPublic, width: int | None = None) -> str | None:
    try:
        path = studio.preview_path(shot)
    except Exception:  # noqa: BLE001 - a display never raises: no picture instead
        return None
    return _png(path, width) if path is not None and path.is_file() else None


def _caption(number: int | None, shot: ShotPublic) -> str:
    label = f"Shot {number}" if number is not None else f"Shot #{shot.id}"
    details = f"{shot.shot_size}, {shot.camera_move}, {shot.duration:g} s"
    return (
        f"<div style='font-size:12px;line-height:1.3;margin-top:4px'><b>{_esc(label)}</b> "
        f"<span style='color:#777'>{_esc(details)}</span><br>{_esc(_short(shot.prompt))}</div>"
    )


def progress_bar(progress: float, colour: str = "#1e88e5", width_px: int = 240) -> str:
    """An HTML bar; the inner div's width is the progress in percent (0–100)."""
    percent = max(0.0, min(1.0, float(progress or 0.0))) * 100
    return (
        f"<div class='studio-progress' style='width:{width_px}px;height:10px;"
        f"background:#eee;border-radius:5px;overflow:hidden'>"
        f"<div style='width:{percent:.1f}%;height:100%;background:{colour}'></div></div>"
    )


# ---- objects --------------------------------------------------------------------------------
def shot_html(shot: ShotPublic, number: int | None = None) -> str | None:
    """The shot's preview frame with its number and prompt; None without a studio or frame."""
    studio = active()
    if studio is None:
        return None
    uri = _preview_uri(studio, shot)
    if uri is None:
        return None
    number = shot.position + 1 if number is None else number
    return (
        f"<figure class='studio-shot' style='margin:0;max-width:640px'>"
        f"<img src='{uri}' alt='{_esc(_short(shot.prompt, 80))}' style='max-width:100%'>"
        f"<figcaption>{_caption(number, shot)}</figcaption></figure>"
    )


def project_html(project: ProjectPublic) -> str | None:
    """The storyboard: one cell per shot (its preview frame or a placeholder); None without a
    studio or when the shots cannot be read."""
    studio = active()
    if studio is None or project.id is None:
        return None
    try:
        shots = studio.shots(project.id)
    except Exception:  # noqa: BLE001 - e.g. another studio's project: plain repr
        return None
    height = round(THUMB_WIDTH * project.height / max(project.width, 1))
    cells = []
    for number, shot in enumerate(shots, 1):
        uri = _preview_uri(studio, shot, THUMB_WIDTH)
        if uri is not None:
            picture = f"<img src='{uri}' style='width:{THUMB_WIDTH}px;display:block'>"
        else:
            picture = (
                f"<div class='studio-placeholder' style='width:{THUMB_WIDTH}px;height:{height}px;"
                f"background:#f0f0f0;color:#999;display:flex;align-items:center;"
                f"justify-content:center;font-size:12px'>no preview yet</div>"
            )
        cells.append(
            f"<div class='studio-cell' style='width:{THUMB_WIDTH}px'>"
            f"{picture}{_caption(number, shot)}</div>"
        )
    count = f"{len(shots)} shot{'s' if len(shots) != 1 else ''}"
    header = (
        f"<div style='margin-bottom:6px'><b>{_esc(project.name)}</b> "
        f"<span style='color:#777'>project #{project.id} · {count} · {project.width}×"
        f"{project.height} @ {project.fps} fps</span></div>"
    )
    body = "".join(cells) or "<i>No shots yet: break down a script.</i>"
    return (
        f"<div class='studio-project'>{header}<div class='studio-grid' style='display:grid;"
        f"grid-template-columns:repeat(auto-fill,{THUMB_WIDTH}px);gap:12px'>{body}</div></div>"
    )


def job_card(job: JobPublic) -> str:
    """Status, a progress bar, the message and the cost of a job (needs no studio)."""
    status = str(job.status)
    colour = STATUS_COLOURS.get(status, "#9e9e9e")
    progress = 1.0 if status == JobStatus.succeeded.value else job.progress
    what = f"shot #{job.shot_id}" if job.shot_id is not None else f"project #{job.project_id}"
    lines = [
        f"<b>{_esc(job.kind)} job #{job.id}</b> <span style='color:#777'>{_esc(what)}</span> "
        f"<span style='color:{colour};font-weight:bold'>{_esc(status)}</span>"
        + (" <span title='served from the render cache'>⚡ cached</span>" if job.cache_hit else ""),
        progress_bar(progress, colour),
        f"<span style='color:#777'>{progress * 100:.0f}% · cost {job.cost:g}"
        f"{f' · attempt {job.attempts}/{job.max_attempts}' if job.attempts > 1 else ''}</span>",
    ]
    if job.message:
        lines.append(_esc(_short(job.message, 300)))
    if job.error:
        lines.append(f"<span style='color:#e53935'>{_esc(_short(job.error, 500))}</span>")
    inner = "".join(f"<div style='margin:2px 0'>{line}</div>" for line in lines)
    return f"<div class='studio-job' style='font-size:13px'>{inner}</div>"


def _link(studio: DisplayStudio, artifact_id: int, name: str) -> str | None:
    """A link to a file too large to embed: a download URL, else the local path."""
    try:
        url = studio.download_url(artifact_id, name)
    except Exception:  # noqa: BLE001 - no link then; try the path
        url = None
    if url:
        return f"<a href='{_esc(url)}' target='_blank'>{_esc(name)}</a>"
    try:
        path = studio.artifact_path(artifact_id)
    except Exception:  # noqa: BLE001
        return None
    return f"<code>{_esc(path)}</code>" if path.is_file() else None


def video_html(studio: DisplayStudio, artifact_id: int, name: str) -> str | None:
    """An inline `<video controls>` (or, over `MAX_INLINE_BYTES`, a link); None if missing."""
    try:
        artifact = studio.artifact(artifact_id)
        if artifact.bytes > MAX_INLINE_BYTES:
            link = _link(studio, artifact_id, name)
            size = f"{artifact.bytes / 2**20:.0f} MB"
            return None if link is None else f"<div>{_esc(name)} ({size}): {link}</div>"
        path = studio.artifact_path(artifact_id)
        data = path.read_bytes()
    except Exception:  # noqa: BLE001 - no such file here: plain repr
        return None
    uri = _data_uri(data, artifact.content_type or "video/mp4")
    return (
        f"<video class='studio-video' controls preload='metadata' style='max-width:640px'>"
        f"<source src='{uri}' type='{_esc(artifact.content_type or 'video/mp4')}'></video>"
    )


def job_html(job: JobPublic) -> str:
    """A take or film that succeeded: its video above the job card; a succeeded preview: its
    frame; anything else (or no studio, or the file missing): the job card."""
    card = job_card(job)
    studio = active()
    if studio is None or job.status != JobStatus.succeeded.value or job.artifact_id is None:
        return card
    if job.kind in (JobKind.clip.value, JobKind.film.value):
        name = f"{'take' if job.kind == JobKind.clip.value else 'film'}-{job.id}.mp4"
        media = video_html(studio, job.artifact_id, name)
    else:
        media = artifact_html(job.artifact_id)
    return card if media is None else f"<div class='studio-take'>{media}{card}</div>"


def artifact_html(artifact: ArtifactPublic | int) -> str | None:
    """A picture or a video, by its content type; None without a studio or the file."""
    studio = active()
    if studio is None:
        return None
    try:
        if isinstance(artifact, int):
            artifact = studio.artifact(artifact)
        if artifact.id is None:
            return None
        if artifact.content_type.startswith("video/"):
            return video_html(studio, artifact.id, f"artifact-{artifact.id}.mp4")
        if artifact.content_type.startswith("image/"):
            uri = _png(studio.artifact_path(artifact.id))
            return None if uri is None else f"<img src='{uri}' style='max-width:640px'>"
    except Exception:  # noqa: BLE001 - a display never raises
        return None
    return None


def _install() -> None:
    """Jupyter's `_repr_html_` on the read models, pointing at the functions above."""
    ProjectPublic._repr_html_ = lambda self: project_html(self)
    ShotPublic._repr_html_ = lambda self: shot_html(self)
    ArtifactPublic._repr_html_ = lambda self: artifact_html(self)
    JobPublic._repr_html_ = lambda self: job_html(self)


_install()


# ---- the progress bar of wait() -------------------------------------------------------------
def wait_bar(jobs: Sequence[JobPublic], progress: bool = True) -> Any:
    """The tqdm bar `wait()` shows, local or connected: one unit per job, named for their
    kind (a text bar in a terminal, a widget in Jupyter with ipywidgets)."""
    from tqdm.auto import tqdm

    kinds = {j.kind for j in jobs}
    desc = {"preview": "Previews", "clip": "Clips", "film": "Film"}.get(
        kinds.pop() if len(kinds) == 1 else "", "Renders"
    )
    return tqdm(
        total=len(jobs),
        desc=desc,
        unit="job",
        disable=not progress,
        bar_format="{l_bar}{bar}| {n:.1f}/{total} jobs [{elapsed}<{remaining}]",
    )


class WaitProgress:
    """`wait()`'s bar, moved by the jobs that changed: an update costs what changed, not
    how many jobs are waited on (re-summing 2,000 jobs at every event cost the waiting
    process more CPU than the worker spent on bookkeeping). A finished job counts 1. The
    jobs it is made with give the total only: their state comes with `update`, read fresh
    (a job passed in as failed may have been retried since)."""

    def __init__(self, jobs: Sequence[JobPublic], progress: bool = True):
        distinct = list({job.id: job for job in jobs}.values())
        self.bar = wait_bar(distinct, progress)
        # Unfinished jobs and their progress: every other job has finished.
        self._open: dict[int, float] = {job.id: 0.0 for job in distinct}
        self._open_sum = 0.0

    def update(self, jobs: Sequence[JobPublic]) -> bool:
        """Take these jobs' new state; whether every job has finished."""
        for job in jobs:
            self._open_sum -= self._open.pop(job.id, 0.0)
            if not JobStatus(job.status).finished:
                self._open[job.id] = job.progress
                self._open_sum += job.progress
        if not self._open:
            self._open_sum = 0.0  # (no rounding drift left behind)
        self.bar.n = self.bar.total - len(self._open) + max(0.0, self._open_sum)
        self.bar.refresh()
        return not self._open

    def close(self) -> None:
        self.bar.close()
