"""Prometheus metrics. Everything about the farm comes from `Studio.census()` at scrape time
(the database), so every app replica reports the whole farm: gauges as the rows are now,
counters and the run-time histogram as the running totals the lifecycle keeps
(studio.core.counters), which only grow. HTTP latency is per process (`RouteLabels` names
its routes)."""

from __future__ import annotations

import re
from collections.abc import Iterator, MutableMapping
from typing import Any

from studio.api import Studio
from studio.core import counters
from studio.core.census import Census
from studio.core.lifecycle import ACTIVE
from studio.core.models import JobKind

PRIORITY_NAMES = {10: "high", 0: "normal", -10: "low"}
OTHER = "other"  # the route label of a request no route matched (any 404 path)
WORKER_STATES = ("idle", "busy", "waiting")  # what a live worker's row says

# The counters: stored name → (exposed family, help, label names, divisor to its unit:
# credits are stored in cents).
COUNTERS: dict[str, tuple[str, str, list[str], int]] = {
    counters.SUBMITTED: (
        "studio_jobs_submitted",
        "Jobs accepted, render-cache hits included",
        ["kind"],
        1,
    ),
    counters.RETRIED: (
        "studio_jobs_retried",
        "Failed or cancelled jobs queued again",
        ["kind"],
        1,
    ),
    counters.FINISHED: (
        "studio_jobs_finished",
        "Jobs that succeeded, failed or were cancelled (render-cache hits count as succeeded)",
        ["kind", "pipeline", "status"],
        1,
    ),
    counters.CACHE_HITS: (
        "studio_render_cache_hits",
        "Jobs served from an earlier identical render, without rendering",
        ["kind"],
        1,
    ),
    counters.CREDITS["reserved"]: (
        "studio_credits_reserved",
        "Credits held when jobs were submitted or retried",
        [],
        100,
    ),
    counters.CREDITS["settled"]: (
        "studio_credits_settled",
        "Credits spent: the holds of jobs that succeeded",
        [],
        100,
    ),
    counters.CREDITS["refunded"]: (
        "studio_credits_refunded",
        "Credits given back: the holds of jobs that failed or were cancelled",
        [],
        100,
    ),
}


class StudioCollector:
    """A prometheus_client collector over the studio's census (`studio` acts as an admin)."""

    def __init__(self, studio: Studio):
        self.studio = studio

    def describe(self) -> list[Any]:
        return []  # metrics are produced at collect time only

    def collect(self) -> Iterator[Any]:
        census = self.studio.census()
        yield from gauges(census, self.studio.settings.worker_stale_seconds)
        yield from counter_families(census.counters)
        yield duration_histogram(census.counters)


def gauges(census: Census, stale_seconds: float) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    depth = GaugeMetricFamily("studio_queue_depth", "Queued jobs by priority", labels=["priority"])
    for priority, queued in census.queued_by_priority.items():
        depth.add_metric([PRIORITY_NAMES.get(priority, str(priority))], queued)
    yield depth

    active = GaugeMetricFamily(
        "studio_jobs_active", "Jobs queued or running, by kind", labels=["kind", "status"]
    )
    for kind in JobKind:
        for status in ACTIVE:  # zeros included: a series that vanishes is not a 0 to alerts
            active.add_metric(
                [kind.value, status], census.active_by_status_kind.get((status, kind.value), 0)
            )
    yield active

    held = GaugeMetricFamily(
        "studio_credits_held", "Credits held now by queued and running jobs (the ledger's holds)"
    )
    held.add_metric([], census.credits_held)
    yield held

    fresh = [w for w in census.workers if w.age_seconds <= stale_seconds]
    workers = GaugeMetricFamily(
        "studio_workers", "Workers with a recent heartbeat", labels=["kind"]
    )
    for worker_kind in sorted({w.kind for w in fresh}) or ["redis"]:
        workers.add_metric([worker_kind], sum(1 for w in fresh if w.kind == worker_kind))
    yield workers
    states = GaugeMetricFamily(
        "studio_workers_by_state",
        "Workers with a recent heartbeat, by state (waiting: for Redis, which went away)",
        labels=["state"],
    )
    for state in WORKER_STATES:  # zeros included: an alert on waiting > 0 needs the series
        states.add_metric([state], sum(1 for w in fresh if w.state == state))
    yield states
    age = GaugeMetricFamily(
        "studio_worker_heartbeat_age_seconds",
        "Seconds since each worker's last heartbeat",
        labels=["worker"],
    )
    for worker in census.workers:
        age.add_metric([worker.name], worker.age_seconds)
    yield age


