"""RFPs: broadcast to the sellers with published listings in the target lanes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from marketplace.domain import listings, rfps
from marketplace.domain.errors import InvalidInput
from marketplace.domain.models import Rfp
from marketplace.events import outbound, topics
from marketplace.events.fields import Money
from tests.domain.conftest import BUYER, NOW, Market

DEADLINE = NOW + timedelta(days=14)


def broadcast(market: Market, **fields: object) -> Rfp:
    values = dict(buyer_id=BUYER, title="Gala dinner", requirements="200 guests, vegan options",
                  target_lanes=["catering", "venues"], deadline=DEADLINE)  # fmt: skip
    return market.do(rfps.broadcast_rfp, **(values | fields))


def test_an_rfp_reaches_the_sellers_with_published_listings_in_its_lanes(
    market: Market, other_market: Market
) -> None:
    market.published_listing(seller_id="caterer", lane="catering")
    market.published_listing(seller_id="caterer", lane="venues")
    market.published_listing(seller_id="hall", lane="venues")
    market.draft_listing(seller_id="drafty", lane="catering")
    closed = market.published_listing(seller_id="gone", lane="catering")
    market.do(listings.close_listing, closed.id, "retired")
    market.published_listing(seller_id="florist", lane="flowers")
    market.published_listing(seller_id=BUYER, lane="catering")
    other_market.published_listing(seller_id="elsewhere", lane="catering")
    market.forget_events()

    rfp = broadcast(market, budget={"amount": 1_000_000, "currency": "USD"})

    assert rfp.matched_seller_ids == ["caterer", "hall"]
    assert market.data(topics.RFP_BROADCAST) == [
        {"id": rfp.id, "buyerId": BUYER, "title": "Gala dinner",
         "requirements": "200 guests, vegan options", "targetLanes": ["catering", "venues"],
         "deadline": "2026-03-16T12:00:00.000Z", "budget": {"amount": 1_000_000, "currency": "USD"},
         "matchedSellerIds": ["caterer", "hall"], "broadcastAt": "2026-03-02T12:00:00.000Z"}
    ]  # fmt: skip


def test_an_rfp_without_a_budget_or_a_match(market: Market) -> None:
    rfp = broadcast(market, budget=None, target_lanes=["catering", "catering"])

    assert (rfp.matched_seller_ids, rfp.target_lanes, rfp.budget_amount) == ([], ["catering"], None)
    (data,) = market.data(topics.RFP_BROADCAST)
    assert data["budget"] is None and data["matchedSellerIds"] == []


def test_an_rfp_accepts_money_and_an_iso_deadline(market: Market) -> None:
    rfp = broadcast(market, budget=Money(amount=5, currency="EUR"), deadline="2026-04-01T00:00:00Z")

    assert (rfp.budget_amount, rfp.budget_currency) == (5, "EUR")


def test_an_rfp_names_every_bad_field(market: Market) -> None:
    with pytest.raises(InvalidInput) as refused:
        broadcast(market, title="", requirements="", target_lanes=[],
                  deadline=DEADLINE.replace(tzinfo=None),
                  budget={"amount": "1", "currency": "usd"})  # fmt: skip

    assert [problem.split(":")[0] for problem in refused.value.problems] == [
        "title", "requirements", "target_lanes", "deadline", "budget.amount", "budget.currency"
    ]  # fmt: skip


def test_an_rfp_deadline_must_be_in_the_future(market: Market) -> None:
    with pytest.raises(InvalidInput, match="deadline: .* is not in the future"):
        broadcast(market, deadline=NOW)


def test_an_rfp_id_given_twice_broadcasts_once(market: Market) -> None:
    broadcast(market, rfp_id="rfp-1")
    broadcast(market, rfp_id="rfp-1", title="Other")

    assert market.types() == ["rfp.broadcast"]


def test_an_rfp_reaches_at_most_the_best_rated_sellers_its_event_can_name(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap keeps `rfp.broadcast` small enough to send (`fields.MAX_MATCHED_SELLERS`)."""
    monkeypatch.setattr(rfps, "MAX_MATCHED_SELLERS", 2)
    for seller in ("ann", "bob", "cyd"):
        market.published_listing(seller_id=seller, lane="catering")
    market.deliver(topics.REVIEW_CREATED, {"id": "r-1", "sellerId": "ann", "rating": 1})
    market.deliver(topics.REVIEW_CREATED, {"id": "r-2", "sellerId": "cyd", "rating": 5})

    rfp = broadcast(market, target_lanes=["catering"])

    assert rfp.matched_seller_ids == ["bob", "cyd"]  # ann, rated lowest, is left out
    (data,) = market.data(topics.RFP_BROADCAST)
    assert data["matchedSellerIds"] == ["bob", "cyd"]


def test_the_cap_on_matched_sellers_is_what_the_event_allows() -> None:
    schema = outbound.RfpBroadcast.model_json_schema()["properties"]["matchedSellerIds"]

    assert schema["maxItems"] == rfps.MAX_MATCHED_SELLERS
