"""A local studio's `wait()` follows its live events: it returns as soon as the render ends,
however long its polling interval, and it does not read the jobs in a loop meanwhile."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import event

from studio import Studio


def test_wait_returns_when_the_job_ends_not_at_the_next_poll(tmp_path: Path) -> None:
    with Studio.local(tmp_path) as studio:
        project = studio.create_project("film", height=64)
        assert project.id is not None
        shot = studio.add_shot(project.id, "a lighthouse", duration=1.0)
        studio.runner.pipeline("draft")  # loaded: the render itself takes milliseconds
        reads: list[int] = []
        event.listen(studio.engine, "before_cursor_execute", lambda *_a: reads.append(1))
        started = time.monotonic()
        (job,) = studio.wait(studio.preview(project.id, [shot.id]), progress=False, poll=30)
        took = time.monotonic() - started
    assert job.status == "succeeded"
    assert took < 10  # polling alone would have slept 30 s before its second read
    assert len(reads) < 200  # a handful of reads, not a loop


def test_wait_without_events_still_polls(tmp_path: Path) -> None:
    with Studio.local(tmp_path) as studio:
        project = studio.create_project("film", height=64)
        assert project.id is not None
        shot = studio.add_shot(project.id, "a lighthouse", duration=1.0)
        studio.services.events = None  # as in a process built without the event bus
        (job,) = studio.wait(studio.preview(project.id, [shot.id]), progress=False, poll=0.05)
    assert job.status == "succeeded"