def counter_families(samples: list[counters.Sample]) -> Iterator[Any]:
    from prometheus_client.core import CounterMetricFamily

    for stored, (name, help_text, labels, divisor) in COUNTERS.items():
        family = CounterMetricFamily(name, help_text, labels=labels)
        # A name this app does not know (written by a newer worker) is left out.
        mine = [sample for sample in samples if sample.name == stored]
        for sample in mine:
            family.add_metric([sample.labels.get(k, "") for k in labels], sample.total / divisor)
        if not mine and not labels:  # a counter without labels starts at 0, not absent
            family.add_metric([], 0.0)
        yield family


def duration_histogram(samples: list[counters.Sample]) -> Any:
    """Run time of rendered jobs that succeeded, per pipeline. The stored buckets are not
    cumulative (a job adds 1 to the one it fits); Prometheus's are, so they are summed here."""
    from prometheus_client.core import HistogramMetricFamily
    from prometheus_client.utils import floatToGoString

    per_bucket: dict[str, dict[float, float]] = {}
    sums: dict[str, float] = {}
    for sample in samples:
        pipeline = sample.labels.get("pipeline", "")
        if sample.name == counters.DURATION_BUCKET:
            bucket = per_bucket.setdefault(pipeline, {})
            le = float(sample.labels["le"])
            bucket[le] = bucket.get(le, 0.0) + sample.total
        elif sample.name == counters.DURATION_SUM:
            sums[pipeline] = sample.total
    histogram = HistogramMetricFamily(
        "studio_job_duration_seconds",
        "Run time (started to finished) of rendered jobs that succeeded",
        labels=["pipeline"],
    )
    for pipeline, bucket in sorted(per_bucket.items()):
        cumulative = [
            (floatToGoString(b), sum(n for le, n in bucket.items() if le <= b))
            for b in counters.DURATION_BUCKETS
        ]
        cumulative.append(("+Inf", sum(bucket.values())))
        histogram.add_metric([pipeline], cumulative, sums.get(pipeline, 0.0))
    return histogram


class RouteLabels:
    """The `route` label of a request: the path template as the client sees it
    (`/api/v1/projects/{project_id}`, `/healthz`), or `other` when no route matched, so the
    label takes a bounded set of values whatever paths are asked for.

    FastAPI keeps an included router's routes inside it, so the matched route's own `path`
    lacks the router's prefix (`/projects`); the app's flattened route table has the full
    template. A route outside that table (the Gradio app mounted at "/") gets its mount's
    prefix from the ASGI `root_path`."""

    def __init__(self, app: Any):
        self.app = app
        self._size = -1
        self._templates: dict[int, list[tuple[re.Pattern[str], str]]] = {}

    def __call__(self, scope: MutableMapping[str, Any], root_path: str) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if route is None or not isinstance(path, str):
            return OTHER
        if len(self.app.routes) != self._size:  # routes are added until the app starts
            self._index()
        candidates = self._templates.get(id(route), [])
        if len(candidates) == 1:
            return candidates[0][1]
        for pattern, template in candidates:  # one route included under two prefixes
            if pattern.match(scope.get("path", "")):
                return template
        mount = str(scope.get("root_path", ""))[len(root_path) :]
        return mount + path

    def _index(self) -> None:
        from fastapi.routing import iter_route_contexts
        from starlette.routing import compile_path

        templates: dict[int, list[tuple[re.Pattern[str], str]]] = {}
        for context in iter_route_contexts(self.app.routes):
            if context.path:
                regex = compile_path(context.path)[0]
                templates.setdefault(id(context.original_route), []).append((regex, context.path))
        self._templates, self._size = templates, len(self.app.routes)
