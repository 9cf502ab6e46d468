"""A consumer loop's metrics count what its core decided: read, delivered, dead-lettered (by
reason), paused, waiting and lagging, on an in-memory Kafka; and `/metrics` serves them."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from kafka.errors import KafkaConnectionError
from prometheus_client.parser import text_string_to_metric_families

from marketplace.consumer.dead_letter import DeadLetterUnavailable
from marketplace.consumer.metrics import ConsumerMetrics
from marketplace.consumer.probes import serving
from tests.consumer.test_loop import TOPIC, Clock, Loop, no_waiting, records, started

__all__ = ["no_waiting"]  # the autouse fixture, for this module too


def value(loop: Loop, name: str, **labels: str) -> float | None:
    return loop.metrics.families.registry.get_sample_value(
        f"marketplace_consumer_{name}", {"group": loop.metrics.group, **labels}
    )


def test_each_record_is_counted_once_as_read_and_once_as_delivered_or_dead_lettered() -> None:
    loop, kafka, _ = started()
    records(kafka, 0, b"a", b"bad", b"c")
    records(kafka, 1, b"x")

    loop.step()

    assert value(loop, "records_read_total", topic=TOPIC) == 4
    assert value(loop, "records_delivered_total", topic=TOPIC) == 3
    assert value(loop, "dead_letters_total", topic=TOPIC, reason="EnvelopeError") == 1
    assert value(loop, "batch_records_count") == 1
    assert value(loop, "batch_records_sum") == 4
    assert value(loop, "delivery_seconds_count") == 1
    assert value(loop, "partition_lag_records", topic=TOPIC, partition="0") == 0
    assert value(loop, "kafka_reachable") == 1


def test_a_partition_waiting_for_a_retry_lags_by_what_it_has_not_committed() -> None:
    loop, kafka, clock = started()
    records(kafka, 0, b"a", b"b", b"c")
    loop.retry = {b"b"}

    loop.step()

    assert value(loop, "records_delivered_total", topic=TOPIC) == 1
    assert value(loop, "partition_lag_records", topic=TOPIC, partition="0") == 2
    assert value(loop, "partitions_waiting_retry") == 1
    clock.now = 5.0
    loop.step()
    assert value(loop, "records_delivered_total", topic=TOPIC) == 3
    assert value(loop, "records_read_total", topic=TOPIC) == 5, "b and c were read twice"
    assert value(loop, "partition_lag_records", topic=TOPIC, partition="0") == 0
    assert value(loop, "partitions_waiting_retry") == 0


def test_a_revoked_partition_loses_its_lag_series() -> None:
    loop, kafka, _ = started()
    records(kafka, 0, b"a")
    records(kafka, 1, b"x")
    loop.step()

    loop.on_revoked([loop.consumer.assignment().pop()])
    loop.consumer.assignment = lambda: set()  # type: ignore[method-assign]
    loop.step()

    assert value(loop, "partition_lag_records", topic=TOPIC, partition="0") is None
    assert value(loop, "partition_lag_records", topic=TOPIC, partition="1") is None


def test_an_outage_is_a_pause_with_its_reason_until_it_ends() -> None:
    loop, kafka, _ = started()
    records(kafka, 0, b"bad")
    real_deliver = loop.dead_letters.deliver
    seen: list[float | None] = []

    def deliver(batch: object) -> None:
        if not seen:
            seen.append(None)
            raise DeadLetterUnavailable("down")
        seen.append(value(loop, "paused", reason="Dead-letter topic"))
        real_deliver(batch)  # type: ignore[arg-type]

    loop.dead_letters.deliver = deliver  # type: ignore[method-assign]
    loop.step()

    assert seen == [None, 1.0], "paused while the dead-letter topic was down"
    assert value(loop, "paused", reason="Dead-letter topic") == 0
    assert value(loop, "dead_letters_total", topic=TOPIC, reason="EnvelopeError") == 1


def test_kafka_unreachable_is_a_zero_until_a_poll_answers() -> None:
    loop, kafka, _ = started()
    real_poll = loop.consumer.poll

    def poll(**options: object) -> object:
        raise KafkaConnectionError("refused")

    loop.consumer.poll = poll  # type: ignore[method-assign]
    loop.step()
    assert value(loop, "kafka_reachable") == 0

    loop.consumer.poll = real_poll  # type: ignore[method-assign]
    loop.step()
    assert value(loop, "kafka_reachable") == 1


def test_two_loops_share_a_registry_told_apart_by_group() -> None:
    from marketplace.consumer.memory_kafka import MemoryKafka

    families = ConsumerMetrics()
    kafka = MemoryKafka(partitions=1)
    first, second = Loop(kafka, Clock()), Loop(kafka, Clock())
    first.metrics, second.metrics = families.of("one"), families.of("two")
    for loop in (first, second):
        loop.subscribe()
    records(kafka, 0, b"a")

    first.step()

    assert value(first, "records_read_total", topic=TOPIC) == 1
    assert value(second, "records_read_total", topic=TOPIC) is None


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_metrics_are_served_over_http_until_stopped(free_port: int) -> None:
    loop, kafka, _ = started()
    records(kafka, 0, b"a")
    loop.step()

    with serving(loop.metrics.families, "127.0.0.1", free_port):
        url = f"http://127.0.0.1:{free_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()

    samples = {
        (sample.name, sample.labels.get("topic")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("marketplace_consumer_records_read_total", TOPIC)] == 1
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", free_port), timeout=1).close()
