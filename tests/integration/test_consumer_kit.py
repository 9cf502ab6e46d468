"""The consumer kit against the real broker: `marketplace consume` given the events the pipeline
publishes for commands, through a SIGKILL; a group's retries, dead letters and shutdown."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from kafka import KafkaConsumer as KafkaClient
from kafka import KafkaProducer, TopicPartition

from marketplace.consumer import (
    CloudEvent,
    ConsumerGroup,
    DeliveryPolicy,
    KafkaConsumer,
    on_message,
)
from marketplace.consumer.declaration import declaration_of
from marketplace.consumer.policy import Commit
from marketplace.errors import PermanentError, TransientError
from marketplace.events import envelope, topics
from marketplace.events.outbound import OrderCompleted
from tests import services
from tests.integration.flows import draft_listing
from tests.integration.system import (
    BIN,
    Process,
    System,
    TopicReader,
    ensure_topics,
    outbound_topic_names,
    start_group_at_end,
    wait_for,
)
from workers import consume
from workers.settings import load_settings

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]


# -- `marketplace consume` on the running pipeline -------------------------------------------
class Recorder:
    """The `marketplace consume` process of `tests.integration.consumer_kit` and what it wrote."""

    def __init__(self, system: System, log_dir: Path, *, slow_seconds: float = 0) -> None:
        self.group = f"marketplace-kit-it-{uuid.uuid4().hex[:8]}"
        self.out = log_dir / f"{self.group}.jsonl"
        env = {
            **system.env,
            "KIT_GROUP": self.group,
            "KIT_OUT": str(self.out),
            "KIT_SLOW_SECONDS": str(slow_seconds),
        }
        argv = [str(BIN / "marketplace"), "consume", "tests.integration.consumer_kit:Recorder"]
        self.process = Process(self.group, argv, env, log_dir)
        start_group_at_end(self.group, outbound_topic_names(), bootstrap=system.bootstrap)

    def lines(self, tenant: str) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        rows = [json.loads(line) for line in self.out.read_text().splitlines()]
        return [row for row in rows if row["tenant"] == tenant]


@pytest.fixture
def recorder(system: System, tmp_path: Path) -> Iterator[Recorder]:
    recorder = Recorder(system, tmp_path, slow_seconds=0.05)
    recorder.process.start()
    yield recorder
    recorder.process.stop()
    ours = [  # kafka-python may log a traceback of its own while its sockets close
        line
        for line in recorder.process.log().splitlines()
        if " ERROR marketplace." in line or " ERROR workers." in line
    ]
    assert ours == [], recorder.process.log()[-3000:]


def test_a_consumer_gets_each_event_of_a_celery_call_command_typed_and_once(
    system: System, recorder: Recorder, tenant: str
) -> None:
    kwargs = {
        "tenant_id": tenant,
        "seller_id": "seller-1",
        "title": "Premium Catering",
        "lane": "vendora",
        "price": 5000,
        "currency": "USD",
    }
    subprocess.run(
        [
            str(BIN / "celery"),
            "-A",
            "workers",
            "call",
            "marketplace.listings.create",
            "--kwargs",
            json.dumps(kwargs),
        ],
        env=system.env,
        check=True,
        capture_output=True,
        timeout=60,
    )

    [line] = wait_for(lambda: recorder.lines(tenant), timeout=60, what="the listing.created event")
    assert (line["model"], line["price"]) == ("ListingCreated", 5000)
    recorder.process.stop()
    assert recorder.lines(tenant) == [line], "handled once"
    assert "failed 0, dead-lettered 0" in recorder.process.log(), "its counters, at the end"


def test_killed_mid_stream_and_restarted_it_handles_every_event_at_least_once(
    system: System, recorder: Recorder, celery_client: Celery, tenant: str
) -> None:
    listings = [draft_listing(celery_client, tenant, price=100 + i)["id"] for i in range(40)]
    wait_for(lambda: len(recorder.lines(tenant)) >= 5, timeout=60, what="the first events")

    recorder.process.kill()
    seen_before = len(recorder.lines(tenant))
    recorder.process.start()

    wait_for(
        lambda: {line["listing"] for line in recorder.lines(tenant)} >= set(listings),
        timeout=90,
        what="every listing.created event",
    )
    assert seen_before < len(listings), "killed mid-stream"
    assert {line["model"] for line in recorder.lines(tenant)} == {"ListingCreated"}


# -- a group's decisions on the real broker, in-process --------------------------------------
TOPIC = topics.ORDER_COMPLETED.name
QUICK = DeliveryPolicy("quick", Commit.AFTER_DELIVERY, max_retries=3, first_retry_seconds=0.2)


class Plans:
    """What the handler does per order id: raise these in turn, then return; tenant-scoped."""

    def __init__(self, tenant: str, **plans: list[BaseException]) -> None:
        self.tenant, self.plans = tenant, plans
        self.handled: list[str] = []
        self.calls: list[str] = []

    def play(self, event: CloudEvent[OrderCompleted]) -> None:
        if event.tenantid != self.tenant:
            return  # another test's (or the pipeline's) event on the same topic
        self.calls.append(event.data.id)
        plan = self.plans.get(event.data.id.replace("-", "_"))
        if plan:
            raise plan.pop(0)
        self.handled.append(event.data.id)


@dataclass
class Running:
    group: ConsumerGroup
    thread: threading.Thread
    dead_letters: TopicReader
    """Reads the group's dead-letter topic from before the group started."""


