"""Live job events over server-sent events: /api/v1/jobs/{id}/events and
/api/v1/projects/{id}/events, in-process (inline queue) and through Redis from a worker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import studio.farm.events as events
import studio.farm.runner as runner
from studio import Studio
from studio.core.config import load_settings
from studio.core.models import JobStatus
from studio.farm.events import EventBus
from tests.farm import Farm, redis_db_url

PASSWORD = "correct-horse-9"
Event = tuple[str, Any]  # (event name, data); ("ping", None) for a keep-alive


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    from app import create_app

    data = tmp_path_factory.mktemp("events")
    settings = load_settings(data_dir=data, auth=True, credits=False, secret_key="x" * 20)
    application = create_app(settings)
    studio: Studio = application.state.studio
    tokens = {}
    for name in ("alice", "bob"):
        studio.create_user(name, PASSWORD)
        tokens[name] = {"Authorization": f"Bearer {studio.as_user(name).create_token('t')[1]}"}
    with TestClient(application, follow_redirects=False) as client:
        yield client, {"studio": studio, "tokens": tokens}


@pytest.fixture(autouse=True)
def safety_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frequent keep-alives let a reader check its deadline instead of hanging."""
    monkeypatch.setattr(events, "PING_SECONDS", 0.3)


def read(
    response: Any, until: Any = None, timeout: float = 60.0, ids: list[int] | None = None
) -> Iterator[Event]:
    """Parse a text/event-stream response into (event, data) pairs, checking that ids
    increase (into `ids`, when given); stop after an event for which `until` is true, or
    fail after `timeout`."""
    deadline = time.monotonic() + timeout
    name, data = None, None
    ids = [] if ids is None else ids
    for line in response.iter_lines():
        assert time.monotonic() < deadline, "no end of stream in time"
        if line.startswith(":"):
            yield "ping", None
            if until is not None and until("ping", None):
                return
        elif line.startswith("id: "):
            ids.append(int(line[4:]))
            assert ids == sorted(set(ids)), ids  # strictly increasing
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and name is not None:
            yield name, data
            if until is not None and until(name, data):
                return
            name, data = None, None


def named(items: list[Event], *names: str) -> list[Any]:
    return [data for name, data in items if name in names]


def clip_project(studio: Studio, name: str, **shot: Any) -> tuple[int, int]:
    project = studio.create_project(name, height=shot.pop("height", 144), fps=24)
    assert project.id is not None
    made = studio.add_shot(project.id, "A lighthouse in a storm", **shot)
    assert made.id is not None
    return project.id, made.id


