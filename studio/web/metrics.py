"""Prometheus metrics. Queue and worker numbers are read from the database at scrape time, so
every app replica reports the whole farm; HTTP latency is per process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from credits import ledger
from studio.core.models import JobStatus, RenderJob, Worker, utcnow

DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
PRIORITY_NAMES = {10: "high", 0: "normal", -10: "low"}


class StudioCollector:
    """A prometheus_client collector over the studio database."""

    def __init__(self, engine: Engine, stale_seconds: float):
        self.engine, self.stale_seconds = engine, stale_seconds

    def describe(self) -> list[Any]:
        return []  # metrics are produced at collect time only

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

        with Session(self.engine) as session:
            depth = GaugeMetricFamily(
                "studio_queue_depth", "Queued jobs by priority", labels=["priority"]
            )
            for priority, queued in session.exec(
                select(RenderJob.priority, func.count())
                .where(RenderJob.status == JobStatus.queued.value)
                .group_by(col(RenderJob.priority))
            ).all():
                depth.add_metric([PRIORITY_NAMES.get(priority, str(priority))], queued)
            yield depth

            jobs = GaugeMetricFamily(
                "studio_jobs", "Jobs by status and kind", labels=["status", "kind"]
            )
            for status, kind, count in session.exec(
                select(RenderJob.status, RenderJob.kind, func.count()).group_by(
                    RenderJob.status, RenderJob.kind
                )
            ).all():
                jobs.add_metric([status, kind], count)
            yield jobs

            yield self._durations(session, HistogramMetricFamily)

            credits = GaugeMetricFamily(
                "studio_credits",
                "Credits held by queued and running jobs (reserved) and spent by finished "
                "ones (settled), from the credits ledger",
                labels=["state"],
            )
            reserved = ledger.held(session) / 100
            settled = ledger.spent(session) / 100
            credits.add_metric(["reserved"], float(reserved))
            credits.add_metric(["settled"], float(settled))
            yield credits

            now = utcnow()
            live = session.exec(select(Worker).where(Worker.state != "stopped")).all()
            fresh = [
                w for w in live if (now - w.heartbeat_at).total_seconds() <= self.stale_seconds
            ]
            workers = GaugeMetricFamily(
                "studio_workers", "Workers with a recent heartbeat", labels=["kind"]
            )
            for kind in sorted({w.kind for w in fresh}) or ["redis"]:
                workers.add_metric([kind], sum(1 for w in fresh if w.kind == kind))
            yield workers
            age = GaugeMetricFamily(
                "studio_worker_heartbeat_age_seconds",
                "Seconds since each worker's last heartbeat",
                labels=["worker"],
            )
            for worker in live:
                age.add_metric([worker.name], (now - worker.heartbeat_at).total_seconds())
            yield age

    def _durations(self, session: Session, family: Any) -> Any:
        """Run time of jobs finished in the last 24 h, per pipeline (whole farm)."""
        since = utcnow() - timedelta(hours=24)
        rows = session.exec(
            select(RenderJob.params, RenderJob.started_at, RenderJob.finished_at)
            .where(RenderJob.status == JobStatus.succeeded.value, RenderJob.cache_hit == False)  # noqa: E712
            .where(col(RenderJob.finished_at) >= since)
        ).all()
        per_pipeline: dict[str, list[float]] = {}
        for params, started, finished in rows:
            if started and finished:
                name = (params or {}).get("pipeline", {}).get("name", "unknown")
                per_pipeline.setdefault(name, []).append((finished - started).total_seconds())
        histogram = family(
            "studio_job_duration_seconds",
            "Run time of jobs finished in the last 24 hours",
            labels=["pipeline"],
        )
        for name, values in sorted(per_pipeline.items()):
            buckets = [(str(b), sum(1 for v in values if v <= b)) for b in DURATION_BUCKETS]
            buckets.append(("+Inf", len(values)))
            histogram.add_metric([name], buckets, sum(values))
        return histogram
