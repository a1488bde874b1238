"""Settings: one pydantic-settings object, env prefix STUDIO_, built lazily (never at import).

Precedence: explicit arguments > environment (STUDIO_*; PORT too) > configs/<tier>.yaml > defaults.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from credits.pricing import PricingPolicy

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
DEFAULT_SECRET = "dev-insecure-secret-change-me"
Tier = Literal["dev", "testing", "staging", "production"]


class ConfigError(ValueError):
    """Settings that cannot work, with a message a user can act on."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STUDIO_", extra="ignore")

    tier: Tier = "dev"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)  # signs sessions and links; set per deploy
    debug: bool = False
    log_format: Literal["console", "json"] | None = None  # default: json outside dev
    data_dir: Path = Path("data")
    database_url: str = ""  # default: SQLite file in data_dir
    storage_root: Path | None = None  # default: data_dir/artifacts
    # Queue backend: "inline" (a thread in the app) or "redis" (RQ; remote workers). Unset:
    # "redis" when redis_url is given, else "inline".
    queue: Literal["inline", "redis"] | None = None
    redis_url: str = ""
    dispatch_window: int = Field(2, ge=1, le=100)  # jobs handed to Redis per live worker
    worker_stale_seconds: float = Field(30.0, gt=0)  # no heartbeat for this long: not live
    # Where each worker process writes its liveness file for the healthcheck
    # (studio.farm.beacon). Unset: <temp folder>/studio-workers-<uid>.
    run_dir: Path | None = None
    pipelines_file: Path | None = None  # default: configs/pipelines.yaml
    # Storage: "local" (storage_root) or "s3" (bucket; credentials from the AWS chain unless
    # s3_access_key_id / s3_secret_access_key are given).
    storage_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    # Where browsers reach that server when the studio's own address for it is private
    # (Compose: http://seaweedfs:8333 inside, http://127.0.0.1:8333 on the host).
    s3_public_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    cdn_base_url: str | None = None
    download_url_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)
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
    # Loaded pipelines per process: least recently used ones are unloaded past this budget
    # (GiB of model weights; unset = never unload). Previews of one pipeline and size are
    # rendered up to `preview_batch` at a time.
    pipeline_memory_gb: float | None = Field(None, gt=0)
    # Optional prompt writer (a text-generation catalogue entry, e.g. "prompt-writer"): shows
    # "Expand prompts" in the Script tab. Unset = off; the rule-based breakdown stays.
    prompt_writer: str | None = None
    # Optional image-similarity entry (e.g. "clip-vit-b32"): the consistency report scores
    # each shot of a member with a reference picture against it. Unset = frames only.
    similarity_pipeline: str | None = None
    preview_batch: int = Field(4, ge=1, le=64)
    # Accounts. Unset: on outside dev. Off (dev only): one local user, no password, no login.
    auth: bool | None = None
    # Credits. Unset: on when auth is on. Off (dev only): renders cost nothing.
    credits: bool | None = None
    price_per_megapixel_frame: float = Field(1.0, ge=0)  # × steps/25 × pipeline cost_factor
    price_film_per_second: float = Field(0.0, ge=0)
    price_cache_hit: float = Field(0.0, ge=0, le=1)  # fraction of the full price
    price_speech_per_1000_characters: float = Field(0.1, ge=0)  # × the voice's cost_factor
    signup_credits: float = Field(0.0, ge=0)  # granted to each new account
    # Quotas per user: jobs waiting in the queue, and jobs rendering at once.
    max_queued_per_user: int = Field(200, ge=1)
    # Fair share by default: one creator may use the whole farm while nobody else waits.
    max_running_per_user: int | None = Field(None, ge=1)
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    # Failed logins (studio.core.throttle), per user name + client address (and 4 × per
    # address): `login_attempts` are free within `login_window_seconds` (counted from the
    # last failure), then each failure makes that key wait 1, 2, 4 … s, at most
    # `login_backoff_max_seconds`. Shared through Redis when redis_url is set.
    login_attempts: int = Field(5, ge=1)
    login_window_seconds: float = Field(300.0, gt=0)
    login_backoff_max_seconds: float = Field(60.0, gt=0)
    min_password_length: int = Field(10, ge=8, le=128)
    # Proxies whose X-Forwarded-For is believed ("*" behind a load balancer that is the
    # only way in, as in the AWS tiers).
    forwarded_allow_ips: str = "127.0.0.1"
    # REST API requests per minute per API token (browser sessions: per user), per replica.
    api_requests_per_minute: int = Field(600, ge=1)
    # Origins besides the studio's own host whose pages may send changes with the session
    # cookie (studio.web.origin), e.g. ["https://studio.example.com"] behind a proxy that
    # rewrites Host. JSON list in STUDIO_TRUSTED_ORIGINS.
    trusted_origins: list[str] = Field(default_factory=list, max_length=50)
    # /metrics: a bearer token Prometheus sends (STUDIO_METRICS_TOKEN). Outside dev /metrics
    # answers only with it (unset: 404); in dev it is open unless a token is set.
    metrics_token: SecretStr | None = None

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token_is_long(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("metrics_token must be at least 16 characters (it guards /metrics)")
        return token

    @model_validator(mode="after")
    def _tier_is_safe(self) -> Settings:
        """Outside dev, refuse settings that lose data or expose the studio; one line each."""
        if self.tier == "dev":
            return self
        problems = []
        if self.resolved_database_url.startswith("sqlite"):
            problems.append("SQLite is for dev: set STUDIO_DATABASE_URL=postgresql+psycopg://…")
        if self.resolved_queue == "inline" or not self.redis_url:
            problems.append("the inline queue is for dev: set STUDIO_REDIS_URL=redis://…")
        if self.tier == "production" and self.storage_backend == "local":
            problems.append(
                "local storage is not for production: set STUDIO_STORAGE_BACKEND=s3 "
                "and STUDIO_S3_BUCKET"
            )
        elif self.storage_backend == "s3" and not self.s3_bucket:
            problems.append("S3 storage needs a bucket: set STUDIO_S3_BUCKET")
        if self.secret_key.get_secret_value() in (DEFAULT_SECRET, ""):
            problems.append("the default secret key is public: set STUDIO_SECRET_KEY")
        if not self.resolved_auth:
            problems.append("auth off is for a dev studio on one machine: unset STUDIO_AUTH")
        elif not self.resolved_credits:
            problems.append("credits off is for dev: unset STUDIO_CREDITS")
        if self.tier == "production" and self.debug:
            problems.append("debug must be off in production: unset STUDIO_DEBUG")
        if problems:
            raise ValueError(f"tier {self.tier!r} refuses unsafe settings: " + "; ".join(problems))
        return self

    @property
    def resolved_log_format(self) -> str:
        return self.log_format or ("console" if self.tier == "dev" else "json")

    @model_validator(mode="after")
    def _backends_have_what_they_need(self) -> Settings:
        if self.queue == "redis" and not self.redis_url:
            raise ValueError("queue 'redis' needs redis_url (STUDIO_REDIS_URL=redis://host:6379/0)")
        if self.worker_stale_seconds < self.lease_seconds / 3 * 2:
            raise ValueError(
                f"worker_stale_seconds ({self.worker_stale_seconds:g}) must be at least two "
                f"heartbeats (2 × lease_seconds / 3 = {self.lease_seconds / 3 * 2:g})"
            )
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("storage_backend 's3' needs s3_bucket (STUDIO_S3_BUCKET)")
        return self

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
    def resolved_auth(self) -> bool:
        return self.tier != "dev" if self.auth is None else self.auth

    @property
    def resolved_credits(self) -> bool:
        return self.resolved_auth if self.credits is None else self.credits

    @property
    def pricing(self) -> PricingPolicy:
        return PricingPolicy(
            per_megapixel_frame=self.price_per_megapixel_frame,
            film_per_second=self.price_film_per_second,
            cache_hit=self.price_cache_hit,
            speech_per_1000_characters=self.price_speech_per_1000_characters,
        )

    @property
    def resolved_queue(self) -> str:
        return self.queue or ("redis" if self.redis_url else "inline")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'studio.db'}"

    @property
    def resolved_run_dir(self) -> Path:
        if self.run_dir is not None:
            return self.run_dir.expanduser().resolve()
        # One folder per user: a folder another user created first would refuse our files.
        user = f"-{os.getuid()}" if hasattr(os, "getuid") else ""
        return Path(tempfile.gettempdir()) / f"studio-workers{user}"

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
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigError(f"Invalid studio configuration: {problems}") from None
