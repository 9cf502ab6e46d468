"""The topic catalog is the spec's 18 topics, and refuses to contradict itself."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import pytest

from marketplace.events import inbound, outbound, topics
from marketplace.events.fields import InboundPayload, Payload

SPEC_PRODUCED = [
    "eventzr.marketplace.listing.created.v1",
    "eventzr.marketplace.listing.published.v1",
    "eventzr.marketplace.listing.updated.v1",
    "eventzr.marketplace.listing.closed.v1",
    "eventzr.marketplace.quote.submitted.v1",
    "eventzr.marketplace.quote.accepted.v1",
    "eventzr.marketplace.order.created.v1",
    "eventzr.marketplace.order.completed.v1",
    "eventzr.marketplace.order.cancelled.v1",
    "eventzr.marketplace.dispute.opened.v1",
    "eventzr.marketplace.dispute.resolved.v1",
    "eventzr.marketplace.rfp.broadcast.v1",
]
"""The spec's producer topics, copied by hand: the catalog must not drift from it."""

SPEC_CONSUMED = {
    "eventzr.event.created.v1": "event-svc",
    "eventzr.reviews.review.created.v1": "reviews-svc",
    "eventzr.wallet.payment.completed.v1": "wallet-svc",
    "eventzr.wallet.escrow.released.v1": "wallet-svc",
    "eventzr.subscriptions.subscription.changed.v1": "subscriptions-svc",
    "eventzr.user.profile.updated.v1": "user-svc",
}
"""The spec's consumer topics and the service each comes from."""


@pytest.fixture
def payload_module():
    """`payload_module(name, *models)`: a stand-in for `inbound`/`outbound` defining `models`."""

    def make(name: str, *models: type[Payload]) -> types.ModuleType:
        module = types.ModuleType(name)
        for model in models:
            model.__module__ = name
            setattr(module, model.__name__, model)
        return module

    return make


def test_the_catalog_is_exactly_the_spec_topics():
    assert [topic.name for topic in topics.PRODUCED] == SPEC_PRODUCED
    assert {topic.name: topic.source_service for topic in topics.CONSUMED} == SPEC_CONSUMED
    assert len(topics.ALL) == 18
    assert len({topic.name for topic in topics.ALL}) == 18


def test_the_catalog_splits_into_12_produced_and_6_consumed_topics():
    assert len(topics.PRODUCED) == 12
    assert len(topics.CONSUMED) == 6
    assert set(topics.ALL) == set(topics.PRODUCED) | set(topics.CONSUMED)
    assert all(topic.direction is topics.Direction.PRODUCED for topic in topics.PRODUCED)
    assert all(topic.direction is topics.Direction.CONSUMED for topic in topics.CONSUMED)


@pytest.mark.parametrize("topic", topics.PRODUCED, ids=lambda topic: topic.name)
def test_a_produced_topic_names_its_entity_in_the_subject_prefix(topic):
    assert topic.subject_prefix in {"listing", "quote", "order", "dispute", "rfp"}
    assert topic.name.startswith(f"eventzr.marketplace.{topic.subject_prefix}.")
    assert topic.source_service is None


@pytest.mark.parametrize("topic", topics.CONSUMED, ids=lambda topic: topic.name)
def test_a_consumed_topic_has_no_subject_prefix(topic):
    assert topic.subject_prefix is None


@pytest.mark.parametrize("topic", topics.ALL, ids=lambda topic: topic.name)
def test_every_topic_has_a_payload_model_of_its_direction(topic):
    assert issubclass(topic.payload, Payload)
    if topic.direction is topics.Direction.CONSUMED:
        assert issubclass(topic.payload, InboundPayload)
        assert topic.payload.__module__ == inbound.__name__
    else:
        assert not issubclass(topic.payload, InboundPayload)
        assert topic.payload.__module__ == outbound.__name__
    assert topic.description


def test_no_two_topics_share_a_payload_model():
    assert len({topic.payload for topic in topics.ALL}) == len(topics.ALL)


