"""Tasks a worker held when Redis went away are put back on their queue when it returns, not
after the visibility timeout (real Redis; the outage is a failing restore)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from kombu import Connection, Exchange, Queue
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests import services
from workers import broker_transport

pytestmark = pytest.mark.redis

URL = services.redis_url("broker-transport")
QUEUE = Queue("held", Exchange("held"), routing_key="held")


@pytest.fixture
def connection() -> Iterator[Connection]:
    services.require(services.REDIS)
    redis.Redis.from_url(URL).flushdb()
    with Connection(URL, transport=broker_transport.Transport) as opened:
        yield opened
    broker_transport._unrestored.clear()


def test_a_task_whose_restore_failed_is_put_back_by_the_next_channel(
    connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    with connection.Producer() as producer:
        producer.publish({"task": 1}, exchange=QUEUE.exchange, routing_key="held", declare=[QUEUE])
    channel = connection.channel()
    taken = connection.SimpleQueue(QUEUE, channel=channel).get(timeout=5)  # held, not acked
    client = redis.Redis.from_url(URL)
    assert client.llen("held") == 0 and client.hlen("unacked") == 1

    def redis_gone(*args: object, **kwargs: object) -> None:
        raise RedisConnectionError("Redis went away")

    monkeypatch.setattr(kombu_redis.QoS, "restore_by_tag", redis_gone)
    channel.qos.restore_unacked()  # what kombu does on connection loss; it must not raise
    assert client.llen("held") == 0, "nothing could be put back while Redis was gone"
    monkeypatch.undo()

    assert connection.channel().qos  # the worker's next channel, once Redis answers again

    assert client.llen("held") == 1 and client.hlen("unacked") == 0
    assert taken.delivery_tag not in broker_transport._unrestored


def test_without_a_failure_nothing_is_left_to_put_back(connection: Connection) -> None:
    with connection.Producer() as producer:
        producer.publish({"task": 2}, exchange=QUEUE.exchange, routing_key="held", declare=[QUEUE])
    channel = connection.channel()
    connection.SimpleQueue(QUEUE, channel=channel).get(timeout=5)

    channel.qos.restore_unacked()

    assert broker_transport._unrestored == set()
    assert redis.Redis.from_url(URL).llen("held") == 1