@pytest.fixture
def group_run(real_services: None) -> Iterator[Callable[[type], Running]]:
    """Runs a consumer class's group on the real broker, in a thread, as `marketplace consume`
    builds it; stopped at the end."""
    runs: list[Running] = []
    settings = load_settings(
        kafka_enabled=True, kafka_bootstrap_servers=services.KAFKA_BOOTSTRAP, _env_file=None
    )

    def run(target: type) -> Running:
        declaration = declaration_of(target)
        ensure_topics([TOPIC, declaration.dead_letter_topic])
        start_group_at_end(declaration.group_id, [TOPIC])
        reader = TopicReader([declaration.dead_letter_topic])
        group = consume.build_group(settings, [target], threading.Event())
        assert group is not None
        thread = threading.Thread(target=group.run, name=declaration.group_id)
        thread.start()
        runs.append(Running(group, thread, reader))
        return runs[-1]

    yield run
    for running in runs:
        running.group.stop()
        running.thread.join(30)
        running.dead_letters.close()


def declared(plans: Plans) -> type:
    @KafkaConsumer(group_id=f"kit-it-{uuid.uuid4().hex[:8]}", policy=QUICK)
    class Orders:
        @on_message(topics.ORDER_COMPLETED)
        def order_completed(self, event: CloudEvent[OrderCompleted]) -> None:
            plans.play(event)

    return Orders


def produce(producer: KafkaProducer, tenant: str, order_id: str) -> envelope.OutboundRecord:
    payload = OrderCompleted.model_validate(
        {
            "id": order_id,
            "completedAt": "2026-03-02T12:00:00.000Z",
            "finalAmount": 1,
            "currency": "USD",
        }
    )
    event = envelope.new_event(
        topics.ORDER_COMPLETED, tenant_id=tenant, entity_id=order_id, payload=payload, source="it"
    )
    record = envelope.to_record(event)
    producer.send(record.topic, record.value, key=record.key, headers=record.headers).get(10)
    return record


@pytest.fixture
def producer(real_services: None) -> Iterator[KafkaProducer]:
    producer = KafkaProducer(bootstrap_servers=services.KAFKA_BOOTSTRAP, acks="all")
    yield producer
    producer.close()


def test_transient_twice_then_success_is_handled_and_permanent_is_dead_lettered_with_headers(
    group_run: Callable[[type], Running], producer: KafkaProducer, tenant: str
) -> None:
    plans = Plans(
        tenant,
        o_1=[TransientError("not yet"), TransientError("still not")],
        o_2=[PermanentError("cannot review o-2")],
    )
    running = group_run(declared(plans))
    produce(producer, tenant, "o-1")
    refused = produce(producer, tenant, "o-2")
    produce(producer, tenant, "o-3")

    wait_for(
        lambda: plans.handled == ["o-1", "o-3"], timeout=60, what=f"o-1 and o-3: {plans.calls}"
    )
    assert plans.calls == ["o-1", "o-1", "o-1", "o-2", "o-3"]
    [letter] = running.dead_letters.read(lambda r: r.key == tenant.encode(), timeout=30)
    headers = {name: value.decode() for name, value in letter.headers}
    assert letter.value == refused.value
    assert headers["dlq-stage"].endswith("declared.<locals>.Orders.order_completed")
    assert (headers["dlq-error-class"], headers["dlq-original-topic"]) == ("PermanentError", TOPIC)
    assert json.loads(headers["dlq-problems"]) == ["cannot review o-2"]
    assert headers["content-type"] == "application/cloudevents+json"
    wait_for(lambda: running.group.counters.dead_lettered == 1, timeout=10)
    assert running.group.counters.failed == 3


def test_a_malformed_record_is_dead_lettered_and_not_handed_to_the_handler(
    group_run: Callable[[type], Running], producer: KafkaProducer, tenant: str
) -> None:
    plans = Plans(tenant)
    running = group_run(declared(plans))
    producer.send(TOPIC, b'{"specversion": "1.0"}', key=tenant.encode()).get(10)
    produce(producer, tenant, "o-after")

    wait_for(lambda: plans.handled == ["o-after"], timeout=60, what="the next record")
    [letter] = running.dead_letters.read(lambda r: r.key == tenant.encode(), timeout=30)
    headers = {name: value.decode() for name, value in letter.headers}
    assert (headers["dlq-stage"], headers["dlq-error-class"]) == ("consume", "EnvelopeError")
    assert "tenantid: missing" in json.loads(headers["dlq-problems"])
    assert plans.calls == ["o-after"]


def test_stopping_commits_what_was_handled_and_leaves_the_group(
    group_run: Callable[[type], Running], producer: KafkaProducer, tenant: str
) -> None:
    plans = Plans(tenant)
    running = group_run(declared(plans))
    produce(producer, tenant, "o-1")
    wait_for(lambda: plans.handled == ["o-1"], timeout=60, what="o-1")

    running.group.stop()
    running.thread.join(30)

    assert not running.thread.is_alive()
    group_id = running.group.group_id
    client = KafkaClient(bootstrap_servers=services.KAFKA_BOOTSTRAP, group_id=group_id)
    try:
        partitions = [TopicPartition(TOPIC, p) for p in client.partitions_for_topic(TOPIC) or ()]
        ends = client.end_offsets(partitions)
        committed = {tp: client.committed(tp) for tp in partitions}
    finally:
        client.close()
    assert committed == ends, "everything read was committed"
