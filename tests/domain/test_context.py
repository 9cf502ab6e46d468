"""What a Context tells its caller: which events the transaction recorded."""

from __future__ import annotations

from marketplace.domain import inbound, listings
from marketplace.events import topics
from tests.domain.conftest import Market


def test_the_context_lists_the_events_its_transaction_recorded(market: Market) -> None:
    with market.db.sessions() as session, session.begin():
        ctx = market.context(session)
        listing = listings.create_listing(
            ctx, market.tenant, seller_id="seller-1", title="Catering", lane="vendora",
            price=5000, currency="USD",
        )  # fmt: skip

    assert [message.topic for message in ctx.recorded] == [topics.LISTING_CREATED.name]
    assert ctx.recorded[0].envelope["subject"] == f"listing:{listing.id}"


def test_an_effect_that_changes_no_listing_records_nothing(market: Market) -> None:
    with market.db.sessions() as session, session.begin():
        ctx = market.context(session)
        event = market.inbound_event(
            topics.SUBSCRIPTION_CHANGED, {"id": "sub-1", "userId": "seller-1", "tier": "pro"}
        )
        inbound.apply(ctx, event)

    assert ctx.recorded == []
