"""The worker's container healthcheck while PostgreSQL is down: a worker riding out the
outage is healthy ("waiting for the database"), a dead one is not.

Real `python -m studio worker` processes on a private PostgreSQL cluster (stopped with
`-m immediate`, as in a crash, and started again with its data) and a private redis-server;
the check is the image's own command, `python deploy/healthcheck.py worker`, run with the
workers' environment."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from studio.farm import beacon
from tests.farm import Farm, RedisServer, wait_for
from tests.server import ROOT
from tests.services import PostgresCluster

STALE = 4.0  # Farm's STUDIO_WORKER_STALE_SECONDS (its lease is 2 s: a beat every 0.67 s)


def test_a_worker_waiting_for_the_database_is_healthy_and_a_dead_one_is_not(
    tmp_path: Path, postgres_cluster: PostgresCluster, redis_server: RedisServer
) -> None:
    run = tmp_path / "run"
    farm = Farm(tmp_path, postgres_cluster.url, redis_server.url, STUDIO_RUN_DIR=str(run))
    assert float(farm.env["STUDIO_WORKER_STALE_SECONDS"]) == STALE

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "deploy" / "healthcheck.py"), "worker"],
            env=farm.env,
            cwd=tmp_path,  # as in an image: from anywhere
            capture_output=True,
            text=True,
            timeout=30,
        )

    def passing(saying: str) -> subprocess.CompletedProcess[str] | None:
        done = check()
        return done if done.returncode == 0 and saying in done.stdout else None

    def failing() -> subprocess.CompletedProcess[str] | None:
        done = check()
        return done if done.returncode == 1 else None

    def logs() -> str:
        return "\n".join(f"--- {name}\n{farm.log(name)}" for name in farm.workers)

    def state(name: str) -> str | None:
        try:
            return beacon.read(beacon.path_for(run, farm.workers[name].pid)).state
        except beacon.BeaconError:
            return None

    try:
        w1, w2 = farm.start_worker("w1"), farm.start_worker("w2")
        wait_for(lambda: state("w1") == state("w2") == "idle", 60, "two idle workers", logs)
        healthy = check()
        assert healthy.returncode == 0 and healthy.stdout == "", healthy

        postgres_cluster.stop()
        stopped_at = time.time()
        said = wait_for(  # each notices at its own next beat
            lambda: passing("waiting for the database: w1, w2"),
            20,
            "the check to say the workers wait for the database",
            logs,
        )
        assert said.stdout == "healthy, waiting for the database: w1, w2\n", said
        time.sleep(STALE + 1)  # past the stale time: the beacons are fresh, the rows are not
        later = check()
        assert later.returncode == 0 and "waiting for the database: w1, w2" in later.stdout, later

        assert postgres_cluster.start()
        wait_for(lambda: state("w1") == state("w2") == "idle", 30, "idle again", logs)
        back = check()
        assert back.returncode == 0 and back.stdout == "", back
        found = beacon.read(beacon.path_for(run, w1.pid))
        assert found.reached_at is not None and found.reached_at > stopped_at
        for name in ("w1", "w2"):  # said once when it started waiting and once at the end
            said_log = (tmp_path / f"{name}.log").read_text(errors="replace")
            assert said_log.count(f"heartbeat of {name}: the database is unreachable") == 1, logs()
            assert said_log.count(f"heartbeat of {name}: the database is back") == 1, logs()

        w2.terminate()  # a clean stop removes its beacon
        assert w2.wait(30) == 0, farm.log("w2")
        assert beacon.pids_in(run) == {w1.pid}
        assert check().returncode == 0  # w1 still runs

        farm.kill("w1")  # SIGKILL: its beacon stays behind, its process is gone
        assert beacon.pids_in(run) == {w1.pid}
        killed_at = time.monotonic()
        dead = wait_for(failing, STALE, "unhealthy", logs)
        assert time.monotonic() - killed_at < STALE
        assert "no worker process here wrote its status" in dead.stderr, dead
    finally:
        farm.stop_all()
