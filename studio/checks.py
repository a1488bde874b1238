"""`python -m studio check`: the effective settings (secrets masked) and a reachability check
of every dependency those settings name."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from studio.core.config import Settings

SECRET_FIELDS = {"secret_key", "s3_secret_access_key", "s3_access_key_id"}


def mask_url(url: str) -> str:
    """A URL with its password replaced, for printing."""
    if not url or "://" not in url:
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a database URL (redis://): mask by hand
        scheme, _, rest = url.partition("://")
        credentials, at, host = rest.rpartition("@")
        if not at:
            return url
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"


def effective_config(settings: Settings) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name in SECRET_FIELDS or isinstance(value, SecretStr):
            value = "***" if value else "(unset)"
        elif name in ("database_url", "redis_url"):
            value = mask_url(str(value)) or "(unset)"
        shown[name] = value
    shown["database (resolved)"] = mask_url(settings.resolved_database_url)
    shown["queue (resolved)"] = settings.resolved_queue
    shown["log format (resolved)"] = settings.resolved_log_format
    return shown


def verify(settings: Settings) -> dict[str, str]:
    """'ok' or the problem, for each dependency; never raises."""
    results: dict[str, str] = {}
    results["database"] = _attempt(lambda: _database(settings))
    results["storage"] = _attempt(lambda: _storage(settings))
    if settings.resolved_queue == "redis":
        results["redis"] = _attempt(lambda: _redis(settings))
    results["pipeline catalogue"] = _attempt(lambda: _catalogue(settings))
    return results


def _attempt(probe: Any) -> str:
    try:
        probe()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"FAILED: {exc}".splitlines()[0][:300]


def _database(settings: Settings) -> None:
    from sqlalchemy import text

    from studio.core.db import current_revision, head_revision
    from studio.services import build_engine

    engine = build_engine(settings)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        if current_revision(engine) != head_revision():
            raise RuntimeError(
                "reachable, but migrations are not at head: run `python -m studio db upgrade`"
            )
    finally:
        engine.dispose()


def _storage(settings: Settings) -> None:
    from studio.services import build_storage

    build_storage(settings).ping()


def _redis(settings: Settings) -> None:
    from studio.farm.queues.redis import connect

    connect(settings.redis_url).ping()


def _catalogue(settings: Settings) -> None:
    from studio.services import build_catalogue

    build_catalogue(settings)
