"""Inbound tasks in-process, as the bridge sends them: applied once, dead-lettered when they can
never apply, retried while they cannot yet, and always settled in the ledger."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from marketplace.events import topics
from tests import factories
from tests.workers.conftest import Worker
from workers import constants, inbound_tasks
from workers.celery_app import app
from workers.task_sender import TaskSender

TENANT = "00000000-0000-0000-0000-000000000001"
DLQ = "eventzr.marketplace.dlq.v1"


def event_created(event_id: str = "evt-1") -> dict[str, Any]:
    data = {
        "id": event_id,
        "organizerId": "org-1",
        "name": "Expo",
        "startsAt": "2026-05-01T09:00:00Z",
        "endsAt": "2026-05-03T18:00:00Z",
    }
    return factories.cloudevent(topics.EVENT_CREATED, TENANT, data)


def payment(order_id: str) -> dict[str, Any]:
    data = {"id": "pay-1", "orderId": order_id, "amount": 5000, "currency": "USD"}
    return factories.cloudevent(topics.PAYMENT_COMPLETED, TENANT, data)


def dead_letters(worker: Worker) -> list[dict[str, str]]:
    return [
        {name: value.decode() for name, value in record.headers}
        for record in worker.producer.sent
        if record.topic == DLQ
    ]


def test_every_consumed_topic_has_its_task_on_the_inbound_queue() -> None:
    for topic in topics.CONSUMED:
        task = inbound_tasks.TASKS[topic.name]
        assert task.name == topic.task and app.tasks[topic.task] is task._get_current_object()
        assert app.amqp.router.route({}, task.name)["queue"].name == constants.INBOUND_QUEUE
    assert set(inbound_tasks.TASKS) == {topic.name for topic in topics.CONSUMED}


def test_an_event_is_applied_once_and_settled_in_the_ledger(worker: Worker) -> None:
    cloudevent = event_created()
    worker.runtime.ledger.record([cloudevent], now=0)

    first = worker.apply(cloudevent)
    again = worker.apply(cloudevent)

    assert (first["duplicate"], first["entity"]["eventId"]) == (False, "evt-1")
    assert (again["duplicate"], again["entity"]) == (True, None)
    assert worker.runtime.ledger.size() == 0


def test_an_event_for_another_topic_is_dead_lettered_with_the_task_as_its_stage(
    worker: Worker,
) -> None:
    cloudevent = event_created()
    worker.runtime.ledger.record([cloudevent], now=0)
    task = inbound_tasks.TASKS[topics.PROFILE_UPDATED.name]

    with pytest.raises(Exception, match="invalid CloudEvent"):
        task.apply(args=[cloudevent], task_id=cloudevent["id"]).get()

    (letter,) = dead_letters(worker)
    assert letter["dlq-stage"] == topics.PROFILE_UPDATED.task
    assert letter["dlq-original-topic"] == topics.EVENT_CREATED.name
    assert worker.runtime.ledger.size() == 0


def test_a_payment_for_an_order_not_known_yet_is_retried_then_dead_lettered(
    worker: Worker,
) -> None:
    with pytest.raises(Exception, match="gave up after 3 attempts"):
        worker.apply(payment("order-not-yet"))

    (letter,) = dead_letters(worker)
    assert "not known yet" in letter["dlq-error-message"]


@pytest.mark.parametrize("arguments", [["not an event"], [1, 2], [None]])
def test_a_task_sent_by_hand_with_odd_arguments_is_dead_lettered(
    worker: Worker, arguments: list[Any]
) -> None:
    task = inbound_tasks.TASKS[topics.EVENT_CREATED.name]

    with pytest.raises(Exception):  # noqa: B017  (each argument fails its own way)
        task.apply(args=arguments).get()

    (letter,) = dead_letters(worker)
    assert letter["dlq-stage"] == topics.EVENT_CREATED.task


def test_with_kafka_disabled_a_dead_letter_is_logged_whole(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    worker.runtime.settings = worker.runtime.settings.model_copy(update={"kafka_enabled": False})

    with pytest.raises(Exception, match="invalid CloudEvent"):
        inbound_tasks.TASKS[topics.PROFILE_UPDATED.name].apply(args=[event_created()]).get()

    assert worker.producer.sent == []
    assert any('\\"id\\": \\"evt-1\\"' in record.getMessage() for record in caplog.records)


def send_batch(worker: Worker, cloudevents: list[dict[str, Any]]) -> None:
    """As the bridge sends them: recorded in the ledger, then enqueued in batches."""
    TaskSender(app, worker.runtime.ledger).send_cloudevents(cloudevents)


def an_order(worker: Worker) -> str:
    from tests.workers.test_command_tasks import LISTING

    worker.command("marketplace.listings.create", command_id="l-1", **LISTING)
    worker.command("marketplace.listings.publish", tenant_id=TENANT, listing_id="l-1")
    quote = {"tenant_id": TENANT, "listing_id": "l-1", "amount": 5000, "currency": "USD"}
    worker.command("marketplace.quotes.submit", command_id="q-1", buyer_id="b-1", **quote)
    worker.command("marketplace.quotes.accept", tenant_id=TENANT, quote_id="q-1")
    order = worker.command("marketplace.orders.create", tenant_id=TENANT, quote_id="q-1")
    worker.queued(constants.PUBLISH_QUEUE)  # the commands' publish requests, dropped
    worker.redis.delete(constants.PUBLISH_QUEUED_KEY)
    return str(order["id"])


def test_the_bridge_sends_events_in_batches_of_at_most_the_batch_size(worker: Worker) -> None:
    events = [event_created(f"evt-{number}") for number in range(constants.INBOUND_BATCH_SIZE + 1)]

    send_batch(worker, events)

    sizes = [len(json.loads(base64.b64decode(m["body"]))[0][0]) for m in worker.queued("inbound")]
    assert sizes == [constants.INBOUND_BATCH_SIZE, 1]


def test_the_sender_counts_the_tasks_no_worker_took_yet_and_none_when_redis_is_away(
    worker: Worker,
) -> None:
    """On the broker's Redis, where kombu keeps a queue's messages in a list of its name and
    those of priority p in `<name>\\x06\\x16<p>` (here the broker is in memory, so the lists
    are filled by hand)."""
    sender = TaskSender(app, worker.runtime.ledger)
    assert sender.waiting() == 0

    worker.redis.lpush(constants.INBOUND_QUEUE, "task-1", "task-2", "task-3")
    worker.redis.lpush(f"{constants.INBOUND_QUEUE}\x06\x169", "a task of priority 9")
    assert sender.waiting() == 4

    worker.redis_server.connected = False
    assert sender.waiting() == 0, "an outage is for `send` to report, not for the hold"


def test_a_smaller_batch_size_splits_the_events_into_more_tasks_in_order(worker: Worker) -> None:
    events = [event_created(f"evt-{number}") for number in range(5)]

    TaskSender(app, worker.runtime.ledger, batch_size=2).send_cloudevents(events)

    batches = [json.loads(base64.b64decode(m["body"]))[0][0] for m in worker.queued("inbound")]
    assert [[event["data"]["id"] for event in batch] for batch in batches] == [
        ["evt-0", "evt-1"],
        ["evt-2", "evt-3"],
        ["evt-4"],
    ]


def test_in_a_batch_each_event_gets_its_own_outcome_and_the_good_ones_commit(
    worker: Worker,
) -> None:
    order = an_order(worker)
    good, again = event_created("evt-1"), payment(order)
    early = payment("order-later")
    broken = {**event_created("evt-2"), "tenantid": "not-a-uuid"}
    send_batch(worker, [good, again, early, broken, again])

    (outcome,) = worker.run_queued()

    assert outcome == {"applied": 2, "duplicates": 1, "retried": 1, "dead_lettered": 1}
    (letter,) = dead_letters(worker)
    assert letter["dlq-stage"] == topics.EVENT_CREATED.task
    assert "tenantid" in letter["dlq-problems"]
    (retry,) = worker.queued(constants.INBOUND_QUEUE)
    assert (retry["headers"]["task"], retry["headers"]["id"]) == (
        topics.PAYMENT_COMPLETED.task,
        early["id"],
    )
    assert retry["headers"]["retries"] == 1
    unsettled = worker.runtime.ledger.unsettled_since(float("inf"), limit=10)
    assert [event["id"] for event in unsettled] == [early["id"]]


def test_an_event_that_fails_for_good_is_rolled_back_alone(worker: Worker) -> None:
    order = an_order(worker)
    short = payment(order)
    short["data"]["amount"] = 4000
    send_batch(worker, [short, event_created("evt-1")])

    (outcome,) = worker.run_queued()

    assert outcome["dead_lettered"] == 1 and outcome["applied"] == 1
    (letter,) = dead_letters(worker)
    assert (
        letter["dlq-stage"] == topics.PAYMENT_COMPLETED.task and "amount" in letter["dlq-problems"]
    )
    assert worker.apply(payment(order))["entity"]["status"] == "paid"


def test_a_batch_argument_that_is_no_list_is_dead_lettered(worker: Worker) -> None:
    with pytest.raises(inbound_tasks.NotABatch):
        inbound_tasks.apply_batch.apply(args=[event_created()]).get()

    (letter,) = dead_letters(worker)
    assert letter["dlq-stage"] == constants.APPLY_BATCH_TASK


def escrow_release(order_id: str) -> dict[str, Any]:
    data = {"id": "rel-1", "orderId": order_id, "sellerId": "seller-1", "amount": 5000,
            "currency": "USD"}  # fmt: skip
    return factories.cloudevent(topics.ESCROW_RELEASED, TENANT, data)


def test_a_batch_publishes_what_it_committed_itself_with_one_flush(worker: Worker) -> None:
    order = an_order(worker)
    flushes = worker.producer.flushes
    send_batch(worker, [payment(order), escrow_release(order)])

    worker.run_queued()

    (completed,) = worker.producer.events(topics.ORDER_COMPLETED.name)
    assert completed["subject"].endswith(order)
    assert worker.producer.flushes == flushes + 1
    assert worker.queued(constants.PUBLISH_QUEUE) == [], "no publish task"


def test_a_batch_that_cannot_publish_leaves_it_to_a_publish_task(worker: Worker) -> None:
    order = an_order(worker)
    worker.producer.down = KafkaTimeoutError("no broker")
    send_batch(worker, [payment(order), escrow_release(order)])

    (outcome,) = worker.run_queued()

    assert outcome["applied"] == 2, "committed all the same"
    assert len(worker.queued(constants.PUBLISH_QUEUE)) == 1
    worker.producer.down = None
    assert worker.publish() >= 1
    assert len(worker.producer.events(topics.ORDER_COMPLETED.name)) == 1


def test_after_a_failed_publish_the_next_batches_hand_over_without_trying(
    worker: Worker,
) -> None:
    order = an_order(worker)
    worker.producer.down = KafkaTimeoutError("no broker")
    release = escrow_release(order)
    send_batch(worker, [payment(order), release])
    worker.run_queued()
    worker.queued(constants.PUBLISH_QUEUE)
    worker.redis.delete(constants.PUBLISH_QUEUED_KEY)
    flushes = worker.producer.flushes

    send_batch(worker, [release])  # a duplicate publishes too (it may be a redelivery)
    worker.run_queued()

    assert worker.producer.flushes == flushes, "Kafka not waited for again"
    assert len(worker.queued(constants.PUBLISH_QUEUE)) == 1
