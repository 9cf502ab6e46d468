"""Publishing the outbox in-process: requests coalesce, rows leave in order once Kafka has them,
a refused row is parked, an unreachable Kafka leaves everything pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from sqlalchemy import select, update

from marketplace.consumer.dead_letter import DeadLetterUnavailable
from marketplace.domain import outbox
from marketplace.domain.models import OutboxMessage, OutboxStatus
from tests.workers.conftest import Worker
from tests.workers.fakes import FakeProducer
from tests.workers.test_command_tasks import LISTING, TENANT
from workers import constants, publish_tasks
from workers.dead_letter import for_task

CREATED = "eventzr.marketplace.listing.created.v1"
PUBLISHED = "eventzr.marketplace.listing.published.v1"


def create_listings(worker: Worker, count: int) -> None:
    for number in range(count):
        worker.command("marketplace.listings.create", command_id=f"listing-{number}", **LISTING)


def statuses(worker: Worker) -> list[str]:
    with worker.runtime.transaction() as ctx:
        return list(ctx.session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)))


def test_requests_made_while_a_publish_is_queued_add_none(worker: Worker) -> None:
    publish_tasks.request_publish()
    publish_tasks.request_publish()

    assert len(worker.queued(constants.PUBLISH_QUEUE)) == 1


def test_a_redelivered_task_asks_even_while_a_publish_is_queued(worker: Worker) -> None:
    publish_tasks.request_publish()
    publish_tasks.request_publish(redelivered=True)

    assert len(worker.queued(constants.PUBLISH_QUEUE)) == 2


def test_a_request_that_cannot_reach_redis_does_not_fail_the_committed_caller(
    worker: Worker,
) -> None:
    worker.redis_server.connected = False

    publish_tasks.request_publish()  # no exception: the sweep publishes what is left

    assert worker.queued(constants.PUBLISH_QUEUE) == []


def test_one_publish_sends_every_pending_row_in_order_and_marks_it_sent(worker: Worker) -> None:
    create_listings(worker, 3)
    worker.command("marketplace.listings.publish", tenant_id=TENANT, listing_id="listing-0")

    assert worker.publish() == 4

    sent = [(event["type"], event["subject"]) for event in worker.producer.events()]
    assert sent == [
        (CREATED, "listing:listing-0"),
        (CREATED, "listing:listing-1"),
        (CREATED, "listing:listing-2"),
        (PUBLISHED, "listing:listing-0"),
    ]
    assert statuses(worker) == [OutboxStatus.SENT] * 4
    assert worker.publish() == 0


def test_kafka_unreachable_leaves_every_row_pending_for_the_next_attempt(worker: Worker) -> None:
    create_listings(worker, 2)
    worker.producer.down = KafkaTimeoutError("no broker")

    with pytest.raises(Exception, match="gave up after 3 attempts"):
        worker.publish()

    assert statuses(worker) == [OutboxStatus.PENDING] * 2
    worker.producer.down = None
    assert worker.publish() == 2


def test_a_send_that_failed_for_kafka_starts_the_next_attempt_with_a_new_producer(
    worker: Worker,
) -> None:
    """kafka-python's producer can stay stuck after its broker was away: never reused."""
    create_listings(worker, 1)
    stuck = worker.runtime.producers.current
    stuck.down = KafkaTimeoutError("Timeout waiting for future")
    fresh = worker.producer = FakeProducer()

    assert worker.publish() == 1  # the first attempt failed, its retry sent the row

    assert stuck.closed and stuck.sent == []
    assert len(fresh.events()) == 1


def test_a_dead_letter_kafka_did_not_store_drops_the_producer_too(worker: Worker) -> None:
    stuck = worker.runtime.producers.current
    stuck.down = KafkaTimeoutError("Timeout waiting for future")
    fresh = worker.producer = FakeProducer()
    letter = for_task({"type": "t"}, ValueError("no"), "marketplace.orders.mark_paid")

    with pytest.raises(DeadLetterUnavailable):
        worker.runtime.send_dead_letter(letter)
    worker.runtime.send_dead_letter(letter)

    assert stuck.closed and stuck.sent == []
    assert [record.topic for record in fresh.sent] == [worker.runtime.settings.kafka_dlq_topic]


def test_a_row_kafka_refuses_is_parked_and_the_rest_goes_on(worker: Worker) -> None:
    create_listings(worker, 2)
    worker.command("marketplace.listings.publish", tenant_id=TENANT, listing_id="listing-0")
    worker.producer.refused[CREATED] = MessageSizeTooLargeError("too large")

    assert worker.publish() == 3

    assert statuses(worker) == [OutboxStatus.PARKED, OutboxStatus.PARKED, OutboxStatus.SENT]
    assert [event["type"] for event in worker.producer.events()] == [PUBLISHED]


def test_with_kafka_disabled_rows_are_skipped(worker: Worker) -> None:
    create_listings(worker, 1)
    worker.runtime.settings = worker.runtime.settings.model_copy(update={"kafka_enabled": False})

    assert worker.publish() == 1

    assert statuses(worker) == [OutboxStatus.SKIPPED] and worker.producer.sent == []


def test_the_sweep_asks_for_a_publish_only_when_rows_were_left_pending(worker: Worker) -> None:
    create_listings(worker, 1)
    worker.queued(constants.PUBLISH_QUEUE)
    worker.redis.flushall()

    assert publish_tasks.sweep.apply().get() == 0
    assert worker.queued(constants.PUBLISH_QUEUE) == []

    with worker.runtime.transaction() as ctx:
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        ctx.session.execute(update(OutboxMessage).values(created_at=long_ago))
    assert publish_tasks.sweep.apply().get() == 1
    assert len(worker.queued(constants.PUBLISH_QUEUE)) == 1
    with worker.runtime.transaction() as ctx:
        assert outbox.pending_count(ctx.session) == 1


def test_rows_held_back_behind_another_publisher_are_asked_for_again_shortly(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    behind = outbox.Claimed()
    behind.held_back = 2  # as on PostgreSQL, another publisher holding their tenant's earlier rows
    monkeypatch.setattr(publish_tasks, "_publish_batch", lambda _current: behind)

    publish_tasks.publish_now()

    (request,) = worker.queued(constants.PUBLISH_QUEUE)
    assert request["headers"]["task"] == constants.PUBLISH_TASK
    assert request["headers"]["eta"] is not None, "after the other publisher's commit"
