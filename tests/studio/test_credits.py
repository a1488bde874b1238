"""Credits: atomic reserve under concurrency, settle/refund exactly once, quotas — on SQLite
and on PostgreSQL (the `database_url` fixture runs each test on both)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from credits import ledger
from studio import Studio
from studio.core import dispatch, lifecycle
from studio.core.db import session_scope
from studio.core.errors import PaymentRequired, QuotaExceeded
from studio.core.models import Artifact, JobKind, JobStatus

PASSWORD = "correct-horse-9"


def open_studio(
    tmp_path: Path, database_url: str, start_worker: bool = False, **overrides: Any
) -> Studio:
    settings: dict[str, Any] = {"auth": True, "credits": True, **overrides}
    return Studio.local(
        tmp_path / "data", start_worker=start_worker, database_url=database_url, **settings
    )


@pytest.fixture
def studio(tmp_path: Path, database_url: str) -> Iterator[Studio]:
    with open_studio(tmp_path, database_url) as studio:
        studio.create_user("alice", PASSWORD)
        yield studio


def books_balance(engine: Engine, owner: str) -> None:
    """The invariants: never negative, and the balance is the sum of the ledger."""
    with session_scope(engine) as session:
        balance = ledger.balance(session, owner)
        assert balance >= 0
        assert balance == ledger.ledger_sum(session, owner)


def project_with_shots(view: Studio, count: int) -> tuple[int, list[int]]:
    project = view.create_project("Harbour")
    assert project.id is not None
    shots = [
        view.add_shot(project.id, f"A lighthouse, take {n}", duration=1.0, seed=n).id
        for n in range(count)
    ]
    return project.id, [s for s in shots if s is not None]


def test_parallel_submissions_accept_exactly_what_the_balance_covers(studio: Studio) -> None:
    alice = studio.as_user("alice")
    pid, shots = project_with_shots(alice, 16)
    cost = alice.estimate(pid, [shots[0]])
    assert cost > 0
    assert all(alice.estimate(pid, [s]) == cost for s in shots)  # equal prices per shot
    studio.grant_credits("alice", round(cost * 5.5, 2), "enough for five renders")

    accepted: list[int] = []
    refused: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(shots))

    def submit(shot_id: int) -> None:
        start.wait()
        try:
            (job,) = alice.render(pid, [shot_id])
            accepted.append(job.id or 0)
        except PaymentRequired as exc:
            refused.append(str(exc))
        except BaseException as exc:  # noqa: BLE001 - any other outcome fails the test
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(s,)) for s in shots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    assert len(accepted) == 5 and len(refused) == 11
    assert "Not enough credits" in refused[0]
    assert alice.balance() == pytest.approx(round(cost * 0.5, 2), abs=0.011)
    books_balance(studio.engine, "alice")
    # Only the accepted jobs exist: a refused submission left nothing behind.
    assert sorted(j.id for j in alice.jobs()) == sorted(accepted)


def test_success_settles_failure_and_cancel_refund_each_exactly_once(studio: Studio) -> None:
    alice = studio.as_user("alice")
    pid, shots = project_with_shots(alice, 3)
    studio.grant_credits("alice", 100, "test")
    done, failed, cancelled = (alice.render(pid, [s])[0] for s in shots)
    cost = done.cost
    assert alice.balance() == pytest.approx(100 - 3 * cost)

    engine = studio.engine
    with session_scope(engine) as session:
        job = lifecycle.claim_next(session, "w", 30)
        assert job is not None and job.id == done.id
    artifact = Artifact(key="k.png", content_type="image/png", bytes=1, sha256="0" * 64)
    for _ in range(2):  # a retried completion changes nothing
        with session_scope(engine) as session:
            lifecycle.succeed(session, done.id, artifact)
    for _ in range(2):
        with session_scope(engine) as session:
            lifecycle.fail(session, failed.id, "GPU on fire")
    for _ in range(2):
        with session_scope(engine) as session:
            lifecycle.mark_cancelled(session, cancelled.id)
    # Settle and refund directly too: the ledger itself is idempotent.
    with session_scope(engine) as session:
        assert ledger.settle(session, done.id) is None
        assert ledger.refund(session, failed.id) is None
        assert ledger.refund(session, done.id) is None

    assert alice.balance() == pytest.approx(100 - cost)
    kinds = [(e.kind, e.job_id) for e in alice.ledger()]
    assert kinds.count(("settle", done.id)) == 1
    assert kinds.count(("refund", failed.id)) == 1
    assert kinds.count(("refund", cancelled.id)) == 1
    assert ("refund", done.id) not in kinds
    books_balance(engine, "alice")


def test_cancel_through_the_api_refunds_and_retry_charges_again(studio: Studio) -> None:
    alice = studio.as_user("alice")
    pid, shots = project_with_shots(alice, 1)
    studio.grant_credits("alice", 10, "test")
    (job,) = alice.render(pid, shots)
    alice.cancel(job.id)
    assert alice.balance() == pytest.approx(10)
    again = alice.retry(job.id)
    assert again.status == JobStatus.queued.value
    assert alice.balance() == pytest.approx(10 - job.cost)
    books_balance(studio.engine, "alice")


def test_retry_without_credits_is_refused_and_leaves_the_job_cancelled(studio: Studio) -> None:
    alice = studio.as_user("alice")
    pid, shots = project_with_shots(alice, 2)
    studio.grant_credits("alice", alice.estimate(pid, shots[:1]), "exactly one render")
    (first,) = alice.render(pid, shots[:1])
    alice.cancel(first.id)
    (_second,) = alice.render(pid, shots[1:])  # spends the refunded credits
    with pytest.raises(PaymentRequired):
        alice.retry(first.id)
    assert alice.job(first.id).status == JobStatus.cancelled.value
    assert alice.balance() == 0
    books_balance(studio.engine, "alice")


def test_a_batch_takes_its_holds_at_once(studio: Studio) -> None:
    """A render of 12 shots is one transaction, and its credits cost the same few statements
    as one job's: the owner's account locked and charged once for the sum, the holds and
    the entries inserted together (it was ~5 statements per job: 12 account reads, one
    per job, before that). The ledger still has an entry per job, in order, each with the
    balance after it."""
    from sqlalchemy import event

    alice = studio.as_user("alice")
    pid, _shots = project_with_shots(alice, 12)
    studio.grant_credits("alice", 100, "test")
    credit_statements: list[str] = []
    tables = ("creditaccount", "credithold", "ledgerentry")

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if any(table in statement.lower() for table in tables):
            credit_statements.append(statement)

    event.listen(studio.engine, "before_cursor_execute", seen)
    try:
        jobs = alice.render(pid)
    finally:
        event.remove(studio.engine, "before_cursor_execute", seen)
    assert len(jobs) == 12
    locks = [r for r in credit_statements if "FOR UPDATE" in r.upper()]
    assert len(locks) <= 1  # (SQLite has no FOR UPDATE: its write transaction is the lock)
    # Lock, charge, read the balance back, insert the holds, insert the entries.
    assert len(credit_statements) <= 5, credit_statements
    with session_scope(studio.engine) as session:
        entries = ledger.entries(session, "alice")[::-1]
        held = ledger.held(session, "alice")
    reserves = [e for e in entries if e.kind == "reserve"]
    assert [e.job_id for e in reserves] == [j.id for j in jobs]
    assert [-e.amount_cents for e in reserves] == [ledger.to_cents(j.cost) for j in jobs]
    balance = 10_000
    for entry in reserves:
        balance += entry.amount_cents
        assert entry.balance_after_cents == balance
    assert alice.balance() * 100 == pytest.approx(balance)
    assert held == sum(ledger.to_cents(j.cost) for j in jobs)
    books_balance(studio.engine, "alice")


def test_an_unaffordable_batch_is_refused_whole(studio: Studio) -> None:
    alice = studio.as_user("alice")
    pid, _shots = project_with_shots(alice, 4)
    cost = alice.estimate(pid)
    studio.grant_credits("alice", round(cost * 0.75, 2), "not quite enough")
    # The refusal names what the estimate showed for the whole batch, not one job's price.
    with pytest.raises(PaymentRequired, match="Not enough credits") as refused:
        alice.render(pid)
    assert f"these 4 clips cost {cost:,.2f} credits;" in str(refused.value)
    assert f"your balance is {cost * 0.75:,.2f} credits" in str(refused.value)
    assert alice.jobs() == []
    assert alice.balance() == pytest.approx(round(cost * 0.75, 2))
    books_balance(studio.engine, "alice")


def test_cache_hits_cost_what_the_policy_says(tmp_path: Path, database_url: str) -> None:
    for price, expect_charge in ((0.0, False), (0.5, True)):
        data = tmp_path / f"price-{price}"
        with open_studio(data, database_url, price_cache_hit=price, start_worker=True) as studio:
            name = f"alice{int(price * 10)}"  # one database for both rounds on PostgreSQL
            studio.create_user(name, PASSWORD)
            alice = studio.as_user(name)
            pid, shots = project_with_shots(alice, 1)
            studio.grant_credits(name, 10, "test")
            (first,) = alice.render(pid, shots, wait=True, progress=False)
            assert first.status == JobStatus.succeeded.value and not first.cache_hit
            before = alice.balance()
            (hit,) = alice.render(pid, shots)
            assert hit.cache_hit and hit.status == JobStatus.succeeded.value
            charged = before - alice.balance()
            assert charged == pytest.approx(round(first.cost * price, 2), abs=0.011)
            assert (charged > 0) is expect_charge
            books_balance(studio.engine, name)
    # A refused batch says how many of its renders the cache would serve.
    with open_studio(tmp_path / "refused", database_url, start_worker=True) as studio:
        studio.create_user("cara", PASSWORD)
        cara = studio.as_user("cara")
        pid, shots = project_with_shots(cara, 3)
        studio.grant_credits("cara", cara.estimate(pid, shots[:1]), "one shot's worth")
        cara.render(pid, shots[:1], wait=True, progress=False)
        with pytest.raises(PaymentRequired, match=r"these 3 clips cost .* 1 of them served"):
            cara.render(pid)


def test_queued_quota_refuses_with_a_clear_message(tmp_path: Path, database_url: str) -> None:
    with open_studio(tmp_path, database_url, max_queued_per_user=2) as studio:
        studio.create_user("alice", PASSWORD)
        studio.grant_credits("alice", 100, "test")
        alice = studio.as_user("alice")
        pid, shots = project_with_shots(alice, 3)
        alice.render(pid, shots[:2])
        with pytest.raises(QuotaExceeded, match=r"2 jobs waiting in the queue.*\(2\)"):
            alice.render(pid, shots[2:])
        assert len(alice.jobs()) == 2
        assert alice.balance() == pytest.approx(100 - 2 * alice.jobs()[0].cost)
        # One call over the quota (a batch counts its own jobs): refused whole.
        studio.create_user("bob", PASSWORD)
        studio.grant_credits("bob", 100, "test")
        bob = studio.as_user("bob")
        bob_pid, _shots = project_with_shots(bob, 3)
        with pytest.raises(QuotaExceeded, match=r"2 jobs waiting in the queue"):
            bob.render(bob_pid)
        assert bob.jobs() == [] and bob.balance() == 100


def test_running_quota_holds_back_a_users_extra_jobs(studio: Studio) -> None:
    studio.grant_credits("alice", 100, "test")
    studio.create_user("bob", PASSWORD)
    studio.grant_credits("bob", 100, "test")
    alice, bob = studio.as_user("alice"), studio.as_user("bob")
    a_pid, _a_shots = project_with_shots(alice, 4)
    b_pid, _b_shots = project_with_shots(bob, 1)
    alice.render(a_pid)
    bob.render(b_pid)
    with session_scope(studio.engine) as session:
        order = dispatch.dispatch_order(session, limit=10, max_running=2)
    owners = [job.owner for job in order]
    assert owners.count("alice") == 2 and owners.count("bob") == 1
    with session_scope(studio.engine) as session:
        lifecycle.claim_job(session, order[0].id, "w", 30)  # type: ignore[arg-type]
        # One of alice's is running now: one more of hers may go out, none beyond.
        rest = dispatch.dispatch_order(session, limit=10, max_running=1)
    assert [j.owner for j in rest].count(order[0].owner) == 0


def test_credits_off_charges_nothing(tmp_path: Path) -> None:
    with Studio.local(tmp_path, start_worker=False) as studio:  # dev: auth and credits off
        project = studio.create_project("Free")
        assert project.id is not None
        studio.add_shot(project.id, "A lighthouse", duration=1.0)
        (job,) = studio.render(project.id)
        assert job.cost > 0  # priced, for information
        assert studio.ledger() == []


@pytest.mark.parametrize("with_claim", [False, True], ids=["succeed", "succeed-and-claim"])
def test_a_success_settles_by_the_jobs_hold_not_by_the_setting(
    tmp_path: Path, database_url: str, with_claim: bool
) -> None:
    """A job submitted with credits on is settled when it succeeds, even after credits were
    switched off; one that holds nothing (credits off at its submit) costs its success no
    statement of the ledger's (the success's own statement tells, issue 15). The same
    through a farm worker's success with its next claim (one statement on PostgreSQL)."""
    with open_studio(tmp_path, database_url) as studio:
        studio.create_user("alice", PASSWORD)
        studio.grant_credits("alice", 100, "test")
        alice = studio.as_user("alice")
        pid, (held_shot,) = project_with_shots(alice, 1)
        (held,) = alice.render(pid, [held_shot])
    with open_studio(tmp_path, database_url, credits=False) as studio:
        alice = studio.as_user("alice")
        free_shot = alice.add_shot(pid, "A lighthouse, free", duration=1.0, seed=9).id
        assert free_shot is not None
        (free,) = alice.render(pid, [free_shot])
        statements: list[str] = []

        def on_statement(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            statements.append(statement)

        for job in (held, free):
            statements.clear()
            with session_scope(studio.engine) as session:
                claimed = lifecycle.claim_job(session, job.id, "w", 30)
                assert claimed is not None
            event.listen(studio.engine, "before_cursor_execute", on_statement)
            try:
                with session_scope(studio.engine) as session:
                    artifact = Artifact(key=f"{job.id}.png", content_type="image/png", bytes=1,
                                        sha256="0" * 64)  # fmt: skip
                    if with_claim:  # (no job has id 0: the claim finds none)
                        claiming = lifecycle.Claim(0, "w", 30)
                        lifecycle.succeed_and_claim(session, job.id, artifact, claiming)
                    else:
                        lifecycle.succeed(session, job.id, artifact)
            finally:
                event.remove(studio.engine, "before_cursor_execute", on_statement)
            ledger_statements = [s for s in statements if "credithold" in s.split("WHERE")[0]]
            assert bool(ledger_statements) is (job is held)
        kinds = [(e.kind, e.job_id) for e in alice.ledger()]
        assert kinds.count(("settle", held.id)) == 1
        assert not [k for k in kinds if k[1] == free.id]
        assert alice.balance() == pytest.approx(100 - held.cost)
        books_balance(studio.engine, "alice")


def test_job_kinds_are_priced_from_their_params(studio: Studio) -> None:
    alice = studio.as_user("alice")
    pid, _shots = project_with_shots(alice, 1)
    assert alice.estimate(pid, kind=JobKind.preview.value) < alice.estimate(pid)


def test_metrics_report_held_credits_and_count_each_movement(studio: Studio) -> None:
    """`studio_credits_held` is the ledger's holds now; the counters add each reserve, settle
    and refund once, as it happens."""
    from prometheus_client import CollectorRegistry, generate_latest

    from studio.web.metrics import StudioCollector

    alice = studio.as_user("alice")
    pid, shots = project_with_shots(alice, 1)
    studio.grant_credits("alice", 10, "test")
    registry = CollectorRegistry()
    registry.register(StudioCollector(studio))

    def scraped() -> str:
        return generate_latest(registry).decode()

    (job,) = alice.render(pid, shots)
    assert job.cost > 0
    text = scraped()
    assert f"studio_credits_held {job.cost}" in text
    assert f"studio_credits_reserved_total {job.cost}" in text
    assert "studio_credits_settled_total 0.0" in text  # nothing spent yet
    alice.cancel(job.id)
    text = scraped()
    assert "studio_credits_held 0.0" in text
    assert f"studio_credits_refunded_total {job.cost}" in text
    alice.retry(job.id)  # reserves again: the counter grows, it is not the held amount
    text = scraped()
    assert f"studio_credits_reserved_total {2 * job.cost}" in text
    assert f"studio_credits_held {job.cost}" in text
    assert 'studio_jobs_retried_total{kind="clip"} 1.0' in text


def test_a_new_owners_first_submissions_may_race(engine: Engine) -> None:
    """Concurrent first uses of an account create it once, without a key conflict."""
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def first_use() -> None:
        start.wait()
        try:
            with session_scope(engine, write=True) as session:
                ledger.lock_account(session, "newcomer")
        except BaseException as exc:  # noqa: BLE001 - any failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with session_scope(engine) as session:
        assert ledger.balance(session, "newcomer") == 0


def test_a_batch_that_skips_its_holds_never_commits(studio: Studio) -> None:
    """The safety net under the batched holds: jobs submitted with billing whose holds were
    never taken (`holds.reserve_submitted`) would render for free; their transaction
    refuses to commit, and nothing of it is kept."""
    alice = studio.as_user("alice")
    pid, shots = project_with_shots(alice, 2)
    studio.grant_credits("alice", 100, "test")
    with (
        pytest.raises(RuntimeError, match="not reserved"),
        session_scope(studio.engine) as session,
    ):
        for n, shot in enumerate(shots):
            lifecycle.submit(
                session,
                kind=JobKind.preview,
                project_id=pid,
                shot_id=shot,
                params={"n": n},
                owner="alice",
                cost=1.0,
                billing=True,
                flush=False,
            )
    assert alice.jobs() == []
    assert alice.balance() == 100
    books_balance(studio.engine, "alice")
