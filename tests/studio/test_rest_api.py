"""The REST API (/api/v1) against the real app: a whole film by API token, ownership on every
route, error bodies, paging, idempotent submissions, limits and the OpenAPI document."""

from __future__ import annotations

import hashlib
import io
import re
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from studio import Studio
from studio.core.config import load_settings
from studio.core.models import JobStatus
from studio.web.rest import api_routes

PASSWORD = "correct-horse-9"
SCRIPT = """INT. LIGHTHOUSE - NIGHT
The keeper climbs the stairs.

EXT. CLIFF - DAWN
Waves break against the rocks.
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    from app import create_app

    data = tmp_path_factory.mktemp("rest")
    settings = load_settings(data_dir=data, auth=True, credits=True, secret_key="x" * 20)
    application = create_app(settings)
    studio: Studio = application.state.studio
    tokens = {}
    for name, credits in (("alice", 100), ("bob", 100), ("carol", 0), ("dave", 100)):
        studio.create_user(name, PASSWORD)
        if credits:
            studio.grant_credits(name, credits, "test")
        tokens[name] = studio.as_user(name).create_token("t")[1]
    studio.create_user("root", PASSWORD, role="admin")
    tokens["root"] = studio.as_user("root").create_token("t")[1]
    # A token of alice's that no test uses: the target of DELETE /tokens/{token_id} walks.
    spare, _plain = studio.as_user("alice").create_token("spare")
    # Alice's objects, made through the Python API: the targets of the ownership walk.
    alice = studio.as_user("alice")
    project = alice.create_project("Alice's film")
    assert project.id is not None
    shot = alice.add_shot(project.id, "A lighthouse at dusk", duration=1.0)
    (take,) = alice.render(project.id, wait=True, progress=False)
    assert take.status == JobStatus.succeeded.value, take.error
    member = alice.add_cast_member(project.id, "Mara", description="40s, weathered coat")
    alice.update_shot(shot.id, scene="EXT. LIGHTHOUSE - DUSK")
    (scene,) = alice.scenes(project.id)
    note = alice.comment(project.id, "hers", job_id=take.id)
    facts = {
        "studio": studio,
        "tokens": tokens,
        "ids": {
            "project_id": project.id,
            "shot_id": shot.id,
            "job_id": take.id,
            "artifact_id": take.artifact_id,
            "token_id": spare.id,
            "member_id": member.id,
            "scene_id": scene.id,
            "comment_id": note.id,
            "name": "carol",
        },
    }
    with TestClient(application, follow_redirects=False) as client:
        yield client, facts


def auth(facts: dict[str, Any], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {facts['tokens'][name]}"}


def wait_for(client: TestClient, headers: dict[str, str], job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if JobStatus(job["status"]).finished:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.1)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and set(error) == {"code", "message", "field"}
    return dict(error)


# A valid body per route (so that only ownership or authentication can refuse the request).
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/projects"): {"name": "A film"},
    ("PATCH", "/api/v1/projects/{project_id}"): {"name": "Renamed"},
    ("POST", "/api/v1/projects/{project_id}/breakdown"): {"script": SCRIPT},
    ("POST", "/api/v1/projects/{project_id}/shots"): {"prompt": "A gull"},
    ("PATCH", "/api/v1/shots/{shot_id}"): {"prompt": "A crow"},
    ("POST", "/api/v1/shots/{shot_id}/move"): {"position": 0},
    ("POST", "/api/v1/projects/{project_id}/cast"): {"name": "Walker"},
    ("PATCH", "/api/v1/cast/{member_id}"): {"description": "an intruder's"},
    ("POST", "/api/v1/cast/{member_id}/merge"): {"into_id": 1},
    ("POST", "/api/v1/cast/{member_id}/reference"): {"job_id": 1},
    ("PATCH", "/api/v1/scenes/{scene_id}"): {"look": "an intruder's"},
    ("POST", "/api/v1/jobs/{job_id}/priority"): {"priority": 1},
    ("POST", "/api/v1/jobs/{job_id}/move-before"): {"before_job_id": 1},
    ("POST", "/api/v1/lab/runs"): {"pipeline": "draft", "prompt": "A gull"},
    ("POST", "/api/v1/lab/sweeps"): {"pipeline": "draft", "prompt": "A", "axes": {"seed": [1]}},
    ("POST", "/api/v1/presets"): {"name": "walk-look", "pipeline": "draft"},
    ("POST", "/api/v1/tokens"): {"name": "walk"},
    ("POST", "/api/v1/users"): {"name": "walker", "password": PASSWORD},
    ("POST", "/api/v1/credits/grants"): {"user": "bob", "amount": 1, "reason": "walk"},
    ("PATCH", "/api/v1/projects/{project_id}/timeline"): {"clips": []},
    ("POST", "/api/v1/projects/{project_id}/cuts/export"): {},
    ("POST", "/api/v1/projects/{project_id}/members"): {"user": "carol", "role": "viewer"},
    ("POST", "/api/v1/projects/{project_id}/members/remove"): {"user": "carol"},
    ("POST", "/api/v1/jobs/{job_id}/review"): {"verdict": "approved"},
    ("POST", "/api/v1/projects/{project_id}/comments"): {"text": "an intruder's note"},
}
# Admin-only routes: a creator is refused (403) whatever the ids.
ADMIN_ONLY = ("/api/v1/users", "/api/v1/credits/grants")


def every_route(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every documented /api/v1 route, read from the app."""
    pairs = []
    for route in api_routes(client.app):  # type: ignore[arg-type]
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                pairs.append((method, str(route.path)))
    assert len(pairs) >= 25
    return pairs


