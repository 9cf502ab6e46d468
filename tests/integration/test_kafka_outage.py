"""Kafka killed under a running pipeline, and a bridge started while Kafka is down: no process
exits, and every event has its effect exactly once and is published.

The pipeline here runs on a private Kafka broker (KRaft, the jars `make services` fetched) on
its own port, so killing it disturbs nobody else. The outage is longer than the bridge's
session timeout, so the bridge must also rejoin its group after it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaProducer
from sqlalchemy.orm import Session, sessionmaker

from marketplace.events import topics
from tests import services
from tests.integration.flows import (
    assert_applied_exactly_once,
    event_created,
    wait_for_event_effects,
    wait_until_published,
)
from tests.integration.system import (
    Process,
    System,
    TopicReader,
    kafka_server,
    private_pipeline,
    produce_all,
    session_maker,
    wait_for,
    wait_listening,
)

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

PORT = 19092
DOWN_SECONDS = float(os.environ.get("OUTAGE_SECONDS", "15"))  # > the 10 s session timeout
REDIS_URL = services.redis_url("kafka-outage")


@pytest.fixture(scope="module")
def kafka(real_services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    for port in (PORT, PORT + 1):
        if services.is_listening("127.0.0.1", port):
            pytest.fail(f"port {port} is taken: the private Kafka of this module needs it")
    server = kafka_server(
        PORT, tmp_path_factory.mktemp("kafka-data"), tmp_path_factory.mktemp("kafka-log")
    )
    server.start()
    wait_listening(PORT, timeout=90)
    yield server
    server.kill()


@pytest.fixture(scope="module")
def pipeline(kafka: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    logs = tmp_path_factory.mktemp("kafka-outage-logs")
    with private_pipeline(REDIS_URL, logs, bootstrap=f"127.0.0.1:{PORT}") as running:
        running.producer.close()  # each test produces with its own, see `produce`
        yield running


@pytest.fixture(scope="module")
def db(pipeline: System) -> Iterator[sessionmaker[Session]]:
    with session_maker(pipeline.database_url) as sessions:
        yield sessions


def produce(system: System, events: list[dict[str, Any]]) -> None:
    """Like another service: a producer of its own, every acknowledgement awaited, closed
    before the broker goes (kafka-python leaks a socket per reconnection attempt)."""
    system.producer = KafkaProducer(bootstrap_servers=system.bootstrap, acks="all")
    try:
        produce_all(system, events)
    finally:
        system.producer.close()


def produce_poison(system: System) -> bytes:
    """A record on a consumed topic that is not a CloudEvent; its value."""
    value = f"not a CloudEvent {uuid.uuid4()}".encode()
    producer = KafkaProducer(bootstrap_servers=system.bootstrap, acks="all")
    try:
        producer.send(topics.CONSUMED[0].name, value=value, key=b"poison").get(timeout=30)
    finally:
        producer.close()
    return value


def restart_kafka(kafka: Process) -> float:
    kafka.start()
    wait_listening(PORT, timeout=90)
    return time.monotonic()


def test_kafka_killed_under_a_running_pipeline_heals_without_a_restart(
    kafka: Process, pipeline: System, db: sessionmaker[Session]
) -> None:
    tenant = str(uuid.uuid4())
    before = [event_created(tenant, n) for n in range(30)]
    after = [event_created(tenant, n) for n in range(30, 60)]
    produce(pipeline, before)
    wait_for_event_effects(db, tenant, len(before), timeout=60)

    kafka.kill()
    time.sleep(DOWN_SECONDS)
    assert pipeline.bridge.alive(), pipeline.bridge.log()[-3000:]
    assert pipeline.worker.alive(), pipeline.worker.log()[-3000:]
    back = restart_kafka(kafka)
    dead_letters = TopicReader([pipeline.dlq_topic], bootstrap=pipeline.bootstrap)
    produce(pipeline, after)
    poison = produce_poison(pipeline)

    effects = wait_for_event_effects(db, tenant, len(before) + len(after), timeout=120)
    recovered = time.monotonic() - back
    wait_until_published(db, tenant, timeout=60)
    print(f"\nKafka down {DOWN_SECONDS:.0f}s: new events applied {recovered:.1f}s after its return")
    assert_applied_exactly_once(effects, before + after)
    # The bridge's dead-letter producer lived through the outage: it must write again.
    letters = dead_letters.read(lambda record: record.value == poison, timeout=60)
    dead_letters.close()
    assert letters, "the poison record sent after the outage was not dead-lettered"
    assert pipeline.bridge.alive() and pipeline.worker.alive()


def test_a_bridge_started_while_kafka_is_down_waits_for_it(
    kafka: Process, pipeline: System, db: sessionmaker[Session]
) -> None:
    tenant = str(uuid.uuid4())
    events = [event_created(tenant, n) for n in range(20)]
    pipeline.bridge.stop()
    kafka.kill()
    logged = len(pipeline.bridge.log())
    pipeline.bridge.start()

    wait_for(
        lambda: "Kafka unreachable" in pipeline.bridge.log()[logged:],
        timeout=60,
        what="the bridge to say it waits for Kafka",
    )
    time.sleep(5)
    assert pipeline.bridge.alive(), pipeline.bridge.log()[logged:][-3000:]
    back = restart_kafka(kafka)
    produce(pipeline, events)

    effects = wait_for_event_effects(db, tenant, len(events), timeout=120)
    print(f"\nbridge started with Kafka down: events applied {time.monotonic() - back:.1f}s after")
    wait_until_published(db, tenant, timeout=60)
    assert_applied_exactly_once(effects, events)
    assert pipeline.bridge.alive()
