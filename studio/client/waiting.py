"""The SDK client's `wait`: it follows the project's live event stream (docs/events.md) and
polls only where there is none (jobs of several projects, an older server, a proxy that
cuts streams).

One stream per wait, whatever the number of jobs: a progress event moves the bar, a status
event fetches the finished job once. A stream that ends or stalls is opened again, without
`Last-Event-ID`: its snapshot says which of the waited jobs no longer run, and those are read
once, which is all the resumed stream's statuses would tell.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from studio import display
from studio.client.timeline import RemoteTimeline
from studio.client.transport import API, path_id
from studio.core.models import JobPublic, JobStatus

STALL = 20.0  # seconds without a byte: the server pings every 15 s, so the stream is gone


class RemoteWaiting(RemoteTimeline):
    def wait(
        self,
        jobs: Sequence[JobPublic],
        *,
        progress: bool = True,
        timeout: float | None = None,
        poll: float = 0.5,
    ) -> list[JobPublic]:
        """Block until every job finishes, with a tqdm bar; returns the jobs' final state.
        `TimeoutError` after `timeout` seconds. Follows the live events of the jobs' project
        (polling every `poll` seconds where there are none)."""
        if not jobs:
            return []
        order = list(dict.fromkeys(path_id(j.id) for j in jobs))
        current = {job_id: self._job_now(job_id) for job_id in order}
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = display.WaitProgress(list(current.values()), progress)
        projects = {job.project_id for job in current.values()}
        stream = projects.pop() if len(projects) == 1 else None
        finished = bar.update(list(current.values()))
        try:
            while not finished:
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"Jobs still running after {timeout}s")
                if stream is not None:
                    try:
                        finished = self._follow(stream, order, current, bar, deadline)
                        continue  # ended, stalled or the deadline: look again
                    except httpx.ReadTimeout:
                        continue  # a stalled stream: open it again
                    except (httpx.HTTPError, ValueError, KeyError):
                        stream = None  # no usable stream here: poll instead
                time.sleep(poll)
                fresh = [self._job_now(i) for i in order if not _finished(current[i])]
                current.update((job.id, job) for job in fresh)
                finished = bar.update(fresh)
            return [current[job_id] for job_id in order]
        finally:
            bar.close()

    def _job_now(self, job_id: int) -> JobPublic:
        return JobPublic.model_validate(self._get(f"/jobs/{path_id(job_id)}"))

    def _follow(
        self,
        project_id: int,
        order: list[int],
        current: dict[int, JobPublic],
        bar: display.WaitProgress,
        deadline: float | None,
    ) -> bool:
        """Read the project's event stream until every job has finished (True), the
        deadline passes or the stream ends or stalls (the caller opens it again)."""
        wanted = set(order)
        limit = STALL if deadline is None else max(0.5, min(STALL, deadline - time.monotonic()))
        url = f"{API}/projects/{path_id(project_id)}/events"
        with self.client.stream("GET", url, timeout=httpx.Timeout(10.0, read=limit)) as answer:
            if answer.status_code != 200:
                raise httpx.HTTPStatusError(
                    "no event stream", request=answer.request, response=answer
                )
            for name, data in _events(answer.iter_lines()):
                fresh: list[JobPublic] = []
                if name == "snapshot":  # those no longer queued or running have finished
                    active = {int(j["job"]) for j in data.get("jobs", [])}
                    fresh = [self._job_now(i) for i in wanted - active if not _finished(current[i])]
                elif name == "progress" and int(data["job"]) in wanted:
                    job_id = int(data["job"])
                    if not _finished(current[job_id]):
                        fresh = [
                            current[job_id].model_copy(
                                update={"progress": float(data["progress"]), "status": "running"}
                            )
                        ]
                elif name == "status" and int(data["job"]) in wanted:
                    fresh = [self._job_now(int(data["job"]))]
                elif name == "gap":  # events were lost: read the jobs once
                    fresh = [self._job_now(job_id) for job_id in order]
                current.update((job.id, job) for job in fresh)
                if bar.update(fresh):
                    return True
                if deadline is not None and time.monotonic() > deadline:
                    return False
        return False


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, JSON data) of a server-sent event stream; comments (pings) skipped."""
    name, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def _finished(job: JobPublic) -> bool:
    return JobStatus(job.status).finished