def call(client: TestClient, method: str, template: str, ids: dict[str, Any], **kw: Any) -> Any:
    path = template.format(**ids)
    body = BODIES.get((method, template))
    return client.request(method, path, json=body, **kw)


def test_a_whole_film_by_token(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    headers = auth(facts, "alice")
    made = client.post(
        "/api/v1/projects", json={"name": "By token", "height": 144}, headers=headers
    )
    assert made.status_code == 201, made.text
    project = made.json()
    assert project["name"] == "By token" and project["width"] == 256
    listed = client.get("/api/v1/projects", headers=headers).json()["items"]
    assert project["id"] in [p["id"] for p in listed]

    shots = client.post(
        f"/api/v1/projects/{project['id']}/breakdown", json={"script": SCRIPT}, headers=headers
    )
    assert shots.status_code == 200, shots.text
    items = shots.json()["items"]
    assert len(items) == 2 and [s["position"] for s in items] == [0, 1]
    for shot in items:
        patched = client.patch(f"/api/v1/shots/{shot['id']}", json={"duration": 1}, headers=headers)
        assert patched.status_code == 200 and patched.json()["duration"] == 1.0

    estimate = client.get(f"/api/v1/projects/{project['id']}/estimate", headers=headers)
    assert estimate.status_code == 200 and estimate.json()["credits"] > 0
    rendered = client.post(f"/api/v1/projects/{project['id']}/renders", json={}, headers=headers)
    assert rendered.status_code == 202, rendered.text
    jobs = [wait_for(client, headers, j["id"]) for j in rendered.json()["items"]]
    assert all(j["status"] == "succeeded" for j in jobs), jobs
    assert all(j["kind"] == "clip" and j["params"] for j in jobs)

    takes = client.get(f"/api/v1/shots/{items[0]['id']}/takes", headers=headers).json()["items"]
    assert [t["id"] for t in takes] == [jobs[0]["id"]]
    chosen = client.post(
        f"/api/v1/shots/{items[0]['id']}/takes/{jobs[0]['id']}/choose", headers=headers
    )
    assert chosen.status_code == 200 and chosen.json()["chosen_take_id"] == jobs[0]["id"]

    film = client.post(
        f"/api/v1/projects/{project['id']}/film", json={"title": "The End"}, headers=headers
    )
    assert film.status_code == 202, film.text
    done = wait_for(client, headers, film.json()["id"])
    assert done["status"] == "succeeded" and done["kind"] == "film", done

    artifact = client.get(f"/api/v1/artifacts/{done['artifact_id']}", headers=headers)
    assert artifact.status_code == 200, artifact.text
    meta = artifact.json()
    assert meta["content_type"] == "video/mp4" and meta["bytes"] > 0
    client.cookies.clear()
    download = client.get(meta["download_url"])  # signed: no credentials needed
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == meta["sha256"]

    me = client.get("/api/v1/me", headers=headers).json()
    assert me["name"] == "alice" and me["credits_enabled"] is True
    assert client.get("/api/v1/credits", headers=headers).json()["balance"] == me["balance"]
    ledger = client.get("/api/v1/credits/ledger?limit=100", headers=headers).json()["items"]
    assert {"grant", "settle"} <= {e["kind"] for e in ledger} or len(ledger) > 1
    pipelines = client.get("/api/v1/pipelines", headers=headers).json()["items"]
    draft = next(p for p in pipelines if p["name"] == "draft")
    assert draft["supports_references"] is True  # it draws cast reference pictures
    workers = client.get("/api/v1/workers", headers=headers)
    assert workers.status_code == 200 and isinstance(workers.json()["items"], list)

    # (A project without jobs: see test_deleted_jobs_ids_are_not_billed_twice.)
    spare = client.post("/api/v1/projects", json={"name": "Spare"}, headers=headers).json()
    shot = client.post(f"/api/v1/projects/{spare['id']}/shots", json={}, headers=headers).json()
    moved = client.post(f"/api/v1/shots/{shot['id']}/move", json={"position": 5}, headers=headers)
    assert moved.status_code == 200 and moved.json()["position"] == 0
    assert client.delete(f"/api/v1/shots/{shot['id']}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/projects/{spare['id']}", headers=headers).status_code == 204
    gone = client.get(f"/api/v1/projects/{spare['id']}", headers=headers)
    assert_error(gone, 404, "not_found")


def test_other_users_ids_are_not_found_on_every_route(
    app: tuple[TestClient, dict[str, Any]],
) -> None:
    client, facts = app
    ids, headers = facts["ids"], auth(facts, "bob")
    walked = 0
    for method, template in every_route(client):
        names = set(re.findall(r"{(\w+)}", template))
        if not names:
            continue
        assert names <= set(ids), f"no test id for {names - set(ids)} in {template}"
        response = call(client, method, template, ids, headers=headers)
        if template.startswith(ADMIN_ONLY):
            assert_error(response, 403, "forbidden")
        else:
            assert_error(response, 404, "not_found")
        walked += 1
    assert walked >= 18
    # Alice's spare token was not revoked by Bob's DELETE.
    studio = facts["studio"]
    assert ids["token_id"] in [t.id for t in studio.as_user("alice").tokens()]
    assert not studio.as_user("carol").me().disabled
    # Alice's objects are untouched and still hers.
    alice = auth(facts, "alice")
    assert client.get(f"/api/v1/projects/{ids['project_id']}", headers=alice).status_code == 200
    assert client.get(f"/api/v1/jobs/{ids['job_id']}", headers=alice).status_code == 200
    mara = client.get(f"/api/v1/cast/{ids['member_id']}", headers=alice).json()
    assert mara["description"] == "40s, weathered coat"
    # Lists filtered by someone else's project are refused the same way.
    refused = client.get(f"/api/v1/jobs?project_id={ids['project_id']}", headers=headers)
    assert_error(refused, 404, "not_found")
    assert ids["job_id"] not in [
        j["id"] for j in client.get("/api/v1/jobs", headers=headers).json()["items"]
    ]


def test_no_token_is_unauthorized_on_every_route(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    client.cookies.clear()
    for method, template in every_route(client):
        for headers in ({}, {"Authorization": "Bearer sfs_forged"}):
            response = call(client, method, template, facts["ids"], headers=headers)
            assert_error(response, 401, "unauthorized")


def test_error_bodies(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    headers = auth(facts, "alice")
    assert_error(client.get("/api/v1/projects/987654", headers=headers), 404, "not_found")
    assert_error(client.get("/api/v1/no-such-thing", headers=headers), 404, "not_found")
    wrong_method = client.put("/api/v1/projects", headers=headers)
    assert_error(wrong_method, 405, "method_not_allowed")

    empty = client.post("/api/v1/projects", json={"name": "  "}, headers=headers)
    assert assert_error(empty, 422, "invalid_input")["field"]
    typed = client.post("/api/v1/projects", json={"name": "x", "height": "tall"}, headers=headers)
    assert assert_error(typed, 422, "invalid_input")["field"] == "height"
    extra = client.post("/api/v1/projects", json={"name": "x", "owner": "bob"}, headers=headers)
    assert assert_error(extra, 422, "invalid_input")["field"] == "owner"
    not_json = client.post(
        "/api/v1/projects",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    assert "not valid JSON" in assert_error(not_json, 400, "bad_request")["message"]
    # Strict types: a number in a string, or a number for a flag, is not taken for one.
    for field, value in (("height", "240"), ("chain_clips", 1), ("name", 7)):
        coerced = client.post("/api/v1/projects", json={"name": "x", field: value}, headers=headers)
        assert assert_error(coerced, 422, "invalid_input")["field"] == field
    trace = client.request("TRACE", "/api/v1/projects", headers=headers)
    assert assert_error(trace, 405, "method_not_allowed") and "POST" in trace.headers["allow"]
    bad_id = client.get("/api/v1/jobs/not-a-number", headers=headers)
    assert assert_error(bad_id, 422, "invalid_input")["field"] == "job_id"
    too_many = client.get("/api/v1/jobs?limit=101", headers=headers)
    assert assert_error(too_many, 422, "invalid_input")["field"] == "limit"
    bad_cursor = client.get("/api/v1/jobs?cursor=abc", headers=headers)
    assert assert_error(bad_cursor, 422, "invalid_input")["field"] == "cursor"
    finished = client.post(f"/api/v1/jobs/{facts['ids']['job_id']}/cancel", headers=headers)
    assert_error(finished, 409, "conflict")

    # Carol has no credits: a render is refused, and nothing is queued.
    carol = auth(facts, "carol")
    project = client.post("/api/v1/projects", json={"name": "Broke"}, headers=carol).json()
    client.post(f"/api/v1/projects/{project['id']}/shots", json={"prompt": "A"}, headers=carol)
    refused = client.post(f"/api/v1/projects/{project['id']}/renders", headers=carol)
    assert_error(refused, 402, "payment_required")
    assert client.get("/api/v1/jobs", headers=carol).json()["items"] == []


def test_job_pages_walk_everything_once(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    headers = auth(facts, "dave")
    project = client.post("/api/v1/projects", json={"name": "Pages"}, headers=headers).json()
    for n in range(4):
        client.post(
            f"/api/v1/projects/{project['id']}/shots",
            json={"prompt": f"Shot {n}", "duration": 1},
            headers=headers,
        )
    for priority in (0, 1):  # previews twice (the second from the cache): 8 jobs
        sent = client.post(
            f"/api/v1/projects/{project['id']}/previews",
            json={"priority": priority},
            headers=headers,
        )
        assert sent.status_code == 202, sent.text
        for job in sent.json()["items"]:
            wait_for(client, headers, job["id"])
    everything = client.get("/api/v1/jobs?limit=100", headers=headers).json()
    all_ids = [j["id"] for j in everything["items"]]
    assert len(all_ids) == 8 and everything["next_cursor"] is None
    assert all_ids == sorted(all_ids, reverse=True)

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = "/api/v1/jobs?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query, headers=headers).json()
        seen += [j["id"] for j in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == all_ids and pages == 3

    filtered = client.get(
        f"/api/v1/jobs?project_id={project['id']}&status=succeeded&kind=preview&kind=clip",
        headers=headers,
    ).json()["items"]
    assert [j["id"] for j in filtered] == all_ids
    none = client.get("/api/v1/jobs?status=failed", headers=headers).json()
    assert none == {"items": [], "next_cursor": None}


def test_submissions_with_an_idempotency_key_run_once(
    app: tuple[TestClient, dict[str, Any]],
) -> None:
    client, facts = app
    headers = auth(facts, "bob")
    project = client.post("/api/v1/projects", json={"name": "Once"}, headers=headers).json()
    client.post(f"/api/v1/projects/{project['id']}/shots", json={"prompt": "A"}, headers=headers)
    url = f"/api/v1/projects/{project['id']}/renders"
    before = client.get("/api/v1/credits", headers=headers).json()["balance"]
    keyed = {**headers, "Idempotency-Key": "render-once-1"}

    first = client.post(url, json={"priority": 2}, headers=keyed)
    assert first.status_code == 202, first.text
    after = client.get("/api/v1/credits", headers=headers).json()["balance"]
    assert after < before
    again = client.post(url, json={"priority": 2}, headers=keyed)
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert [j["id"] for j in again.json()["items"]] == [j["id"] for j in first.json()["items"]]
    assert client.get("/api/v1/credits", headers=headers).json()["balance"] == after
    assert len(client.get("/api/v1/jobs", headers=headers).json()["items"]) == 1

    other = client.post(url, json={"priority": 3}, headers=keyed)
    assert "different request" in assert_error(other, 409, "conflict")["message"]
    elsewhere = client.post(f"/api/v1/projects/{project['id']}/previews", headers=keyed)
    assert_error(elsewhere, 409, "conflict")
    # Keys are per user: Dave's "render-once-1" is his own (and Bob's project is not his).
    daves = client.post(url, headers={**auth(facts, "dave"), "Idempotency-Key": "render-once-1"})
    assert_error(daves, 404, "not_found")
    # A refused request frees its key: the retry runs.
    wait_for(client, headers, first.json()["items"][0]["id"])
    keyed_film = {**headers, "Idempotency-Key": "film-1"}
    film_url = f"/api/v1/projects/{project['id']}/film"
    bad = client.post(film_url, json={"crossfade": 4.0}, headers=keyed_film)
    assert_error(bad, 422, "invalid_input")
    film = client.post(film_url, json={}, headers=keyed_film)
    assert film.status_code == 202, film.text
    repeat = client.post(film_url, json={}, headers=keyed_film)
    assert repeat.json()["id"] == film.json()["id"]
    wait_for(client, headers, film.json()["id"])

    too_long = client.post(url, headers={**headers, "Idempotency-Key": "k" * 201})
    assert assert_error(too_long, 422, "invalid_input")["field"] == "Idempotency-Key"


def test_concurrent_duplicates_submit_once(app: tuple[TestClient, dict[str, Any]]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client, facts = app
    headers = auth(facts, "dave")
    project = client.post("/api/v1/projects", json={"name": "Racy"}, headers=headers).json()
    for n in range(3):
        client.post(
            f"/api/v1/projects/{project['id']}/shots", json={"prompt": f"Race {n}"}, headers=headers
        )
    before = client.get("/api/v1/credits", headers=headers).json()["balance"]
    keyed = {**headers, "Idempotency-Key": "same-click-twice"}
    url = f"/api/v1/projects/{project['id']}/renders"
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: client.post(url, json={}, headers=keyed), range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {202, 409} and statuses.count(202) >= 1, statuses
    submitted = {tuple(j["id"] for j in a.json()["items"]) for a in answers if a.status_code == 202}
    assert len(submitted) == 1  # every success is the same submission
    (ids,) = submitted
    jobs = client.get(f"/api/v1/jobs?project_id={project['id']}", headers=headers).json()
    assert sorted(j["id"] for j in jobs["items"]) == sorted(ids)
    cost = sum(j["cost"] for j in jobs["items"])
    after = client.get("/api/v1/credits", headers=headers).json()["balance"]
    assert after == pytest.approx(before - cost)
    for job_id in ids:
        wait_for(client, headers, job_id)


def test_bodies_over_a_megabyte_are_refused(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    headers = {**auth(facts, "alice"), "content-type": "application/json"}
    huge = b'{"name": "' + b"x" * 1_100_000 + b'"}'
    assert_error(
        client.post("/api/v1/projects", content=huge, headers=headers), 413, "payload_too_large"
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        for _ in range(12):
            yield b"x" * 100_000

    streamed = client.post("/api/v1/projects", content=chunks(), headers=headers)
    assert_error(streamed, 413, "payload_too_large")


def test_a_reference_picture_is_uploaded_as_a_raw_body(
    app: tuple[TestClient, dict[str, Any]],
) -> None:
    """The one non-JSON body: larger than the 1 MB JSON limit allows, checked as a picture."""
    client, facts = app
    headers = auth(facts, "alice")
    path = f"/api/v1/cast/{facts['ids']['member_id']}/reference"
    noise = np.random.default_rng(0).integers(0, 256, (900, 900, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 1_000_000
    put = client.put(
        path, content=buffer.getvalue(), headers={**headers, "content-type": "image/png"}
    )
    assert put.status_code == 200, put.text
    member = put.json()
    artifact = client.get(f"/api/v1/artifacts/{member['reference_artifact_id']}", headers=headers)
    assert artifact.json()["content_type"] == "image/png"
    assert_error(client.put(path, content=b"not a picture", headers=headers), 422, "invalid_input")
    too_big = b"x" * 20_000_001
    assert_error(client.put(path, content=too_big, headers=headers), 413, "payload_too_large")
    cleared = client.delete(path, headers=headers)
    assert cleared.status_code == 200 and cleared.json()["reference_artifact_id"] is None
    picked = client.post(path, json={"job_id": facts["ids"]["job_id"]}, headers=headers)
    assert picked.status_code == 200 and picked.json()["reference_artifact_id"] is not None


def test_a_shots_sound_is_uploaded_as_a_raw_body(app: tuple[TestClient, dict[str, Any]]) -> None:
    """Room tone under a shot: an audio file as the body (over the 1 MB JSON limit), checked
    as audio, its level PATCHed on the shot, removed with DELETE."""
    client, facts = app
    headers = auth(facts, "alice")
    path = f"/api/v1/shots/{facts['ids']['shot_id']}/sound"
    rate, seconds = 48_000, 12
    samples = np.random.default_rng(0).uniform(-0.2, 0.2, rate * seconds)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    assert len(buffer.getvalue()) > 1_000_000
    put = client.put(
        path, content=buffer.getvalue(), headers={**headers, "content-type": "audio/wav"}
    )
    assert put.status_code == 200, put.text
    shot = put.json()
    artifact = client.get(f"/api/v1/artifacts/{shot['sound_artifact_id']}", headers=headers)
    assert artifact.json()["content_type"] == "audio/wav"
    louder = client.patch(f"/api/v1/shots/{shot['id']}", json={"sound_gain_db": 3}, headers=headers)
    assert louder.status_code == 200 and louder.json()["sound_gain_db"] == 3
    assert_error(client.put(path, content=b"not a sound", headers=headers), 422, "invalid_input")
    stranger = auth(facts, "bob")
    assert_error(client.put(path, content=buffer.getvalue(), headers=stranger), 404, "not_found")
    cleared = client.delete(path, headers=headers)
    assert cleared.status_code == 200 and cleared.json()["sound_artifact_id"] is None


def test_the_openapi_document_is_valid_and_only_the_api(
    app: tuple[TestClient, dict[str, Any]],
) -> None:
    from openapi_spec_validator import validate

    client, _ = app
    client.cookies.clear()
    response = client.get("/api/v1/openapi.json")  # public, like any API reference
    assert response.status_code == 200
    doc = response.json()
    validate(doc)
    paths = set(doc["paths"])
    assert paths and all(p.startswith("/api/v1/") for p in paths)
    assert "/api/v1/openapi.json" not in paths and "/api/v1/me" in paths
    assert doc["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["HTTPBearer"]["description"],
    }
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security") == [{"HTTPBearer": []}], (method, path)
            assert "401" in operation["responses"] and "422" in operation["responses"]
    assert client.get("/api/v1/openapi.json").json() == doc


def test_deleted_jobs_ids_are_not_billed_twice(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    alice, carol = auth(facts, "alice"), auth(facts, "carol")  # carol has no credits
    project = client.post("/api/v1/projects", json={"name": "Gone"}, headers=alice).json()
    client.post(f"/api/v1/projects/{project['id']}/shots", json={"prompt": "Q"}, headers=alice)
    (job,) = client.post(f"/api/v1/projects/{project['id']}/renders", headers=alice).json()["items"]
    wait_for(client, alice, job["id"])
    assert client.delete(f"/api/v1/projects/{project['id']}", headers=alice).status_code == 204
    mine = client.post("/api/v1/projects", json={"name": "Free?"}, headers=carol).json()
    client.post(f"/api/v1/projects/{mine['id']}/shots", json={"prompt": "Z"}, headers=carol)
    refused = client.post(f"/api/v1/projects/{mine['id']}/renders", headers=carol)
    for item in refused.json().get("items", []):
        client.post(f"/api/v1/jobs/{item['id']}/cancel", headers=carol)
    assert_error(refused, 402, "payment_required")


def test_each_token_has_its_own_rate_limit(tmp_path: Path) -> None:
    from app import create_app

    settings = load_settings(
        data_dir=tmp_path,
        auth=True,
        credits=True,
        secret_key="x" * 20,
        api_requests_per_minute=3,
    )
    application = create_app(settings)
    studio = application.state.studio
    studio.create_user("alice", "correct-horse-9")
    _record, first = studio.as_user("alice").create_token("one")
    _record, second = studio.as_user("alice").create_token("two")
    with TestClient(application) as client:
        one = {"Authorization": f"Bearer {first}"}
        assert [client.get("/api/v1/projects", headers=one).status_code for _ in range(3)] == [
            200
        ] * 3
        limited = client.get("/api/v1/projects", headers=one)
        error = assert_error(limited, 429, "quota_exceeded")
        assert "at most 3 a minute per API token" in error["message"]
        assert int(limited.headers["Retry-After"]) >= 1
        # Another token of the same user has its own budget.
        two = {"Authorization": f"Bearer {second}"}
        assert client.get("/api/v1/projects", headers=two).status_code == 200


def test_queue_routes(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    headers = auth(facts, "dave")
    project = client.post("/api/v1/projects", json={"name": "Queue"}, headers=headers).json()
    for n in range(2):
        client.post(
            f"/api/v1/projects/{project['id']}/shots", json={"prompt": f"Q {n}"}, headers=headers
        )
    assert client.post("/api/v1/queue/pause", headers=headers).json() == {"paused": True}
    try:
        assert client.get("/api/v1/queue/paused", headers=headers).json() == {"paused": True}
        sent = client.post(f"/api/v1/projects/{project['id']}/renders", headers=headers)
        first, second = (j["id"] for j in sent.json()["items"])
        queue = client.get("/api/v1/queue", headers=headers).json()["items"]
        assert [e["job_id"] for e in queue] == [first, second]
        assert [e["position"] for e in queue] == sorted(e["position"] for e in queue)
        moved = client.post(
            f"/api/v1/jobs/{second}/move-before", json={"before_job_id": first}, headers=headers
        )
        assert moved.status_code == 200 and moved.json()["id"] == second
        queue = client.get("/api/v1/queue", headers=headers).json()["items"]
        assert [e["job_id"] for e in queue] == [second, first]
        # Bob sees none of Dave's queue, and cannot reorder against Dave's jobs.
        bob = auth(facts, "bob")
        assert client.get("/api/v1/queue", headers=bob).json() == {"items": []}
        assert client.get("/api/v1/queue/paused", headers=bob).json() == {"paused": False}
        missing = client.post(
            f"/api/v1/jobs/{second}/move-before", json={"before_job_id": 987654}, headers=headers
        )
        assert_error(missing, 404, "not_found")
        bad = client.post(f"/api/v1/jobs/{second}/move-before", json={}, headers=headers)
        assert assert_error(bad, 422, "invalid_input")["field"] == "before_job_id"
    finally:
        resumed = client.post("/api/v1/queue/resume", headers=headers)
        assert resumed.json() == {"paused": False}
    for job_id in (first, second):
        wait_for(client, headers, job_id)
    finished = client.post(
        f"/api/v1/jobs/{first}/move-before", json={"before_job_id": second}, headers=headers
    )
    assert_error(finished, 409, "conflict")


def test_lab_routes(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    headers = auth(facts, "dave")
    body = {"pipeline": "draft", "prompt": "A lab gull", "overrides": {"width": 64, "height": 64}}
    run = client.post("/api/v1/lab/runs", json=body, headers=headers)
    assert run.status_code == 202, run.text
    keyed = {**headers, "Idempotency-Key": "lab-sweep-1"}
    sweep_body = {**body, "axes": {"seed": [1, 2]}}
    sweep = client.post("/api/v1/lab/sweeps", json=sweep_body, headers=keyed)
    assert sweep.status_code == 202 and len(sweep.json()["items"]) == 2, sweep.text
    again = client.post("/api/v1/lab/sweeps", json=sweep_body, headers=keyed)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == sweep.json()
    ids = [run.json()["id"], *(j["id"] for j in sweep.json()["items"])]
    for job_id in ids:
        assert wait_for(client, headers, job_id)["status"] == "succeeded"
    lab = client.get("/api/v1/lab/jobs?limit=10", headers=headers).json()["items"]
    assert [j["id"] for j in lab] == sorted(ids, reverse=True)
    assert client.get("/api/v1/lab/jobs", headers=auth(facts, "bob")).json() == {"items": []}

    unknown = client.post("/api/v1/lab/runs", json={**body, "pipeline": "nope"}, headers=headers)
    assert assert_error(unknown, 422, "invalid_input")["field"] == "pipeline"
    bad = client.post("/api/v1/lab/runs", json={**body, "overrides": {"steps": 0}}, headers=headers)
    assert assert_error(bad, 422, "invalid_input")["field"] == "Steps"
    too_big = {**body, "axes": {"seed": list(range(7)), "steps": list(range(1, 7))}}
    assert_error(
        client.post("/api/v1/lab/sweeps", json=too_big, headers=headers), 422, "invalid_input"
    )

    preset = {"name": "dave-look", "pipeline": "draft", "overrides": {"steps": 3}}
    saved = client.post("/api/v1/presets", json=preset, headers=headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["name"] == "dave-look" and saved.json()["defaults"]["steps"] == 3
    names = [p["name"] for p in client.get("/api/v1/pipelines", headers=headers).json()["items"]]
    assert "dave-look" in names
    taken = client.post("/api/v1/presets", json=preset, headers=auth(facts, "bob"))
    assert_error(taken, 409, "conflict")


def test_token_routes(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    headers = auth(facts, "bob")
    made = client.post("/api/v1/tokens", json={"name": "ci"}, headers=headers)
    assert made.status_code == 201, made.text
    token = made.json()
    # The record (never its hash) and, this once, the token itself.
    assert set(token) == {
        "id",
        "owner",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
        "token",
    }
    assert token["token"].startswith(token["prefix"])
    mine = {"Authorization": f"Bearer {token['token']}"}
    assert client.get("/api/v1/me", headers=mine).json()["name"] == "bob"
    listed = client.get("/api/v1/tokens", headers=headers).json()["items"]
    assert token["id"] in [t["id"] for t in listed]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert token["id"] not in [
        t["id"] for t in client.get("/api/v1/tokens", headers=auth(facts, "dave")).json()["items"]
    ]
    other = client.delete(f"/api/v1/tokens/{token['id']}", headers=auth(facts, "dave"))
    assert_error(other, 404, "not_found")
    revoked = client.delete(f"/api/v1/tokens/{token['id']}", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["id"] == token["id"]
    assert_error(client.get("/api/v1/me", headers=mine), 401, "unauthorized")
    again = client.delete(f"/api/v1/tokens/{token['id']}", headers=headers)
    assert_error(again, 404, "not_found")
    nameless = client.post("/api/v1/tokens", json={"name": " "}, headers=headers)
    assert assert_error(nameless, 422, "invalid_input")["field"] == "name"


def test_admin_routes(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    root, bob = auth(facts, "root"), auth(facts, "bob")
    for method, path, payload in (
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"name": "mallory", "password": PASSWORD}),
        ("POST", "/api/v1/users/carol/disable", None),
        ("POST", "/api/v1/credits/grants", {"user": "bob", "amount": 5, "reason": "me"}),
    ):
        refused = client.request(method, path, json=payload, headers=bob)
        assert_error(refused, 403, "forbidden")
    made = client.post("/api/v1/users", json={"name": "erin", "password": PASSWORD}, headers=root)
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "erin" and made.json()["role"] == "creator"
    assert "password" not in str(made.json())
    granted = client.post(
        "/api/v1/credits/grants", json={"user": "erin", "amount": 7, "reason": "hi"}, headers=root
    )
    assert granted.status_code == 201 and granted.json()["amount"] == 7, granted.text
    rows = {r["user"]: r for r in client.get("/api/v1/users", headers=root).json()["items"]}
    assert rows["erin"]["balance"] == 7 and "alice" in rows
    disabled = client.post("/api/v1/users/erin/disable", headers=root)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    enabled = client.post("/api/v1/users/erin/enable", headers=root)
    assert enabled.json()["disabled"] is False
    assert_error(client.post("/api/v1/users/nobody/disable", headers=root), 404, "not_found")
    nobody = {"user": "nobody", "amount": 1, "reason": "x"}
    assert_error(client.post("/api/v1/credits/grants", json=nobody, headers=root), 404, "not_found")
    zero = {"user": "erin", "amount": 0, "reason": "x"}
    zeroed = client.post("/api/v1/credits/grants", json=zero, headers=root)
    assert assert_error(zeroed, 422, "invalid_input")["field"] == "amount"
    self_disable = client.post("/api/v1/users/root/disable", headers=root)
    assert_error(self_disable, 422, "invalid_input")


def test_whole_numbers_and_nulls_read_as_json_schema_says(
    app: tuple[TestClient, dict[str, Any]],
) -> None:
    client, facts = app
    headers = auth(facts, "alice")
    # 144.0 is the integer 144 in JSON Schema's eyes (and so in the studio's); 144.5 is not.
    made = client.post("/api/v1/projects", json={"name": "Whole", "height": 144.0}, headers=headers)
    assert made.status_code == 201 and made.json()["height"] == 144, made.text
    half = client.post("/api/v1/projects", json={"name": "Half", "height": 144.5}, headers=headers)
    assert assert_error(half, 422, "invalid_input")["field"] == "height"
    pid = made.json()["id"]
    shot = client.post(
        f"/api/v1/projects/{pid}/shots",
        json={"prompt": "A gull", "duration": 2, "preview_pipeline": "draft"},
        headers=headers,
    ).json()
    # A null is a field left out (unchanged) ...
    kept = client.patch(
        f"/api/v1/shots/{shot['id']}", json={"duration": None, "seed": None}, headers=headers
    )
    assert kept.status_code == 200 and kept.json()["duration"] == 2.0, kept.text
    assert kept.json()["preview_pipeline"] == "draft"
    # ... except where null means something: a shot's pipelines back to the project's.
    reset = client.patch(
        f"/api/v1/shots/{shot['id']}", json={"preview_pipeline": None}, headers=headers
    )
    assert reset.status_code == 200 and reset.json()["preview_pipeline"] is None, reset.text
