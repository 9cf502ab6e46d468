"""Sellers: created on first sight; `subscription.changed` sets tier and listing limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from marketplace.domain import sellers
from marketplace.domain.errors import IllegalTransition, InvalidInput
from marketplace.domain.models import Seller
from marketplace.events import topics
from tests.domain.conftest import NOW, SELLER, Market


def subscribe(market: Market, tier: str, **fields: Any) -> Any:
    time = fields.pop("time", None)
    data = {"id": f"sub-{tier}", "userId": SELLER, "tier": tier} | fields
    return market.deliver(topics.SUBSCRIPTION_CHANGED, data, time=time)


def seller(market: Market) -> Seller:
    found = market.get(Seller, SELLER)
    assert found is not None
    return found


def test_a_seller_is_created_on_first_sight_on_the_free_tier(market: Market) -> None:
    market.draft_listing()

    assert seller(market).as_dict() | {"createdAt": None, "updatedAt": None} == {
        "tenantId": market.tenant, "id": SELLER, "displayName": None, "avatarUrl": None,
        "displayNameAt": None, "avatarUrlAt": None, "ratingCount": 0, "ratingTotal": 0,
        "ratingAverage": None, "tier": "free", "listingLimit": 3, "subscriptionAt": None,
        "payoutsReceived": 0, "createdAt": None, "updatedAt": None,
    }  # fmt: skip


@pytest.mark.parametrize(("tier", "limit"), list(sellers.TIER_LISTING_LIMITS.items()))
def test_a_tier_sets_the_listing_limit_from_the_table(
    market: Market, tier: str, limit: Any
) -> None:
    subscribe(market, tier.upper())

    assert (seller(market).tier, seller(market).listing_limit) == (tier, limit)


def test_the_events_listing_limit_beats_the_table(market: Market) -> None:
    subscribe(market, "pro", listingLimit=7)
    subscribe(market, "custom-deal", listingLimit=500, time=NOW + timedelta(seconds=1))

    assert (seller(market).tier, seller(market).listing_limit) == ("custom-deal", 500)


def test_an_unknown_tier_without_a_limit_is_permanent(market: Market) -> None:
    with pytest.raises(InvalidInput, match="tier: 'platinum' is not one of free, basic, pro"):
        subscribe(market, "platinum")


def test_lowering_the_limit_closes_nothing_but_refuses_the_next_publish(market: Market) -> None:
    subscribe(market, "basic")
    published = [market.published_listing() for _ in range(5)]
    subscribe(market, "free", time=NOW + timedelta(seconds=1))

    assert all(market.reload(listing).status == "published" for listing in published)
    with pytest.raises(IllegalTransition, match="has 5 of 3 published listings"):
        market.published_listing()


def test_an_older_subscription_delivered_late_is_ignored(market: Market) -> None:
    subscribe(market, "pro", time=NOW + timedelta(hours=1))
    subscribe(market, "basic", time=NOW)

    assert (seller(market).tier, seller(market).subscription_at) == (
        "pro",
        NOW + timedelta(hours=1),
    )
