"""The login throttle: a guesser waits longer and longer, the owner from another address is
never locked out, a refused attempt checks no password, and replicas share the counts through
Redis (falling back to memory, never to a 500, when Redis is gone)."""

from __future__ import annotations

import logging
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from studio import Studio
from studio.core import accounts
from studio.core.config import load_settings
from studio.core.errors import QuotaExceeded, Unauthorized
from studio.core.throttle import LoginThrottle, MemoryStore, RedisStore
from tests.farm import redis_db_url

PASSWORD = "correct-horse-9"
GUESSER, OWNER = "10.0.0.66", "10.0.0.1"
ATTEMPTS = 2  # free failures per name + address (× 4 per address)
FAST = {"login_attempts": ATTEMPTS, "login_window_seconds": 30.0}
BLOCK = 0.2  # login_backoff_max_seconds in the tests that really wait: every block is this


class Clock:
    """A monotonic clock the test moves by hand: backoff without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, *, attempts: int = ATTEMPTS, backoff_max: float = 8.0) -> LoginThrottle:
    return LoginThrottle(attempts, 30.0, backoff_max, store=MemoryStore(clock))


def waits(limiter: LoginThrottle, name: str = "alice", client: str = GUESSER) -> float:
    """The wait `check` announces (0 when it lets the attempt through)."""
    try:
        limiter.check(name, client)
    except QuotaExceeded as exc:
        assert "Too many failed logins from this address" in str(exc)
        return float(str(exc).rsplit("in ", 1)[1].split()[0])
    return 0.0


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", start_worker=False, **FAST) as s:
        s.create_user("alice", PASSWORD)
        yield s


def guess(studio: Studio, client: str = GUESSER, password: str = "not-the-password") -> Any:
    """One login; the user, or the error it raised."""
    try:
        return studio.authenticate("alice", password, client)
    except (Unauthorized, QuotaExceeded) as exc:
        return exc


# ---- the throttle on its own (a hand-moved clock) ---------------------------------------------
def test_the_wait_doubles_after_the_free_failures_and_is_capped() -> None:
    clock = Clock()
    limiter = throttle(clock, backoff_max=8.0)
    seen = []
    for _ in range(ATTEMPTS):
        limiter.failed("alice", GUESSER)
        seen.append(waits(limiter))
    for _ in range(6):
        limiter.failed("alice", GUESSER)
        wait = waits(limiter)
        seen.append(wait)
        clock.now += wait  # the guesser waits it out, then fails again
    assert seen == [0, 0, 1, 2, 4, 8, 8, 8]
    assert [limiter.delay(n) for n in (1, 2, 3, 4, 5, 10_000)] == [1, 2, 4, 8, 8, 8]


def test_the_owner_elsewhere_is_never_affected_and_a_success_clears_the_count() -> None:
    clock = Clock()
    limiter = throttle(clock)
    for _ in range(ATTEMPTS + 3):
        limiter.failed("alice", GUESSER)
    assert waits(limiter) > 0 and waits(limiter, "Alice ", GUESSER) > 0  # one name, any case
    assert waits(limiter, "alice", OWNER) == 0  # no key for a name alone
    clock.now += 4  # the block is over, the count (5) is not
    assert waits(limiter) == 0
    limiter.succeeded("alice", GUESSER)
    limiter.failed("alice", GUESSER)
    assert waits(limiter) == 0  # the count started over: this is failure 1, not 6


def test_the_count_is_forgotten_after_a_quiet_window() -> None:
    clock = Clock()
    limiter = throttle(clock)
    for _ in range(ATTEMPTS):
        limiter.failed("alice", GUESSER)
    clock.now += 31  # login_window_seconds without a failure
    limiter.failed("alice", GUESSER)
    assert waits(limiter) == 0


def test_an_address_trying_many_names_gets_four_times_the_attempts_then_waits() -> None:
    clock = Clock()
    limiter = throttle(clock)
    for n in range(4 * ATTEMPTS):
        limiter.failed(f"user{n}", GUESSER)
    assert waits(limiter, "someone-new", GUESSER) == 0
    limiter.failed("one-more", GUESSER)
    assert waits(limiter, "someone-new", GUESSER) == 1  # the address itself waits now
    assert waits(limiter, "someone-new", OWNER) == 0


def test_the_memory_store_forgets_expired_keys_instead_of_growing() -> None:
    class Small(MemoryStore):
        SWEEP_AT = 8

    clock = Clock()
    store = Small(clock)
    for n in range(100):  # a new address every second, each failing once
        store.fail(f"client:10.1.0.{n}", 5.0)
        store.block(f"client:10.1.0.{n}", 1.0)
        clock.now += 1
    assert len(store._failures) + len(store._blocked) < 20


# ---- through Studio.authenticate ------------------------------------------------------------
def test_a_refused_attempt_checks_no_password_and_counts_nothing(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    studio.throttle = throttle(clock)
    checked: list[str] = []
    real = accounts.authenticate

    def spy(session: Any, name: str, password: str) -> Any:
        checked.append(password)
        return real(session, name, password)

    monkeypatch.setattr(accounts, "authenticate", spy)
    for _ in range(ATTEMPTS + 1):
        assert isinstance(guess(studio), Unauthorized)
    assert len(checked) == ATTEMPTS + 1
    for _ in range(5):  # even the right password is not tried while the address waits
        refused = guess(studio, password=PASSWORD)
        assert isinstance(refused, QuotaExceeded) and "try again in 1 s" in str(refused)
    assert len(checked) == ATTEMPTS + 1
    assert guess(studio, OWNER, PASSWORD).name == "alice"  # the owner, meanwhile, is in
    clock.now += 1
    assert isinstance(guess(studio), Unauthorized)
    assert "try again in 2 s" in str(guess(studio))  # the next step: refusals were not counted
    clock.now += 2
    assert guess(studio, password=PASSWORD).name == "alice"


def test_the_guesser_waits_for_real_and_then_gets_in(tmp_path: Path) -> None:
    with Studio.local(
        tmp_path / "data", start_worker=False, login_backoff_max_seconds=BLOCK, **FAST
    ) as studio:
        studio.create_user("alice", PASSWORD)
        for _ in range(ATTEMPTS + 1):
            assert isinstance(guess(studio), Unauthorized)
        assert isinstance(guess(studio, password=PASSWORD), QuotaExceeded)
        assert guess(studio, OWNER, PASSWORD).name == "alice"
        time.sleep(BLOCK + 0.05)
        assert guess(studio, password=PASSWORD).name == "alice"


# ---- over HTTP, the real app --------------------------------------------------------------
def test_over_http_the_owner_logs_in_while_the_guesser_gets_429(tmp_path: Path) -> None:
    from app import create_app

    settings = load_settings(
        data_dir=tmp_path / "data",
        auth=True,
        secret_key="test-secret-for-login-throttle",
        login_backoff_max_seconds=BLOCK,
        **FAST,
    )
    application = create_app(settings)
    application.state.studio.create_user("alice", PASSWORD)

    def login(client: TestClient, password: str) -> Any:
        client.cookies.clear()
        form = {"username": "alice", "password": password, "next": "/"}
        return client.post("/login", data=form)

    with TestClient(application, follow_redirects=False, client=(OWNER, 1234)) as owner:
        guesser = TestClient(application, follow_redirects=False, client=(GUESSER, 4321))
        for _ in range(ATTEMPTS + 1):
            assert login(guesser, "not-the-password").status_code == 401
        refused = login(guesser, PASSWORD)
        assert refused.status_code == 429 and "try again in 1 s" in refused.text
        assert refused.headers["retry-after"] == "1"
        assert login(owner, PASSWORD).status_code == 303
        time.sleep(BLOCK + 0.05)
        assert login(guesser, PASSWORD).status_code == 303


# ---- Redis: replicas share the counts ---------------------------------------------------------
@pytest.fixture
def shared_redis(redis_url: str) -> str:
    return redis_db_url(redis_url, db=9)


# Long enough that a block outlasts a few password checks (argon2, slower on a busy machine).
REPLICA_BLOCK = 2.0


def replica(data: Path, url: str, secret: str) -> Studio:
    # queue="inline": the throttle uses Redis, the render queue does not need to
    return Studio.local(
        data,
        start_worker=False,
        redis_url=url,
        queue="inline",
        secret_key=secret,
        login_backoff_max_seconds=REPLICA_BLOCK,
        **FAST,
    )


def test_two_replicas_on_one_redis_share_the_count(tmp_path: Path, shared_redis: str) -> None:
    secret = secrets.token_hex(16)  # keys are HMACs under it: this test's keys are its own
    with (
        replica(tmp_path / "data", shared_redis, secret) as one,
        replica(tmp_path / "data", shared_redis, secret) as two,
    ):
        assert isinstance(one.throttle.store, RedisStore)
        one.create_user("alice", PASSWORD)
        for studio in (one, two, one):  # each replica alone has counted at most 2 of the 3
            assert isinstance(guess(studio), Unauthorized)
        assert isinstance(guess(two, password=PASSWORD), QuotaExceeded)  # blocked by one
        assert guess(two, OWNER, PASSWORD).name == "alice"
        assert isinstance(guess(one, password=PASSWORD), QuotaExceeded)
        time.sleep(REPLICA_BLOCK + 0.05)
        assert guess(two, password=PASSWORD).name == "alice"
        # A name no one could type still counts (it is only hashed), never a 500.
        with pytest.raises(Unauthorized):
            one.authenticate("x\ud800y", "wrong", GUESSER)

        from redis import Redis

        server = Redis.from_url(shared_redis, decode_responses=True)
        keys = [str(key) for key in server.keys("studio:login:*")]
        assert keys, "the counts are in Redis"
        assert not [k for k in keys if "alice" in k or GUESSER in k]  # hashed, never raw


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_without_redis_logins_count_in_memory_and_never_fail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = f"redis://127.0.0.1:{_closed_port()}/0"
    settings = load_settings(
        data_dir=tmp_path / "data",
        auth=True,
        queue="inline",
        redis_url=gone,
        secret_key="test-secret-for-login-throttle",
        login_backoff_max_seconds=BLOCK,
        **FAST,
    )
    from app import create_app

    application = create_app(settings)
    application.state.studio.create_user("alice", PASSWORD)
    form = {"username": "alice", "next": "/"}
    with (
        caplog.at_level(logging.WARNING, logger="studio.core.throttle"),
        TestClient(application, follow_redirects=False, client=(GUESSER, 1)) as client,
    ):
        codes = [
            client.post("/login", data={**form, "password": "wrong"}).status_code
            for _ in range(ATTEMPTS + 1)
        ]
        codes.append(client.post("/login", data={**form, "password": PASSWORD}).status_code)
        assert codes == [401] * (ATTEMPTS + 1) + [429]  # still throttled, in this process
        time.sleep(BLOCK + 0.05)
        assert client.post("/login", data={**form, "password": PASSWORD}).status_code == 303
    unavailable = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(unavailable) == 1  # once per outage, not once per login
