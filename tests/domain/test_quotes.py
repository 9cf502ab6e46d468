"""Quotes: submitted on a published listing, accepted into an order in one transaction."""

from __future__ import annotations

import pytest

from marketplace.domain import listings, orders, quotes
from marketplace.domain.errors import IllegalTransition, InvalidInput, NotFound
from marketplace.domain.models import Order, OrderStatus, Quote, QuoteStatus
from marketplace.events import topics
from tests.domain.conftest import BUYER, SELLER, Market

NOW_TEXT = "2026-03-02T12:00:00.000Z"


def test_a_buyer_quotes_on_a_published_listing(market: Market) -> None:
    listing = market.published_listing()
    market.forget_events()

    quote = market.submitted_quote(listing)

    assert (quote.status, quote.seller_id) == (QuoteStatus.SUBMITTED, SELLER)
    assert market.data(topics.QUOTE_SUBMITTED) == [
        {"id": quote.id, "listingId": listing.id, "buyerId": BUYER, "sellerId": SELLER,
         "amount": 4500, "currency": "USD", "message": "For 40 guests", "submittedAt": NOW_TEXT}
    ]  # fmt: skip


@pytest.mark.parametrize("status", ["draft", "closed"])
def test_no_quote_on_a_listing_that_is_not_published(market: Market, status: str) -> None:
    listing = market.draft_listing()
    if status == "closed":
        market.do(listings.close_listing, listing.id, "withdrawn")

    with pytest.raises(
        IllegalTransition, match=f"listing {listing.id} is {status}; cannot submit quote"
    ):
        market.submitted_quote(listing)


def test_no_quote_on_an_unknown_listing(market: Market) -> None:
    with pytest.raises(NotFound, match="listing nope does not exist; cannot submit quote"):
        market.do(quotes.submit_quote, listing_id="nope", buyer_id=BUYER, amount=1, currency="USD")


def test_a_seller_cannot_quote_on_its_own_listing_nor_in_another_currency(market: Market) -> None:
    listing = market.published_listing()

    with pytest.raises(InvalidInput) as refused:
        market.submitted_quote(listing, buyer_id=SELLER, currency="EUR")

    assert refused.value.problems == [
        f"buyerId: {SELLER} is the seller of listing {listing.id}",
        f"currency: EUR, but listing {listing.id} is priced in USD",
    ]


def test_a_quote_names_every_bad_field(market: Market) -> None:
    listing = market.published_listing()

    with pytest.raises(InvalidInput) as refused:
        market.submitted_quote(listing, amount=12.5, buyer_id="", message=None)

    assert [problem.split(":")[0] for problem in refused.value.problems] == [
        "buyer_id", "amount", "message"
    ]  # fmt: skip


def test_a_quote_id_given_twice_submits_one_quote(market: Market) -> None:
    listing = market.published_listing()
    market.submitted_quote(listing, quote_id="quote-1")
    market.submitted_quote(listing, quote_id="quote-1", amount=1)

    stored = market.get(Quote, "quote-1")
    assert stored is not None and stored.amount == 4500
    assert market.types().count("quote.submitted") == 1


def test_accepting_a_quote_opens_its_order_in_the_same_transaction(market: Market) -> None:
    quote = market.submitted_quote()
    market.forget_events()

    accepted = market.do(quotes.accept_quote, quote.id)

    assert accepted.status == QuoteStatus.ACCEPTED
    assert market.types() == ["quote.accepted", "order.created"]
    order = market.get(Order, orders.order_id_for(market.tenant, quote.id))
    assert order is not None and order.status == OrderStatus.CREATED
    assert market.data(topics.QUOTE_ACCEPTED) == [
        {"id": quote.id, "listingId": quote.listing_id, "amount": 4500, "currency": "USD",
         "acceptedAt": NOW_TEXT}
    ]  # fmt: skip
    assert market.data(topics.ORDER_CREATED) == [
        {"id": order.id, "quoteId": quote.id, "listingId": quote.listing_id, "buyerId": BUYER,
         "sellerId": SELLER, "amount": 4500, "currency": "USD", "status": "created",
         "createdAt": NOW_TEXT}
    ]  # fmt: skip


def test_a_quote_is_accepted_once(market: Market) -> None:
    quote = market.accepted_quote()

    with pytest.raises(IllegalTransition, match=f"quote {quote.id} is accepted; cannot accept"):
        market.do(quotes.accept_quote, quote.id)


def test_no_quote_is_accepted_on_a_closed_listing(market: Market) -> None:
    quote = market.submitted_quote()
    market.do(listings.close_listing, quote.listing_id, "sold out")

    with pytest.raises(
        IllegalTransition, match=f"listing {quote.listing_id} is closed; cannot accept quote"
    ):
        market.do(quotes.accept_quote, quote.id)
    assert market.reload(quote).status == QuoteStatus.SUBMITTED


def test_an_unknown_quote_cannot_be_accepted(market: Market) -> None:
    with pytest.raises(NotFound, match="quote nope does not exist; cannot accept"):
        market.do(quotes.accept_quote, "nope")
