"""The kit's behaviours through the harness, without any service: decoding, typing, retries,
dead letters, partition order, at most once, the idempotency guard."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from marketplace.consumer import (
    AT_MOST_ONCE,
    CloudEvent,
    DeliveryPolicy,
    KafkaConsumer,
    MemoryStore,
    RawRecord,
    on_message,
)
from marketplace.consumer.idempotency import StoreUnavailable
from marketplace.consumer.policy import Commit
from marketplace.consumer.testing import TestKafkaBroker
from marketplace.errors import PermanentError, TransientError
from marketplace.events import topics
from marketplace.events.outbound import ListingClosed, OrderCompleted
from tests import factories

TENANT = "6f1c0c1e-0000-4000-8000-00000000000a"
OTHER_TENANT = "6f1c0c1e-0000-4000-8000-00000000000d"
"""Of another partition than `TENANT`'s when there are 2."""
ORDER_COMPLETED = topics.ORDER_COMPLETED.name
QUICK = DeliveryPolicy("quick", Commit.AFTER_DELIVERY, max_retries=3)


def completed_data(order_id: str) -> dict[str, Any]:
    return {
        "id": order_id,
        "completedAt": "2026-03-02T12:00:00.000Z",
        "finalAmount": 5000,
        "currency": "USD",
    }


def completed(order_id: str) -> OrderCompleted:
    return OrderCompleted.model_validate(completed_data(order_id))


class Script:
    """What a handler does with each order id: raise these errors in turn, then return."""

    def __init__(self, **plans: list[BaseException]) -> None:
        self.plans = plans

    def play(self, order_id: str) -> None:
        plan = self.plans.get(order_id.replace("-", "_"))
        if plan:
            raise plan.pop(0)


def consumer_of(script: Script, **options: Any) -> type:
    @KafkaConsumer(group_id="review-svc", **options)
    class Orders:
        @on_message(ORDER_COMPLETED)
        def order_completed(self, event: CloudEvent[OrderCompleted]) -> None:
            script.play(event.data.id)

    return Orders


def test_a_handler_gets_the_typed_event_with_every_attribute_and_unknown_fields_kept() -> None:
    seen: list[tuple[CloudEvent[OrderCompleted], RawRecord]] = []

    @KafkaConsumer(group_id="review-svc")
    class Orders:
        @on_message(ORDER_COMPLETED)
        def order_completed(self, event: CloudEvent[OrderCompleted], record: RawRecord) -> None:
            seen.append((event, record))

    with TestKafkaBroker(Orders) as broker:
        cloudevent = factories.cloudevent(
            topics.ORDER_COMPLETED,
            TENANT.upper(),
            completed_data("o-1") | {"rating": "new"},
            event_id="e-1",
            source="marketplace-svc",
        )
        broker.publish_cloudevent(cloudevent | {"subject": "order:o-1"})
        broker.run()

    [(event, record)] = seen
    assert isinstance(event.data, OrderCompleted)
    assert (event.data.id, event.data.final_amount, event.data.model_extra) == (
        "o-1",
        5000,
        {"rating": "new"},
    )
    assert (event.id, event.source, event.type, event.specversion) == (
        "e-1",
        "marketplace-svc",
        ORDER_COMPLETED,
        "1.0",
    )
    assert (event.tenantid, event.subject, event.datacontenttype) == (
        TENANT,
        "order:o-1",
        "application/json",
    )
    assert isinstance(event.time, datetime) and event.time.tzinfo is not None
    assert (record.topic, json.loads(record.value or b""), record.key) == (
        ORDER_COMPLETED,
        cloudevent | {"subject": "order:o-1"},
        TENANT.upper().encode(),
    )
    with pytest.raises(AttributeError):
        event.id = "changed"  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        event.data.id = "changed"


def test_unknown_fields_are_kept_inside_nested_objects_too() -> None:
    seen: list[ListingClosed] = []
    consumer = KafkaConsumer(group_id="stats")

    @consumer.on_message(topics.LISTING_CLOSED)
    def listing_closed(event: CloudEvent[ListingClosed]) -> None:
        seen.append(event.data)

    data = {
        "id": "l-1",
        "sellerId": "s-1",
        "reason": "sold out",
        "closedAt": "2026-03-02T12:00:00.000Z",
        "statistics": {
            "quotesReceived": 1,
            "orders": 1,
            "completedOrders": 1,
            "revenue": 5000,
            "currency": "USD",
            "views": 12,
        },
    }
    with TestKafkaBroker(consumer) as broker:
        broker.publish_cloudevent(
            factories.cloudevent(topics.LISTING_CLOSED, TENANT, data, source="marketplace-svc")
        )
        broker.run()

    assert seen[0].statistics.model_extra == {"views": 12}


