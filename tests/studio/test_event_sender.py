"""A worker's live events (progress, "finished") leave from a thread of their own
(`EventSender`): a render never waits for a Redis round trip, and a slow or paused Redis
holds up nothing. Events keep their order; a stopping worker sends what is still waiting.

On a private redis-server (the `redis_server` fixture), which the test pauses."""

from __future__ import annotations

import json
import time
from typing import Any

from studio.farm.queues.redis import EVENTS_CHANNEL, EventSender, connect
from tests.farm import RedisServer


def _listen(url: str) -> Any:
    listener = connect(url).pubsub()
    listener.subscribe(EVENTS_CHANNEL)
    # The server's answer: from here on, everything published reaches the listener.
    confirmed = listener.get_message(timeout=5.0)
    assert confirmed is not None and confirmed["type"] == "subscribe"
    return listener


def _received(listener: Any, count: int, timeout: float = 10.0) -> list[int]:
    jobs: list[int] = []
    deadline = time.monotonic() + timeout
    while len(jobs) < count and time.monotonic() < deadline:
        message = listener.get_message(timeout=0.2)
        if message is not None and message["type"] == "message":
            jobs.append(json.loads(message["data"])["job"])
    return jobs


def test_events_go_out_in_order_and_a_stop_sends_what_waits(redis_server: RedisServer) -> None:
    listener = _listen(redis_server.url)
    sender = EventSender(connect(redis_server.url))
    for n in range(300):
        sender({"job": n, "progress": n / 300})
    sender.close()  # the worker stops right after its last job
    assert _received(listener, 300) == list(range(300))


def test_a_paused_redis_holds_up_no_render(redis_server: RedisServer) -> None:
    """Redis busy (here: every client paused for 3 s): publishing returns at once, and the
    events follow when Redis answers again, the oldest dropped past the sender's limit."""
    listener = _listen(redis_server.url)
    sender = EventSender(connect(redis_server.url), limit=5)
    admin = connect(redis_server.url)
    admin.client_pause(3000, all=True)
    started = time.monotonic()
    for n in range(20):
        sender({"job": n})
    # A publish that waited for Redis would take the pause's 3 s here.
    assert time.monotonic() - started < 1.0
    received = _received(listener, 20, timeout=8.0)
    assert received[-5:] == list(range(15, 20))  # the newest five, in order
    assert len(received) < 20  # the oldest waiting ones were dropped
    sender.close()
