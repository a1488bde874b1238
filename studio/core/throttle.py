"""Failed logins, counted so that guessing slows down while the owner can still get in.

Two keys per attempt:
- name + client address: one guesser at one account from one address;
- client address alone: one address trying many names (CLIENT_FACTOR × the free attempts,
  since many people can share an address behind one NAT).

There is deliberately no key for a name alone. Such a key is filled by anyone, from
anywhere, so a stranger typing wrong passwords would lock the owner out of their account.
Keyed by name + address, the guesser waits and the owner, from their own address, does not.

A key gets `attempts` free failures; the count is forgotten `window` seconds after its last
failure. Each failure beyond them blocks the key for base, 2 × base, 4 × base …
(at most `backoff_max`) seconds. An attempt while blocked is refused before the password
is checked and is not counted, so waiting is the only way on, and the owner is never locked
out for longer than `backoff_max`. A success clears its name + address key (not the
address's: logging into one's own account must not reset the count of guessing at others).

The counts live in a `ThrottleStore`: in this process (`MemoryStore`), or in Redis
(`RedisStore`, when `redis_url` is set) so that every app replica shares them. If Redis
cannot be reached the throttle counts in memory for that call: logging in never fails
because Redis blinked.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from studio.core.errors import QuotaExceeded

if TYPE_CHECKING:
    from studio.core.config import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

PREFIX = "studio:login:"
CLIENT_FACTOR = 4  # an address may fail this many times more often than one name from it
MAX_DOUBLINGS = 40  # 2 ** 40 × base is past any sensible cap; keeps the float finite


class StoreUnavailable(Exception):
    """The store cannot be reached (Redis down or restarting): count elsewhere this time."""


class ThrottleStore(Protocol):
    """Where failure counts and blocks live. Keys are opaque strings built by the throttle."""

    def wait(self, keys: Sequence[str]) -> float:
        """Seconds until the last of these keys stops being blocked (0: none is)."""
        ...

    def fail(self, key: str, window: float) -> int:
        """Count one failure; the number counted since the key was last quiet `window` s."""
        ...

    def block(self, key: str, seconds: float) -> None:
        """Refuse this key for `seconds`."""
        ...

    def clear(self, key: str) -> None:
        """Forget the key's failures and block."""
        ...


class MemoryStore:
    """Counts in this process (dicts under a lock, monotonic time): each replica on its own."""

    SWEEP_AT = 4096  # entries before expired ones are dropped (many addresses, no growth)

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # key → (count, forgotten at)
        self._blocked: dict[str, float] = {}  # key → blocked until
        self._lock = threading.Lock()
        self._sweep_at = self.SWEEP_AT

    def wait(self, keys: Sequence[str]) -> float:
        now = self._clock()
        with self._lock:
            return max([0.0, *(self._blocked.get(key, now) - now for key in keys)])

    def fail(self, key: str, window: float) -> int:
        now = self._clock()
        with self._lock:
            count, forgotten_at = self._failures.get(key, (0, now))
            count = count + 1 if forgotten_at > now else 1
            self._failures[key] = (count, now + window)
            self._sweep(now)
            return count

    def block(self, key: str, seconds: float) -> None:
        with self._lock:
            self._blocked[key] = self._clock() + seconds

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
            self._blocked.pop(key, None)

    def _sweep(self, now: float) -> None:
        # Under the lock. Amortised: a full pass only each time the dicts have doubled.
        if len(self._failures) + len(self._blocked) < self._sweep_at:
            return
        self._failures = {k: v for k, v in self._failures.items() if v[1] > now}
        self._blocked = {k: until for k, until in self._blocked.items() if until > now}
        self._sweep_at = max(self.SWEEP_AT, 2 * (len(self._failures) + len(self._blocked)))