def test_a_stream_delivers_every_progress_event_of_a_job_in_order(
    app: tuple[TestClient, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, facts = app
    studio: Studio = facts["studio"]
    alice = studio.as_user("alice")
    monkeypatch.setattr(runner, "PROGRESS_INTERVAL", 0.0)  # every frame reports
    published: list[dict[str, Any]] = []
    chained = studio.runner.publish

    def record(event: dict[str, Any]) -> None:
        published.append(event)
        chained(event)

    monkeypatch.setattr(studio.runner, "publish", record)
    pid, _ = clip_project(alice, "Storm", duration=2.0, height=288)
    alice.pause_queue()  # the stream opens before the job runs: nothing can be missed
    try:
        (job,) = alice.render(pid)
        url = f"/api/v1/jobs/{job.id}/events"
        with client.stream("GET", url, headers=facts["tokens"]["alice"]) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = read(response)
            first = next(stream)
            assert first[0] == "snapshot" and first[1]["status"] == "queued"
            alice.resume_queue()
            rest = list(stream)  # the stream ends on its own when the job has finished
    finally:
        alice.resume_queue()
    mine = [e for e in published if e["job"] == job.id]
    expected = [
        {"job": job.id, "progress": e["progress"], "message": e["message"]}
        for e in mine
        if "progress" in e
    ]
    assert len(expected) > 10
    assert named(rest, "progress") == expected  # every one, same values, same order
    assert rest[-1][0] == "status"
    final = rest[-1][1]
    done = alice.job(job.id)
    assert final["status"] == JobStatus.succeeded.value == done.status
    assert final["artifact_id"] == done.artifact_id and final["cost"] == done.cost
    assert named(rest, "snapshot", "gap", "gone") == []


def test_other_users_get_404_and_no_token_401(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    alice = facts["studio"].as_user("alice")
    pid, _ = clip_project(alice, "Private", duration=0.5)
    (job,) = alice.render(pid, wait=True, progress=False)
    for url in (f"/api/v1/jobs/{job.id}/events", f"/api/v1/projects/{pid}/events"):
        refused = client.get(url, headers=facts["tokens"]["bob"])
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
        anonymous = client.get(url)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthorized"
    missing = client.get("/api/v1/jobs/999999/events", headers=facts["tokens"]["alice"])
    assert missing.status_code == 404


def test_a_finished_job_sends_snapshot_and_status_and_ends(
    app: tuple[TestClient, dict[str, Any]],
) -> None:
    client, facts = app
    alice = facts["studio"].as_user("alice")
    pid, _ = clip_project(alice, "Done", duration=0.5)
    (job,) = alice.render(pid, wait=True, progress=False)
    response = client.get(f"/api/v1/jobs/{job.id}/events", headers=facts["tokens"]["alice"])
    assert response.status_code == 200
    items = list(read(response))
    assert [name for name, _ in items] == ["snapshot", "status"]
    assert items[0][1]["status"] == items[1][1]["status"] == "succeeded"
    assert items[1][1]["artifact_id"] == job.artifact_id and items[1][1]["error"] is None


def test_a_project_stream_sees_jobs_submitted_after_it_opened(
    app: tuple[TestClient, dict[str, Any]],
) -> None:
    client, facts = app
    alice = facts["studio"].as_user("alice")
    pid, shot_id = clip_project(alice, "Later", duration=1.0)
    url = f"/api/v1/projects/{pid}/events"
    job_ids: list[int] = []

    def finished(name: str, data: Any) -> bool:
        return name == "status" and bool(job_ids) and data["job"] == job_ids[0]

    with client.stream("GET", url, headers=facts["tokens"]["alice"]) as response:
        assert response.status_code == 200
        stream = read(response, until=finished)
        assert next(stream) == ("snapshot", {"project": pid, "jobs": []})
        job_ids.append(int(alice.render(pid, [shot_id])[0].id or 0))
        items = list(stream)
    progress = named(items, "progress")
    assert progress and {p["job"] for p in progress} == {job_ids[0]}
    fractions = [p["progress"] for p in progress]
    assert fractions == sorted(fractions)
    assert named(items, "status")[-1]["status"] == "succeeded"
    # An identical render is a cache hit: succeeded at once, never published; the database
    # poll still reports it.
    with client.stream("GET", url, headers=facts["tokens"]["alice"]) as response:
        stream = read(response, until=lambda name, data: name == "status")
        assert next(stream)[0] == "snapshot"
        (again,) = alice.render(pid, [shot_id])
        assert again.cache_hit
        (status,) = named(list(stream), "status")
    assert status["job"] == again.id and status["cache_hit"] and status["status"] == "succeeded"


def test_a_project_stream_resumed_with_last_event_id_sends_what_ended_meanwhile(
    app: tuple[TestClient, dict[str, Any]],
) -> None:
    """A client cut off (an EventSource reconnects by itself, sending the id of the last
    event it got) learns which jobs ended while it was away, not only what still runs."""
    client, facts = app
    alice = facts["studio"].as_user("alice")
    tokens = facts["tokens"]["alice"]
    pid, shot_id = clip_project(alice, "Resumed", duration=0.5)
    url = f"/api/v1/projects/{pid}/events"
    ids: list[int] = []
    with client.stream("GET", url, headers=tokens) as response:
        assert next(read(response, ids=ids))[0] == "snapshot"
    (job,) = alice.render(pid, [shot_id], wait=True, progress=False)  # while it was away
    with client.stream("GET", url, headers={**tokens, "Last-Event-ID": str(ids[-1])}) as response:
        items = list(read(response, until=lambda name, _data: name in ("status", "ping")))
    assert [name for name, _ in items] == ["snapshot", "status"]
    assert items[0][1]["jobs"] == []  # nothing runs now...
    assert items[1][1]["job"] == job.id and items[1][1]["status"] == "succeeded"  # ...it ended
    # A fresh stream, or an id that is not one of ours: from now on, nothing of the past.
    long_ago = str(ids[-1] - 2 * 3600 * 1000)  # older than an hour: no flood of statuses
    for extra in ({}, {"Last-Event-ID": "tomorrow"}, {"Last-Event-ID": long_ago}):
        with client.stream("GET", url, headers={**tokens, **extra}) as response:
            items = list(read(response, until=lambda name, _data: name == "ping"))
        assert [name for name, _ in items] == ["snapshot", "ping"]


def test_a_silent_stream_sends_keep_alives(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    alice = facts["studio"].as_user("alice")
    pid, _ = clip_project(alice, "Quiet", duration=0.5)
    url = f"/api/v1/projects/{pid}/events"
    with client.stream("GET", url, headers=facts["tokens"]["alice"]) as response:
        items = list(read(response, until=lambda name, _data: name == "ping"))
    assert items[0][0] == "snapshot" and items[-1] == ("ping", None)


def test_a_deleted_project_ends_its_stream(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    alice = facts["studio"].as_user("alice")
    pid, _ = clip_project(alice, "Doomed", duration=0.5)
    url = f"/api/v1/projects/{pid}/events"
    with client.stream("GET", url, headers=facts["tokens"]["alice"]) as response:
        stream = read(response, timeout=30)
        assert next(stream)[0] == "snapshot"
        alice.delete_project(pid)
        items = [item for item in stream if item[0] != "ping"]
    assert items == [("gone", {"project": pid})]


def test_a_slow_subscriber_loses_the_oldest_and_is_told() -> None:
    bus = EventBus(buffer=3)
    with bus.subscribe() as subscription:
        for n in range(5):
            bus.publish({"job": 1, "progress": n / 10, "message": str(n)})
        got = subscription.get(timeout=1)
    assert got[0] == {"type": "gap", "dropped": 2}
    assert [e["message"] for e in got[1:]] == ["2", "3", "4"]
    assert bus.subscribers == 0


def test_publishing_never_waits_for_a_reader() -> None:
    bus = EventBus(buffer=10)
    subscription = bus.subscribe()  # never read
    start = time.monotonic()
    for n in range(10_000):
        bus.publish({"job": 1, "progress": n, "message": ""})
    assert time.monotonic() - start < 2
    assert subscription.drain()[0] == {"type": "gap", "dropped": 9_990}
    subscription.close()


# ---- Redis: events published by a worker process --------------------------------------------


@pytest.mark.integration
@pytest.mark.farm
def test_worker_events_arrive_through_redis(
    tmp_path: Path, fresh_postgres_url: str, redis_url: str
) -> None:
    from redis import Redis

    from app import create_app
    from studio.farm.queues.redis import EVENTS_CHANNEL

    url = redis_db_url(redis_url, 12)
    Redis.from_url(url).flushdb()
    farm = Farm(tmp_path, fresh_postgres_url, url)
    settings = load_settings(
        data_dir=farm.data_dir, auth=True, credits=False, secret_key="z" * 20, **farm.settings()
    )
    application = create_app(settings)
    studio: Studio = application.state.studio
    studio.create_user("alice", PASSWORD)
    alice = studio.as_user("alice")
    headers = {"Authorization": f"Bearer {alice.create_token('t')[1]}"}
    pid, _ = clip_project(alice, "Farm", duration=2.0, height=144)
    alice.pause_queue()
    (job,) = alice.render(pid)
    farm.start_worker("w1")
    # What the worker publishes, read straight from Redis beside the studio's relay.
    published: list[dict[str, Any]] = []
    listener = Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(EVENTS_CHANNEL)
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            message = listener.get_message(timeout=0.2)
            if message is not None:
                published.append(json.loads(message["data"]))

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    try:
        with TestClient(application) as client:
            url_events = f"/api/v1/jobs/{job.id}/events"
            with client.stream("GET", url_events, headers=headers) as response:
                stream = read(response, timeout=120)
                assert next(stream)[0] == "snapshot"
                relay = studio.events.relay
                assert relay is not None and relay.subscribed.wait(10)  # type: ignore[attr-defined]
                alice.resume_queue()
                items = list(stream)
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        farm.stop_all()
        Redis.from_url(url).flushdb()
    progress = named(items, "progress")
    assert progress, farm.log("w1")
    assert progress == [
        {"job": job.id, "progress": e["progress"], "message": e["message"]}
        for e in published
        if e["job"] == job.id and "progress" in e
    ]
    fractions = [p["progress"] for p in progress]
    assert fractions == sorted(fractions)
    assert items[-1][0] == "status" and items[-1][1]["status"] == "succeeded", farm.log("w1")
