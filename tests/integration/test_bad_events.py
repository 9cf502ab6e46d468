"""Bad events: the bridge sets a bad record aside on the dead-letter topic, whole, and goes on;
a worker dead-letters a permanent failure at once and retries a transient one until it works."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Celery
from kafka import KafkaProducer
from kafka.producer.future import RecordMetadata
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain.models import Order, Review
from marketplace.events import topics
from tests.integration.flows import (
    an_order,
    call,
    cloudevent,
    order_status,
    overtaking_payment,
    payment,
    wait_until_paid,
)
from tests.integration.system import BOOTSTRAP, System, TopicReader, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

Headers = list[tuple[str, bytes]]
STRUCTURED = [("content-type", b"application/cloudevents+json")]


def write_together(
    topic: str, values: list[tuple[bytes, Headers]], *, key: str
) -> list[RecordMetadata]:
    """Another service's records, sent as one batch, so the bridge receives them in one poll;
    returns where Kafka stored each."""
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=500)
    try:
        futures = [
            producer.send(topic, value=value, key=key.encode(), headers=headers)
            for value, headers in values
        ]
        producer.flush(10)
        return [future.get(10) for future in futures]
    finally:
        producer.close(timeout=5)


def review(tenant: str, review_id: str) -> dict[str, Any]:
    data = {"id": review_id, "sellerId": "seller-1", "rating": 4}
    return cloudevent(topics.REVIEW_CREATED, tenant, data)


def dead_letter_of(
    dead_letters: TopicReader, tenant: str, stage: str, timeout: float = 30
) -> tuple[Any, dict[str, str]]:
    """The tenant's first dead letter from `stage`, with its headers as text."""

    def matches(record: Any) -> bool:
        return record.key == tenant.encode() and headers_of(record).get("dlq-stage") == stage

    records = dead_letters.read(matches, timeout=timeout)
    assert records, f"no dead letter from {stage} for tenant {tenant}"
    return records[0], headers_of(records[0])


def headers_of(record: Any) -> dict[str, str]:
    return {name: value.decode("utf-8", "replace") for name, value in record.headers or ()}


def not_json(tenant: str) -> tuple[bytes, Headers, str]:
    return b"{not json", [], "value is not JSON"


def data_without_rating(tenant: str) -> tuple[bytes, Headers, str]:
    event = review(tenant, "rev-bad")
    del event["data"]["rating"]
    return json.dumps(event).encode(), STRUCTURED, "data.rating: Field required"


@pytest.mark.parametrize("bad_record", [not_json, data_without_rating])
def test_a_bad_record_is_dead_lettered_whole_and_the_next_record_is_still_processed(
    bad_record: Callable[[str], tuple[bytes, Headers, str]],
    system: System,
    dead_letters: TopicReader,
    tenant: str,
    db: sessionmaker[Session],
) -> None:
    topic = topics.REVIEW_CREATED.name
    value, headers, problem = bad_record(tenant)

    bad, good = write_together(
        topic,
        [(value, headers), (json.dumps(review(tenant, "rev-good")).encode(), STRUCTURED)],
        key=tenant,
    )
    assert good.partition == bad.partition and good.offset > bad.offset

    letter, dlq = dead_letter_of(dead_letters, tenant, "bridge")
    assert letter.value == value, "the original bytes, untouched"
    assert letter.key == tenant.encode()
    assert [(name, v) for name, v in letter.headers if not name.startswith("dlq-")] == headers
    assert dlq["dlq-original-topic"] == topic
    assert dlq["dlq-original-partition"] == str(bad.partition)
    assert dlq["dlq-original-offset"] == str(bad.offset)
    assert dlq["dlq-original-key"] == tenant
    assert dlq["dlq-error-class"] == "EnvelopeError"
    assert problem in dlq["dlq-error-message"]
    problems = json.loads(dlq["dlq-problems"])
    assert len(problems) == 1 and problems[0].startswith(problem)
    failed_at = datetime.fromisoformat(dlq["dlq-failed-at"])
    assert timedelta(0) <= datetime.now(UTC) - failed_at < timedelta(minutes=1)

    stored = wait_for(
        lambda: found_review(db, tenant, "rev-good"), what="the good record after the bad one"
    )
    assert stored.rating == 4
    assert found_review(db, tenant, "rev-bad") is None


def found_review(db: sessionmaker[Session], tenant: str, review_id: str) -> Review | None:
    with db() as session:
        return session.get(Review, (tenant, review_id))


def test_a_payment_that_does_not_match_its_order_is_dead_lettered_by_the_task_at_once(
    system: System,
    dead_letters: TopicReader,
    tenant: str,
    db: sessionmaker[Session],
    celery_client: Celery,
) -> None:
    order = an_order(celery_client, tenant, price=5_000)
    event = payment(tenant, order, payment_id="pay-short")
    event["data"]["amount"] = 4_000

    system.produce_structured(event)

    letter, dlq = dead_letter_of(dead_letters, tenant, "marketplace.orders.mark_paid")
    dead = json.loads(letter.value)
    assert (dead["id"], dead["type"], dead["tenantid"]) == (
        event["id"],
        topics.PAYMENT_COMPLETED.name,
        tenant,
    )
    assert dead["data"] == event["data"]
    assert dict(letter.headers)["content-type"] == b"application/cloudevents+json"
    assert dlq["dlq-original-topic"] == topics.PAYMENT_COMPLETED.name
    assert dlq["dlq-error-class"] == "InvalidInput"
    assert json.loads(dlq["dlq-problems"]) == ["amount: payment pay-short is 4000, the order 5000"]
    failed_at = datetime.fromisoformat(dlq["dlq-failed-at"])
    assert timedelta(0) <= datetime.now(UTC) - failed_at < timedelta(minutes=1)

    assert order_status(db, tenant, order["id"]) == "created"
    with db() as session:
        unpaid = session.get(Order, (tenant, order["id"]))
        assert unpaid is not None and unpaid.payment_id is None
    retries = [
        line
        for line in system.worker.log().splitlines()
        if f"event={event['id']} " in line and "retrying" in line
    ]
    assert retries == [], "a permanent failure is not retried"


def test_a_payment_that_overtakes_its_order_is_retried_until_the_order_exists(
    system: System,
    dead_letters: TopicReader,
    tenant: str,
    db: sessionmaker[Session],
    celery_client: Celery,
) -> None:
    event, order_id, quote_id = overtaking_payment(celery_client, tenant)

    system.produce_structured(event)
    wait_for(
        lambda: any(
            f"event={event['id']} " in line and "retrying in" in line and "NotYetKnown" in line
            for line in system.worker.log().splitlines()
        ),
        what="the payment to fail transiently: its order is not known yet",
    )
    assert order_status(db, tenant, order_id) is None

    accepted = call(celery_client, "marketplace.quotes.accept", tenant_id=tenant, quote_id=quote_id)
    assert accepted["status"] == "accepted"

    wait_until_paid(db, tenant, order_id)
    with db() as session:
        paid = session.get(Order, (tenant, order_id))
        assert paid is not None and paid.payment_id == "pay-early"
    assert dead_letters.read(lambda record: record.key == tenant.encode(), timeout=0.5) == []