class RedisStore:
    """Counts in Redis, shared by every replica: INCR + PEXPIRE on `…fail:<key>`, SET PX on
    `…block:<key>`, PTTL to read the wait, DEL on success. Keys are HMACs of the throttle's
    keys under `secret`, so Redis holds no user names or addresses (and a dictionary of
    names does not reveal them: the secret is needed)."""

    def __init__(self, url: str, secret: str, *, prefix: str = PREFIX):
        from redis import Redis
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError
        from redis.retry import Retry

        # Short timeouts and one retry (a pooled connection gone stale after a restart):
        # a login waits a second or two at most before counting in memory instead.
        self._redis: Any = Redis.from_url(
            url, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 1)
        )
        self._errors: tuple[type[Exception], ...] = (RedisError,)
        self._secret, self._prefix = secret.encode(), prefix

    def wait(self, keys: Sequence[str]) -> float:
        with self._translated():
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.pttl(self._key("block", key))
            millis = pipe.execute()
        return max((m / 1000 for m in millis if m > 0), default=0.0)  # -2: none, -1: no TTL

    def fail(self, key: str, window: float) -> int:
        name = self._key("fail", key)
        with self._translated():
            pipe = self._redis.pipeline(transaction=True)  # never a count without expiry
            pipe.incr(name)
            pipe.pexpire(name, _millis(window))
            count, _ = pipe.execute()
        return int(count)

    def block(self, key: str, seconds: float) -> None:
        with self._translated():
            self._redis.set(self._key("block", key), 1, px=_millis(seconds))

    def clear(self, key: str) -> None:
        with self._translated():
            self._redis.delete(self._key("fail", key), self._key("block", key))

    def _key(self, kind: str, key: str) -> str:
        # surrogatepass: a name no one can type is still a key (it fails as a login, not here)
        raw = key.encode("utf-8", "surrogatepass")
        digest = hmac.new(self._secret, raw, hashlib.sha256).hexdigest()[:32]
        return f"{self._prefix}{kind}:{digest}"

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            raise StoreUnavailable(str(exc)) from exc


def _millis(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class LoginThrottle:
    """Failed logins per name + client address and per client address, with backoff."""

    def __init__(
        self,
        attempts: int,
        window: float,
        backoff_max: float,
        *,
        store: ThrottleStore | None = None,
        base: float = 1.0,
    ):
        self.attempts, self.window = attempts, window
        self.backoff_max, self.base = backoff_max, base
        self.memory = MemoryStore()
        self.store: ThrottleStore = store or self.memory
        self._store_down = False  # warn once per outage, not once per login

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        store = None
        if settings.redis_url:
            secret = settings.secret_key.get_secret_value()
            store = RedisStore(settings.redis_url, secret)
        return cls(
            settings.login_attempts,
            settings.login_window_seconds,
            settings.login_backoff_max_seconds,
            store=store,
        )

    # ---- the three steps of a login ---------------------------------------------------------
    def check(self, name: str, client: str) -> None:
        """QuotaExceeded while this name from this address, or this address, must wait."""
        wait = self._use(lambda store: store.wait(self._keys(name, client)))
        if wait > 0:
            seconds = math.ceil(wait)
            raise QuotaExceeded(
                f"Too many failed logins from this address; try again in {seconds} s", seconds
            )

    def failed(self, name: str, client: str) -> None:
        """Count a failure on both keys; past the free ones, block each for its delay."""

        def count(store: ThrottleStore) -> None:
            for key, free in zip(self._keys(name, client), self._free(), strict=True):
                over = store.fail(key, self.window) - free
                if over > 0:
                    store.block(key, self.delay(over))

        self._use(count)

    def succeeded(self, name: str, client: str) -> None:
        """The owner is in: forget the failures of this name from this address."""
        self._use(lambda store: store.clear(self._keys(name, client)[0]))

    def delay(self, over: int) -> float:
        """The wait after the `over`-th failure beyond the free ones: 1, 2, 4 … × base."""
        return min(self.backoff_max, self.base * 2.0 ** min(over - 1, MAX_DOUBLINGS))

    # ---- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _keys(name: str, client: str) -> tuple[str, str]:
        # The name as accounts.authenticate reads it, so "Alice " and "alice" are one key;
        # it goes last, so no typed name can make one address's key look like another's.
        # An empty client (no address known) is one address of its own.
        user = str(name).strip().lower()
        return f"client:{client}|name:{user}", f"client:{client}"

    def _free(self) -> tuple[int, int]:
        return self.attempts, self.attempts * CLIENT_FACTOR

    def _use(self, step: Callable[[ThrottleStore], T]) -> T:
        """Run one step on the store, or wholly in memory when the store cannot be reached."""
        if self.store is self.memory:
            return step(self.memory)
        try:
            result = step(self.store)
        except StoreUnavailable as exc:
            if not self._store_down:
                log.warning("login throttle: Redis unavailable, counting in memory (%s)", exc)
            self._store_down = True
            return step(self.memory)
        if self._store_down:
            log.info("login throttle: Redis is back")
        self._store_down = False
        return result
