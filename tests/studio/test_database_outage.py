"""PostgreSQL restarted under a busy farm: the workers ride it out by themselves and every
job completes, none run twice after success, no worker restarted by hand.

A private PostgreSQL cluster (the `postgres_cluster` fixture, tests/studio/conftest.py)
stopped with `-m immediate` (every connection cut, as in a crash) and started again with
its data, and a private redis-server, so no other test is hurt."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

from studio import Studio
from tests.farm import Farm, RedisServer, wait_for
from tests.services import PostgresCluster
from tests.studio.test_redis_farm import finished, project


def test_the_farm_rides_out_a_postgresql_restart(
    tmp_path: Path, postgres_cluster: PostgresCluster, redis_server: RedisServer
) -> None:
    farm = Farm(tmp_path, postgres_cluster.url, redis_server.url)
    try:
        with Studio.local(farm.data_dir, **farm.settings()) as studio:
            for name in ("w1", "w2"):
                farm.start_worker(name)
            pid = project(studio, duration=6.0, fps=24, height=144)
            jobs = [j.id or 0 for j in studio.render(pid)]
            wait_for(
                lambda: sum(studio.job(i).status == "running" for i in jobs) >= 2,
                90,
                "two busy workers",
                lambda: farm.log("w1"),
            )
            postgres_cluster.stop()  # mid-render: progress and results cannot be written
            time.sleep(4)  # longer than a lease (2 s): none can be renewed meanwhile
            assert postgres_cluster.start()
            done = wait_for(
                lambda: finished(studio, jobs),
                60,
                "every job after the restart",
                lambda: report(studio, jobs, farm),
            )
            assert [j.status for j in done] == ["succeeded"] * len(jobs), [j.error for j in done]
            # Renders that ended while it was away waited to record their result (not thrown
            # away, not failed), and the workers said what they were waiting for.
            said = "".join(farm.log(name) for name in farm.workers)
            assert "the database is unreachable" in said
            exited = [name for name, p in farm.workers.items() if p.poll() is not None]
            assert exited == [], "\n".join(farm.log(name) for name in exited)
            # The same workers serve a job submitted after the outage.
            studio.update_shot(studio.shots(pid)[0].id, seed=4242)
            (late,) = studio.render(pid, [studio.shots(pid)[0].id])
            (after,) = wait_for(lambda: finished(studio, [late.id or 0]), 60, "a later job",
                                lambda: farm.log("w1"))  # fmt: skip
            assert after.status == "succeeded", after.error
    finally:
        farm.stop_all()


def report(studio: Studio, jobs: list[int], farm: Farm) -> str:
    """The jobs' states and what the workers said (tracebacks left out)."""
    states = [(j.id, j.status, j.attempts, j.worker, j.message) for j in map(studio.job, jobs)]
    said = [
        f"{name}: {line}"
        for name in farm.workers
        for line in (farm.tmp / f"{name}.log").read_text(errors="replace").splitlines()
        if line and not line.startswith(" ") and "Traceback" not in line
    ]
    return f"{states}\n" + "\n".join(said[-30:])


def test_the_api_answers_503_while_the_database_is_away(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    """Not a 500: the caller did nothing wrong and may try again (the SDK does). The Python
    API says the same, as a StudioError."""
    import pytest
    from fastapi.testclient import TestClient

    from app import create_app
    from studio.client.transport import error_from
    from studio.core.config import load_settings
    from studio.core.errors import DatabaseUnavailable

    settings = load_settings(
        data_dir=tmp_path, database_url=postgres_cluster.url, auth=True, secret_key="x" * 20
    )
    application = create_app(settings)
    studio: Studio = application.state.studio
    studio.create_user("alice", "correct-horse-9")
    _record, token = studio.as_user("alice").create_token("t")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(application) as client:
        assert client.get("/api/v1/projects", headers=headers).status_code == 200
        postgres_cluster.stop()
        try:
            for _ in range(2):  # a connection used a moment ago, then a new one refused
                away = client.get("/api/v1/projects", headers=headers)
                assert away.status_code == 503, away.text
                assert away.json()["error"]["code"] == "database_unavailable"
                assert int(away.headers["Retry-After"]) >= 1
                # What the SDK raises (TestClient's response: httpx's twin, the same shape).
                assert isinstance(error_from(cast(Any, away)), DatabaseUnavailable)
            with pytest.raises(DatabaseUnavailable, match="cannot be reached"):
                studio.as_user("alice").projects()
        finally:
            assert postgres_cluster.start()
        assert client.get("/api/v1/projects", headers=headers).status_code == 200


def test_a_restart_while_the_app_idled_is_invisible_to_its_next_callers(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    """The pool's connections all died with the restart; each is pinged when taken after an
    idle spell and replaced, so nobody gets a 503 for a database that is back."""
    from studio.core.db import PING_AFTER

    studio = Studio.local(tmp_path, database_url=postgres_cluster.url, start_worker=False)
    try:
        with studio.engine.connect() as a, studio.engine.connect() as b:  # two pooled
            assert a is not b
        studio.create_project("Before")
        postgres_cluster.stop()
        assert postgres_cluster.start()
        time.sleep(PING_AFTER + 0.2)
        for _ in range(3):  # each call may take another of the dead pooled connections
            assert [p.name for p in studio.projects()] == ["Before"]
    finally:
        studio.close()
