"""`review.created`: the seller's rating and its listings' quality scores, from stored reviews."""

from __future__ import annotations

from typing import Any

import pytest

from marketplace.domain import listings, ratings
from marketplace.domain.models import Listing, Review, Seller
from marketplace.events import topics
from tests.domain.conftest import SELLER, Market


def review(market: Market, review_id: str, rating: int, **fields: Any) -> Any:
    data = {"id": review_id, "sellerId": SELLER, "rating": rating} | fields
    return market.deliver(topics.REVIEW_CREATED, data)


@pytest.mark.parametrize(
    ("count", "total", "score"),
    [(0, 0, 50.0), (1, 5, 58.3), (1, 1, 41.7), (3, 13, 62.5), (10, 50, 83.3), (1000, 5000, 99.8)],
)
def test_the_quality_score_formula(count: int, total: int, score: float) -> None:
    assert ratings.quality_score(count, total) == score


def test_a_review_rates_the_seller_and_rescores_its_listings(market: Market) -> None:
    draft = market.draft_listing()
    published = market.published_listing()
    market.forget_events()
    market.clock.advance(seconds=1)

    applied = review(market, "review-1", 5, listingId=published.id, orderId="order-1")

    assert isinstance(applied.entity, Review) and applied.entity.listing_id == published.id
    seller = market.get(Seller, SELLER)
    assert seller is not None
    assert (seller.rating_count, seller.rating_average) == (1, 5.0)
    assert [market.reload(listing).quality_score for listing in (draft, published)] == [58.3, 58.3]
    assert sorted(market.data(topics.LISTING_UPDATED), key=lambda data: data["id"]) == sorted(
        [{"id": listing.id, "sellerId": SELLER, "updatedAt": "2026-03-02T12:00:01.000Z",
          "qualityScore": 58.3} for listing in (draft, published)],
        key=lambda data: data["id"],
    )  # fmt: skip


def test_the_same_review_counts_once_however_often_it_is_sent(market: Market) -> None:
    market.draft_listing()
    review(market, "review-1", 5)
    market.forget_events()

    again = review(market, "review-1", 1)  # a new CloudEvent id, the same review

    assert not again.duplicate
    seller = market.get(Seller, SELLER)
    assert seller is not None and (seller.rating_count, seller.rating_total) == (1, 5)
    assert market.types() == []


def test_a_review_that_leaves_the_score_unchanged_announces_nothing(market: Market) -> None:
    market.draft_listing()
    market.forget_events()

    review(market, "review-1", 3)  # the prior mean: 50.0 before and after

    assert market.types() == []


def test_closed_listings_are_rescored_too(market: Market) -> None:
    listing = market.draft_listing()
    market.do(listings.close_listing, listing.id, "withdrawn")

    review(market, "review-1", 1)

    closed = market.get(Listing, listing.id)
    assert closed is not None and closed.quality_score == 41.7


def test_a_new_listing_starts_from_its_sellers_score(market: Market) -> None:
    review(market, "review-1", 5)
    review(market, "review-2", 4)

    seller = market.get(Seller, SELLER)
    assert seller is not None and seller.rating_average == 4.5
    assert market.draft_listing().quality_score == ratings.quality_score(2, 9) == 60.7