def test_another_topic_s_data_is_a_read_only_dict() -> None:
    seen: list[CloudEvent[dict[str, Any]]] = []
    consumer = KafkaConsumer(group_id="g")

    @consumer.on_message("eventzr.payments.refund.v1", outside_catalog=True)
    def refunded(event: CloudEvent[dict[str, Any]]) -> None:
        seen.append(event)

    cloudevent = factories.cloudevent(topics.PAYMENT_COMPLETED, TENANT, {"lines": [{"n": 1}]})
    cloudevent |= {"type": "eventzr.payments.refund.v1", "region": "eu"}
    with TestKafkaBroker(consumer) as broker:
        broker.publish_cloudevent(cloudevent)
        broker.run()

    [event] = seen
    assert event.data["lines"][0]["n"] == 1 and event.extensions == {"region": "eu"}
    with pytest.raises(TypeError):
        event.data["lines"] = []  # type: ignore[index]


def test_a_transient_failure_twice_then_success_is_handled_and_not_dead_lettered() -> None:
    script = Script(o_1=[TransientError("not yet"), TransientError("still not")])
    with TestKafkaBroker(consumer_of(script, policy=QUICK)) as broker:
        broker.publish(completed("o-1"), tenant_id=TENANT)
        broker.run()

    assert [type(call.error).__name__ for call in broker.calls] == [
        "TransientError",
        "TransientError",
        "NoneType",
    ]
    assert [event.data.id for event in broker.events()] == ["o-1"]
    assert broker.dead_letters == []
    assert list(broker.committed("review-svc").values()) == [1]


def test_a_permanent_failure_is_dead_lettered_with_its_headers_and_the_next_record_handled() -> (
    None
):
    script = Script(o_1=[PermanentError("order o-1 cannot be reviewed")])
    with TestKafkaBroker(consumer_of(script)) as broker:
        sent = broker.publish(completed("o-1"), tenant_id=TENANT)
        broker.publish(completed("o-2"), tenant_id=TENANT)
        broker.run()

    [letter] = broker.dead_letters
    assert (letter.value, letter.key) == (sent.value, sent.key)
    assert letter.headers["content-type"] == "application/cloudevents+json"
    assert (letter.error_class, letter.problems) == (
        "PermanentError",
        ["order o-1 cannot be reviewed"],
    )
    assert letter.stage.endswith("consumer_of.<locals>.Orders.order_completed")
    assert letter.original[0] == ORDER_COMPLETED and letter.original[2] == 0
    assert letter.headers["dlq-original-key"] == TENANT
    assert datetime.fromisoformat(letter.headers["dlq-failed-at"]) <= datetime.now(UTC)
    assert [event.data.id for event in broker.events()] == ["o-2"]


def test_retries_exhausted_are_dead_lettered_as_gave_up() -> None:
    script = Script(o_1=[TransientError(f"attempt {n}") for n in range(10)])
    with TestKafkaBroker(consumer_of(script, policy=QUICK)) as broker:
        broker.publish(completed("o-1"), tenant_id=TENANT)
        broker.run()

    [letter] = broker.dead_letters
    assert letter.error_class == "GaveUp"
    assert "failed 4 times, last with TransientError: attempt 3" in letter.problems[0]
    assert len(broker.failures()) == 4


def test_declared_exceptions_are_retried_others_are_dead_lettered_at_once() -> None:
    script = Script(o_1=[TimeoutError("slow")], o_2=[KeyError("bug")])
    with TestKafkaBroker(consumer_of(script, retry_on=[TimeoutError])) as broker:
        broker.publish(completed("o-1"), tenant_id=TENANT)
        broker.publish(completed("o-2"), tenant_id=TENANT)
        broker.run()

    assert [letter.error_class for letter in broker.dead_letters] == ["KeyError"]
    assert [event.data.id for event in broker.events()] == ["o-1"]


def test_a_malformed_record_is_dead_lettered_and_never_handed_to_the_handler() -> None:
    incomplete = factories.cloudevent(
        topics.ORDER_COMPLETED, TENANT, {"id": "o-9"}, source="marketplace-svc"
    )
    cancelled = factories.cloudevent(
        topics.ORDER_CANCELLED, TENANT, completed_data("o-8"), source="marketplace-svc"
    )
    with TestKafkaBroker(consumer_of(Script())) as broker:
        broker.publish_record(ORDER_COMPLETED, b"{not json", key=TENANT.encode())
        broker.publish_cloudevent(incomplete)
        broker.publish_cloudevent(cancelled, topic=ORDER_COMPLETED)
        broker.publish(completed("o-1"), tenant_id=TENANT)
        broker.run()

    not_json, missing_fields, wrong_type = broker.dead_letters
    assert (not_json.value, not_json.stage, not_json.error_class) == (
        b"{not json",
        "consume",
        "EnvelopeError",
    )
    assert "data.completedAt: Field required" in missing_fields.problems
    assert any("is not accepted here" in problem for problem in wrong_type.problems)
    assert [call.event.data.id for call in broker.calls] == ["o-1"], "only the good one got in"


