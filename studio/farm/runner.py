"""Execute one claimed job: render with its pipeline, store the artifact, complete the job.

Runs wherever a worker runs: the inline thread in the app, or a `python -m studio worker`
process. Only lifecycle functions change state.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import inspect
import io
import logging
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import Session

from pipelines.cache import PipelineCache
from pipelines.catalogue import Catalogue, CatalogueError, UnknownPipelineError
from pipelines.errors import PipelineError
from pipelines.requests import Cancelled, Reference, RenderRequest, RequestLora
from storage.base import Storage, StorageError
from studio.core import dispatch, job_reads, leases, lifecycle, logs, provenance
from studio.core.artifacts import store_bytes, store_file
from studio.core.db import session_scope
from studio.core.errors import Conflict, JobFailed, StudioError
from studio.core.models import Artifact, JobKind, RenderJob, ident
from studio.core.outage import database_down, until_reachable
from studio.core.params import (
    RUNTIME,
    SCENE_STYLE_NAME,
    lora_key,
    params_hash,
    reference_key,
    request_from,
)

log = logging.getLogger(__name__)


class AfterSuccess(Protocol):
    """What a lone job's success hands over to. `prepare` runs just before the transaction
    recording it (for what must not hold it open) and names the job to claim in it (None:
    none); the call runs in that transaction with the job claimed (None: not claimed), and
    what it returns comes back once committed."""

    def prepare(self) -> lifecycle.Claim | None: ...
    def __call__(self, session: Session, claimed: RenderJob | None) -> Any: ...


PROGRESS_INTERVAL = 0.25  # seconds between progress writes: keeps the database calm
# A milestone ("Storing") is written to the database at once only in a job running longer than
# this (a shorter one only publishes it): a poll would hardly see it before "Done", and the
# write would cost a commit per job.
MILESTONE_AFTER = 1.0
LIVE_PREVIEW_INTERVAL = 1.0  # seconds between live preview uploads
REFERENCE_CACHE = 16  # reference pictures kept decoded between jobs


def live_preview_key(job_id: int) -> str:
    return f"live/{job_id}.png"


class ProgressReporter:
    """Throttled progress writes that double as the cancel check and lease renewal."""

    def __init__(self, runner: JobRunner, job: RenderJob, worker: str):
        self.runner, self.job_id, self.worker = runner, ident(job), worker
        self._last = self._started = time.monotonic()  # the claim just wrote "Starting"

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        # A cancel pushed to this process (pub/sub) stops the render at the very next step.
        if self.job_id in self.runner.cancelled:
            raise Cancelled()
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        try:
            with session_scope(self.runner.engine) as session:
                stop = leases.report_progress(
                    session, self.job_id, self.worker, fraction, message, self.runner.lease_seconds
                )
        except Exception as exc:
            if not database_down(exc):
                raise
            # The render goes on: its outcome waits for the database (JobRunner._record).
            log.warning("job %s: progress not recorded, the database is unreachable", self.job_id)
            stop = False
        self.runner.publish({"job": self.job_id, "progress": fraction, "message": message})
        if stop:
            raise Cancelled()

    def milestone(self, fraction: float, message: str) -> None:
        """A step worth showing at once ("Storing"). Live viewers (the event stream) always
        see it; the database only in a job running long enough for a poll to catch it."""
        if time.monotonic() - self._started >= MILESTONE_AFTER:
            self(fraction, message, force=True)
            return
        if self.job_id in self.runner.cancelled:
            raise Cancelled()
        self.runner.publish({"job": self.job_id, "progress": fraction, "message": message})

    def stage(self, start: float, end: float, label: str) -> Callable[[int, int], None]:
        """A (done, total) callback mapping a stage's progress into [start, end]."""

        def report(done: int, total: int) -> None:
            self(start + (end - start) * done / max(total, 1), f"{label} {done}/{total}")

        return report


