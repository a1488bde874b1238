"""The farm at a glance, read from the database: what /metrics reports. Every app replica
reads the same rows, so each reports the whole farm.

Gauges (queue depth, active jobs, credits held, worker heartbeats) are what the rows say now.
Counters and the run-time histogram are the running totals of studio.core.counters, added to
as events happen, so they never go down (whatever ages out or is deleted)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from credits import ledger
from studio.core import counters
from studio.core.lifecycle import ACTIVE
from studio.core.models import JobStatus, RenderJob, Worker, utcnow


@dataclass
class WorkerBeat:
    name: str
    kind: str
    age_seconds: float  # since its last heartbeat
    state: str = "idle"  # idle, busy, or waiting (for Redis)


@dataclass
class Census:
    queued_by_priority: dict[int, int] = field(default_factory=dict)
    active_by_status_kind: dict[tuple[str, str], int] = field(default_factory=dict)
    credits_held: float = 0.0  # reserved by queued and running jobs
    workers: list[WorkerBeat] = field(default_factory=list)  # every worker not stopped
    counters: list[counters.Sample] = field(default_factory=list)  # totals that only grow


def take_census(session: Session) -> Census:
    census = Census()
    for priority, queued in session.exec(
        select(RenderJob.priority, func.count())
        .where(RenderJob.status == JobStatus.queued.value)
        .group_by(col(RenderJob.priority))
    ).all():
        census.queued_by_priority[priority] = queued
    for status, kind, count in session.exec(
        select(RenderJob.status, RenderJob.kind, func.count())
        .where(col(RenderJob.status).in_(ACTIVE))
        .group_by(RenderJob.status, RenderJob.kind)
    ).all():
        census.active_by_status_kind[(status, kind)] = count
    census.credits_held = ledger.held(session) / 100
    now = utcnow()
    for worker in session.exec(select(Worker).where(Worker.state != "stopped")).all():
        age = (now - worker.heartbeat_at).total_seconds()
        census.workers.append(WorkerBeat(worker.name, worker.kind, age, worker.state))
    census.counters = counters.read(session)
    return census