def test_a_partition_waiting_for_a_retry_holds_only_its_own_records() -> None:
    order: list[str] = []
    script = Script(slow=[TransientError("later")])

    @KafkaConsumer(group_id="g", policy=QUICK)
    class Orders:
        @on_message(ORDER_COMPLETED)
        def order_completed(self, event: CloudEvent[OrderCompleted]) -> None:
            script.play(event.data.id)
            order.append(event.data.id)

    with TestKafkaBroker(Orders, partitions=2) as broker:
        broker.publish(completed("slow"), tenant_id=TENANT)
        broker.publish(completed("after-slow"), tenant_id=TENANT)
        broker.publish(completed("other"), tenant_id=OTHER_TENANT)
        broker.run()

    assert order.index("other") < order.index("slow") < order.index("after-slow")


def test_at_most_once_commits_before_handling_and_never_retries() -> None:
    script = Script(o_1=[TransientError("later")])
    with TestKafkaBroker(consumer_of(script, policy=AT_MOST_ONCE)) as broker:
        broker.publish(completed("o-1"), tenant_id=TENANT)
        broker.run()

    assert [letter.error_class for letter in broker.dead_letters] == ["GaveUp"]
    assert len(broker.calls) == 1


def test_the_idempotency_guard_runs_a_handler_once_per_source_and_id() -> None:
    store = MemoryStore()
    with TestKafkaBroker(consumer_of(Script(), idempotency=store)) as broker:
        broker.publish(completed("o-1"), tenant_id=TENANT, event_id="e-1")
        broker.publish(completed("o-1"), tenant_id=TENANT, event_id="e-1")
        broker.publish(completed("o-1"), tenant_id=TENANT, event_id="e-1", source="replayer")
        broker.run()
        counters = broker.groups["review-svc"].counters

    assert [event.source for event in broker.events()] == ["marketplace-svc", "replayer"]
    assert (counters.handled, counters.duplicates) == (2, 1)


def test_async_handlers_and_plain_functions_run_like_methods() -> None:
    seen: list[str] = []
    consumer = KafkaConsumer(group_id="g")

    @consumer.on_message(ORDER_COMPLETED)
    async def order_completed(event: CloudEvent[OrderCompleted]) -> None:
        seen.append(event.data.id)

    with TestKafkaBroker(consumer) as broker:
        broker.publish(completed("o-1"), tenant_id=TENANT)
        broker.run()

    assert seen == ["o-1"]


def test_each_consumer_class_of_a_topic_gets_every_event() -> None:
    @KafkaConsumer(group_id="reviews")
    class Reviews:
        @on_message(ORDER_COMPLETED)
        def order_completed(self, event: CloudEvent[OrderCompleted]) -> None: ...

    @KafkaConsumer(group_id="analytics")
    class Analytics:
        @on_message(ORDER_COMPLETED)
        def count(self, event: CloudEvent[OrderCompleted]) -> None:
            raise PermanentError("analytics is broken")

    with TestKafkaBroker(Reviews, Analytics) as broker:
        broker.publish(completed("o-1"), tenant_id=TENANT)
        broker.run()

    assert [event.data.id for event in broker.events("order_completed")] == ["o-1"]
    [letter] = broker.dead_letters
    assert letter.stage.endswith("Analytics.count")
    assert broker.committed("reviews") == broker.committed("analytics")


def test_counters_count_what_happened() -> None:
    script = Script(o_1=[TransientError("later")], o_2=[PermanentError("never")])
    with TestKafkaBroker(consumer_of(script, policy=QUICK)) as broker:
        for order in ("o-1", "o-2", "o-3"):
            broker.publish(completed(order), tenant_id=TENANT)
        broker.publish_record(ORDER_COMPLETED, b"[]", key=TENANT.encode())
        broker.run()
        counters = broker.groups["review-svc"].counters

    assert (counters.handled, counters.failed, counters.dead_lettered, counters.lag) == (2, 2, 2, 0)
    assert json.loads(broker.dead_letters[1].headers["dlq-problems"])


class FlakyStore(MemoryStore):
    """Does not answer its first `down` calls."""

    def __init__(self, down: int) -> None:
        super().__init__()
        self.down = down

    def seen(self, key: str) -> bool:
        if self.down:
            self.down -= 1
            raise StoreUnavailable("redis down")
        return super().seen(key)


def test_an_idempotency_store_down_is_waited_out_never_dead_lettered() -> None:
    store = FlakyStore(down=QUICK.max_retries + 3)
    with TestKafkaBroker(consumer_of(Script(), policy=QUICK, idempotency=store)) as broker:
        broker.publish(completed("o-1"), tenant_id=TENANT)
        broker.run()

    assert [event.data.id for event in broker.events()] == ["o-1"]
    assert broker.dead_letters == []
    assert len(broker.failures()) == QUICK.max_retries + 3
