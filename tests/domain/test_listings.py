"""Listings: draft -> published -> closed, the seller's limit, partial updates, statistics."""

from __future__ import annotations

import pytest

from marketplace.domain import listings, orders, sellers
from marketplace.domain.errors import IllegalTransition, InvalidInput, NotFound
from marketplace.domain.models import Listing, ListingStatus
from marketplace.events import topics
from tests.domain.conftest import NOW, SELLER, Market

NOW_TEXT = "2026-03-02T12:00:00.000Z"


def test_a_new_listing_is_a_draft_and_announced_with_its_seller(market: Market) -> None:
    listing = market.draft_listing(description="Hot and cold buffets")

    assert listing.status == ListingStatus.DRAFT
    assert market.types() == ["listing.created"]
    (event,) = market.events()
    assert event["subject"] == f"listing:{listing.id}"
    assert event["data"] == {
        "id": listing.id, "title": "Premium Catering Service", "lane": "vendora",
        "sellerId": SELLER, "price": 5000, "currency": "USD",
        "description": "Hot and cold buffets", "sellerDisplayName": None, "status": "draft",
        "kind": "standard", "eventId": None, "qualityScore": 50.0, "sellerAvatarUrl": None,
        "createdAt": NOW_TEXT,
    }  # fmt: skip


def test_a_listing_id_given_twice_creates_one_listing(market: Market) -> None:
    first = market.draft_listing(listing_id="listing-1")
    again = market.draft_listing(listing_id="listing-1", title="Something else")

    assert again.id == first.id == "listing-1"
    assert again.title == "Premium Catering Service"
    assert market.types() == ["listing.created"]


def test_creating_a_listing_names_every_bad_field(market: Market) -> None:
    with pytest.raises(InvalidInput) as refused:
        market.draft_listing(title=" ", price=-1, currency="usd", kind="auction")

    problems = "; ".join(refused.value.problems)
    for field in ("title", "price", "currency", "kind"):
        assert field in problems
    assert market.types() == []


def test_publishing_a_draft(market: Market) -> None:
    listing = market.published_listing()

    assert listing.status == ListingStatus.PUBLISHED
    assert listing.published_at == NOW
    assert market.types() == ["listing.created", "listing.published"]
    assert market.data(topics.LISTING_PUBLISHED) == [
        {"id": listing.id, "sellerId": SELLER, "lane": "vendora", "publishedAt": NOW_TEXT}
    ]


@pytest.mark.parametrize("status", ["published", "closed"])
def test_only_a_draft_can_be_published(market: Market, status: str) -> None:
    listing = market.published_listing()
    if status == "closed":
        market.do(listings.close_listing, listing.id, "sold out")

    with pytest.raises(
        IllegalTransition, match=f"listing {listing.id} is {status}; cannot publish"
    ):
        market.do(listings.publish_listing, listing.id)


def test_publishing_is_refused_at_the_sellers_listing_limit(market: Market) -> None:
    for _ in range(sellers.TIER_LISTING_LIMITS["free"]):
        market.published_listing()
    fourth = market.draft_listing()

    with pytest.raises(IllegalTransition) as refused:
        market.do(listings.publish_listing, fourth.id)

    assert str(refused.value) == (
        f"listing {fourth.id} is draft; cannot publish: "
        f"seller {SELLER} has 3 of 3 published listings (tier free)"
    )
    assert market.reload(fourth).status == ListingStatus.DRAFT


def test_a_closed_listing_frees_its_place_under_the_limit(market: Market) -> None:
    published = [market.published_listing() for _ in range(3)]
    market.do(listings.close_listing, published[0].id, "season over")

    assert market.published_listing().status == ListingStatus.PUBLISHED


def test_an_unknown_listing_cannot_be_published(market: Market) -> None:
    with pytest.raises(NotFound, match="listing nope does not exist; cannot publish"):
        market.do(listings.publish_listing, "nope")


