"""Settings: defaults, STUDIO_* / PORT environment, precedence, tier files, readable errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from studio.core import config
from studio.core.config import ConfigError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No STUDIO_* or PORT from the outer environment; relative paths resolve in tmp_path."""
    for name in list(os.environ):
        if name.startswith("STUDIO_") or name == "PORT":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_keep_everything_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings()
    assert isinstance(settings, Settings)
    assert settings.tier == "dev"
    assert settings.data_dir == (tmp_path / "data").resolve()
    assert settings.data_dir.is_absolute()
    assert settings.resolved_database_url == f"sqlite:///{settings.data_dir / 'studio.db'}"
    assert settings.resolved_storage_root == settings.data_dir / "artifacts"
    assert settings.port == 7860
    assert settings.host == "127.0.0.1"
    assert settings.resolved_queue == "inline"
    assert settings.default_pipeline == "draft"


def test_explicit_data_dir_moves_database_and_storage(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "elsewhere")
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'elsewhere' / 'studio.db'}"
    assert settings.resolved_storage_root == tmp_path / "elsewhere" / "artifacts"


def test_relative_and_home_data_dirs_become_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(data_dir="rel/dir").data_dir == tmp_path / "rel" / "dir"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_settings(data_dir="~/films").data_dir == tmp_path / "home" / "films"


def test_explicit_database_url_and_storage_root_win_over_defaults(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "d",
        database_url="postgresql://u:p@db/studio",
        storage_root=tmp_path / "blobs",
    )
    assert settings.resolved_database_url == "postgresql://u:p@db/studio"
    assert settings.resolved_storage_root == tmp_path / "blobs"


def test_studio_data_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "from-env"))
    settings = load_settings()
    assert settings.data_dir == tmp_path / "from-env"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'from-env' / 'studio.db'}"
    assert settings.resolved_storage_root == tmp_path / "from-env" / "artifacts"


def test_port_env_and_studio_port_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8080")
    assert load_settings().port == 8080
    monkeypatch.setenv("STUDIO_PORT", "9090")
    assert load_settings().port == 9090  # the studio's own variable wins over PORT
    monkeypatch.delenv("PORT")
    assert load_settings().port == 9090


def test_other_studio_env_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("STUDIO_HOST", "0.0.0.0")
    monkeypatch.setenv("STUDIO_DATABASE_URL", "sqlite:////tmp/x.db")
    settings = load_settings()
    assert settings.max_attempts == 5
    assert settings.host == "0.0.0.0"
    assert settings.resolved_database_url == "sqlite:////tmp/x.db"


def test_explicit_overrides_beat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("STUDIO_PORT", "9090")
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("STUDIO_MAX_ATTEMPTS", "5")
    settings = load_settings(data_dir=tmp_path / "arg", port=1234, max_attempts=2)
    assert settings.data_dir == tmp_path / "arg"
    assert settings.port == 1234
    assert settings.max_attempts == 2


def test_settings_are_not_built_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    # An env change after import is seen by the next load_settings().
    monkeypatch.setenv("STUDIO_PORT", "4321")
    assert load_settings().port == 4321


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": "abc"}, "port"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 21}, "max_attempts"),
        ({"lease_seconds": 0}, "lease_seconds"),
        ({"tier": "nope"}, "tier"),
        ({"queue": "kafka"}, "queue"),
    ],
)
def test_invalid_values_raise_config_error_naming_the_field(
    overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    message = str(info.value)
    assert field in message.lower()
    assert message.startswith("Invalid studio configuration")
    assert "\n" not in message  # one readable line, not a pydantic dump


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("STUDIO_PORT", "abc", "port"),
        ("PORT", "0", "port"),
        ("STUDIO_MAX_ATTEMPTS", "0", "max_attempts"),
        ("STUDIO_TIER", "nope", "tier"),
    ],
)
def test_invalid_env_values_raise_config_error_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert field in str(info.value).lower()


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        load_settings(port=0)


def test_dev_yaml_is_loaded_and_consistent() -> None:
    dev = yaml.safe_load((config.CONFIG_DIR / "dev.yaml").read_text())
    assert dev["tier"] == "dev"
    settings = load_settings()
    assert settings.tier == "dev"
    for key, value in dev.items():
        assert getattr(settings, key) == value


def safe_cloud_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a non-dev tier insists on (see test_tiers.py for the refusals)."""
    monkeypatch.setenv("STUDIO_DATABASE_URL", "postgresql+psycopg://studio@db/studio")
    monkeypatch.setenv("STUDIO_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("STUDIO_SECRET_KEY", "not-the-default")


def test_tier_file_is_loaded_and_env_beats_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "dev.yaml").write_text("tier: dev\nmax_attempts: 7\nport: 8001\n")
    (configs / "testing.yaml").write_text("tier: testing\nmax_attempts: 4\n")
    monkeypatch.setattr(config, "CONFIG_DIR", configs)

    dev = load_settings()
    assert (dev.tier, dev.max_attempts, dev.port) == ("dev", 7, 8001)

    monkeypatch.setenv("STUDIO_TIER", "testing")
    safe_cloud_env(monkeypatch)
    testing = load_settings()
    assert (testing.tier, testing.max_attempts, testing.port) == ("testing", 4, 7860)

    monkeypatch.setenv("STUDIO_MAX_ATTEMPTS", "9")
    assert load_settings().max_attempts == 9  # env beats the tier file
    assert load_settings(max_attempts=2).max_attempts == 2  # arguments beat both
    assert load_settings(tier="dev").max_attempts == 9  # explicit tier picks dev.yaml


def test_tier_chosen_by_argument_loads_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "staging.yaml").write_text("tier: staging\nlease_seconds: 12.5\n")
    monkeypatch.setattr(config, "CONFIG_DIR", configs)
    safe_cloud_env(monkeypatch)
    settings = load_settings(tier="staging")
    assert settings.tier == "staging"
    assert settings.lease_seconds == 12.5


def test_invalid_value_in_tier_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "dev.yaml").write_text("max_attempts: 0\n")
    monkeypatch.setattr(config, "CONFIG_DIR", configs)
    with pytest.raises(ConfigError, match="max_attempts"):
        load_settings()
