"""The HTTP side of accounts: login, sessions, tokens, and every download path — as nobody,
as a second user, and as the owner — against the real app (FastAPI + the Gradio UI)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from studio import Studio
from studio.core.config import load_settings
from studio.core.models import JobStatus

PASSWORD = "correct-horse-9"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    from app import create_app

    data = tmp_path_factory.mktemp("web")
    settings = load_settings(
        data_dir=data, auth=True, credits=True, secret_key="test-secret-for-web-auth-tests"
    )
    application = create_app(settings)
    studio: Studio = application.state.studio
    studio.create_user("alice", PASSWORD)
    studio.create_user("bob", PASSWORD)
    studio.grant_credits("alice", 100, "test")
    alice = studio.as_user("alice")
    project = alice.create_project("Alice's film")
    assert project.id is not None
    alice.add_shot(project.id, "A lighthouse at dusk", duration=1.0)
    (take,) = alice.render(project.id, wait=True, progress=False)
    assert take.status == JobStatus.succeeded.value, take.error
    _token, plain = studio.as_user("bob").create_token("script")
    facts = {
        "studio": studio,
        "artifact": take.artifact_id,
        "path": studio.artifact_path(take.artifact_id),  # type: ignore[arg-type]
        "bob_token": plain,
    }
    with TestClient(application, follow_redirects=False) as client:
        yield client, facts


def login(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    client.cookies.clear()
    return client.post("/login", data={"username": name, "password": password, "next": "/"})


def test_the_ui_needs_a_login(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, _ = app
    client.cookies.clear()
    page = client.get("/")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    form = client.get("/login")
    assert form.status_code == 200 and 'name="password"' in form.text
    for path in ("/config", "/gradio_api/info", "/api/v1/me"):
        assert client.get(path).status_code == 401, path
    for path in ("/healthz", "/login"):
        assert client.get(path).status_code == 200, path


def test_login_sets_a_session_and_logout_ends_it(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, _ = app
    done = login(client, "alice")
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/api/v1/me").json()["name"] == "alice"
    assert client.get("/").status_code == 200
    client.post("/logout")
    assert client.get("/api/v1/me").status_code == 401


def test_wrong_passwords_get_one_message_and_are_throttled(
    app: tuple[TestClient, dict[str, Any]],
) -> None:
    client, facts = app
    facts["studio"].create_user("carol", PASSWORD)
    wrong = login(client, "carol", "not-the-password")
    unknown = login(client, "nobody-at-all", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong user name or password" in wrong.text and "Wrong user name" in unknown.text
    for _ in range(5):  # six failures for carol from this address: the sixth earns a wait
        assert login(client, "carol", "still-wrong-1").status_code == 401
    throttled = login(client, "carol", PASSWORD)  # even the right password waits now
    assert throttled.status_code == 429 and "Too many failed logins" in throttled.text
    assert "try again in 1 s" in throttled.text  # 1 s, then 2, 4 … (studio.core.throttle)
    # Only this address waits: carol herself, from elsewhere, is not locked out.
    elsewhere = TestClient(client.app, follow_redirects=False, client=("10.0.0.1", 1234))
    assert login(elsewhere, "carol", PASSWORD).status_code == 303


def test_an_open_redirect_is_refused(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, _ = app
    client.cookies.clear()
    done = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "next": "//evil.example/"}
    )
    assert done.headers["location"] == "/"


def test_tokens_authenticate_scripts(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    client.cookies.clear()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {facts['bob_token']}"})
    assert me.status_code == 200 and me.json()["name"] == "bob"
    bad = client.get("/api/v1/me", headers={"Authorization": "Bearer sfs_forged"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"


def test_downloads_are_for_the_owner_only(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    url = f"/files/{facts['artifact']}/take.mp4"
    client.cookies.clear()
    assert client.get(url).status_code == 401
    login(client, "bob")
    refused = client.get(url)
    assert refused.status_code == 404
    missing = client.get("/files/999999/take.mp4")
    assert missing.json()["error"]["message"].replace("999999", "N") == refused.json()["error"][
        "message"
    ].replace(str(facts["artifact"]), "N")
    login(client, "alice")
    mine = client.get(url)
    assert mine.status_code == 200 and mine.content == Path(facts["path"]).read_bytes()
    assert "take.mp4" in mine.headers["content-disposition"]


def test_raw_storage_paths_are_never_served(app: tuple[TestClient, dict[str, Any]]) -> None:
    client, facts = app
    raw = str(facts["path"])
    for who in ("bob", "alice"):
        login(client, who)
        for path in (f"/gradio_api/file={raw}", f"/gradio_api/file={quote(raw)}"):
            assert client.get(path).status_code == 404, (who, path)


def test_signed_links_work_briefly_and_only_as_issued(
    app: tuple[TestClient, dict[str, Any]],
) -> None:
    client, facts = app
    alice = facts["studio"].as_user("alice")
    link = alice.signed_link(facts["artifact"], "share.mp4")
    client.cookies.clear()
    shared = client.get(link)
    assert shared.status_code == 200 and shared.content == Path(facts["path"]).read_bytes()
    other_id = link.replace(f"/files/{facts['artifact']}/", f"/files/{facts['artifact'] + 1}/")
    assert client.get(other_id).status_code == 404
    later = link.replace("exp=", "exp=1")  # a longer life breaks the signature
    assert client.get(later).status_code == 404
    # The name is signed too: the bytes cannot be re-served as a page under a chosen name.
    renamed = link.replace("/share.mp4?", "/evil.html?")
    assert renamed != link and client.get(renamed).status_code == 404
    from studio.core import links

    secret = facts["studio"].settings.secret_key.get_secret_value()
    _exp, sig = links.sign(secret, facts["artifact"], "alice", -10, "x.mp4")
    expired = f"/files/{facts['artifact']}/x.mp4?exp={int(time.time()) - 10}&sig={sig}"
    assert client.get(expired).status_code == 404


def test_links_signed_within_a_minute_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """A take shown again (a tab's refresh) gets the same address, so the browser neither
    reloads its video nor replaces the buttons beside it while they are being clicked; each
    link still lives at most what was asked, and at least 90 % of it."""
    from studio.core import links

    clock = [1_200_000.0 - 3600]  # an hour's link expires on a whole minute
    monkeypatch.setattr(links.time, "time", lambda: clock[0])

    def link(seconds: int) -> tuple[int, str]:
        return links.sign("secret", 7, "alice", seconds, "take-7.mp4")

    first = link(3600)
    assert first[0] == 1_200_000
    clock[0] += 59.9
    assert link(3600) == first
    clock[0] += 0.1
    later = link(3600)
    assert later != first and later[0] == first[0] + 60
    for seconds in (60, 600, 3600, 7 * 24 * 3600):
        expires, _sig = link(seconds)
        assert clock[0] + 0.9 * seconds <= expires <= clock[0] + seconds


def test_a_password_reset_or_disable_ends_open_sessions(
    app: tuple[TestClient, dict[str, Any]],
) -> None:
    client, facts = app
    studio = facts["studio"]
    studio.create_user("dave", PASSWORD)
    login(client, "dave")
    assert client.get("/api/v1/me").status_code == 200
    studio.reset_password("dave", "another-password-2")
    assert client.get("/api/v1/me").status_code == 401
    login(client, "dave", "another-password-2")
    assert client.get("/api/v1/me").status_code == 200
    studio.disable_user("dave")
    assert client.get("/api/v1/me").status_code == 401
    assert login(client, "dave", "another-password-2").status_code == 401
