"""`wait()` over the REST API follows the project's live event stream instead of polling each
job (issue 15): one stream, a job read when it starts being waited on and when it ends."""

from __future__ import annotations

import re

from studio.client.remote import RemoteStudio
from studio.core.models import JobStatus
from tests.sdk.conftest import Backend
from tests.sdk.test_sdk import small_project


def test_wait_follows_the_event_stream(remote_backend: Backend) -> None:
    sdk = remote_backend.connect("alice")
    assert isinstance(sdk, RemoteStudio)
    sent: list[tuple[str, str]] = []
    sdk.client.event_hooks["request"].append(lambda r: sent.append((r.method, r.url.path)))
    project, _shots = small_project(sdk, shots=2, duration=6.0)
    jobs = sdk.render(project.id)
    done = sdk.wait(jobs, progress=False, poll=0.05)
    assert [j.status for j in done] == [JobStatus.succeeded.value] * 2
    assert [j.id for j in done] == [j.id for j in jobs]
    assert ("GET", f"/api/v1/projects/{project.id}/events") in sent
    reads = [p for m, p in sent if m == "GET" and re.fullmatch(r"/api/v1/jobs/\d+", p)]
    # Polling every 0.05 s would read each job dozens of times over a few seconds.
    assert len(reads) <= 3 * len(jobs), reads
