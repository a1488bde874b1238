"""The notebook API, the same test functions against the local `Studio` and against
`Studio.connect` (a real server): projects and shots, previews, renders, credits, jobs,
takes, the film and its download, cancel/retry/priority, and errors."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, TypedDict, cast

import httpx
import pytest
from PIL import Image

from credits.ledger import LedgerEntry
from studio import Studio
from studio.client.remote import RemoteStudio
from studio.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PaymentRequired,
    Unauthorized,
)
from studio.core.models import (
    ArtifactPublic,
    CastMemberPublic,
    JobPublic,
    JobStatus,
    ProjectPublic,
    ScenePublic,
    ShotPublic,
    UserPublic,
)
from studio.surface import StudioAPI
from tests.sdk.conftest import ADMIN, PASSWORD, Backend

SCRIPT = """INT. LIGHTHOUSE - NIGHT
The keeper climbs the stairs.

EXT. CLIFF - DAWN
Waves break against the rocks.
"""


class Small(TypedDict):
    height: int
    fps: int


SMALL: Small = {"height": 240, "fps": 8}


def unique(text: str) -> str:
    """A prompt of its own: no render-cache hit from another test."""
    return f"{text} {uuid.uuid4().hex[:8]}"


def small_project(
    sdk: StudioAPI, shots: int = 2, duration: float = 1.0
) -> tuple[ProjectPublic, list[ShotPublic]]:
    project = sdk.create_project(unique("Film"), **SMALL)
    made = [sdk.add_shot(project.id, unique(f"Shot {n}"), duration=duration) for n in range(shots)]
    return project, made


def test_projects_and_shots(sdk: StudioAPI) -> None:
    project = sdk.create_project("Rain", style_prompt="charcoal sketch", **SMALL)
    assert isinstance(project, ProjectPublic) and project.id and project.name == "Rain"
    assert project.height == 240 and project.width == 426 and project.owner == "alice"
    assert project.id in [p.id for p in sdk.projects()]
    assert sdk.project(project.id).style_prompt == "charcoal sketch"
    assert sdk.update_project(project.id, name="Storm").name == "Storm"

    shots = sdk.breakdown(project.id, SCRIPT)
    assert len(shots) >= 2 and all(isinstance(s, ShotPublic) for s in shots)
    assert [s.position for s in shots] == list(range(len(shots)))
    assert [s.prompt for s in sdk.shots(project.id)] == [s.prompt for s in shots]
    # Only the shots asked for (a page of the queue names these), in shot order.
    some = sdk.shots(project.id, ids=[shots[-1].id, shots[0].id, 987654])
    assert [s.id for s in some] == [shots[0].id, shots[-1].id]
    assert sdk.shots(project.id, ids=[]) == []
    for wrong in ([0], [1] * 501):
        with pytest.raises(InvalidInput) as bad:
            sdk.shots(project.id, ids=wrong)
        assert bad.value.field == "ids"
    assert "lighthouse" in sdk.project(project.id).script.lower()

    first = sdk.add_shot(project.id, "A gull over the sea", position=0, duration=1.5)
    assert first.position == 0 and first.duration == 1.5 and first.prompt.startswith("A gull")
    changed = sdk.update_shot(first.id, camera_move="dolly-in", duration=2)
    assert changed.camera_move == "dolly-in" and changed.duration == 2
    assert sdk.shot(first.id).camera_move == "dolly-in"
    moved = sdk.move_shot(first.id, 99)
    assert moved.position == len(shots)
    assert sdk.shots(project.id)[-1].id == first.id
    sdk.delete_shot(first.id)
    assert [s.id for s in sdk.shots(project.id)] == [s.id for s in shots]
    with pytest.raises(NotFound):
        sdk.shot(first.id)

    sdk.delete_project(project.id)
    with pytest.raises(NotFound):
        sdk.project(project.id)
    assert project.id not in [p.id for p in sdk.projects()]


def test_a_duplicated_shot_comes_right_after_it_without_its_renders(sdk: StudioAPI) -> None:
    project, (first, second) = small_project(sdk)
    sdk.update_shot(first.id, seed=7, camera_move="pan-left", negative_prompt="blur")
    sdk.preview(project.id, [first.id], wait=True, progress=False)
    original = sdk.shot(first.id)
    assert original.preview_job_id is not None

    copy = sdk.duplicate_shot(first.id)
    assert isinstance(copy, ShotPublic) and copy.id not in (first.id, second.id)
    assert [s.id for s in sdk.shots(project.id)] == [first.id, copy.id, second.id]
    assert [s.position for s in sdk.shots(project.id)] == [0, 1, 2]
    for field in ("prompt", "seed", "camera_move", "negative_prompt", "duration", "shot_size"):
        assert getattr(copy, field) == getattr(original, field), field
    assert copy.preview_job_id is None and copy.chosen_take_id is None
    assert sdk.shot(first.id).preview_job_id == original.preview_job_id  # the original keeps it
    with pytest.raises(NotFound):
        sdk.duplicate_shot(10**6)


def test_the_cast_is_found_edited_and_merged(sdk: StudioAPI) -> None:
    project = sdk.create_project(unique("Cast"), **SMALL)
    script = "EXT. RAILWAY - DAY\n\nMARA (40s, weathered coat) steps off the handcar.\n\n"
    script += "MARA\nWhere is everyone?\n\nTOMAS\nGone.\n"
    shots = sdk.breakdown(project.id, script)
    cast = {m.name: m for m in sdk.cast(project.id)}
    assert set(cast) == {"MARA", "TOMAS"} and isinstance(cast["MARA"], CastMemberPublic)
    assert cast["MARA"].description == "40s, weathered coat"
    assert cast["MARA"].shot_ids == [s.id for s in shots if "MARA" in s.characters]

    tomas = sdk.update_cast_member(cast["TOMAS"].id, description="10, barefoot", kind="character")
    assert tomas.description == "10, barefoot" and sdk.cast_member(tomas.id) == tomas
    boy = sdk.add_cast_member(project.id, "The boy", description="")
    assert boy.name == "THE BOY" and boy.shot_ids == []
    sdk.update_shot(shots[0].id, characters=["MARA", "THE BOY"])
    merged = sdk.merge_cast_member(boy.id, tomas.id)
    assert shots[0].id in merged.shot_ids and merged.description == "10, barefoot"
    with pytest.raises(InvalidInput) as bad:
        sdk.merge_cast_member(tomas.id, tomas.id)
    assert bad.value.field == "into_id"
    report = {c.name: c for c in sdk.consistency(project.id)}
    assert [look.shot_id for look in report["MARA"].shots] == cast["MARA"].shot_ids
    sdk.delete_cast_member(tomas.id)
    assert [m.name for m in sdk.cast(project.id)] == ["MARA"]
    assert all("TOMAS" not in s.characters for s in sdk.shots(project.id))


def test_a_reference_picture_is_uploaded_picked_and_cleared(sdk: StudioAPI, tmp_path: Any) -> None:
    project = sdk.create_project(unique("Refs"), **SMALL)
    shots = sdk.breakdown(project.id, "EXT. SEA - DAY\n\nMARA (40s) rows.\n\nMARA\nLand!\n")
    (mara,) = sdk.cast(project.id)
    photo = tmp_path / "mara.jpg"
    Image.new("RGB", (1600, 1200), (180, 40, 40)).save(photo, format="JPEG")
    member = sdk.set_cast_reference(mara.id, photo)  # shrunk before it travels
    assert isinstance(member, CastMemberPublic) and member.reference_artifact_id is not None
    artifact = sdk.artifact(member.reference_artifact_id)
    assert artifact.content_type == "image/png" and artifact.provenance["source"] == "upload"
    (frame,) = sdk.preview(project.id, [shots[0].id], wait=True, progress=False)
    assert frame.params["references"][0]["digest"] == artifact.sha256
    picked = sdk.pick_cast_reference(mara.id, frame.id)
    assert picked.reference_artifact_id not in (None, member.reference_artifact_id)
    with pytest.raises(InvalidInput, match="readable picture"):
        sdk.set_cast_reference(mara.id, b"GIF89a? no")
    assert sdk.clear_cast_reference(mara.id).reference_artifact_id is None
    with pytest.raises(NotFound):
        sdk.set_cast_reference(10**6, photo)


def test_scenes_and_their_look(sdk: StudioAPI) -> None:
    project = sdk.create_project(unique("Scenes"), **SMALL)
    sdk.breakdown(project.id, "EXT. PIER - DAY\n\nGulls.\n\nINT. CABIN - NIGHT\n\nA lamp.\n")
    pier, cabin = sdk.scenes(project.id)
    assert isinstance(cabin, ScenePublic) and cabin.heading == "INT. CABIN - NIGHT"
    saved = sdk.update_scene(cabin.id, look="warm lamplight")
    assert saved.look == "warm lamplight" and saved.shot_ids == cabin.shot_ids
    (frame,) = sdk.preview(project.id, cabin.shot_ids, wait=True, progress=False)
    assert frame.params["request"]["prompt"].endswith("warm lamplight")
    with pytest.raises(InvalidInput):
        sdk.update_scene(pier.id, look="x" * 301)
    with pytest.raises(NotFound):
        sdk.update_scene(10**6, look="x")


def test_previews_renders_credits_and_the_film(sdk: StudioAPI, backend: Backend) -> None:
    project, shots = small_project(sdk)
    before = sdk.balance()
    estimate = sdk.estimate(project.id)
    preview_estimate = sdk.estimate(project.id, kind="preview")
    assert estimate > 0 and preview_estimate > 0
    assert sdk.estimate(project.id, [shots[0].id]) == pytest.approx(estimate / 2, abs=0.02)

    previews = sdk.preview(project.id, wait=True, progress=False)
    assert all(isinstance(j, JobPublic) for j in previews)
    assert [j.status for j in previews] == ["succeeded"] * 2, previews[0].error
    assert {j.kind for j in previews} == {"preview"}
    takes = sdk.render(project.id, wait=True, progress=False)
    assert [j.status for j in takes] == ["succeeded"] * 2, takes[0].error
    assert [j.shot_id for j in takes] == [s.id for s in shots]

    charged = sum(j.cost for j in previews + takes)
    assert charged == pytest.approx(estimate + preview_estimate, abs=0.02)
    assert before - sdk.balance() == pytest.approx(charged, abs=0.01)
    ledger = sdk.ledger(limit=10)
    assert all(isinstance(e, LedgerEntry) for e in ledger)
    settled = {e.job_id for e in ledger if e.kind == "settle"}
    assert {j.id for j in takes} <= settled
    assert ledger[0].balance_after_cents == round(sdk.balance() * 100)
    assert sdk.me().name == "alice" and isinstance(sdk.me(), UserPublic)

    # The same render again is served from the render cache.
    again = sdk.render(project.id, wait=True, progress=False)
    assert all(j.cache_hit and j.status == "succeeded" for j in again)

    # Takes: newest first; choose the older one for shot 1.
    shot_takes = sdk.takes(shots[0].id)
    assert [t.id for t in shot_takes] == sorted((t.id for t in shot_takes), reverse=True)
    assert takes[0].id in [t.id for t in shot_takes]
    chosen = sdk.choose_take(shots[0].id, takes[0].id)
    assert chosen.chosen_take_id == takes[0].id == sdk.shot(shots[0].id).chosen_take_id

    film = sdk.assemble(project.id, title="Rain", crossfade=0.25, wait=True, progress=False)
    assert film.kind == "film" and film.status == "succeeded", film.error
    assert film.artifact_id is not None
    assert film.params["takes"][0]["job_id"] == takes[0].id
    artifact = sdk.artifact(film.artifact_id)
    assert isinstance(artifact, ArtifactPublic) and artifact.content_type == "video/mp4"
    assert artifact.owner == "alice" and artifact.provenance
    path = sdk.artifact_path(film.artifact_id)
    assert path.suffix == ".mp4" and path.stat().st_size == artifact.bytes
    assert hashlib.sha256(path.read_bytes()).hexdigest() == artifact.sha256
    assert sdk.artifact_path(film.artifact_id) == path  # the cached copy

    preview = sdk.preview_path(sdk.shot(shots[1].id))
    assert preview is not None and preview.read_bytes()[:4] == b"\x89PNG"

    link = sdk.signed_link(film.artifact_id, "rain.mp4")
    assert link.startswith(f"/files/{film.artifact_id}/rain.mp4?")
    if backend.kind == "remote":
        assert isinstance(sdk, RemoteStudio)
        url = sdk.download_url(film.artifact_id)
        assert url.startswith(backend.url + "/files/")
        download = httpx.get(url)  # no token: the signed link is enough
        assert hashlib.sha256(download.content).hexdigest() == artifact.sha256


def test_lines_are_spoken_and_the_film_is_subtitled(sdk: StudioAPI) -> None:
    project = sdk.create_project(unique("Voices"), **SMALL)
    said = unique("Where were you")  # its own words: no render-cache hit from another test
    shot = sdk.add_shot(
        project.id, "At the window", dialogue=f"ANNA: [quietly] {said}?", characters=["Anna"]
    )
    anna = next(m for m in sdk.cast(project.id) if m.name == "ANNA")
    sdk.update_cast_member(anna.id, voice="en-gb", voice_speed=1.25)
    assert {v.pipeline for v in sdk.voices()} >= {"espeak"}
    assert "en-gb" in {v.id for v in sdk.voices() if v.pipeline == "espeak"}

    preview = sdk.preview_voice(project.id, "Hello.", member_id=anna.id)
    assert preview.status == "succeeded", preview.error
    assert preview.params["request"] | {"seed": 0} == {
        "text": "Hello.",
        "voice": "en-gb",
        "speed": 1.25,
        "pitch": anna.voice_pitch,
        "seed": 0,
    }
    assert sdk.artifact(preview.artifact_id).content_type == "audio/wav"  # type: ignore[arg-type]

    (line,) = sdk.speak(project.id, wait=True, progress=False)
    assert line.status == "succeeded" and line.params["request"]["text"] == f"{said}?"
    assert [t.id for t in sdk.lines(shot.id)] == [line.id]
    seconds = sdk.artifact(line.artifact_id).provenance["speech"]["seconds"]  # type: ignore[arg-type]
    timed = sdk.shot(shot.id)
    assert timed.chosen_line_id == line.id
    assert timed.duration == pytest.approx(timed.line_offset + seconds + 0.5, abs=0.01)

    sdk.render(project.id, wait=True, progress=False)
    film = sdk.assemble(project.id, speaker_names=True, wait=True, progress=False)
    assert film.status == "succeeded", film.error
    attachments = sdk.artifact(film.artifact_id).provenance["attachments"]  # type: ignore[arg-type]
    srt = sdk.artifact_path(attachments["srt"]).read_text(encoding="utf-8")
    assert f"Anna: {said}?" in srt and "00:00:00,300 -->" in srt
    assert "WEBVTT" in sdk.artifact_path(attachments["vtt"]).read_text(encoding="utf-8")
    with pytest.raises(InvalidInput, match="no voice 'xx-nowhere'"):
        sdk.preview_voice(project.id, "Hi.", voice="xx-nowhere")


def test_jobs_listing_and_filters(sdk: StudioAPI, backend: Backend) -> None:
    project, shots = small_project(sdk, shots=3)
    previews = sdk.preview(project.id, wait=True, progress=False)
    takes = sdk.render(project.id, wait=True, progress=False)
    if backend.kind == "remote":
        assert isinstance(sdk, RemoteStudio)
        sdk.page_size = 2  # follow several pages of the cursor
    mine = sdk.jobs(project.id)
    assert [j.id for j in mine] == sorted((j.id for j in previews + takes), reverse=True)
    assert all(isinstance(j, JobPublic) for j in mine)
    assert {j.id for j in sdk.jobs(project.id, kinds=["clip"])} == {j.id for j in takes}
    assert len(sdk.jobs(project.id, statuses=["succeeded"], kinds=["preview"])) == 3
    assert sdk.jobs(project.id, statuses=["failed", "cancelled"]) == []
    assert [j.id for j in sdk.jobs(project.id, limit=2)] == [j.id for j in mine[:2]]
    assert [j.id for j in sdk.jobs(limit=4)] == [j.id for j in mine[:4]]  # newest first
    assert sdk.job(takes[1].id).shot_id == shots[1].id
    assert "draft" in (
        sdk.pipelines() if backend.kind == "remote" else cast(Studio, sdk).catalogue.names()
    )
    assert isinstance(sdk.workers(), list)


def test_cancel_retry_and_priority(sdk: StudioAPI, backend: Backend) -> None:
    project, _shots = small_project(sdk, shots=3)
    before = sdk.balance()
    backend.admin.pause_queue("alice")  # the jobs stay queued until resumed
    try:
        jobs = sdk.render(project.id)
        assert [j.status for j in jobs] == ["queued"] * 3
        held = sum(j.cost for j in jobs)
        assert before - sdk.balance() == pytest.approx(held, abs=0.01)

        cancelled = sdk.cancel(jobs[0].id)
        assert cancelled.status == "cancelled"
        assert before - sdk.balance() == pytest.approx(held - jobs[0].cost, abs=0.01)
        with pytest.raises(Conflict):
            sdk.cancel(jobs[0].id)
        assert sdk.set_priority(jobs[1].id, 7).priority == 7
        assert sdk.raise_priority(jobs[2].id).priority >= 8
        retried = sdk.retry(jobs[0].id)
        assert retried.status == "queued" and retried.id == jobs[0].id
    finally:
        backend.admin.resume_queue("alice")
    done = sdk.wait(jobs, progress=False, timeout=120)
    assert [j.status for j in done] == ["succeeded"] * 3
    assert before - sdk.balance() == pytest.approx(held, abs=0.01)
    with pytest.raises(Conflict):
        sdk.retry(done[0].id)
    with pytest.raises(Conflict):
        sdk.set_priority(done[0].id, 1)


def test_errors(sdk: StudioAPI, backend: Backend) -> None:
    for method in (sdk.project, sdk.shot, sdk.job, sdk.artifact, sdk.takes, sdk.shots):
        with pytest.raises(NotFound):
            method(987654)
    project, shots = small_project(sdk, shots=1)
    with pytest.raises(InvalidInput) as bad:
        sdk.update_shot(shots[0].id, duration=0)
    assert bad.value.field == "Duration (s)" and "Duration" in str(bad.value)
    assert sdk.shot(shots[0].id).duration == 1.0  # unchanged
    with pytest.raises(InvalidInput) as empty:
        sdk.create_project("   ")
    assert empty.value.field
    with pytest.raises(InvalidInput) as script:
        sdk.breakdown(project.id, "")
    assert script.value.field == "script"
    with pytest.raises(InvalidInput):
        sdk.assemble(project.id)  # no take yet
    with pytest.raises(NotFound):
        sdk.render(project.id, [987654])
    with pytest.raises(InvalidInput):
        sdk.choose_take(shots[0].id, 987654)

    # Carol has no credits: the render is refused and nothing is queued.
    carol = backend.connect("carol")
    broke = carol.create_project("Broke", **SMALL)
    carol.add_shot(broke.id, "A lighthouse")
    with pytest.raises(PaymentRequired, match="Not enough credits"):
        carol.render(broke.id)
    assert carol.jobs() == []
    # Alice's objects are not carol's.
    with pytest.raises(NotFound):
        carol.project(project.id)


def test_an_unknown_caller_is_unauthorized(backend: Backend) -> None:
    with pytest.raises(Unauthorized):
        if backend.kind == "remote":
            RemoteStudio(backend.url, "sfs_forged").projects()
        else:
            backend.admin.as_user("nobody")


# ---- remote only: transport, retries, idempotent submissions ------------------------------
@pytest.fixture
def remote(remote_backend: Backend) -> Backend:
    return remote_backend


def remote_client(remote: Backend, name: str) -> RemoteStudio:
    """`remote.connect(name)`: on the remote backend, a `RemoteStudio`."""
    client = remote.connect(name)
    assert isinstance(client, RemoteStudio)
    return client


def token_of(client: RemoteStudio) -> str:
    return str(client.client.headers["Authorization"]).removeprefix("Bearer ")


class Flaky(httpx.BaseTransport):
    """A real transport that fails on cue: `lose` drops the reply of the first matching
    request after the server handled it; `refuse` fails before sending; `unavailable`
    answers 503 without sending."""

    def __init__(self, mode: str, method: str = "POST", path: str = ""):
        self.inner = httpx.HTTPTransport()
        self.mode, self.method, self.path = mode, method, path
        self.sent: list[httpx.Request] = []
        self.tripped = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        trip = (
            not self.tripped
            and request.method == self.method
            and request.url.path.endswith(self.path)
        )
        if trip and self.mode == "refuse":
            self.tripped = True
            raise httpx.ConnectError("connection refused", request=request)
        if trip and self.mode == "unavailable":
            self.tripped = True
            return httpx.Response(503, json={"error": {"code": "http_503", "message": "busy"}})
        self.sent.append(request)
        response = self.inner.handle_request(request)
        if trip and self.mode == "lose":
            self.tripped = True
            response.read()
            response.close()
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def flaky_client(remote: Backend, transport: Flaky) -> RemoteStudio:
    token = token_of(remote_client(remote, "alice"))
    return RemoteStudio(remote.url, token, transport=transport, backoff=0)


def test_a_retried_submission_is_queued_and_charged_once(remote: Backend) -> None:
    transport = Flaky("lose", path="/renders")
    with flaky_client(remote, transport) as client:
        project, _shots = small_project(client)
        before = client.balance()
        jobs = client.render(project.id, wait=True, progress=False)
        assert transport.tripped and [j.status for j in jobs] == ["succeeded"] * 2
        submits = [r for r in transport.sent if r.url.path.endswith("/renders")]
        assert len(submits) == 2  # the lost reply, then the retry...
        keys = {r.headers["Idempotency-Key"] for r in submits}
        assert len(keys) == 1  # ...with the same key
        assert len(client.jobs(project.id)) == 2
        reserves = [e for e in client.ledger() if e.kind == "reserve"]
        ids = [j.id for j in jobs]
        assert sorted(e.job_id for e in reserves if e.job_id is not None and e.job_id in ids) == (
            sorted(ids)
        )
        assert before - client.balance() == pytest.approx(sum(j.cost for j in jobs), abs=0.01)


def test_the_same_key_twice_submits_once(remote: Backend) -> None:
    sdk = remote_client(remote, "alice")
    project, _shots = small_project(sdk)
    key, body = str(uuid.uuid4()), {"priority": 0}
    first = sdk.request("POST", f"/projects/{project.id}/previews", json=body, idempotency_key=key)
    second = sdk.request("POST", f"/projects/{project.id}/previews", json=body, idempotency_key=key)
    assert [j["id"] for j in first["items"]] == [j["id"] for j in second["items"]]
    assert len(sdk.jobs(project.id)) == 2
    with pytest.raises(Conflict):  # the same key for another request
        sdk.request("POST", f"/projects/{project.id}/renders", json=body, idempotency_key=key)


def test_retries_on_refused_connections_and_5xx(remote: Backend) -> None:
    transport = Flaky("refuse", method="GET", path="/projects")
    with flaky_client(remote, transport) as client:
        assert isinstance(client.projects(), list) and transport.tripped
    transport = Flaky("unavailable", path="/previews")
    with flaky_client(remote, transport) as client:
        project, _shots = small_project(client)
        jobs = client.preview(project.id)
        assert transport.tripped and len(jobs) == 2 and len(client.jobs(project.id)) == 2


def test_a_sent_edit_is_not_retried(remote: Backend) -> None:
    transport = Flaky("lose", method="PATCH")
    with flaky_client(remote, transport) as client:
        _project, shots = small_project(client, shots=1)
        with pytest.raises(ConnectionError):
            client.update_shot(shots[0].id, prompt="changed")
        assert len([r for r in transport.sent if r.method == "PATCH"]) == 1
        assert client.shot(shots[0].id).prompt == "changed"  # the server did it once


def test_unreachable_server_and_local_only_methods(remote: Backend, tmp_path: Any) -> None:
    from tests.server import free_port

    dead = RemoteStudio(f"http://127.0.0.1:{free_port()}", "sfs_x", retries=1, backoff=0)
    with pytest.raises(ConnectionError):
        dead.projects()
    sdk = remote_client(remote, "alice")
    for name in ("as_user", "set_role", "reset_password", "lab_project", "export"):
        with pytest.raises(NotImplementedError, match="not available over the REST API"):
            getattr(sdk, name)("x")
    project, _shots = small_project(sdk, shots=1)
    with pytest.raises(NotImplementedError, match="audio"):
        sdk.assemble(project.id, audio=tmp_path / "song.wav")
    assert sdk.readiness() == {"database": "ok", "storage": "ok", "queue": "ok"}
    assert sdk.user == "alice" and not sdk.is_admin and sdk.credits_enabled


def test_token_from_the_environment(remote: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio import Studio

    monkeypatch.setenv("STUDIO_TOKEN", token_of(remote_client(remote, "carol")))
    with Studio.connect(remote.url) as carol:
        assert carol.me().name == "carol" and carol.balance() == 0


def test_downloads_are_checked(remote: Backend, tmp_path: Any) -> None:
    sdk = remote_client(remote, "alice")
    project, _shots = small_project(sdk, shots=1)
    (preview,) = sdk.preview(project.id, wait=True, progress=False)
    assert preview.artifact_id is not None
    client = RemoteStudio(remote.url, token_of(sdk), cache_dir=tmp_path)
    path = client.artifact_path(preview.artifact_id)
    assert path.parent == tmp_path
    path.write_bytes(b"tampered")  # a damaged cache entry is fetched again
    assert client.artifact_path(preview.artifact_id).read_bytes()[:4] == b"\x89PNG"
    assert JobStatus(sdk.job(preview.id).status).finished


# ---- the queue, the Lab, API tokens, administration ---------------------------------------
def test_queue_controls(sdk: StudioAPI, backend: Backend) -> None:
    project, _shots = small_project(sdk, shots=3)
    sdk.pause_queue()
    try:
        assert sdk.queue_paused() is True
        jobs = sdk.render(project.id)
        assert [j.status for j in jobs] == ["queued"] * 3
        positions = sdk.queue_positions()
        assert {j.id for j in jobs} <= set(positions)
        assert all(isinstance(n, int) and n >= 1 for n in positions.values())
        first, last = jobs[0].id, jobs[2].id
        assert sdk.queue_position(first) == positions[first] < positions[last]
        # Only the jobs asked for that are queued (a page of the queue table).
        assert sdk.queue_positions([last, 987654]) == {last: positions[last]}
        assert sdk.queue_positions([]) == {}
        moved = sdk.move_before(last, first)
        assert isinstance(moved, JobPublic) and moved.id == last
        now_last, now_first = sdk.queue_position(last), sdk.queue_position(first)
        assert now_last is not None and now_first is not None and now_last < now_first
        carol = backend.connect("carol")
        assert carol.queue_positions() == {} == carol.queue_positions([first])
        with pytest.raises(NotFound):
            carol.move_before(last, first)
        with pytest.raises(NotFound):
            carol.queue_position(first)
        with pytest.raises(NotFound):
            sdk.queue_position(987654)
        if backend.kind == "remote":
            with pytest.raises(NotImplementedError):
                sdk.pause_queue("carol")
    finally:
        sdk.resume_queue()
    assert sdk.queue_paused() is False
    done = sdk.wait(jobs, progress=False, timeout=120)
    assert [j.status for j in done] == ["succeeded"] * 3
    assert sdk.queue_position(first) is None
    with pytest.raises(Conflict):
        sdk.move_before(first, last)  # finished jobs stay where they are


def test_lab_runs_sweeps_and_presets(sdk: StudioAPI, backend: Backend) -> None:
    from pipelines.catalogue import PipelineEntry

    small = {"width": 64, "height": 64}
    run = sdk.lab_run("draft", unique("A lighthouse"), overrides=small, wait=True, progress=False)
    assert isinstance(run, JobPublic) and run.status == "succeeded", run.error
    sweep = sdk.lab_sweep(
        "draft", unique("A gull"), axes={"seed": [1, 2]}, overrides=small, progress=False
    )
    assert len(sweep) == 2 and all(isinstance(j, JobPublic) for j in sweep)
    done = sdk.wait(sweep, progress=False, timeout=120)
    assert [j.status for j in done] == ["succeeded"] * 2
    assert [j.params["cell"] for j in done] == [{"seed": 1}, {"seed": 2}]
    lab = sdk.lab_jobs()
    assert [j.id for j in lab[:3]] == sorted([run.id, *(j.id for j in sweep)], reverse=True)
    assert [j.id for j in sdk.lab_jobs(limit=1)] == [lab[0].id]
    assert run.id not in [j.id for j in sdk.jobs(limit=10, kinds=["clip"])]

    name = f"look-{uuid.uuid4().hex[:8]}"
    entry = sdk.save_preset(name, "draft", {"steps": 3}, description="three steps")
    assert isinstance(entry, PipelineEntry) and entry.name == name
    assert entry.defaults["steps"] == 3 and entry.description == "three steps" and entry.tasks
    assert name in (
        sdk.pipelines() if backend.kind == "remote" else cast(Studio, sdk).catalogue.names()
    )
    project = sdk.create_project(unique("Preset"), preview_pipeline=name, **SMALL)
    assert project.preview_pipeline == name

    with pytest.raises(InvalidInput) as unknown:
        sdk.lab_run("no-such-pipeline", "x")
    assert unknown.value.field == "pipeline"
    with pytest.raises(InvalidInput):
        sdk.lab_sweep("draft", "x", axes={"steps": [0]})
    carol = backend.connect("carol")
    with pytest.raises(Conflict):  # alice's preset
        carol.save_preset(name, "draft", {"steps": 1})
    assert not {j.id for j in lab} & {j.id for j in carol.lab_jobs()}  # alice's Lab only
    with pytest.raises(NotFound):
        carol.job(run.id)


def test_api_tokens(sdk: StudioAPI, backend: Backend) -> None:
    from studio.core.models import TokenPublic

    record, plain = sdk.create_token("notebook")
    assert isinstance(record, TokenPublic) and record.name == "notebook" and record.id
    assert plain.startswith("sfs_") and plain.startswith(record.prefix)
    listed = sdk.tokens()
    assert record.id in [t.id for t in listed] and all(isinstance(t, TokenPublic) for t in listed)
    if backend.kind == "remote":
        with RemoteStudio(backend.url, plain) as other:
            assert other.me().name == "alice"
    carol = backend.connect("carol")
    with pytest.raises(NotFound):
        carol.revoke_token(record.id)
    assert record.id not in [t.id for t in carol.tokens()]
    revoked = sdk.revoke_token(record.id)
    assert revoked.id == record.id and record.id not in [t.id for t in sdk.tokens()]
    with pytest.raises(NotFound):
        sdk.revoke_token(record.id)
    if backend.kind == "remote":
        with pytest.raises(Unauthorized), RemoteStudio(backend.url, plain) as other:
            other.me()
    with pytest.raises(InvalidInput):
        sdk.create_token("  ")


def test_administration(backend: Backend) -> None:
    root = backend.connect(ADMIN)
    name = f"user-{uuid.uuid4().hex[:8]}"
    user = root.create_user(name, PASSWORD)
    assert isinstance(user, UserPublic) and user.name == name and user.role == "creator"
    users = root.users()
    assert all(isinstance(u, UserPublic) for u in users)
    assert {"alice", "carol", name} <= {u.name for u in users}
    entry = root.grant_credits(name, 5, "welcome")
    assert isinstance(entry, LedgerEntry) and entry.amount_cents == 500
    assert entry.kind == "grant" and entry.reason == "welcome"
    (row,) = [r for r in root.usage() if r["user"] == name]
    assert row["balance"] == 5.0 and row["disabled"] is False and row["jobs"] == {}
    assert root.disable_user(name).disabled is True
    assert next(u for u in root.users() if u.name == name).disabled
    assert root.disable_user(name, False).disabled is False
    with pytest.raises(NotFound):
        root.grant_credits(f"nobody-{uuid.uuid4().hex[:6]}", 1, "x")
    with pytest.raises(Conflict):
        root.create_user(name, PASSWORD)

    alice = backend.connect("alice")
    for call in (
        alice.users,
        alice.usage,
        lambda: alice.create_user("mallory", PASSWORD),
        lambda: alice.disable_user("carol"),
        lambda: alice.grant_credits("alice", 100, "free money"),
    ):
        with pytest.raises(Forbidden):
            call()
    assert alice.balance() >= 0


def test_a_retried_lab_run_is_queued_once(remote: Backend) -> None:
    transport = Flaky("lose", path="/lab/runs")
    with flaky_client(remote, transport) as client:
        before = {j.id for j in client.lab_jobs(limit=100)}
        job = client.lab_run("draft", unique("Once"), overrides={"width": 64, "height": 64})
        assert transport.tripped
        sent = [r for r in transport.sent if r.url.path.endswith("/lab/runs")]
        assert len(sent) == 2 and len({r.headers["Idempotency-Key"] for r in sent}) == 1
        assert {j.id for j in client.lab_jobs(limit=100)} - before == {job.id}
        client.wait([job], progress=False, timeout=120)
