"""Engine, sessions and migrations. SQLite (embedded) and PostgreSQL (teams) alike."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm.base import manager_of_class
from sqlmodel import Session, create_engine

M = TypeVar("M")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 0x5747_4449_4F  # any constant: the advisory lock id for migrations


CONNECT_TIMEOUT = 10  # seconds for a new PostgreSQL connection (URL's connect_timeout wins)
PING_AFTER = 1.0  # seconds a pooled PostgreSQL connection may idle before it is pinged
_USED = "studio.last_used"


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A server that drops packets (not one that refuses) would hold a connect for minutes of
    # TCP retries: the heartbeat and the outage backoff would hang instead of retrying.
    timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT}
    engine = create_engine(url, connect_args=timeout)
    event.listen(engine.pool, "checkout", functools.partial(_ping_if_idle, engine.dialect))
    event.listen(engine.pool, "checkin", _mark_used)
    return engine


def _ping_if_idle(dialect: Any, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """A pooled connection idle for over PING_AFTER seconds is pinged before use, and
    replaced when dead (a database restart): nobody sees the restart. One used moments ago is
    not: a ping on every checkout (`pool_pre_ping`) cost a farm worker a round trip per
    transaction, three per job. A restart within that moment fails one unit of work: a
    worker retries it (studio.core.outage), the REST API answers 503 with Retry-After, and
    the pool replaces its other connections."""
    if time.monotonic() - record.info.get(_USED, float("-inf")) < PING_AFTER:
        return
    try:
        alive = dialect.do_ping(dbapi_conn)
    except dialect.loaded_dbapi.Error as exc:  # a dead connection raises rather than says so
        if not dialect.is_disconnect(exc, dbapi_conn, None):
            raise
        alive = False
    if not alive:
        raise DisconnectionError("the pooled connection is gone")  # the pool makes a new one


def _mark_used(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:  # (None: a connection already invalidated)
        record.info[_USED] = time.monotonic()


def expire_loaded(session: Session, model: Any, key: Any) -> None:
    """After a Core UPDATE of this row: a copy the session loaded earlier in the transaction
    is read again when next used, not as it was."""
    loaded = session.identity_map.get(session.identity_key(model, key))
    if loaded is not None:
        session.expire(loaded)


def detached(model: type[M], columns: Mapping[Any, Any]) -> M:
    """A `model` instance holding `columns`, every column of a row a statement returned
    (UPDATE … RETURNING), in no session, built as the ORM builds a row it loads: no
    pydantic defaults or validation, no attribute events. `model(**columns)` ran all of
    them, ~0.15-0.3 ms a job's claim and again its success in a farm worker."""
    instance: M = manager_of_class(model).new_instance()
    instance.__dict__.update(columns)
    return instance


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the UI read while the render thread writes; foreign keys are off by default.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL survives application crashes (kill -9) and only risks the last commits
    # on power loss; FULL costs an fsync per commit, which dominated small jobs.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error (no partial writes).

    `write=True` marks a unit that reads, decides and then writes (submit: balance, quota):
    on SQLite it takes the write lock up front (BEGIN IMMEDIATE), so concurrent units queue
    behind each other instead of failing when a read snapshot turns stale. PostgreSQL needs
    nothing: row locks (SELECT … FOR UPDATE) do that job there. Never nest a write unit
    inside another in one thread (it would wait for itself)."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            if write and engine.dialect.name == "sqlite":
                session.execute(text("BEGIN IMMEDIATE"))
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations (creates the database file for SQLite)."""
    from alembic import command

    engine = make_engine(url)  # also creates the SQLite parent directory
    try:
        if engine.dialect.name == "postgresql":
            # Workers and app replicas may start together: one migrates, the others wait.
            with engine.connect() as lock:
                lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
                try:
                    command.upgrade(alembic_config(url), revision)
                finally:
                    lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
        else:
            command.upgrade(alembic_config(url), revision)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
