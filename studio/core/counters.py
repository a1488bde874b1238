"""Farm-wide counters that only grow, for /metrics: jobs submitted, retried and finished, the
run time of rendered jobs (a histogram), render-cache hits and credits moved.

Jobs finish in worker processes, possibly on other machines, so a counter kept in the app's
memory would miss them, and one rebuilt from the jobs table at scrape time goes down as rows
age out or are deleted (breaking Prometheus's `rate()`). Instead the lifecycle adds to a row
of `FarmCounter` at the moment of each event, in the transaction of the state change itself:
a rolled-back change counts nothing, a repeated completion (a no-op) counts nothing, and every
app replica reads the same totals. The events of one transaction are summed in the session
and written as it commits, one row per counter in one batch:
`INSERT … ON CONFLICT DO UPDATE SET total = total + excluded.total` (atomic on SQLite and
PostgreSQL alike), so a batch of 300 submissions costs a few rows, not 300.

The counters start at zero when migration 0015 creates the table; jobs finished before then
are not counted. Gauges (queue depth, workers, credits held) are read at scrape time instead
(studio.core.census): a gauge is a "now", which the database answers directly.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, event
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Field, Session, SQLModel, col, select

from credits.ledger import LedgerEntry, to_cents
from studio.core.models import JobStatus, RenderJob

# The Prometheus family names (a counter's exposed name adds `_total`).
SUBMITTED = "studio_jobs_submitted"
RETRIED = "studio_jobs_retried"
FINISHED = "studio_jobs_finished"
CACHE_HITS = "studio_render_cache_hits"
DURATION_BUCKET = "studio_job_duration_seconds_bucket"  # per bucket, not cumulative
DURATION_SUM = "studio_job_duration_seconds_sum"
# Credits are counted in cents, exact in a float column (the scrape shows credits).
CREDITS = {
    "reserved": "studio_credits_reserved_cents",
    "settled": "studio_credits_settled_cents",
    "refunded": "studio_credits_refunded_cents",
}
# Upper bounds (s) of the run-time buckets. Each job adds 1 to the first bucket it fits, and
# the scrape sums them up (Prometheus buckets are cumulative): so changing these bounds later
# keeps every exposed bucket monotonic.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
INF = "+Inf"


class FarmCounter(SQLModel, table=True):
    """One counter (or one histogram part) with one set of labels, as a running total."""

    name: str = Field(primary_key=True, max_length=100)
    labels: str = Field(primary_key=True, max_length=300)  # JSON object, keys sorted
    total: float = Field(default=0.0, sa_column=Column(Float, nullable=False, default=0.0))


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    total: float


def job_submitted(session: Session, job: RenderJob, *, reserved: bool) -> None:
    """A new job was accepted (`reserved`: its cost was held). A render-cache hit is accepted
    already succeeded (and, when priced, settled), so it counts as finished too."""
    adds = [(SUBMITTED, {"kind": job.kind}, 1.0), *_credits("reserved", job, reserved)]
    if job.cache_hit:
        adds += [(CACHE_HITS, {"kind": job.kind}, 1.0), _finished(job)]
        adds += _credits("settled", job, reserved)
    add(session, adds)


def job_retried(session: Session, job: RenderJob, *, reserved: bool) -> None:
    add(session, [(RETRIED, {"kind": job.kind}, 1.0), *_credits("reserved", job, reserved)])


def job_finished(session: Session, job: RenderJob, *, released: LedgerEntry | None) -> None:
    """`job` has just succeeded, failed or been cancelled; `released` is what the ledger
    settled or refunded for it (None: it held nothing). A succeeded render adds its run time
    to the histogram (cache hits have none: they are counted when submitted)."""
    moved = "settled" if job.status == JobStatus.succeeded.value else "refunded"
    adds = [_finished(job), *_credits(moved, job, released is not None)]
    if job.status == JobStatus.succeeded.value and job.started_at and job.finished_at:
        seconds = max(0.0, (job.finished_at - job.started_at).total_seconds())
        le = next((str(b) for b in DURATION_BUCKETS if seconds <= b), INF)
        adds.append((DURATION_BUCKET, {"pipeline": pipeline_of(job), "le": le}, 1.0))
        adds.append((DURATION_SUM, {"pipeline": pipeline_of(job)}, seconds))
    add(session, adds)


def _finished(job: RenderJob) -> tuple[str, dict[str, str], float]:
    labels = {"kind": job.kind, "pipeline": pipeline_of(job), "status": job.status}
    return (FINISHED, labels, 1.0)


def _credits(moved: str, job: RenderJob, happened: bool) -> list[tuple[str, dict[str, str], float]]:
    # A job's hold is its cost (lifecycle reserves exactly that), in whole cents.
    cents = to_cents(job.cost)
    return [(CREDITS[moved], {}, float(cents))] if happened and cents else []


def pipeline_of(job: RenderJob) -> str:
    """The catalogue entry that rendered `job` (films: "assembly"): a bounded label."""
    name = (job.params or {}).get("pipeline", {}).get("name") or "unknown"
    return str(name)[:100]


def add(session: Session, adds: Iterable[tuple[str, dict[str, str], float]]) -> None:
    """Add to each counter in the caller's transaction: summed in the session, written when
    it commits (`write_pending`), dropped if it rolls back."""
    totals: dict[tuple[str, str], float] = session.info.setdefault(_PENDING, {})
    for name, labels, amount in adds:
        key = (name, json.dumps(labels, sort_keys=True, separators=(",", ":")))
        totals[key] = totals.get(key, 0.0) + amount


_PENDING = "studio.counters.pending"


@event.listens_for(OrmSession, "before_commit")
def write_pending(session: OrmSession) -> None:
    """The transaction's counter additions, one upsert per counter in one batch (the
    statement is built once per dialect: every finished job runs it). Run as the session
    commits; called before, it writes what was added so far (a worker's rehearsal)."""
    totals = session.info.pop(_PENDING, None)
    if not totals:
        return
    # Rows in one order in every transaction: two PostgreSQL transactions that add to the
    # same counters lock their rows in the same order, so they queue instead of deadlocking.
    rows = [{"name": n, "labels": lb, "total": t} for (n, lb), t in sorted(totals.items())]
    connection = session.connection()
    connection.execute(_upsert(connection.dialect.name), rows)


@functools.cache
def _upsert(dialect: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(FarmCounter)
    return statement.on_conflict_do_update(
        index_elements=["name", "labels"],
        set_={"total": col(FarmCounter.total) + statement.excluded.total},
    )


@event.listens_for(OrmSession, "after_soft_rollback")
def _drop_pending(session: OrmSession, previous: SessionTransaction) -> None:
    if previous.parent is None:  # the whole transaction (not a savepoint): it counts nothing
        session.info.pop(_PENDING, None)


def read(session: Session) -> list[Sample]:
    """Every counter's running total (the scrape)."""
    rows = session.exec(
        select(FarmCounter).order_by(col(FarmCounter.name), col(FarmCounter.labels))
    )
    return [Sample(row.name, json.loads(row.labels), row.total) for row in rows.all()]