@pytest.mark.parametrize("status", ["draft", "published"])
def test_an_update_announces_only_what_changed(market: Market, status: str) -> None:
    listing = market.published_listing() if status == "published" else market.draft_listing()
    market.forget_events()
    market.clock.advance(minutes=5)

    updated = market.do(
        listings.update_listing, listing.id, {"title": "Premium Catering", "price": 5000,
                                              "currency": "EUR", "description": None}
    )  # fmt: skip

    assert (updated.title, updated.currency, updated.status) == ("Premium Catering", "EUR", status)
    assert market.data(topics.LISTING_UPDATED) == [
        {"id": listing.id, "sellerId": SELLER, "updatedAt": "2026-03-02T12:05:00.000Z",
         "title": "Premium Catering", "currency": "EUR"}
    ]  # fmt: skip


def test_an_update_accepts_camel_case_keys_and_clears_a_description(market: Market) -> None:
    listing = market.draft_listing(description="Old")
    market.forget_events()

    market.do(listings.update_listing, listing.id, {"description": None, "lane": "venues"})

    (data,) = market.data(topics.LISTING_UPDATED)
    assert data["description"] is None and data["lane"] == "venues"


def test_an_update_that_changes_nothing_is_not_announced(market: Market) -> None:
    listing = market.draft_listing()
    market.forget_events()

    market.do(listings.update_listing, listing.id, {"title": "Premium Catering Service"})

    assert market.types() == []


def test_an_update_names_unknown_and_bad_fields(market: Market) -> None:
    listing = market.draft_listing()

    with pytest.raises(InvalidInput) as refused:
        market.do(
            listings.update_listing, listing.id,
            {"qualityScore": 99, "status": "published", "title": None, "price": "10"},
        )  # fmt: skip

    assert refused.value.problems == [
        "title: may be changed but not cleared",
        "price: Input should be a valid integer",
        "qualityScore: unknown field",
        "status: unknown field",
    ]
    assert str(refused.value).startswith(f"listing {listing.id}: cannot update: ")


def test_a_closed_listing_cannot_be_updated(market: Market) -> None:
    listing = market.draft_listing()
    market.do(listings.close_listing, listing.id, "withdrawn")

    with pytest.raises(IllegalTransition, match=f"listing {listing.id} is closed; cannot update"):
        market.do(listings.update_listing, listing.id, {"title": "Back again"})


@pytest.mark.parametrize("status", ["draft", "published"])
def test_closing_announces_the_final_statistics(market: Market, status: str) -> None:
    listing = market.published_listing() if status == "published" else market.draft_listing()
    if status == "published":
        market.submitted_quote(listing)
        market.created_order(listing=listing)
        market.do(orders.complete_order, market.paid_order(listing=listing, amount=3000).id)

    closed = market.do(listings.close_listing, listing.id, " sold out ")

    assert (closed.status, closed.close_reason, closed.closed_at) == ("closed", "sold out", NOW)
    assert market.data(topics.LISTING_CLOSED) == [
        {"id": listing.id, "sellerId": SELLER, "reason": "sold out", "closedAt": NOW_TEXT,
         "statistics": {"quotesReceived": 3 if status == "published" else 0,
                        "orders": 2 if status == "published" else 0,
                        "completedOrders": 1 if status == "published" else 0,
                        "revenue": 3000 if status == "published" else 0, "currency": "USD"}}
    ]  # fmt: skip


def test_a_listing_cannot_be_closed_twice_or_without_a_reason(market: Market) -> None:
    listing = market.draft_listing()
    with pytest.raises(InvalidInput, match="reason"):
        market.do(listings.close_listing, listing.id, "")
    market.do(listings.close_listing, listing.id, "withdrawn")

    with pytest.raises(IllegalTransition, match=f"listing {listing.id} is closed; cannot close"):
        market.do(listings.close_listing, listing.id, "again")


def test_a_listing_shows_its_sellers_name_and_score(market: Market) -> None:
    listing: Listing = market.draft_listing()

    assert (listing.seller_display_name, listing.quality_score) == (None, 50.0)
    assert listing.as_dict()["qualityScore"] == 50.0
    assert listing.as_dict()["createdAt"] == NOW_TEXT
