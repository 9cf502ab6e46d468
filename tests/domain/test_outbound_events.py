"""Which operation produces which of the 12 outbound types, and that each payload is complete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from marketplace.domain import disputes, listings, orders, quotes, rfps
from marketplace.events import topics
from tests.domain.conftest import BUYER, NOW, SELLER, Market

Action = Callable[[], object]

PRODUCES: dict[str, list[str]] = {
    "create_listing": ["listing.created"],
    "publish_listing": ["listing.published"],
    "update_listing": ["listing.updated"],
    "close_listing": ["listing.closed"],
    "submit_quote": ["quote.submitted"],
    "accept_quote": ["quote.accepted", "order.created"],
    "create_order": [],
    "complete_order": ["order.completed"],
    "cancel_order": ["order.cancelled"],
    "open_dispute": ["dispute.opened"],
    "resolve_dispute": ["dispute.resolved"],
    "broadcast_rfp": ["rfp.broadcast"],
    "event.created": ["listing.created", "listing.created"],
    "review.created": ["listing.updated"],
    "payment.completed": [],
    "escrow.released": ["order.completed"],
    "subscription.changed": [],
    "profile.updated": ["listing.updated"],
}
"""Operation (or consumed event) -> the types it records, in order (one listing each)."""


def given(market: Market, operation: str) -> Action:
    """Set the scene for `operation` and return it, ready to run."""
    m = market
    if operation == "create_listing":
        return lambda: m.draft_listing()
    if operation in ("publish_listing", "update_listing", "close_listing"):
        listing = m.draft_listing()
        return {
            "publish_listing": lambda: m.do(listings.publish_listing, listing.id),
            "update_listing": lambda: m.do(listings.update_listing, listing.id, {"price": 1}),
            "close_listing": lambda: m.do(listings.close_listing, listing.id, "sold out"),
        }[operation]
    if operation == "submit_quote":
        listing = m.published_listing()
        return lambda: m.submitted_quote(listing)
    if operation in ("accept_quote", "create_order"):
        quote = m.accepted_quote() if operation == "create_order" else m.submitted_quote()
        function = orders.create_order if operation == "create_order" else quotes.accept_quote
        return lambda: m.do(function, quote.id)
    if operation in ("complete_order", "open_dispute", "escrow.released"):
        order = m.paid_order()
        return {
            "complete_order": lambda: m.do(orders.complete_order, order.id),
            "open_dispute": lambda: m.open_dispute(order),
            "escrow.released": lambda: m.deliver(topics.ESCROW_RELEASED, {
                "id": "r-1", "orderId": order.id, "sellerId": SELLER, "amount": 1,
                "currency": "USD"}),
        }[operation]  # fmt: skip
    if operation in ("cancel_order", "payment.completed"):
        order = m.created_order()
        if operation == "payment.completed":
            return lambda: m.pay(order)
        return lambda: m.do(orders.cancel_order, order.id, "changed plans")
    if operation == "resolve_dispute":
        dispute = m.open_dispute()
        return lambda: m.do(disputes.resolve_dispute, dispute.id, outcome="split", notes="Even")
    if operation == "broadcast_rfp":
        m.published_listing(lane="catering")
        return lambda: m.do(
            rfps.broadcast_rfp, buyer_id=BUYER, title="Gala", requirements="200 guests",
            target_lanes=["catering"], deadline=NOW + timedelta(days=7),
        )  # fmt: skip
    m.draft_listing()
    data = {
        "event.created": {"id": "e-1", "organizerId": "org", "name": "Fair", "exhibitorSlots": 1,
                          "startsAt": "2026-05-01T09:00:00Z", "endsAt": "2026-05-01T18:00:00Z",
                          "sponsorshipTiers": [{"name": "Gold", "price": 1, "currency": "USD"}]},
        "review.created": {"id": "review-1", "sellerId": SELLER, "rating": 5},
        "subscription.changed": {"id": "s-1", "userId": SELLER, "tier": "pro"},
        "profile.updated": {"userId": SELLER, "displayName": "Chez Anna"},
    }[operation]  # fmt: skip
    topic = next(topic for topic in topics.CONSUMED if topic.name.endswith(f"{operation}.v1"))
    return lambda: m.deliver(topic, data)


@pytest.mark.parametrize("operation", list(PRODUCES))
def test_each_operation_records_exactly_its_events(market: Market, operation: str) -> None:
    action = given(market, operation)
    market.forget_events()

    action()

    assert market.types() == PRODUCES[operation]
    for event in market.events():
        topic = topics.by_name(event["type"])
        assert topic is not None and topic.subject_prefix is not None
        assert event["subject"] == f"{topic.subject_prefix}:{event['data']['id']}"
        payload = topic.payload.model_validate(event["data"])
        if topic is not topics.LISTING_UPDATED:  # partial by design; all others are complete
            every_field = {
                field.alias or name for name, field in type(payload).model_fields.items()
            }
            assert set(event["data"]) == every_field


def test_the_operations_produce_all_12_types_and_nothing_else() -> None:
    produced = {
        f"eventzr.marketplace.{short}.v1" for shorts in PRODUCES.values() for short in shorts
    }

    assert produced == {topic.name for topic in topics.PRODUCED}
