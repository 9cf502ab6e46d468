"""Declaring consumers: what is accepted, and every mistake refused at import, by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from marketplace.consumer import (
    AT_MOST_ONCE,
    CloudEvent,
    DeclarationError,
    DeliveryPolicy,
    KafkaConsumer,
    MemoryStore,
    RawRecord,
    on_message,
)
from marketplace.consumer.declaration import declaration_of
from marketplace.consumer.policy import Commit
from marketplace.events import topics
from marketplace.events.fields import Payload
from marketplace.events.inbound import PaymentCompleted
from marketplace.events.outbound import ListingCreated, OrderCancelled, OrderCompleted

ORDER_COMPLETED = topics.ORDER_COMPLETED.name


def test_a_decorated_class_is_returned_as_it_was_with_its_handlers_declared() -> None:
    @KafkaConsumer(group_id="review-svc-marketplace-consumer")
    class MarketplaceEventHandler:
        @on_message("eventzr.marketplace.listing.created.v1")
        async def listing_created(self, event: CloudEvent[ListingCreated]) -> None: ...

        @on_message(topics.ORDER_COMPLETED)
        def order_completed(self, event: CloudEvent[OrderCompleted], record: RawRecord) -> None: ...

    declaration = declaration_of(MarketplaceEventHandler)
    by_topic = {handler.topic: handler for handler in declaration.handlers}

    assert MarketplaceEventHandler().order_completed.__name__ == "order_completed"
    assert declaration.group_id == "review-svc-marketplace-consumer"
    assert declaration.dead_letter_topic == "review-svc-marketplace-consumer.dlq"
    assert declaration.topics == [topics.LISTING_CREATED.name, ORDER_COMPLETED]
    assert by_topic[topics.LISTING_CREATED.name].is_async
    assert by_topic[ORDER_COMPLETED].passes_record and not by_topic[ORDER_COMPLETED].is_async
    assert by_topic[ORDER_COMPLETED].model is OrderCompleted
    assert by_topic[ORDER_COMPLETED].name.endswith(
        "test_declaration:test_a_decorated_class_is_returned_as_it_was_with_its_handlers_declared"
        ".<locals>.MarketplaceEventHandler.order_completed"
    )


@pytest.mark.parametrize(
    "annotation",
    [CloudEvent, CloudEvent[Any], CloudEvent[OrderCompleted], CloudEvent[Payload], None],
    ids=["bare", "any", "model", "base-model", "none"],
)
def test_a_typed_topic_takes_its_model_or_a_looser_annotation(annotation: Any) -> None:
    def handler(self: object, event) -> None:  # type: ignore[no-untyped-def]
        ...

    if annotation is not None:
        handler.__annotations__["event"] = annotation

    @KafkaConsumer(group_id="g")
    class Handler:
        order_completed = on_message(ORDER_COMPLETED)(handler)

    assert declaration_of(Handler).handlers[0].model is OrderCompleted


@pytest.mark.parametrize(
    "annotation", [CloudEvent[dict[str, Any]], CloudEvent[dict], CloudEvent[Mapping[str, Any]]]
)
def test_any_other_topic_takes_its_data_as_a_dict(annotation: Any) -> None:
    consumer = KafkaConsumer(group_id="g")

    def refund(event) -> None:  # type: ignore[no-untyped-def]
        ...

    def paid(event) -> None:  # type: ignore[no-untyped-def]
        ...

    refund.__annotations__["event"] = paid.__annotations__["event"] = annotation
    consumer.on_message("eventzr.payments.refund.v1", outside_catalog=True)(refund)
    consumer.on_message(topics.PAYMENT_COMPLETED)(paid)

    assert [h.model for h in consumer.declaration.handlers] == [None, None]


def test_a_topic_not_in_the_catalog_fails_at_import_with_the_closest_name() -> None:
    with pytest.raises(DeclarationError) as raised:

        @KafkaConsumer(group_id="g")
        class Handler:
            @on_message("eventzr.marketplace.order.complete.v1")
            def order_completed(self, event: CloudEvent[OrderCompleted]) -> None: ...

    message = str(raised.value)
    assert "'eventzr.marketplace.order.complete.v1' is not in the marketplace's topic catalog" in (
        message
    )
    assert f"did you mean {ORDER_COMPLETED}?" in message
    assert "outside_catalog=True" in message


def test_a_handler_annotated_with_another_topic_s_model_fails_at_import() -> None:
    with pytest.raises(
        DeclarationError,
        match=r"carries OrderCompleted, but the handler is "
        r"annotated CloudEvent\[OrderCancelled\]",
    ) as raised:

        @KafkaConsumer(group_id="g")
        class Handler:
            @on_message(ORDER_COMPLETED)
            def order_completed(self, event: CloudEvent[OrderCancelled]) -> None: ...

    assert "Handler.order_completed" in str(raised.value)


def test_the_model_alone_is_not_the_event() -> None:
    with pytest.raises(
        DeclarationError,
        match=r"annotate the event CloudEvent\[OrderCompleted\], "
        r"not OrderCompleted",
    ):

        @KafkaConsumer(group_id="g")
        class Handler:
            @on_message(ORDER_COMPLETED)
            def order_completed(self, event: OrderCompleted) -> None: ...


def test_a_model_on_a_topic_the_marketplace_does_not_produce_fails_at_import() -> None:
    consumer = KafkaConsumer(group_id="g")
    with pytest.raises(DeclarationError, match="arrives as a dict"):

        @consumer.on_message(topics.PAYMENT_COMPLETED)
        def paid(event: CloudEvent[PaymentCompleted]) -> None: ...


def test_two_handlers_for_one_topic_in_one_class_fail_at_import_naming_both() -> None:
    with pytest.raises(DeclarationError) as raised:

        @KafkaConsumer(group_id="g")
        class Handler:
            @on_message(ORDER_COMPLETED)
            def first(self, event: CloudEvent[OrderCompleted]) -> None: ...

            @on_message(ORDER_COMPLETED)
            def second(self, event: CloudEvent[OrderCompleted]) -> None: ...

    assert f"Handler has 2 handlers for {ORDER_COMPLETED} (first, second)" in str(raised.value)


def test_two_functions_for_one_topic_in_one_group_fail_at_import() -> None:
    consumer = KafkaConsumer(group_id="reviews")

    @consumer.on_message(ORDER_COMPLETED)
    def first(event: CloudEvent[OrderCompleted]) -> None: ...

    with pytest.raises(DeclarationError, match=r"group reviews has 2 handlers"):

        @consumer.on_message(ORDER_COMPLETED)
        def second(event: CloudEvent[OrderCompleted]) -> None: ...


def test_one_topic_may_have_handlers_in_different_consumer_classes() -> None:
    @KafkaConsumer(group_id="a")
    class First:
        @on_message(ORDER_COMPLETED)
        def handle(self, event: CloudEvent[OrderCompleted]) -> None: ...

    @KafkaConsumer(group_id="b")
    class Second:
        @on_message(ORDER_COMPLETED)
        def handle(self, event: CloudEvent[OrderCompleted]) -> None: ...

    assert declaration_of(First).topics == declaration_of(Second).topics == [ORDER_COMPLETED]


def test_every_signature_problem_is_named_at_once() -> None:
    with pytest.raises(DeclarationError) as raised:

        @KafkaConsumer(group_id="g")
        class Handler:
            @on_message(ORDER_COMPLETED)
            def no_event(self) -> None: ...

            @on_message(topics.ORDER_CANCELLED)
            def extra(self, event: CloudEvent[OrderCancelled], retries: int) -> None: ...

    assert raised.value.problems == [
        "test_every_signature_problem_is_named_at_once.<locals>.Handler.no_event takes no event: "
        "its first parameter receives the CloudEvent",
        "test_every_signature_problem_is_named_at_once.<locals>.Handler.extra: parameter "
        "'retries' is neither the event nor the raw record (annotate it RawRecord) and has no "
        "default",
    ]


def test_a_class_without_handlers_and_a_function_decorated_as_a_class_are_refused() -> None:
    with pytest.raises(DeclarationError, match="Empty declares no @on_message handler"):

        @KafkaConsumer(group_id="g")
        class Empty:
            pass

    with pytest.raises(DeclarationError, match="decorates a class"):
        KafkaConsumer(group_id="g")(lambda event: None)  # type: ignore[arg-type]


def test_bad_group_options_are_all_named() -> None:
    with pytest.raises(DeclarationError) as raised:
        KafkaConsumer(
            group_id=" ",
            policy=DeliveryPolicy("fast", Commit.BEFORE_DELIVERY, max_retries=3),
            retry_on=[ValueError, "TimeoutError"],  # type: ignore[list-item]
            idempotency=object(),  # type: ignore[arg-type]
            dead_letter_topic="no spaces allowed",
        )

    assert raised.value.problems == [
        "group_id must be a non-empty string, got ' '",
        "policy 'fast': a policy that commits before delivery cannot retry (max_retries=0)",
        "retry_on: 'TimeoutError' is not an exception class",
        "idempotency: <object object at " + raised.value.problems[3].split(" at ", 1)[1],
        "dead-letter topic 'no spaces allowed' is not a Kafka topic name (1-249 of A-Z a-z 0-9 "
        ". _ -); pass dead_letter_topic=",
    ]


def test_the_group_s_options_are_kept_on_its_declaration() -> None:
    store = MemoryStore()

    @KafkaConsumer(
        group_id="g",
        policy=AT_MOST_ONCE,
        retry_on=[TimeoutError],
        idempotency=store,
        dead_letter_topic="g.dead",
    )
    class Handler:
        @on_message(ORDER_COMPLETED)
        def handle(self, event: CloudEvent[OrderCompleted]) -> None: ...

    declaration = declaration_of(Handler())
    assert (declaration.policy, declaration.retry_on, declaration.idempotency) == (
        AT_MOST_ONCE,
        (TimeoutError,),
        store,
    )
    assert declaration.dead_letter_topic == "g.dead"


def test_an_object_that_is_no_consumer_is_refused() -> None:
    with pytest.raises(DeclarationError, match="neither a @KafkaConsumer class"):
        declaration_of(object())
