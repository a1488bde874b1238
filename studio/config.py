"""Settings: one pydantic-settings object, env prefix STUDIO_, built lazily (never at import).

Precedence: explicit arguments > environment (STUDIO_*; PORT too) > configs/<tier>.yaml > defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
Tier = Literal["dev", "testing", "staging", "production"]


class ConfigError(ValueError):
    """Settings that cannot work, with a message a user can act on."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STUDIO_", extra="ignore")

    tier: Tier = "dev"
    data_dir: Path = Path("data")
    database_url: str = ""  # default: SQLite file in data_dir
    storage_root: Path | None = None  # default: data_dir/artifacts
    queue: Literal["inline"] = "inline"
    pipelines_file: Path | None = None  # default: configs/pipelines.yaml
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=1, le=65535, validation_alias=AliasChoices("STUDIO_PORT", "PORT"))
    default_pipeline: str = "draft"
    max_attempts: int = Field(3, ge=1, le=20)
    lease_seconds: float = Field(30.0, gt=0)
    # Limits on what a creator may ask for; bad input gets a clear error, not a 500.
    max_duration: float = Field(60.0, gt=0)
    max_fps: int = Field(60, ge=1)
    max_pixels: int = Field(1920 * 1080, ge=64 * 64)
    max_audio_bytes: int = Field(50 * 1024 * 1024, ge=1)

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        tier_file = CONFIG_DIR / f"{_tier_from(init_settings, env_settings)}.yaml"
        if tier_file.exists():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=tier_file))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'studio.db'}"

    @property
    def resolved_storage_root(self) -> Path:
        return (self.storage_root or self.data_dir / "artifacts").expanduser().resolve()


def _tier_from(*sources: PydanticBaseSettingsSource) -> str:
    for source in sources:
        value = source().get("tier")
        if value:
            return str(value)
    return "dev"


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"Invalid studio configuration: {problems}") from None
