"""The farm at a glance, read from the database: what /metrics reports. Every app replica
reads the same rows, so each reports the whole farm."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from credits import ledger
from studio.core.models import JobStatus, RenderJob, Worker, utcnow


@dataclass
class WorkerBeat:
    name: str
    kind: str
    age_seconds: float  # since its last heartbeat


@dataclass
class Census:
    queued_by_priority: dict[int, int] = field(default_factory=dict)
    jobs_by_status_kind: dict[tuple[str, str], int] = field(default_factory=dict)
    # Run times (s) of the jobs rendered (not cache hits) in the last 24 h, per pipeline.
    durations: dict[str, list[float]] = field(default_factory=dict)
    credits_reserved: float = 0.0  # held by queued and running jobs
    credits_settled: float = 0.0  # spent by finished ones
    workers: list[WorkerBeat] = field(default_factory=list)  # every worker not stopped


def take_census(session: Session) -> Census:
    census = Census()
    for priority, queued in session.exec(
        select(RenderJob.priority, func.count())
        .where(RenderJob.status == JobStatus.queued.value)
        .group_by(col(RenderJob.priority))
    ).all():
        census.queued_by_priority[priority] = queued
    for status, kind, count in session.exec(
        select(RenderJob.status, RenderJob.kind, func.count()).group_by(
            RenderJob.status, RenderJob.kind
        )
    ).all():
        census.jobs_by_status_kind[(status, kind)] = count
    since = utcnow() - timedelta(hours=24)
    rows = session.exec(
        select(RenderJob.params, RenderJob.started_at, RenderJob.finished_at)
        .where(RenderJob.status == JobStatus.succeeded.value, RenderJob.cache_hit == False)  # noqa: E712
        .where(col(RenderJob.finished_at) >= since)
    ).all()
    for params, started, finished in rows:
        if started and finished:
            name = (params or {}).get("pipeline", {}).get("name", "unknown")
            census.durations.setdefault(name, []).append((finished - started).total_seconds())
    census.credits_reserved = ledger.held(session) / 100
    census.credits_settled = ledger.spent(session) / 100
    now = utcnow()
    for worker in session.exec(select(Worker).where(Worker.state != "stopped")).all():
        age = (now - worker.heartbeat_at).total_seconds()
        census.workers.append(WorkerBeat(worker.name, worker.kind, age))
    return census
