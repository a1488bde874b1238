"""Each tier's config loads, and every non-dev tier refuses unsafe settings, one message each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core.config import CONFIG_DIR, ConfigError, load_settings
from tests.server import ROOT

SAFE = {
    "database_url": "postgresql+psycopg://studio@db/studio",
    "redis_url": "redis://cache:6379",
    "s3_bucket": "films",
    "secret_key": "a-long-random-secret",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("STUDIO_") or key == "PORT":
            monkeypatch.delenv(key)


@pytest.mark.parametrize("tier", ["testing", "staging", "production"])
def test_each_cloud_tier_loads_its_file_with_safe_secrets(tier: str) -> None:
    assert (CONFIG_DIR / f"{tier}.yaml").exists()
    settings = load_settings(tier=tier, **SAFE)
    assert settings.tier == tier
    assert settings.resolved_queue == "redis" and settings.storage_backend == "s3"
    assert settings.resolved_log_format == "json"
    assert settings.resolved_auth and settings.resolved_credits


def test_dev_keeps_everything_embedded() -> None:
    settings = load_settings()
    assert settings.tier == "dev" and settings.resolved_queue == "inline"
    assert not settings.resolved_auth and not settings.resolved_credits  # one local user
    assert settings.resolved_database_url.startswith("sqlite")
    assert settings.resolved_log_format == "console"


@pytest.mark.parametrize(
    ("tier", "unsafe", "message"),
    [
        ("testing", {"database_url": ""}, "SQLite is for dev"),
        ("staging", {"redis_url": ""}, "inline queue is for dev"),
        ("production", {"storage_backend": "local"}, "local storage is not for production"),
        ("production", {"secret_key": "dev-insecure-secret-change-me"}, "STUDIO_SECRET_KEY"),
        ("production", {"debug": True}, "debug must be off"),
        ("testing", {"s3_bucket": ""}, "STUDIO_S3_BUCKET"),
        ("production", {"auth": False}, "auth off is for a dev studio"),
        ("staging", {"credits": False}, "credits off is for dev"),
    ],
)
def test_unsafe_settings_are_refused_with_one_clear_message(
    tier: str, unsafe: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(tier=tier, **{**SAFE, **unsafe})
    text = str(refused.value)
    assert message in text and f"tier {tier!r}" in text
    assert text.count(";") == 0  # exactly the one problem, not a list of unrelated ones


def test_local_storage_is_allowed_below_production() -> None:
    assert load_settings(tier="staging", **SAFE, storage_backend="local").tier == "staging"


def test_the_server_refuses_to_start_in_production_with_defaults(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env.update(STUDIO_TIER="production", STUDIO_DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "studio", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refuses unsafe settings" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "studio.db").exists()  # refused before touching anything
