"""What a database cannot hold is bad input, refused by name before it reaches the database.

A NUL (PostgreSQL refuses it in text), a lone surrogate (UTF-8 cannot encode it), an integer
of 2**63 or more (beyond BIGINT), an id longer than its column: each is an `InvalidInput` (a
command) or an `EnvelopeError` (an inbound event) naming the field, on SQLite and on
PostgreSQL alike, and nothing is written. The largest values the limits allow, on the other
hand, are stored and read back intact.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import String, select

from marketplace.domain import (
    command_runs,
    disputes,
    inputs,
    listings,
    orders,
    quotes,
    rfps,
)
from marketplace.domain.context import Context
from marketplace.domain.errors import InvalidInput
from marketplace.domain.models import (
    CommandRun,
    EventContext,
    InboxEntry,
    Listing,
    Rfp,
    Seller,
)
from marketplace.domain.models.base import ID
from marketplace.events import inbound, outbound, topics
from marketplace.events.envelope import EnvelopeError
from marketplace.events.fields import (
    DESCRIPTION_LENGTH,
    ID_LENGTH,
    LANE_LENGTH,
    MAX_BIGINT,
    MAX_EVIDENCE,
    MAX_INTEGER,
    MAX_TARGET_LANES,
    NAME_LENGTH,
    TIER_LENGTH,
    TITLE_LENGTH,
    URL_LENGTH,
)
from tests.domain.conftest import BUYER, NOW, SELLER, Market

WIDE = "\U0001d11e"
"""One character outside the Basic Multilingual Plane: the most bytes a character can take."""
NUL = "a\x00b"
SURROGATE = "a\ud800b"
TOO_LONG_ID = "x" * (ID_LENGTH + 1)
DEADLINE = "2026-04-01T00:00:00Z"

Call = Callable[[Market], object]


def create(**fields: Any) -> Call:
    values = dict(seller_id=SELLER, title="Catering", lane="food", price=5000, currency="USD")
    return lambda market: market.do(listings.create_listing, **(values | fields))


def quote(**fields: Any) -> Call:
    values = dict(listing_id="l-1", buyer_id=BUYER, amount=4500, currency="USD")
    return lambda market: market.do(quotes.submit_quote, **(values | fields))


def dispute(**fields: Any) -> Call:
    values = dict(order_id="o-1", opened_by=BUYER, reason="cold", evidence=["photo.jpg"])
    return lambda market: market.do(disputes.open_dispute, **(values | fields))


def rfp(**fields: Any) -> Call:
    values = dict(buyer_id=BUYER, title="Gala", requirements="200 guests",
                  target_lanes=["food"], deadline=DEADLINE)  # fmt: skip
    return lambda market: market.do(rfps.broadcast_rfp, **(values | fields))


BAD_COMMANDS: dict[str, tuple[Call, str]] = {
    "title-nul": (create(title=NUL), "title: must not contain NUL"),
    "description-surrogate": (create(description=SURROGATE), "description: holds a lone surr"),
    "price-2**63": (create(price=2**63), "price: Input should be less than or equal to"),
    "seller-id-too-long": (create(seller_id=TOO_LONG_ID), "seller_id: String should have at most"),
    "listing-id-nul": (create(listing_id=NUL), "id: must not contain NUL"),
    "lane-too-long": (create(lane="x" * (LANE_LENGTH + 1)), "lane: String should have at most"),
    "message-nul": (quote(message=NUL), "message: must not contain NUL"),
    "amount-2**63": (quote(amount=2**63), "amount: Input should be less than or equal to"),
    "reason-surrogate": (dispute(reason=SURROGATE), "reason: holds a lone surrogate"),
    "evidence-nul": (dispute(evidence=["ok", NUL]), "evidence.1: must not contain NUL"),
    "evidence-too-many": (
        dispute(evidence=["x"] * (MAX_EVIDENCE + 1)),
        "evidence: List should have at most",
    ),
    "requirements-nul": (rfp(requirements=NUL), "requirements: must not contain NUL"),
    "lanes-too-many": (
        rfp(target_lanes=[f"l{n}" for n in range(MAX_TARGET_LANES + 1)]),
        "target_lanes: List should have at most",
    ),
    "budget-2**63": (
        rfp(budget={"amount": 2**63, "currency": "USD"}),
        "budget.amount: Input should be less",
    ),
    "close-reason-nul": (
        lambda market: market.do(listings.close_listing, "l-1", NUL),
        "reason: must not contain",
    ),
    "cancel-reason-surrogate": (
        lambda market: market.do(orders.cancel_order, "o-1", SURROGATE),
        "reason: holds a lone",
    ),
    "notes-nul": (
        lambda market: market.do(disputes.resolve_dispute, "d-1", outcome="split", notes=NUL),
        "notes: must not contain NUL",
    ),
    "changes-price-2**63": (
        lambda market: market.do(listings.update_listing, "l-1", {"price": 2**63}),
        "price: Input should be less than or equal to",
    ),
}


@pytest.mark.parametrize("case", list(BAD_COMMANDS))
def test_a_command_value_no_database_can_hold_is_refused_by_name(market: Market, case: str) -> None:
    command, problem = BAD_COMMANDS[case]

    with pytest.raises(InvalidInput) as refused:
        command(market)

    assert any(found.startswith(problem) for found in refused.value.problems), refused.value
    assert market.types() == []


@pytest.mark.parametrize("bad_id", [NUL, SURROGATE, TOO_LONG_ID, 7], ids=["nul", "surrogate",
                         "too-long", "not-text"])  # fmt: skip
@pytest.mark.parametrize(
    ("entity", "command"),
    [
        ("listing", lambda market, bad: market.do(listings.publish_listing, bad)),
        ("quote", lambda market, bad: market.do(quotes.accept_quote, bad)),
        ("order", lambda market, bad: market.do(orders.complete_order, bad)),
        ("dispute", lambda market, bad: market.do(disputes.resolve_dispute, bad, outcome="split")),
    ],
    ids=["publish", "accept", "complete", "resolve"],
)
def test_a_command_naming_an_entity_by_an_id_no_row_could_have_is_refused(
    market: Market, entity: str, command: Callable[[Market, object], object], bad_id: object
) -> None:
    with pytest.raises(InvalidInput) as refused:
        command(market, bad_id)

    [problem] = refused.value.problems
    assert problem.startswith(f"{entity} id: ")


def test_a_command_id_longer_than_its_column_is_refused(market: Market) -> None:
    def run(ctx: Context, tenant: str) -> command_runs.Ran:
        return command_runs.run_once(
            ctx, tenant, TOO_LONG_ID, "marketplace.listings.create", lambda: Seller()
        )

    with pytest.raises(InvalidInput, match="command id: String should have at most 200"):
        market.do(run)
    with market.db.sessions() as session:
        assert session.scalars(select(CommandRun)).all() == []


def test_a_ten_megabyte_description_is_refused_in_words(market: Market) -> None:
    with pytest.raises(InvalidInput) as refused:
        create(description="x" * 10_000_000)(market)

    assert refused.value.problems == [
        f"description: String should have at most {DESCRIPTION_LENGTH} characters"
    ]


BAD_EVENTS: dict[str, tuple[topics.Topic, dict[str, Any], str]] = {
    "comment-nul": (
        topics.REVIEW_CREATED, {"id": "r-1", "sellerId": SELLER, "rating": 5, "comment": NUL},
        "data.comment: must not contain NUL",
    ),
    "display-name-surrogate": (
        topics.PROFILE_UPDATED, {"userId": SELLER, "displayName": SURROGATE},
        "data.displayName: holds a lone surrogate",
    ),
    "display-name-350k": (
        topics.PROFILE_UPDATED, {"userId": SELLER, "displayName": "é" * 350_000},
        f"data.displayName: String should have at most {NAME_LENGTH} characters",
    ),
    "payment-2**63": (
        topics.PAYMENT_COMPLETED,
        {"id": "p-1", "orderId": "o-1", "amount": 2**63, "currency": "USD"},
        "data.amount: Input should be less than or equal to 9223372036854775807",
    ),
    "release-id-too-long": (
        topics.ESCROW_RELEASED,
        {"id": TOO_LONG_ID, "orderId": "o-1", "sellerId": SELLER, "amount": 1, "currency": "USD"},
        "data.id: String should have at most 200 characters",
    ),
    "event-name-nul": (
        topics.EVENT_CREATED,
        {"id": "e-1", "organizerId": SELLER, "name": NUL, "startsAt": "2026-05-01T09:00:00Z",
         "endsAt": "2026-05-01T18:00:00Z"},
        "data.name: must not contain NUL",
    ),
    "starts-before-year-1-in-utc": (
        topics.EVENT_CREATED,
        {"id": "e-1", "organizerId": SELLER, "name": "Expo",
         "startsAt": "0001-01-01T00:00:00+14:00", "endsAt": "2026-05-01T18:00:00Z"},
        "data.startsAt: is outside years 0001 to 9999",
    ),
    "listing-limit-2**31": (
        topics.SUBSCRIPTION_CHANGED,
        {"id": "s-1", "userId": SELLER, "tier": "custom", "listingLimit": MAX_INTEGER + 1},
        "data.listingLimit: Input should be less than or equal to 2147483647",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_EVENTS))
def test_an_inbound_value_no_database_can_hold_is_refused_by_name(
    market: Market, case: str
) -> None:
    topic, data, problem = BAD_EVENTS[case]

    with pytest.raises(EnvelopeError) as refused:
        market.deliver(topic, data)

    assert any(found.startswith(problem) for found in refused.value.problems), refused.value
    with market.db.sessions() as session:
        assert session.scalars(select(InboxEntry)).all() == []


def test_the_largest_listing_the_limits_allow_is_stored_and_read_back(market: Market) -> None:
    widest = dict(
        listing_id=WIDE * ID_LENGTH, seller_id=WIDE * ID_LENGTH, title=WIDE * TITLE_LENGTH,
        lane=WIDE * LANE_LENGTH, price=MAX_BIGINT, description=WIDE * DESCRIPTION_LENGTH,
    )  # fmt: skip

    create(**widest)(market)

    stored = market.get(Listing, WIDE * ID_LENGTH)
    assert stored is not None
    assert (stored.seller_id, stored.title, stored.lane, stored.price, stored.description) == (
        widest["seller_id"], widest["title"], widest["lane"], MAX_BIGINT, widest["description"]
    )  # fmt: skip


def test_the_largest_inbound_facts_are_stored_and_read_back(market: Market) -> None:
    first, last = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    market.deliver(
        topics.EVENT_CREATED,
        {"id": "e-1", "organizerId": SELLER, "name": "Expo", "startsAt": "0001-01-01T00:00:00Z",
         "endsAt": "9999-12-31T23:59:59Z", "exhibitorSlots": 0,
         "sponsorshipTiers": [{"name": WIDE * NAME_LENGTH, "price": MAX_BIGINT,
                               "currency": "USD"}]},
    )  # fmt: skip
    market.deliver(
        topics.PROFILE_UPDATED,
        {"userId": SELLER, "displayName": WIDE * NAME_LENGTH, "avatarUrl": WIDE * URL_LENGTH},
    )
    market.deliver(
        topics.SUBSCRIPTION_CHANGED,
        {"id": "s-1", "userId": SELLER, "tier": "t" * TIER_LENGTH, "listingLimit": MAX_INTEGER},
    )

    context = market.get(EventContext, "e-1")
    seller = market.get(Seller, SELLER)
    assert context is not None and seller is not None
    assert (context.starts_at, context.ends_at) == (first, last)
    [sponsorship] = [market.get(Listing, listing_id) for listing_id in context.listing_ids]
    assert sponsorship is not None and sponsorship.price == MAX_BIGINT
    assert sponsorship.seller_display_name == WIDE * NAME_LENGTH
    assert (seller.display_name, seller.avatar_url) == (WIDE * NAME_LENGTH, WIDE * URL_LENGTH)
    assert (seller.tier, seller.listing_limit) == ("t" * TIER_LENGTH, MAX_INTEGER)


def test_an_rfp_at_every_limit_is_stored_and_read_back(market: Market) -> None:
    lanes = [f"{n:02d}" + WIDE * (LANE_LENGTH - 2) for n in range(MAX_TARGET_LANES)]

    rfp(rfp_id=WIDE * ID_LENGTH, title=WIDE * TITLE_LENGTH, target_lanes=lanes,
        budget={"amount": MAX_BIGINT, "currency": "USD"})(market)  # fmt: skip

    stored = market.get(Rfp, WIDE * ID_LENGTH)
    assert stored is not None
    assert (stored.title, stored.target_lanes, stored.budget_amount) == (
        WIDE * TITLE_LENGTH, lanes, MAX_BIGINT
    )  # fmt: skip
    assert stored.deadline == datetime(2026, 4, 1, tzinfo=UTC) > NOW


# What a person reads


def test_a_command_with_values_of_the_wrong_shape_is_told_so_without_python_words(
    market: Market,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        rfp(target_lanes="food", budget="lots", title=None)(market)

    assert refused.value.problems == [
        "title: Input should be a valid string",
        "target_lanes: Input should be a valid list",
        "budget: must be an object",
    ]


def test_changes_that_are_not_an_object_are_told_so(market: Market) -> None:
    listing = create()(market)

    with pytest.raises(InvalidInput) as refused:
        market.do(listings.update_listing, listing.id, ["title", "New"])  # type: ignore[arg-type]

    assert refused.value.problems == ["input: must be an object of fields"]


def test_an_error_quotes_a_bad_id_short_and_printable(market: Market) -> None:
    bad = "x" * 1_000_000 + "\x00\ud800"

    with pytest.raises(InvalidInput) as refused:
        market.do(listings.update_listing, bad, {"price": -1})

    message = str(refused.value)
    assert message.startswith("listing " + "x" * 200 + "... (1000002 characters): cannot update")
    assert len(message) < 500 and message.isprintable()
    message.encode("utf-8")


# The limits agree with the columns and with the events


PROFILE = inbound.ProfileUpdated


def limits(model: type[BaseModel], field: str) -> tuple[int, int]:
    """(most characters, most items) a field takes; a text field is one item."""
    spec = model.model_json_schema(by_alias=False)["properties"][field]
    [option] = [option for option in spec.get("anyOf", [spec]) if option.get("type") != "null"]
    if option["type"] == "array":
        return option["items"]["maxLength"], option["maxItems"]
    return option["maxLength"], 1


@pytest.mark.parametrize(
    ("column", "limit"),
    [
        (ID, ID_LENGTH),
        (Listing.__table__.c.title.type, TITLE_LENGTH),
        (Rfp.__table__.c.title.type, TITLE_LENGTH),
        (Listing.__table__.c.lane.type, LANE_LENGTH),
        (Seller.__table__.c.tier.type, TIER_LENGTH),
    ],
    ids=["ids", "listings.title", "rfps.title", "listings.lane", "sellers.tier"],
)
def test_no_limit_is_longer_than_its_column(column: String, limit: int) -> None:
    assert column.length is not None and limit <= column.length


@pytest.mark.parametrize(
    ("given", "published"),
    [
        ((inputs.NewListing, "title"), (outbound.ListingCreated, "title")),
        ((inputs.NewListing, "lane"), (outbound.ListingCreated, "lane")),
        ((inputs.NewListing, "description"), (outbound.ListingCreated, "description")),
        ((inputs.ListingChanges, "description"), (outbound.ListingUpdated, "description")),
        ((inputs.NewQuote, "message"), (outbound.QuoteSubmitted, "message")),
        ((inputs.Reason, "reason"), (outbound.ListingClosed, "reason")),
        ((inputs.Reason, "reason"), (outbound.OrderCancelled, "reason")),
        ((inputs.NewDispute, "reason"), (outbound.DisputeOpened, "reason")),
        ((inputs.NewDispute, "evidence"), (outbound.DisputeOpened, "evidence")),
        ((inputs.Resolution, "notes"), (outbound.DisputeResolved, "notes")),
        ((inputs.NewRfp, "requirements"), (outbound.RfpBroadcast, "requirements")),
        ((inputs.NewRfp, "target_lanes"), (outbound.RfpBroadcast, "target_lanes")),
        (
            (inbound.ProfileUpdated, "display_name"),
            (outbound.ListingUpdated, "seller_display_name"),
        ),
        ((inbound.ProfileUpdated, "avatar_url"), (outbound.ListingUpdated, "seller_avatar_url")),
        (
            (inbound.ProfileUpdated, "display_name"),
            (outbound.ListingCreated, "seller_display_name"),
        ),
    ],
    ids=lambda pair: f"{pair[0].__name__}.{pair[1]}",
)
def test_whatever_is_accepted_fits_the_event_that_carries_it(
    given: tuple[type[BaseModel], str], published: tuple[type[BaseModel], str]
) -> None:
    """Otherwise an accepted value would fail, later, as an event the domain cannot record."""
    (length, items), (published_length, published_items) = limits(*given), limits(*published)
    assert length <= published_length and items <= published_items