class JobRunner:
    def __init__(
        self,
        engine: Engine,
        storage: Storage,
        catalogue: Catalogue,
        lease_seconds: float,
        *,
        memory_budget: int | None = None,
        preview_batch: int = 4,
        max_running_per_owner: int | None = None,
    ):
        self.engine, self.storage, self.catalogue = engine, storage, catalogue
        self.lease_seconds, self.preview_batch = lease_seconds, preview_batch
        self.max_running_per_owner = max_running_per_owner
        self._references: dict[str, Image.Image] = {}  # digest → picture, a few recent ones
        # Loaded once per process (LRU under the memory budget): the next job reuses it.
        self.cache = PipelineCache(memory_budget)
        self.cancelled: set[int] = set()
        # The jobs this process is rendering now: the only leases its heartbeat renews.
        self.holding: set[int] = set()
        self._live_shown: set[int] = set()  # jobs whose live preview this process stored
        # Live events (progress, state) for other processes; set by the Redis backend.
        self.publish: Callable[[dict[str, Any]], None] = lambda _event: None

    def request_cancel(self, job_id: int) -> None:
        self.cancelled.add(job_id)

    @property
    def loaded(self) -> list[str]:
        return sorted(self.cache.loaded())

    def pipeline(self, name: str, expected: dict[str, Any] | None = None) -> Any:
        """The loaded pipeline `name`. `expected` (a job's pipeline params) tells when this
        process's catalogue is stale: a Lab preset saved or updated by another process."""
        known = name in self.catalogue
        if not known or (
            expected
            and "defaults" in expected
            and dict(self.catalogue.get(name).defaults) != expected["defaults"]
        ):
            from studio.core.lab import with_presets

            self.catalogue = with_presets(self.catalogue, self.engine)
        # The cache reloads a pipeline whose entry changed under the same name.
        return self.cache.get(self.catalogue.get(name))

    def _announce_load(self, job: RenderJob, worker: str) -> None:
        """Loading weights can take a while: say so, rather than "Starting 0%"."""
        name = job.params.get("pipeline", {}).get("name", "")
        if job.kind != JobKind.film.value and name and name not in self.cache:
            report = ProgressReporter(self, job, worker)
            with contextlib.suppress(Cancelled):  # the run itself stops at its first check
                report(0.0, f"Loading {name} (its first job in this worker)", force=True)

    def execute(self, job: RenderJob, worker: str, then: AfterSuccess | None = None) -> Any:
        """Run a claimed job; a preview also takes queued previews that can share its batch.
        `then` runs in the transaction recording a lone job's success; what it returned
        comes back once committed, else None (a failure, a cancel, a batch)."""
        batch = [job]
        self.holding.add(ident(job))
        try:
            self._announce_load(job, worker)
            batch = self._claim_batch(job, worker)
            self.holding.update(ident(j) for j in batch)
            if len(batch) == 1:
                return self.run(job, worker, then)
            self.run_batch(batch, worker)
            return None
        finally:
            self.holding.difference_update(ident(j) for j in [job, *batch])

    def _claim_batch(self, job: RenderJob, worker: str) -> list[RenderJob]:
        if job.kind != JobKind.preview.value or self.preview_batch < 2:
            return [job]
        name = job.params["pipeline"]["name"]
        try:
            batchable = hasattr(self.pipeline(name, job.params["pipeline"]), "render_frames")
        except Exception:  # noqa: BLE001 - a load error is reported by run() with the job
            return [job]
        if not batchable:
            return [job]
        with session_scope(self.engine) as session:
            more = dispatch.claim_similar(
                session,
                job,
                worker,
                self.lease_seconds,
                limit=self.preview_batch - 1,
                max_running=self.max_running_per_owner,
            )
        return [job, *more]

    def run_batch(self, jobs: list[RenderJob], worker: str) -> None:
        """Previews of one pipeline and size in one batched call (each keeps its own seed)."""
        reporters = [ProgressReporter(self, job, worker) for job in jobs]

        def on_progress(done: int, total: int) -> None:
            for reporter in reporters:
                reporter.stage(0.0, 0.9, "Step")(done, total)

        try:
            pipeline = self.pipeline(jobs[0].params["pipeline"]["name"], jobs[0].params["pipeline"])
            images = pipeline.render_frames(
                [self._request(j.params) for j in jobs], on_progress=on_progress
            )
        except Cancelled:
            for job in jobs:  # the cancelled one stops; the others render on their own
                self.run(job, worker)
            return
        except Exception as exc:  # noqa: BLE001 - same failure for every job of the batch
            for job in jobs:
                self._fail(job, worker, exc)
            return
        stored: list[tuple[RenderJob, Artifact]] = []
        for job, image, reporter in zip(jobs, images, reporters, strict=True):
            try:
                stored.append((job, self._store_preview(job, image, reporter, pipeline)))
            except Exception as exc:  # noqa: BLE001
                self._fail(job, worker, exc)
                self.publish({"job": ident(job), "finished": True})
        try:
            for refused in self._record_successes(stored):
                log.info("job %s ended meanwhile: its result is dropped", refused.id)
        except Exception as exc:  # noqa: BLE001 - not an outage (that waits): none recorded
            for job, _artifact in stored:
                self._fail(job, worker, exc)
        for job, _artifact in stored:
            self.publish({"job": ident(job), "finished": True})

    def run(self, job: RenderJob, worker: str, then: AfterSuccess | None = None) -> Any:
        self.cancelled.discard(ident(job))  # a stale cancel of an earlier attempt
        token = logs.job_id.set(ident(job))
        try:
            return self._run(job, worker, then)
        finally:
            logs.job_id.reset(token)
            self.cancelled.discard(ident(job))
            self.publish({"job": ident(job), "finished": True})
            self._drop_live_preview(job)  # (a render that failed or was cancelled)

    def _drop_live_preview(self, job: RenderJob) -> None:
        """The job's live image goes: one this process stored, or one an earlier attempt
        (another worker, stopped mid-render) may have left. Most renders show none: then
        there is no storage call."""
        job_id = ident(job)
        earlier = job.kind == JobKind.preview.value and job.attempts > 1
        if job_id not in self._live_shown and not earlier:
            return
        self._live_shown.discard(job_id)
        try:
            self.storage.delete(live_preview_key(job_id))
        except Exception:  # noqa: BLE001 - a leftover thumbnail is harmless
            log.debug("live preview of job %s not removed", job_id)

    def _run(self, job: RenderJob, worker: str, then: AfterSuccess | None) -> Any:
        report = ProgressReporter(self, job, worker)
        try:
            if job.kind == JobKind.preview.value:
                # A picture goes from memory to storage: no scratch folder, no second copy
                # (making, writing and removing them cost ~2 ms of a tiny render).
                artifact, attachments = self._preview(job, report), dict[str, Artifact]()
            else:
                with tempfile.TemporaryDirectory(prefix=f"job-{job.id}-") as tmp:
                    artifact, attachments = self._render(job, Path(tmp), report)
            # A lone job's success with the claim `then` asks for, and `then` itself: one
            # transaction, whose `then` value comes back.
            claim = then.prepare() if then is not None else None

            def succeeded(session: Session) -> Any:
                _job, claimed = lifecycle.succeed_and_claim(
                    session, ident(job), artifact, claim, attachments=attachments
                )
                return then(session, claimed) if then is not None else None

            return self._record(job, succeeded)
        except Cancelled:
            self._record(job, lambda s: lifecycle.mark_cancelled(s, ident(job), worker))
        except Exception as exc:  # noqa: BLE001 - any render error fails the job, never the worker
            if database_down(exc):  # a read in the render: the lease hands the job back
                log.warning("job %s: the database went away during its render", job.id)
            else:
                self._fail(job, worker, exc)
        return None

    def _record(self, job: RenderJob, outcome: Callable[[Session], Any]) -> Any:
        """A job's outcome in one transaction, waiting for the database while it is away: a
        finished render is never thrown away by an outage. Safe to repeat: each outcome is
        idempotent, and ignored once the job has moved on. Returns what `outcome` did."""

        def once() -> Any:
            with session_scope(self.engine) as session:
                return outcome(session)

        return until_reachable(once, f"outcome of job {job.id}")

    def _record_successes(self, stored: list[tuple[RenderJob, Artifact]]) -> list[RenderJob]:
        """A batch's results in one transaction, not one each; returns the jobs refused
        alone (ended meanwhile: `succeed` leaves the transaction whole for the others)."""
        refused: list[RenderJob] = []

        def succeed_all(session: Session) -> None:
            refused.clear()  # (a try the database cut short is made again whole)
            for job, artifact in stored:
                try:
                    lifecycle.succeed(session, ident(job), artifact)
                except Conflict:
                    refused.append(job)

        if stored:
            self._record(stored[0][0], succeed_all)
        return refused

    def _fail(self, job: RenderJob, worker: str, exc: BaseException) -> None:
        log.warning("job %s failed: %s", job.id, exc)
        # Errors written for people (bad input, missing weights, out of memory) show as they
        # are; anything else keeps its traceback for the bug report.
        plain = isinstance(
            exc, StudioError | ValueError | PipelineError | CatalogueError | UnknownPipelineError
        )
        detail = (
            str(exc) if plain else f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}"
        )
        self._record(job, lambda s: lifecycle.fail(s, ident(job), detail, worker))

    def _render(
        self, job: RenderJob, tmp: Path, report: ProgressReporter
    ) -> tuple[Artifact, dict[str, Artifact]]:
        """The job's artifact, and the files that go with it by role (a film's subtitles)."""
        if job.kind == JobKind.clip.value:
            return self._clip(job, tmp, report), {}
        if job.kind == JobKind.film.value:
            from studio.farm.film import render_film

            return render_film(self, job, tmp, report)
        if job.kind == JobKind.speech.value:
            from studio.farm.speech import render_speech

            return render_speech(self, job, tmp, report), {}
        raise JobFailed(f"Unknown job kind {job.kind!r}")

    def _preview(self, job: RenderJob, report: ProgressReporter) -> Artifact:
        image = self._frame(job.params, report.stage(0.0, 0.9, "Step"), job_id=ident(job))
        self._drop_live_preview(job)  # before the job is done: no reader sees it then
        pipeline = self.pipeline(job.params["pipeline"]["name"], job.params["pipeline"])
        return self._store_preview(job, image, report, pipeline)

    def _store_preview(
        self, job: RenderJob, image: Image.Image, report: ProgressReporter, pipeline: Any
    ) -> Artifact:
        prov = self._provenance(job, pipeline)
        data = provenance.png_bytes(image, provenance.file_tags(prov))
        report.milestone(0.95, "Storing")
        return store_bytes(self.storage, data, "image/png", prov, job.owner)

    def _provenance(self, job: RenderJob, pipeline: Any) -> dict[str, Any]:
        prov = provenance.record(ident(job), job.params, job.params_hash)
        details = getattr(pipeline, "provenance", None)
        if details is not None:  # model revision, dtype, device, scheduler, steps, guidance…
            prov["pipeline_details"] = details(self._request(job.params))
        return prov

    def _frame(
        self,
        params: dict[str, Any],
        on_progress: Callable[[int, int], None],
        job_id: int | None = None,
    ) -> Image.Image:
        pipeline = self.pipeline(params["pipeline"]["name"], params["pipeline"])
        extra: dict[str, Any] = {}
        if (
            job_id is not None
            and "on_preview" in inspect.signature(pipeline.render_frame).parameters
        ):
            extra["on_preview"] = self._live_preview(job_id)
        image: Image.Image = pipeline.render_frame(
            self._request(params), on_progress=on_progress, **extra
        )
        return image

    def _request(self, params: dict[str, Any]) -> RenderRequest:
        """The pipeline's request for these params, with the cast's reference pictures."""
        request = request_from(params)
        wanted = params.get("references") or []
        style = params.get("style_from")
        if params.get("loras"):
            request = dataclasses.replace(
                request,
                loras=tuple(
                    RequestLora(
                        self._lora_path(lora["digest"]), float(lora["scale"]), "", lora["digest"]
                    )
                    for lora in params["loras"]
                ),
            )
        if not wanted and not style:
            return request
        references = tuple(
            Reference(
                name=ref["name"],
                image=self._reference_image(ref["digest"]),
                scale=float(ref["scale"]),
                digest=ref["digest"],
            )
            for ref in wanted
        )
        if style:
            image = self._scene_style_image(style["preview"])
            references += (
                Reference(SCENE_STYLE_NAME, image, float(style["scale"]), style["preview"]),
            )
        return dataclasses.replace(request, references=references)

    def _lora_path(self, digest: str) -> str:
        """A member's LoRA file on this machine (fetched from storage once, by digest)."""
        try:
            return str(self.storage.local_path(lora_key(digest)))
        except StorageError as exc:
            raise JobFailed(
                f"The LoRA {digest[:12]}… is missing from storage: give the cast member its "
                "LoRA again"
            ) from exc

    def _scene_style_image(self, digest: str) -> Image.Image:
        """The preview frame of a scene's first shot (by its params hash)."""
        with session_scope(self.engine) as session:
            artifact = job_reads.succeeded_artifact(session, digest)
        if artifact is None:
            raise JobFailed(
                "The preview of this scene's first shot, whose look this shot takes, is not "
                "rendered: preview the scene's first shot, then this one"
            )
        with Image.open(self.storage.local_path(artifact.key)) as stored:
            return stored.convert("RGB")

    def _reference_image(self, digest: str) -> Image.Image:
        image = self._references.get(digest)
        if image is None:
            key = reference_key(digest)
            try:
                with Image.open(self.storage.local_path(key)) as stored:
                    image = stored.convert("RGB")
            except (StorageError, OSError) as exc:
                raise JobFailed(
                    f"The reference picture {digest[:12]}… is missing from storage: set the "
                    "cast member's reference again"
                ) from exc
            if len(self._references) >= REFERENCE_CACHE:
                self._references.pop(next(iter(self._references)))
            self._references[digest] = image
        return image

    def _live_preview(self, job_id: int) -> Callable[[Image.Image], None]:
        """A low-resolution look at the latest denoising step, at most once a second, where
        the UI (any replica) can show it while the job runs."""
        last = [0.0]

        def store(image: Image.Image) -> None:
            now = time.monotonic()
            if now - last[0] < LIVE_PREVIEW_INTERVAL:
                return
            last[0] = now
            buffer = io.BytesIO()
            small = image.copy()
            small.thumbnail((256, 256))
            small.save(buffer, format="PNG")
            self._live_shown.add(job_id)
            self.storage.put_bytes(
                live_preview_key(job_id), buffer.getvalue(), "image/png", durable=False
            )

        return store

    def _clip(self, job: RenderJob, tmp: Path, report: ProgressReporter) -> Artifact:
        from studio.film.video import encode_video

        request: RenderRequest = self._request(job.params)
        pipeline = self.pipeline(job.params["pipeline"]["name"], job.params["pipeline"])
        prov = self._provenance(job, pipeline)
        image = None
        source = job.params.get(RUNTIME, {}).get("chain_from_job")
        if source:
            # Continuity across the cut: start where the previous shot's take ended.
            image = self._last_frame(source)
        elif job.params.get("task", "image-to-video") == "image-to-video":
            # Conditioned on the storyboard frame, so the clip looks like its preview.
            image = self._preview_image(job.params["preview"], report)
        # The progress callback raises Cancelled on request; it unwinds through the frame
        # generator and the encoder, which leaves no partial file behind.
        frames = pipeline.render_clip(
            request, image=image, on_progress=report.stage(0.1, 0.9, "Frame")
        )
        path = tmp / "clip.mp4"
        info = encode_video(frames, path, fps=request.fps, metadata=provenance.file_tags(prov))
        # The take's true length, for the timeline's trims (pipelines may round frame counts).
        prov["video"] = {
            "frames": info.frames,
            "fps": str(info.fps),
            "seconds": round(info.frames / float(info.fps), 4),
        }
        report.milestone(0.95, "Storing")
        return store_file(self.storage, path, "video/mp4", prov, job.owner)

    def _last_frame(self, job_id: int) -> Image.Image:
        from studio.film.video import read_frames

        with session_scope(self.engine) as session:
            source = lifecycle.get_job(session, job_id)
            artifact = session.get(Artifact, source.artifact_id) if source.artifact_id else None
        if artifact is None:
            raise JobFailed(
                f"Job #{job_id}, whose last frame this clip starts from, has no "
                "result; render it first"
            )
        frames = read_frames(self.storage.local_path(artifact.key))
        last = collections.deque(frames, maxlen=1)  # decode through, keep only the last
        if not last:
            raise JobFailed(f"The take of job #{job_id} has no frames")
        return Image.fromarray(last[0])

    def _preview_image(self, params: dict[str, Any], report: ProgressReporter) -> Image.Image:
        """The shot's stored preview for these exact params, else a fresh render of it."""
        digest = params_hash(params)
        with session_scope(self.engine) as session:
            artifact = job_reads.succeeded_artifact(session, digest)
        if artifact is not None and self.storage.exists(artifact.key):
            with Image.open(self.storage.local_path(artifact.key)) as stored:
                return stored.convert("RGB")
        return self._frame(params, report.stage(0.0, 0.1, "Preview frame"))
