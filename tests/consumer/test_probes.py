"""`/livez` and `/readyz` answer from what the loops reported: ready only while every loop
consumes, live unless a loop stopped going round; served over HTTP beside `/metrics`."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from kafka.errors import KafkaConnectionError

from marketplace.consumer.dead_letter import DeadLetterUnavailable
from marketplace.consumer.metrics import ConsumerMetrics
from marketplace.consumer.probes import (
    STALE_AFTER_SECONDS,
    MetricsPortUnavailable,
    liveness,
    readiness,
    serving,
)
from tests.consumer.test_loop import Clock, Loop, no_waiting, records, started

__all__ = ["no_waiting"]  # the autouse fixture, for this module too


def test_a_process_whose_loops_have_not_started_is_live_but_not_ready() -> None:
    families = ConsumerMetrics()
    assert liveness(families.groups).ok
    assert readiness(families.groups) == readiness([])
    assert not readiness([]).ok and "no consumer loop" in readiness([]).detail

    families.of("billing")
    assert not readiness(families.groups).ok
    assert "billing: not polled yet" in readiness(families.groups).detail


def test_a_loop_that_polled_is_ready_and_live() -> None:
    loop, kafka, _ = started()
    records(kafka, 0, b"a")
    loop.step()

    assert readiness([loop.metrics]).ok
    assert liveness([loop.metrics]).ok


def test_a_loop_paused_for_an_outage_is_not_ready_and_says_why_until_it_ends() -> None:
    loop, kafka, _ = started()
    records(kafka, 0, b"bad")
    real_deliver = loop.dead_letters.deliver
    during: list[tuple[bool, str]] = []

    def deliver(batch: object) -> None:
        if not during:
            during.append((True, "first attempt"))
            raise DeadLetterUnavailable("down")
        probe = readiness([loop.metrics])
        during.append((probe.ok, probe.detail))
        real_deliver(batch)  # type: ignore[arg-type]

    loop.dead_letters.deliver = deliver  # type: ignore[method-assign]
    loop.step()

    assert during[1] == (False, f"{loop.metrics.group}: paused, Dead-letter topic unavailable")
    assert liveness([loop.metrics]).ok, "waiting out an outage is not being stuck"
    assert readiness([loop.metrics]).ok


def test_kafka_unreachable_is_not_ready_until_a_poll_answers() -> None:
    loop, _, _ = started()
    real_poll = loop.consumer.poll

    def poll(**options: object) -> object:
        raise KafkaConnectionError("refused")

    loop.consumer.poll = poll  # type: ignore[method-assign]
    loop.step()
    assert readiness([loop.metrics]).detail.endswith("Kafka unreachable")

    loop.consumer.poll = real_poll  # type: ignore[method-assign]
    loop.step()
    assert readiness([loop.metrics]).ok


def test_a_loop_that_stopped_going_round_is_not_live() -> None:
    loop, _, _ = started()
    loop.step()
    went_round = loop.metrics.went_round_at
    assert went_round is not None

    assert liveness([loop.metrics], now=went_round + STALE_AFTER_SECONDS - 1).ok
    stuck = liveness([loop.metrics], now=went_round + STALE_AFTER_SECONDS + 1)
    assert not stuck.ok and "has not gone round for 121s" in stuck.detail


def test_one_stuck_or_paused_loop_answers_for_the_whole_process() -> None:
    families = ConsumerMetrics()
    from marketplace.consumer.memory_kafka import MemoryKafka

    kafka = MemoryKafka(partitions=1)
    healthy, stuck = Loop(kafka, Clock()), Loop(kafka, Clock())
    healthy.metrics, stuck.metrics = families.of("healthy"), families.of("stuck")
    for loop in (healthy, stuck):
        loop.subscribe()
        loop.step()
    stuck.metrics.went_round_at = 0.0

    assert readiness(families.groups).ok
    assert liveness(families.groups).detail.startswith("stuck:")


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_probes_and_metrics_are_served_over_http_until_stopped(free_port: int) -> None:
    families = ConsumerMetrics()
    with serving(families, "127.0.0.1", free_port):
        assert get(free_port, "/readyz") == (
            503,
            "no consumer loop running yet (connecting to Kafka)\n",
        )
        assert get(free_port, "/livez") == (200, "live\n")
        loop, kafka, _ = started()
        loop.metrics = families.of("orders")
        records(kafka, 0, b"a")
        loop.step()
        assert get(free_port, "/readyz") == (200, "ready\n")
        status, metrics = get(free_port, "/metrics")
        assert status == 200 and 'marketplace_consumer_records_read_total{group="orders"' in metrics

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", free_port), timeout=1).close()


def test_a_taken_port_is_one_clear_error_before_any_work(free_port: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port))
        taken.listen()
        refused = pytest.raises(MetricsPortUnavailable, match="give each process on this host")
        with refused, serving(ConsumerMetrics(), "127.0.0.1", free_port):
            pytest.fail("ran with no probes")
