"""Each service fixture hands out something that really works."""

from __future__ import annotations

import socket
import subprocess
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.integration


def _query(url: str, sql: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_postgres_url_is_a_fresh_session_database(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    assert _query(postgres_url, "SELECT 1") == 1
    name = _query(postgres_url, "SELECT current_database()")
    assert isinstance(name, str) and name.startswith("studio_test_")
    tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    assert _query(postgres_url, tables) == 0


def test_fresh_postgres_url_is_another_database(postgres_url: str, fresh_postgres_url: str) -> None:
    assert fresh_postgres_url != postgres_url
    engine = sa.create_engine(fresh_postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x int)"))
            conn.execute(sa.text("INSERT INTO t VALUES (7)"))
            assert conn.execute(sa.text("SELECT x FROM t")).scalar_one() == 7
    finally:
        engine.dispose()


def test_redis_url_answers_ping(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    with socket.create_connection((parts.hostname, parts.port or 6379), timeout=5) as s:
        if parts.password:
            s.sendall(f"AUTH {parts.username or 'default'} {parts.password}\r\n".encode())
            assert s.recv(64).startswith(b"+OK")
        s.sendall(b"*2\r\n$4\r\nECHO\r\n$6\r\nstudio\r\n")
        assert s.recv(64) == b"$6\r\nstudio\r\n"


def test_chromium_path_runs(chromium_path: str) -> None:
    done = subprocess.run(
        [chromium_path, "--headless", "--no-sandbox", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "chrom" in done.stdout.lower()
