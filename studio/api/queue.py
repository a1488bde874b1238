"""Jobs and the render queue: listing, positions, cancel, retry, priorities, pauses, workers."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlmodel import col, select

from studio import display
from studio.api.projects import ProjectsArea
from studio.core import job_reads, lifecycle
from studio.core.census import Census, take_census
from studio.core.errors import Forbidden, NotFound
from studio.core.models import (
    JobPublic,
    JobStatus,
    RenderJob,
    WorkerPublic,
    public,
)
from studio.core.team import Access
from studio.core.validation import id_list
from studio.farm import registry
from studio.farm.events import Subscription, Watch, resumed_since
from studio.farm.queues import InlineQueue

EVENTLESS_READ = 2.0  # seconds between reads of the jobs while no event about them comes


class QueueArea(ProjectsArea):
    def jobs(
        self,
        project_id: int | None = None,
        statuses: Iterable[str] | None = None,
        kinds: Iterable[str] | None = None,
        limit: int = 500,
        before_id: int | None = None,
    ) -> list[JobPublic]:
        """Newest first; `before_id` pages on (only jobs with a smaller id). Without a project:
        the user's own jobs; with one: that project's (also a project shared with the user)."""
        with self._session() as session:
            query = select(RenderJob)
            if project_id is not None:
                try:
                    self._project(session, project_id, Access.view)
                except NotFound:
                    return []  # none that this user may see
            elif not self.is_admin:
                query = query.where(RenderJob.owner == self.user)
            if before_id is not None:
                query = query.where(col(RenderJob.id) < before_id)
            if project_id is not None:
                query = query.where(RenderJob.project_id == project_id)
            if statuses:
                query = query.where(col(RenderJob.status).in_(list(statuses)))
            if kinds:
                query = query.where(col(RenderJob.kind).in_(list(kinds)))
            found = session.exec(query.order_by(col(RenderJob.id).desc()).limit(limit))
            return [public(j) for j in found]

    def job(self, job_id: int) -> JobPublic:
        with self._session() as session:
            return public(self._job(session, job_id, Access.view))

    def queue_position(self, job_id: int) -> int | None:
        with self._session() as session:
            return job_reads.queue_position(session, self._job(session, job_id, Access.view))

    def queue_positions(self, job_ids: list[int] | None = None) -> dict[int, int]:
        """Position in the queue (1 = next) of every queued job this user can see, or only of
        those of `job_ids` that are queued."""
        wanted = None if job_ids is None else id_list(job_ids, "job_ids")
        with self._session() as session:
            if self.is_admin:
                return job_reads.queue_positions(session, wanted)
            mine = select(RenderJob.id).where(
                RenderJob.owner == self.user, RenderJob.status == JobStatus.queued.value
            )
            if wanted is not None:
                mine = mine.where(col(RenderJob.id).in_(wanted))
            own = {i for i in session.exec(mine).all() if i is not None}
            positions = job_reads.queue_positions(session, own if wanted is not None else None)
        return {job_id: n for job_id, n in positions.items() if job_id in own}

    def cancel(self, job_id: int) -> JobPublic:
        with self._session(write=True) as session:
            self._job(session, job_id, Access.render)  # who may render may also cancel
            job = lifecycle.cancel(session, job_id)
        if job.status == JobStatus.running.value:
            self.queue.cancel(job_id)  # reach the worker now, not at its next database check
        return public(job)

    def pause_queue(self, owner: str | None = None) -> None:
        """Hold this user's queued jobs (running ones finish)."""
        owner = self._owner_for(owner)
        with self._session() as session:
            lifecycle.pause(session, owner)

    def resume_queue(self, owner: str | None = None) -> None:
        owner = self._owner_for(owner)
        with self._session() as session:
            lifecycle.resume(session, owner)
        self.queue.enqueue(0)

    def queue_paused(self, owner: str | None = None) -> bool:
        owner = self._owner_for(owner)
        with self._session() as session:
            return lifecycle.is_paused(session, owner)

    def move_before(self, job_id: int, before_job_id: int) -> JobPublic:
        """Reorder queued jobs: `job_id` runs right before `before_job_id`."""
        with self._session() as session:
            self._job(session, job_id)
            self._job(session, before_job_id)
            return public(lifecycle.move_before(session, job_id, before_job_id))

    def workers(self) -> list[WorkerPublic]:
        """Every worker that ever reported, newest heartbeat first."""
        return [public(w) for w in registry.all_workers(self.engine)]

    def census(self) -> Census:
        """The whole farm at a glance (queue depth, jobs, run times, credits, workers), for
        /metrics. Admins only."""
        if not self.is_admin:
            raise Forbidden("Only admins see the whole farm")
        with self._session() as session:
            return take_census(session)

    def watch(
        self,
        *,
        job_id: int | None = None,
        project_id: int | None = None,
        last_event_id: str | None = None,
    ) -> Watch:
        """The live events of one job, or of every job of one project (the REST event
        streams); NotFound when it is not yours. A project's stream given the id of the
        last event a client got (`Last-Event-ID`) also sends what finished since."""
        if job_id is not None:
            self.job(job_id)
        if project_id is not None:
            self.project(project_id)
        since = resumed_since(last_event_id)
        return Watch(self.events, self.engine, job_id=job_id, project_id=project_id, since=since)

    def retry(self, job_id: int) -> JobPublic:
        with self._session(write=True) as session:
            self._job(session, job_id, Access.render)
            job = lifecycle.retry(session, job_id, billing=self.settings.resolved_credits)
        self._wake([job])
        return public(job)

    def set_priority(self, job_id: int, priority: int) -> JobPublic:
        with self._session() as session:
            self._job(session, job_id)
            return public(lifecycle.set_priority(session, job_id, priority))

    def raise_priority(self, job_id: int) -> JobPublic:
        """Move a queued job to the front: one above the highest queued priority."""
        with self._session() as session:
            top = session.exec(
                select(RenderJob.priority)
                .where(RenderJob.status == JobStatus.queued.value)
                .order_by(col(RenderJob.priority).desc())
            ).first()
            job = self._job(session, job_id)
            raised = max(job.priority, (top or 0) + 1)
            return public(lifecycle.set_priority(session, job_id, raised))

    def wait(
        self,
        jobs: Sequence[JobPublic],
        *,
        progress: bool = True,
        timeout: float | None = None,
        poll: float = 0.2,
    ) -> list[JobPublic]:
        """Block until every job finishes, with a tqdm bar; returns the jobs' final state."""
        ids = [j.id for j in jobs]
        if not ids:
            return []
        # Inline renders happen in this process; with Redis, remote workers render (and
        # dispatch) even when this process starts no thread of its own.
        inline_idle = isinstance(self.queue, InlineQueue) and not self.queue.running
        if inline_idle and any(j.status in lifecycle.ACTIVE for j in jobs):
            raise RuntimeError(
                "This studio has no render worker running (start_worker=False); "
                "start one or wait from the process that renders"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = display.WaitProgress(jobs, progress)
        # Where this process has the live events (the runner's, or the workers' through
        # Redis), it reads a job again when it reports, not every job every `poll` seconds:
        # no latency after the end, no polls competing with an inline render, a few reads
        # per job however many are waited on. Every job is still read every EVENTLESS_READ
        # seconds without news (events are best effort), and after a gap in them.
        events = self.services.events.subscribe() if self.services.events else None
        current: dict[int, JobPublic] = {}
        stale, moved = set(ids), dict[int, dict[str, Any]]()
        try:
            while True:
                fresh = []
                if stale:
                    with self._session() as session:
                        fresh = [public(self._job(session, i, Access.view)) for i in stale]
                # A progress event moves the bar without a read; its job's end is read.
                fresh += [
                    current[i].model_copy(update={**change, "status": "running"})
                    for i, change in moved.items()
                    if i not in stale and not JobStatus(current[i].status).finished
                ]
                current.update((job.id, job) for job in fresh)
                if bar.update(fresh):
                    return [current[i] for i in ids]
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"Jobs still running after {timeout}s")
                if events is None:
                    time.sleep(poll)
                    continue
                stale, moved = self._news(events, set(ids), max(poll, EVENTLESS_READ), deadline)
        finally:
            bar.close()
            if events is not None:
                events.close()

    @staticmethod
    def _news(
        events: Subscription, watched: set[int], longest: float, deadline: float | None
    ) -> tuple[set[int], dict[int, dict[str, Any]]]:
        """What the watched jobs reported within `longest` seconds: those to read again
        (all of them when none reported, or when some events were dropped: a gap), and the
        progress of those that only reported progress."""
        until = time.monotonic() + longest
        if deadline is not None:
            until = min(until, deadline)
        while (left := until - time.monotonic()) > 0:
            got = events.get(left)
            if any(e.get("type") == "gap" for e in got):
                return watched, {}
            read, moved = set[int](), dict[int, dict[str, Any]]()
            for event in (e for e in got if e.get("job") in watched):
                if set(event) <= {"job", "progress", "message"} and "progress" in event:
                    moved[event["job"]] = {k: v for k, v in event.items() if k != "job"}
                else:
                    read.add(event["job"])
            if read or moved:
                return read, {i: change for i, change in moved.items() if i not in read}
        return watched, {}
