"""The composition root: the one place that builds the studio's services from settings.

`build_services(settings, role)` is used by the app and the CLI (through `Studio`), by
`python -m studio worker` and by `studio check`; nothing else constructs an engine, a
storage backend, a catalogue, a runner, a queue backend, an event bus or the idempotency
store. Roles differ only in what they start:

- `app`: everything; the queue backend is the inline render thread or the Redis dispatcher.
- `worker`: what renders (engine, storage, catalogue, runner) plus the Redis dispatcher, so
  a farm without an app still drains its queue; no event bus, no idempotency store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from pipelines.catalogue import Catalogue
    from storage.base import Storage
    from studio.core.config import Settings
    from studio.core.idempotency import IdempotencyStore
    from studio.farm.events import EventBus
    from studio.farm.queues.base import QueueBackend
    from studio.farm.runner import JobRunner

Role = Literal["app", "worker"]


@dataclass
class Services:
    """What one process of the studio runs on. Shared by every user's view of a studio
    (the catalogue is replaced when a preset changes, so views see it at once)."""

    settings: Settings
    engine: Engine
    storage: Storage
    catalogue: Catalogue
    runner: JobRunner
    queue: QueueBackend
    events: EventBus | None = None
    idempotency: IdempotencyStore | None = None

    def reload_catalogue(self) -> Catalogue:
        """The catalogue file plus the presets now in the database, given to the runner too."""
        self.catalogue = build_catalogue(self.settings, self.engine)
        self.runner.catalogue = self.catalogue
        return self.catalogue

    def close(self) -> None:
        self.queue.stop()
        if self.events is not None:
            self.events.close()
        self.engine.dispose()


def build_services(settings: Settings, role: Role = "app", *, migrate: bool = True) -> Services:
    """Every service `role` needs, wired together; nothing is started yet."""
    from studio.core.db import upgrade

    if migrate:
        upgrade(settings.resolved_database_url)
    engine = build_engine(settings)
    storage = build_storage(settings)
    catalogue = build_catalogue(settings, engine)
    runner = _runner(settings, engine, storage, catalogue)
    if role == "worker":
        if settings.resolved_queue != "redis":
            raise ValueError("A worker needs the Redis queue: set STUDIO_REDIS_URL")
        return Services(
            settings, engine, storage, catalogue, runner, _redis_queue(settings, engine, catalogue)
        )
    from studio.core.idempotency import IdempotencyStore

    queue = _queue(settings, engine, runner, catalogue)
    # Live job events (progress, finished) for the REST API's event streams.
    return Services(
        settings,
        engine,
        storage,
        catalogue,
        runner,
        queue,
        events=_event_bus(settings, runner),
        idempotency=IdempotencyStore(engine),
    )


def build_engine(settings: Settings) -> Engine:
    """The database engine the settings name (also what `studio check` connects with)."""
    from studio.core.db import make_engine

    return make_engine(settings.resolved_database_url)


def build_storage(settings: Settings) -> Storage:
    """The storage backend the settings name (also what `studio check` pings)."""
    if settings.storage_backend == "s3":
        from storage.s3 import S3Storage

        secret = settings.s3_secret_access_key
        return S3Storage(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            cdn_base_url=settings.cdn_base_url,
            public_endpoint_url=settings.s3_public_endpoint_url,
            cache_dir=settings.data_dir / "cache" / "s3",
        )
    from storage.local import LocalStorage

    return LocalStorage(settings.resolved_storage_root)


def build_catalogue(settings: Settings, engine: Engine | None = None) -> Catalogue:
    """The pipelines file, plus the Lab presets stored in the database when `engine` is given."""
    from pipelines.catalogue import Catalogue
    from studio.core.lab import with_presets

    catalogue = Catalogue.load(settings.pipelines_file)
    return with_presets(catalogue, engine) if engine is not None else catalogue


def _runner(
    settings: Settings, engine: Engine, storage: Storage, catalogue: Catalogue
) -> JobRunner:
    from studio.farm.runner import JobRunner

    budget = settings.pipeline_memory_gb
    return JobRunner(
        engine,
        storage,
        catalogue,
        settings.lease_seconds,
        memory_budget=int(budget * 2**30) if budget else None,
        preview_batch=settings.preview_batch,
        max_running_per_owner=settings.max_running_per_user,
    )


def _queue(
    settings: Settings, engine: Engine, runner: JobRunner, catalogue: Catalogue
) -> QueueBackend:
    """The queue backend the settings name: inline thread, or dispatch to Redis workers."""
    if settings.resolved_queue == "redis":
        return _redis_queue(settings, engine, catalogue)
    from studio.farm.queues.inline import InlineQueue

    return InlineQueue(engine, runner, settings.lease_seconds)


def _redis_queue(settings: Settings, engine: Engine, catalogue: Catalogue) -> Any:
    from studio.farm.queues.redis import RedisQueue

    return RedisQueue(
        engine,
        settings.redis_url,
        pipelines=catalogue.names(),
        window_per_worker=settings.dispatch_window,
        worker_stale_seconds=settings.worker_stale_seconds,
        lease_seconds=settings.lease_seconds,
        max_running_per_owner=settings.max_running_per_user,
    )


def _event_bus(settings: Settings, runner: JobRunner) -> EventBus:
    """The studio's bus: fed by this process's runner (chained after whatever `publish` it
    already had) and, on the Redis backend, by the workers through a relay."""
    from studio.farm.events import EventBus, RedisRelay

    bus = EventBus()
    if settings.resolved_queue == "redis" and settings.redis_url:
        bus.relay = RedisRelay(bus.publish, settings.redis_url)
    previous = runner.publish

    def publish(event: dict[str, Any]) -> None:
        bus.publish(event)
        previous(event)

    runner.publish = publish
    return bus