def test_a_topic_is_found_by_its_name():
    assert topics.by_name("eventzr.wallet.payment.completed.v1") is topics.PAYMENT_COMPLETED
    assert topics.by_name("eventzr.wallet.payment.refunded.v1") is None


def test_the_real_catalog_verifies():
    topics.verify(topics.ALL, (inbound, outbound))


def test_a_topic_listed_twice_is_a_catalog_error():
    with pytest.raises(
        topics.CatalogError, match=r"topic eventzr\.marketplace\.order\.created\.v1 is listed twice"
    ):
        topics.verify((*topics.ALL, topics.ORDER_CREATED), (inbound, outbound))


def test_two_topics_with_one_payload_model_are_a_catalog_error():
    twin = dataclasses.replace(topics.ORDER_CREATED, name="eventzr.marketplace.order.twin.v1")

    with pytest.raises(topics.CatalogError, match="OrderCreated is the payload of two topics"):
        topics.verify((*topics.ALL, twin), (inbound, outbound))


def test_a_payload_model_without_a_topic_is_a_catalog_error(payload_module):
    class OrderRefunded(Payload):
        id: str

    module = payload_module("tests.fake_payloads", OrderRefunded)

    with pytest.raises(
        topics.CatalogError, match="OrderRefunded in tests.fake_payloads is no topic's payload"
    ):
        topics.verify(topics.ALL, (inbound, outbound, module))


def test_a_component_model_used_inside_a_payload_needs_no_topic(payload_module):
    class Line(Payload):
        sku: str

    class Basket(Payload):
        lines: list[Line]

    module = payload_module("tests.fake_payloads", Line, Basket)
    basket = topics.Topic(
        "eventzr.marketplace.basket.created.v1",
        topics.Direction.PRODUCED,
        "A basket",
        Basket,
        "basket",
    )

    topics.verify((*topics.ALL, basket), (module,))


def test_a_model_imported_into_a_payload_module_is_not_its_own(payload_module):
    module = payload_module("tests.fake_payloads")
    module.ListingCreated = outbound.ListingCreated

    topics.verify(topics.ALL, (module,))


def test_a_produced_topic_without_a_subject_prefix_is_a_catalog_error():
    unnamed = dataclasses.replace(topics.ORDER_CREATED, subject_prefix=None)
    others = tuple(topic for topic in topics.ALL if topic is not topics.ORDER_CREATED)

    with pytest.raises(topics.CatalogError, match="only produced topics have a subject prefix"):
        topics.verify((*others, unnamed), (inbound, outbound))


def test_every_problem_of_the_catalog_is_named_at_once(payload_module):
    class Orphan(Payload):
        id: str

    module = payload_module("tests.fake_payloads", Orphan)

    with pytest.raises(topics.CatalogError) as caught:
        topics.verify((*topics.ALL, topics.QUOTE_ACCEPTED), (module,))

    message = str(caught.value)
    assert "topic eventzr.marketplace.quote.accepted.v1 is listed twice" in message
    assert "QuoteAccepted is the payload of two topics" in message
    assert "Orphan in tests.fake_payloads is no topic's payload" in message


def test_a_consumed_topic_without_a_task_is_a_catalog_error():
    untasked = dataclasses.replace(topics.PAYMENT_COMPLETED, task=None)
    others = tuple(topic for topic in topics.ALL if topic is not topics.PAYMENT_COMPLETED)

    with pytest.raises(topics.CatalogError, match="only consumed topics have a task"):
        topics.verify((*others, untasked), (inbound, outbound))


def test_one_task_for_two_topics_is_a_catalog_error():
    twin = dataclasses.replace(topics.REVIEW_CREATED, task=topics.PAYMENT_COMPLETED.task)
    others = tuple(topic for topic in topics.ALL if topic is not topics.REVIEW_CREATED)

    with pytest.raises(topics.CatalogError, match="applies two topics"):
        topics.verify((*others, twin), (inbound, outbound))


def test_the_readme_lists_each_consumed_topic_with_its_task():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = readme.split("| consumed topic | task | effect |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:]]

    listed = {topic.strip(" `"): task.strip(" `") for topic, task in rows}

    assert listed == {topic.name: topic.task for topic in topics.CONSUMED}
