"""`inbound.apply`: one effect per consumed topic, once per (tenant, source, id)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from marketplace.domain import inbound
from marketplace.domain.errors import NotYetKnown
from marketplace.domain.models import InboxEntry, Review, Seller
from marketplace.events import topics
from tests.domain.conftest import NOW, SELLER, Market

REVIEW = {"id": "review-1", "sellerId": SELLER, "rating": 5}


def test_every_consumed_topic_has_exactly_one_effect() -> None:
    assert set(inbound.EFFECTS) == {topic.name for topic in topics.CONSUMED}


def test_a_dispatch_table_that_misses_a_topic_fails_at_import() -> None:
    incomplete = dict(inbound.EFFECTS)
    del incomplete[topics.REVIEW_CREATED.name]
    incomplete[topics.LISTING_CREATED.name] = inbound.EFFECTS[topics.EVENT_CREATED.name]

    with pytest.raises(topics.CatalogError) as refused:
        inbound._verify(incomplete)

    assert str(refused.value) == (
        f"inbound effects: {topics.REVIEW_CREATED.name} has no effect; "
        f"{topics.LISTING_CREATED.name} is not a consumed topic"
    )


def test_the_same_event_twice_has_one_effect_and_one_set_of_events(market: Market) -> None:
    market.draft_listing()
    market.forget_events()

    first = market.deliver(topics.REVIEW_CREATED, REVIEW, event_id="ce-1")
    again = market.deliver(topics.REVIEW_CREATED, REVIEW | {"rating": 1}, event_id="ce-1")

    assert (first.duplicate, again.duplicate, again.entity) == (False, True, None)
    seller = market.get(Seller, SELLER)
    assert seller is not None and seller.rating_total == 5
    assert market.types() == ["listing.updated"]


def test_the_inbox_records_what_was_applied(market: Market) -> None:
    market.deliver(topics.REVIEW_CREATED, REVIEW, event_id="ce-1")

    entry = market.get(InboxEntry, "reviews-svc", "ce-1")
    assert entry is not None
    assert (entry.topic, entry.processed_at) == (topics.REVIEW_CREATED.name, NOW)


def test_the_same_id_from_another_source_is_another_event(market: Market) -> None:
    market.deliver(topics.REVIEW_CREATED, REVIEW, event_id="ce-1")

    other = market.deliver(topics.REVIEW_CREATED, REVIEW | {"id": "review-2"}, event_id="ce-1",
                           source="reviews-svc-eu")  # fmt: skip

    assert not other.duplicate and isinstance(other.entity, Review)


def test_a_failed_effect_leaves_nothing_behind_and_can_be_retried(market: Market) -> None:
    order = market.created_order()
    payment = {"id": "payment-1", "orderId": "order-2", "amount": 4500, "currency": "USD"}
    with pytest.raises(NotYetKnown):
        market.deliver(topics.PAYMENT_COMPLETED, payment, event_id="ce-9")
    assert market.get(InboxEntry, "wallet-svc", "ce-9") is None

    retried = market.deliver(topics.PAYMENT_COMPLETED, payment | {"orderId": order.id},
                             event_id="ce-9")  # fmt: skip

    assert not retried.duplicate and market.reload(order).status == "paid"


def test_a_batch_applies_each_event_once_in_order_without_a_savepoint_each(
    market: Market,
) -> None:
    market.draft_listing()
    market.forget_events()
    reviews = [
        market.inbound_event(topics.REVIEW_CREATED, REVIEW | {"id": f"rev-{n}"}, event_id=f"ce-{n}")
        for n in range(3)
    ]
    savepoints = []
    with market.db.sessions() as session, session.begin():
        event.listen(session.connection(), "savepoint", lambda *_: savepoints.append(1))
        outcomes = inbound.apply_batch(market.context(session), [*reviews, reviews[0]])

    assert [o.duplicate for o in outcomes if isinstance(o, inbound.Applied)] == [0, 0, 0, 1]
    assert len(savepoints) == 1, "one for the whole batch"
    seller = market.get(Seller, SELLER)
    assert seller is not None and seller.rating_count == 3
    assert market.types() == ["listing.updated"] * 3


def test_in_a_batch_the_event_that_fails_is_rolled_back_alone(market: Market) -> None:
    order = market.created_order()
    market.forget_events()
    early = {"id": "payment-1", "orderId": "order-2", "amount": 4500, "currency": "USD"}
    events = [
        market.inbound_event(topics.REVIEW_CREATED, REVIEW, event_id="ce-1"),
        market.inbound_event(topics.PAYMENT_COMPLETED, early, event_id="ce-2"),
        market.inbound_event(topics.PAYMENT_COMPLETED, early | {"orderId": order.id},
                             event_id="ce-3"),
    ]  # fmt: skip
    with market.db.sessions() as session, session.begin():
        ctx = market.context(session)
        outcomes = inbound.apply_batch(ctx, events)
        recorded = [message.topic for message in ctx.recorded]

    assert isinstance(outcomes[1], NotYetKnown)
    assert [isinstance(o, inbound.Applied) for o in outcomes] == [True, False, True]
    assert market.get(InboxEntry, "wallet-svc", "ce-2") is None
    assert market.get(InboxEntry, "wallet-svc", "ce-3") is not None
    assert market.reload(order).status == "paid"
    assert recorded == [topics.LISTING_UPDATED.name], "no event of the failed one"


def test_a_batch_finds_a_row_an_earlier_event_of_it_created(market: Market) -> None:
    reviews = [
        market.inbound_event(topics.REVIEW_CREATED, REVIEW | {"id": f"rev-{n}", "sellerId": "new"})
        for n in range(2)
    ]
    with market.db.sessions() as session, session.begin():
        outcomes = inbound.apply_batch(market.context(session), reviews)

    assert [isinstance(o, inbound.Applied) for o in outcomes] == [True, True]
    seller = market.get(Seller, "new")
    assert seller is not None and seller.rating_count == 2, "one seller, both reviews"


def test_a_batch_looks_up_each_prefetched_row_once(market: Market) -> None:
    orders = [market.paid_order(buyer_id=f"buyer-{n}") for n in range(3)]
    releases = [
        market.inbound_event(topics.ESCROW_RELEASED, {"id": f"rel-{n}", "orderId": order.id,
                             "sellerId": SELLER, "amount": order.amount, "currency": "USD"})
        for n, order in enumerate(orders)
    ]  # fmt: skip
    statements: list[str] = []
    with market.db.sessions() as session, session.begin():
        event.listen(
            session.connection(),
            "before_cursor_execute",
            lambda _conn, _cursor, statement, *_: statements.append(" ".join(statement.split())),
        )
        outcomes = inbound.apply_batch(market.context(session), releases)

    assert all(isinstance(o, inbound.Applied) for o in outcomes)
    assert all(market.reload(order).status == "completed" for order in orders)
    assert len(market.events(topics.ORDER_COMPLETED)) == 3
    for table in ("orders", "sellers"):
        lookups = [s for s in statements if s.startswith("SELECT") and f"FROM {table} " in s]
        assert len(lookups) == 1, f"one query of {table} for the batch: {lookups}"
    payouts = [s for s in statements if s.startswith("SELECT") and "FROM payouts " in s]
    assert len(payouts) == 2, f"releases known and amounts released, once each: {payouts}"


def test_in_a_batch_a_release_counts_what_was_released_before_the_batch(market: Market) -> None:
    order = market.paid_order()
    half = {"orderId": order.id, "sellerId": SELLER, "amount": order.amount // 2,
            "currency": "USD"}  # fmt: skip
    with market.db.sessions() as session, session.begin():
        first = market.inbound_event(topics.ESCROW_RELEASED, half | {"id": "rel-0"})
        assert isinstance(inbound.apply_batch(market.context(session), [first])[0], inbound.Applied)
    releases = [
        market.inbound_event(topics.ESCROW_RELEASED, half | {"id": f"rel-{n}"}) for n in (1, 2)
    ]
    with market.db.sessions() as session, session.begin():
        outcomes = inbound.apply_batch(market.context(session), releases)

    assert [isinstance(o, inbound.Applied) for o in outcomes] == [True, False]
    assert f"of which {2 * (order.amount // 2)} is released already" in str(outcomes[1])


def test_in_a_batch_a_release_counts_the_releases_before_it_not_yet_written(
    market: Market,
) -> None:
    order = market.paid_order()
    half = {"orderId": order.id, "sellerId": SELLER, "amount": order.amount // 2,
            "currency": "USD"}  # fmt: skip
    releases = [
        market.inbound_event(topics.ESCROW_RELEASED, half | {"id": f"rel-{n}"}) for n in range(3)
    ]
    with market.db.sessions() as session, session.begin():
        outcomes = inbound.apply_batch(market.context(session), releases)

    assert [isinstance(o, inbound.Applied) for o in outcomes] == [True, True, False]
    assert "amount" in str(outcomes[2]), "a third half is more than was paid in"
    assert market.reload(order).status == "completed"
    assert len(market.events(topics.ORDER_COMPLETED)) == 1
