"""Requests per minute per caller (API token, or user for browser sessions): a token bucket.

In-process: each app replica counts on its own (the login throttle, studio.core.throttle,
is shared through Redis)."""

from __future__ import annotations

import hashlib
import math
import threading
import time

from fastapi import Request
from starlette.exceptions import HTTPException


class RateLimiter:
    def __init__(self, per_minute: int):
        self.rate = per_minute / 60.0  # tokens added per second
        self.burst = float(per_minute)  # a full minute's worth may come at once
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one request's token; returns 0, or the seconds to wait when none is left."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


def caller_key(request: Request, user: str) -> str:
    """Each API token has its own budget; browser sessions share their user's."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:16]
    return f"user:{user}"


def check(limiter: RateLimiter, request: Request, user: str) -> None:
    wait = limiter.take(caller_key(request, user))
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(
            429,
            f"Too many requests: at most {round(limiter.burst)} a minute per API token; "
            f"retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
