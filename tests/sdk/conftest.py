"""One SDK test suite, two backends: every test taking `sdk` runs against the local `Studio`
(`Studio.local(...).as_user("alice")`) and against `Studio.connect(url, token)` talking to a
real `python -m studio serve` process (one per module, for speed).

Both backends have the same users: alice (100 credits), carol (none) and root (an admin)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypedDict

import pytest

from studio import Studio
from studio.client.remote import RemoteStudio
from studio.surface import StudioAPI
from tests.server import StudioServer

SECRET = "sdk-test-secret-key-0123456789"
PASSWORD = "correct-horse-9"
USERS = {"alice": 100.0, "carol": 0.0}
ADMIN = "root"


class Settings(TypedDict):
    auth: bool
    credits: bool
    secret_key: str


SETTINGS: Settings = {"auth": True, "credits": True, "secret_key": SECRET}


@dataclass
class Backend:
    """One backend: `connect(name)` gives the studio API acting as that user; `admin` is a
    local admin `Studio` on the same database, for test set-up only (pausing a queue)."""

    kind: str
    admin: Studio
    connect: Callable[[str], StudioAPI]
    url: str = ""


def add_users(admin: Studio) -> None:
    for name, credits in USERS.items():
        admin.create_user(name, PASSWORD)
        if credits:
            admin.grant_credits(name, credits, "sdk tests")
    admin.create_user(ADMIN, PASSWORD, role="admin")


@pytest.fixture(scope="module")
def local_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    data = tmp_path_factory.mktemp("sdk-local")
    with Studio.local(data, **SETTINGS) as admin:
        add_users(admin)
        yield Backend("local", admin, admin.as_user)


@pytest.fixture(scope="module")
def remote_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A `python -m studio serve` process with alice and carol; clients by API token."""
    data = tmp_path_factory.mktemp("sdk-remote")
    cache = tmp_path_factory.mktemp("sdk-cache")
    # Users and tokens are made on the server's data dir before it starts (no render thread).
    with Studio.local(data, start_worker=False, **SETTINGS) as admin:
        add_users(admin)
        tokens = {name: admin.as_user(name).create_token("sdk")[1] for name in [*USERS, ADMIN]}
    env = {"STUDIO_AUTH": "true", "STUDIO_CREDITS": "true", "STUDIO_SECRET_KEY": SECRET}
    server = StudioServer(data, data / "server.log", env=env).start()
    admin = Studio.local(data, start_worker=False, **SETTINGS)
    clients: list[RemoteStudio] = []

    def connect(name: str) -> RemoteStudio:
        client = Studio.connect(server.url, tokens[name], cache_dir=cache)
        clients.append(client)
        return client

    try:
        yield Backend("remote", admin, connect, server.url)
    finally:
        for client in clients:
            client.close()
        admin.close()
        server.stop()


@pytest.fixture(params=["local", "remote"])
def backend(request: pytest.FixtureRequest) -> Backend:
    result: Backend = request.getfixturevalue(f"{request.param}_backend")
    return result


@pytest.fixture
def sdk(backend: Backend) -> StudioAPI:
    """The studio API acting as alice: a local `Studio` view or a `RemoteStudio`."""
    return backend.connect("alice")
