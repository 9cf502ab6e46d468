"""`marketplace dlq`: dead letters of the real pipeline listed, filtered and replayed.

The pipeline gives up on a transient failure at once (TASK_MAX_RETRIES=0), so an event whose
order is not known yet is dead-lettered instead of retried.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain.models import Order
from marketplace.events import topics
from tests import services
from tests.integration.flows import (
    LISTINGS_PER_EVENT,
    an_order,
    call,
    cloudevent,
    event_created,
    event_effects,
    overtaking_payment,
    payment,
    wait_for_event_effects,
    wait_until_paid,
)
from tests.integration.operator import Marketplace, command_line, restart, restart_worker
from tests.integration.system import (
    BOOTSTRAP,
    System,
    TopicReader,
    celery_client_of,
    private_pipeline,
    queued_event_ids,
    session_maker,
    wait_for,
)
from workers.inbound_ledger import ENQUEUED_AT_KEY, entry_of

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

STRUCTURED = [("content-type", b"application/cloudevents+json")]
PAID = "marketplace.orders.mark_paid"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    for service in (services.KAFKA, services.REDIS, services.POSTGRES):
        services.require(service)
    log_dir: Path = tmp_path_factory.mktemp("dlq-logs")
    with private_pipeline(
        services.redis_url("dead-letters"), log_dir, env={"TASK_MAX_RETRIES": "0"}
    ) as system:
        yield system


@pytest.fixture(scope="module")
def client(pipeline: System) -> Celery:
    return celery_client_of(pipeline)


@pytest.fixture(scope="module")
def db(pipeline: System) -> Iterator[sessionmaker[Session]]:
    with session_maker(pipeline.database_url) as sessions:
        yield sessions


@pytest.fixture
def marketplace(
    pipeline: System, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Marketplace:
    return command_line(pipeline, monkeypatch, capsys)


def letters(marketplace: Marketplace, tenants: list[str], *filters: str) -> list[dict[str, Any]]:
    args = [arg for tenant in tenants for arg in ("--tenant", tenant)]
    code, found = marketplace("dlq", "list", "--json", *args, *filters)
    assert code == 0
    return found


def wait_for_letters(marketplace: Marketplace, tenants: list[str], count: int) -> list[Any]:
    return wait_for(
        lambda: (found := letters(marketplace, tenants)) and len(found) >= count and found,
        timeout=60,
        interval=1,
        what=f"{count} dead letters of {tenants}",
    )


def refs(found: list[dict[str, Any]]) -> set[str]:
    return {letter["ref"] for letter in found}


def test_a_payment_dead_lettered_as_order_not_known_yet_succeeds_when_replayed_after_the_order_exists(  # noqa: E501
    pipeline: System,
    client: Celery,
    db: sessionmaker[Session],
    marketplace: Marketplace,
    tenant: str,
) -> None:
    event, order_id, quote_id = overtaking_payment(client, tenant)
    pipeline.produce_structured(event)
    [letter] = wait_for_letters(marketplace, [tenant], 1)
    assert (letter["stage"], letter["error_class"]) == (PAID, "GaveUp")
    assert "not known yet" in letter["error_message"]
    assert letter["event_id"] == event["id"]

    call(client, "marketplace.quotes.accept", tenant_id=tenant, quote_id=quote_id)
    code, replay = marketplace("dlq", "replay", "--tenant", tenant, "--json")

    assert code == 0
    assert (replay["sent"], replay["skipped"], replay["failed"]) == (1, 0, 0)
    assert replay["letters"][0]["target"] == PAID
    wait_until_paid(db, tenant, order_id)
    with db() as session:
        paid = session.get(Order, (tenant, order_id))
        assert paid is not None and paid.payment_id == "pay-early"

    code, again = marketplace("dlq", "replay", "--tenant", tenant, "--json")
    assert code == 0
    assert (again["sent"], again["skipped"], again["failed"]) == (0, 1, 0)
    assert again["letters"][0]["reason"] == "already applied"


def test_an_event_the_bridge_refused_as_too_large_is_replayed_from_its_original_and_twice_applies_once(  # noqa: E501
    pipeline: System,
    db: sessionmaker[Session],
    marketplace: Marketplace,
    tenant: str,
) -> None:
    topic = topics.EVENT_CREATED.name
    event = event_created(tenant, 1)
    headers = [*STRUCTURED, ("x-trace-padding", b"p" * 3_000)]
    pipeline.bridge.stop()
    pipeline.env["KAFKA_MAX_RECORD_BYTES"] = "2048"
    try:
        restart(pipeline.bridge)
        stored = pipeline.producer.send(
            topic, value=json.dumps(event).encode(), key=tenant.encode(), headers=headers
        ).get(10)
        [letter] = wait_for_letters(marketplace, [tenant], 1)
    finally:
        pipeline.bridge.stop()
        del pipeline.env["KAFKA_MAX_RECORD_BYTES"]
        restart(pipeline.bridge)
    assert letter["stage"] == "bridge" and "value" in letter["omitted"]
    assert (letter["original_partition"], letter["original_offset"]) == (
        stored.partition,
        stored.offset,
    )

    reader = TopicReader([topic], bootstrap=pipeline.bootstrap)
    pipeline.worker.stop()
    try:
        first = marketplace("dlq", "replay", letter["ref"], "--json")
        second = marketplace("dlq", "replay", letter["ref"], "--json")
    finally:
        restart_worker(pipeline)
    assert [first[0], second[0]] == [0, 0]
    assert [first[1]["sent"], second[1]["sent"]] == [1, 1], "not applied yet: both are sent"

    replayed = reader.read(lambda record: record.key == tenant.encode(), count=2)
    reader.close()
    mark = ("dlq-replayed-from", f"{pipeline.dlq_topic}/{letter['ref'].replace(':', '/')}")
    for record in replayed:
        assert record.value == json.dumps(event).encode(), "the original bytes, from the topic"
        assert list(record.headers) == [*headers, (mark[0], mark[1].encode())]

    effects = wait_for_event_effects(db, tenant, 1, timeout=60)
    assert effects.inbox == {event["id"]: 1}
    assert effects.listing_created == LISTINGS_PER_EVENT, "applied once"
    code, third = marketplace("dlq", "replay", letter["ref"], "--json")
    assert code == 0 and (third["sent"], third["skipped"]) == (0, 1)
    assert event_effects(db, tenant).listing_created == LISTINGS_PER_EVENT


def test_filters_select_exactly_the_letters_they_name(
    pipeline: System, client: Celery, marketplace: Marketplace
) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    order = an_order(client, a, price=5_000)
    short = payment(a, order, payment_id="pay-short")
    short["data"]["amount"] = 4_000
    unknown = payment(b, {"id": "order-never", "amount": 5_000, "currency": "USD"})
    bad_data = cloudevent(topics.PAYMENT_COMPLETED, b, {"id": "pay-x", "orderId": "o"})
    pipeline.producer.send(
        topics.REVIEW_CREATED.name, value=b"{not json", key=a.encode(), headers=STRUCTURED
    ).get(10)
    pipeline.produce_structured(bad_data)
    pipeline.produce_structured(short)
    pipeline.produce_structured(unknown)

    every = wait_for_letters(marketplace, [a, b], 4)
    assert len(every) == 4
    by = {
        (letter["tenant"], letter["stage"]): letter["ref"]
        for letter in every  # one letter per tenant and stage
    }
    a_bridge, a_task = by[(a, "bridge")], by[(a, PAID)]
    b_bridge, b_task = by[(b, "bridge")], by[(b, PAID)]
    both = [a, b]

    assert refs(letters(marketplace, [a])) == {a_bridge, a_task}
    assert refs(letters(marketplace, both, "--stage", "bridge")) == {a_bridge, b_bridge}
    assert refs(letters(marketplace, both, "--stage", PAID)) == {a_task, b_task}
    assert refs(letters(marketplace, both, "--error", "InvalidInput")) == {a_task}
    assert refs(letters(marketplace, both, "--error", "GaveUp", "--error", "EnvelopeError")) == {
        b_task,
        a_bridge,
        b_bridge,
    }
    assert refs(letters(marketplace, both, "--topic", topics.REVIEW_CREATED.name)) == {a_bridge}
    assert refs(letters(marketplace, both, "--type", topics.PAYMENT_COMPLETED.name)) == {
        b_bridge,
        a_task,
        b_task,
    }
    assert letters(marketplace, both, "--stage", "bridge", "--error", "InvalidInput") == []

    moments = sorted(datetime.fromisoformat(letter["failed_at"]) for letter in every)
    middle = moments[2]
    later = {x["ref"] for x in every if datetime.fromisoformat(x["failed_at"]) >= middle}
    earlier = refs(every) - later
    assert refs(letters(marketplace, both, "--since", middle.isoformat())) == later
    assert refs(letters(marketplace, both, "--until", middle.isoformat())) == earlier
    assert letters(marketplace, both, "--since", "1h") == letters(marketplace, both)

    code, [shown] = marketplace("dlq", "show", a_task, "--json")
    assert code == 0 and shown["ref"] == a_task
    assert json.loads(shown["value"])["id"] == short["id"]
    assert json.loads(shown["notes"]["problems"]) == [
        "amount: payment pay-short is 4000, the order 5000"
    ]
    code, none = marketplace("dlq", "list", "999:0", "--json")
    assert code == 1 and none == []


def test_a_dry_run_sends_nothing(
    pipeline: System, client: Celery, marketplace: Marketplace, tenant: str
) -> None:
    event, _, _ = overtaking_payment(client, tenant)
    pipeline.producer.send(
        topics.REVIEW_CREATED.name, value=b"{not json", key=tenant.encode(), headers=STRUCTURED
    ).get(10)
    pipeline.produce_structured(event)
    wait_for_letters(marketplace, [tenant], 2)

    consumed = [topic.name for topic in topics.CONSUMED]
    pipeline.worker.stop()
    try:
        ends = _end_offsets(consumed)
        code, dry = marketplace("dlq", "replay", "--tenant", tenant, "--dry-run", "--json")
        assert code == 0
        assert (dry["dry_run"], dry["would_send"], dry["would_fail"]) == (True, 2, 0)
        assert {letter["action"] for letter in dry["letters"]} == {"record", "task"}
        assert _end_offsets(consumed) == ends, "no record written"
        assert event["id"] not in queued_event_ids(pipeline, "inbound"), "no task enqueued"
        assert pipeline.redis.zscore(ENQUEUED_AT_KEY, entry_of(event)) is None, "nor recorded"
    finally:
        restart_worker(pipeline)


def _end_offsets(names: list[str]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    try:
        partitions = [
            TopicPartition(name, p) for name in names for p in consumer.partitions_for_topic(name)
        ]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()
