"""Nothing is lost: a studio killed with SIGKILL mid-render resumes its queue on restart."""

from __future__ import annotations

import time
from pathlib import Path

from studio import Studio
from studio.core.models import JobStatus
from studio.film.video import probe
from tests.server import StudioServer

SCRIPT = """EXT. HARBOUR - DAWN

Boats rock in the harbour. A gull lands on a post. The fisherman coils a rope.
A dog runs along the quay.
"""


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_mid_render_then_restart_completes_every_job(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # Submit from this process without a worker: the server process does the rendering.
    client = Studio.local(data, start_worker=False)
    project = client.create_project("Harbour", height=240, fps=24)
    pid = project.id
    assert pid is not None
    shots = client.breakdown(pid, SCRIPT)
    assert len(shots) >= 3
    for shot in shots:  # long clips, so the kill lands mid-render
        client.update_shot(shot.id, duration=12, camera_move="pan-right")
    jobs = client.render(pid)
    ids = [j.id for j in jobs]

    server = StudioServer(data, tmp_path / "server.log")
    server.start()
    try:
        victim = wait_for(
            lambda: next(
                (j for j in client.jobs(pid) if j.status == "running" and j.progress > 0.2), None
            ),
            120,
            "a render in progress",
        )
        server.kill()
        stuck = client.job(victim.id)
        assert stuck.status == JobStatus.running  # the dead process left it running

        server.start()  # same data dir: the new process re-queues the dead worker's job
        final = wait_for(
            lambda: (lambda js: js if all(JobStatus(j.status).finished for j in js) else None)(
                [client.job(i) for i in ids]
            ),
            240,
            "all renders to finish",
        )
    finally:
        server.stop()
        client.close()

    assert [j.status for j in final] == ["succeeded"] * len(ids)
    resumed = next(j for j in final if j.id == victim.id)
    assert resumed.attempts == 2  # run once more, not lost and not duplicated
    assert all(j.attempts <= 2 for j in final)
    for job in final:
        info = probe(client.artifact_path(job.artifact_id))
        assert info.frames == 12 * 24  # complete, playable take
