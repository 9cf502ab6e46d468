"""`profile.updated`: a seller's display info, on every one of its listings."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from marketplace.domain import listings
from marketplace.domain.models import Seller
from marketplace.events import topics
from tests.domain.conftest import NOW, SELLER, Market


def profile(market: Market, time: datetime = NOW, **fields: Any) -> Any:
    return market.deliver(topics.PROFILE_UPDATED, {"userId": SELLER} | fields, time=time)


def test_a_profile_reaches_every_listing_of_the_seller(market: Market) -> None:
    draft = market.draft_listing()
    closed = market.draft_listing()
    market.do(listings.close_listing, closed.id, "withdrawn")
    other = market.draft_listing(seller_id="someone-else")
    market.forget_events()

    profile(market, displayName="Chez Anna", avatarUrl="https://cdn.example/anna.png")

    for listing in (draft, closed):
        shown = market.reload(listing)
        assert (shown.seller_display_name, shown.seller_avatar_url) == (
            "Chez Anna", "https://cdn.example/anna.png"
        )  # fmt: skip
    assert market.reload(other).seller_display_name is None
    assert sorted(data["id"] for data in market.data(topics.LISTING_UPDATED)) == sorted(
        [draft.id, closed.id]
    )
    assert market.data(topics.LISTING_UPDATED)[0] == {
        "id": market.data(topics.LISTING_UPDATED)[0]["id"], "sellerId": SELLER,
        "updatedAt": "2026-03-02T12:00:00.000Z", "sellerDisplayName": "Chez Anna",
        "sellerAvatarUrl": "https://cdn.example/anna.png",
    }  # fmt: skip


def test_only_the_fields_sent_change_and_null_clears_one(market: Market) -> None:
    listing = market.draft_listing()
    profile(market, displayName="Chez Anna", avatarUrl="https://cdn.example/anna.png")
    market.forget_events()

    profile(market, NOW + timedelta(seconds=1), avatarUrl=None)

    shown = market.reload(listing)
    assert (shown.seller_display_name, shown.seller_avatar_url) == ("Chez Anna", None)
    assert [sorted(data) for data in market.data(topics.LISTING_UPDATED)] == [
        ["id", "sellerAvatarUrl", "sellerId", "updatedAt"]
    ]


def test_a_profile_for_a_new_seller_creates_it_and_shows_on_its_next_listing(
    market: Market,
) -> None:
    profile(market, displayName="Chez Anna")

    assert market.draft_listing().seller_display_name == "Chez Anna"
    (data,) = market.data(topics.LISTING_CREATED)
    assert data["sellerDisplayName"] == "Chez Anna"


def test_an_older_profile_delivered_late_changes_no_field_set_since(market: Market) -> None:
    profile(market, NOW + timedelta(minutes=2), displayName="New name")
    profile(market, NOW + timedelta(minutes=1), displayName="Old name", avatarUrl="a.png")

    seller = market.get(Seller, SELLER)
    assert seller is not None
    assert (seller.display_name, seller.avatar_url) == ("New name", "a.png")
