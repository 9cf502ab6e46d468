"""Tenant isolation: the same ids under two tenants are two different things."""

from __future__ import annotations

import pytest

from marketplace.domain import listings, orders, quotes
from marketplace.domain.errors import InvalidInput, NotFound, NotYetKnown
from marketplace.domain.models import Listing, Seller
from marketplace.events import topics
from tests.domain.conftest import SELLER, Database, Market


def test_the_same_ids_in_two_tenants_never_touch(market: Market, other_market: Market) -> None:
    mine = market.published_listing(listing_id="listing-1", title="Mine")
    theirs = other_market.draft_listing(listing_id="listing-1", title="Theirs")

    market.do(listings.update_listing, "listing-1", {"price": 1})
    market.deliver(topics.REVIEW_CREATED, {"id": "review-1", "sellerId": SELLER, "rating": 1})
    market.deliver(topics.PROFILE_UPDATED, {"userId": SELLER, "displayName": "Mine"})
    market.deliver(topics.SUBSCRIPTION_CHANGED, {"id": "s", "userId": SELLER, "tier": "pro"})

    untouched = other_market.reload(theirs)
    assert (untouched.title, untouched.price, untouched.status) == ("Theirs", 5000, "draft")
    assert (untouched.quality_score, untouched.seller_display_name) == (50.0, None)
    their_seller = other_market.get(Seller, SELLER)
    assert their_seller is not None
    assert (their_seller.tier, their_seller.rating_count) == ("free", 0)
    assert market.reload(mine).price == 1
    assert other_market.types() == ["listing.created"]
    assert {event["tenantid"] for event in market.events()} == {market.tenant}


def test_a_tenant_cannot_reach_another_tenants_entities(
    market: Market, other_market: Market
) -> None:
    order = market.created_order()
    listing = market.get(Listing, order.listing_id)
    assert listing is not None

    with pytest.raises(NotFound):
        other_market.do(listings.close_listing, listing.id, "hijack")
    with pytest.raises(NotFound):
        other_market.do(quotes.accept_quote, order.quote_id)
    with pytest.raises(NotFound):
        other_market.do(orders.cancel_order, order.id, "hijack")
    with pytest.raises(NotYetKnown):
        other_market.pay(order)
    assert market.reload(order).status == "created"


def test_the_same_inbound_event_id_in_two_tenants_is_two_events(
    market: Market, other_market: Market
) -> None:
    review = {"id": "review-1", "sellerId": SELLER, "rating": 5}
    first = market.deliver(topics.REVIEW_CREATED, review, event_id="ce-1")
    second = other_market.deliver(topics.REVIEW_CREATED, review, event_id="ce-1")

    assert not first.duplicate and not second.duplicate


def test_a_tenant_id_that_is_no_uuid_is_refused(db: Database) -> None:
    with pytest.raises(InvalidInput, match="tenant not-a-tenant: cannot create: tenant id is"):
        Market(db, "not-a-tenant").draft_listing()


def test_tenant_ids_are_stored_in_one_canonical_form(db: Database) -> None:
    listing = Market(db, "00000000-0000-0000-0000-00000000000A").draft_listing()

    assert listing.tenant_id == "00000000-0000-0000-0000-00000000000a"
