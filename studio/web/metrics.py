"""Prometheus metrics. Queue and worker numbers come from `Studio.census()` at scrape time
(the database), so every app replica reports the whole farm; HTTP latency is per process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from studio.api import Studio

DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
PRIORITY_NAMES = {10: "high", 0: "normal", -10: "low"}


class StudioCollector:
    """A prometheus_client collector over the studio's census (`studio` acts as an admin)."""

    def __init__(self, studio: Studio):
        self.studio = studio

    def describe(self) -> list[Any]:
        return []  # metrics are produced at collect time only

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

        census = self.studio.census()
        depth = GaugeMetricFamily(
            "studio_queue_depth", "Queued jobs by priority", labels=["priority"]
        )
        for priority, queued in census.queued_by_priority.items():
            depth.add_metric([PRIORITY_NAMES.get(priority, str(priority))], queued)
        yield depth

        jobs = GaugeMetricFamily(
            "studio_jobs", "Jobs by status and kind", labels=["status", "kind"]
        )
        for (status, kind), count in census.jobs_by_status_kind.items():
            jobs.add_metric([status, kind], count)
        yield jobs

        histogram = HistogramMetricFamily(
            "studio_job_duration_seconds",
            "Run time of jobs finished in the last 24 hours",
            labels=["pipeline"],
        )
        for name, values in sorted(census.durations.items()):
            buckets = [(str(b), sum(1 for v in values if v <= b)) for b in DURATION_BUCKETS]
            buckets.append(("+Inf", len(values)))
            histogram.add_metric([name], buckets, sum(values))
        yield histogram

        credits = GaugeMetricFamily(
            "studio_credits",
            "Credits held by queued and running jobs (reserved) and spent by finished "
            "ones (settled), from the credits ledger",
            labels=["state"],
        )
        credits.add_metric(["reserved"], float(census.credits_reserved))
        credits.add_metric(["settled"], float(census.credits_settled))
        yield credits

        stale = self.studio.settings.worker_stale_seconds
        fresh = [w for w in census.workers if w.age_seconds <= stale]
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
        for worker in census.workers:
            age.add_metric([worker.name], worker.age_seconds)
        yield age
