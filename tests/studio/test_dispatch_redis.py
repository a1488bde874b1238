"""What a dispatch cycle asks Redis for: the ids waiting in RQ queues, read from the queues
RQ has registered in one round trip, not one LRANGE per catalogue pipeline (issue 15).

On a private redis-server (the `redis_server` fixture), so its command counts are this
test's alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rq import Queue
from sqlalchemy.engine import Engine

from studio.farm.queues.redis import ANY_QUEUE, EXECUTE, RedisQueue, pipeline_queue, rq_job_id
from tests.farm import RedisServer


@pytest.fixture
def dispatcher(engine: Engine, redis_server: RedisServer) -> Iterator[RedisQueue]:
    names = [f"pipeline-{n}" for n in range(40)]  # a large catalogue
    queue = RedisQueue(engine, redis_server.url, pipelines=names)
    yield queue
    queue.redis.close()


def _lranges(queue: RedisQueue) -> int:
    stats = queue.redis.info("commandstats")
    return int(stats.get("cmdstat_lrange", {}).get("calls", 0))


def test_waiting_ids_reads_only_the_queues_in_use(dispatcher: RedisQueue) -> None:
    assert dispatcher.waiting_ids() == set()  # nothing registered yet: no LRANGE at all
    assert _lranges(dispatcher) == 0
    for job_id, name in ((7, pipeline_queue("pipeline-3")), (9, ANY_QUEUE), (11, ANY_QUEUE)):
        Queue(name, connection=dispatcher.redis).enqueue_call(
            EXECUTE, args=(job_id,), job_id=rq_job_id(job_id), result_ttl=0
        )
    before = _lranges(dispatcher)
    assert dispatcher.waiting_ids() == {7, 9, 11}
    assert _lranges(dispatcher) - before == 2  # the two queues in use, of 41
