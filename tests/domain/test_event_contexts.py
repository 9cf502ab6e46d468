"""`event.created`: an event context with exhibitor-slot and sponsorship listings."""

from __future__ import annotations

from typing import Any

import pytest

from marketplace.domain import event_contexts
from marketplace.domain.errors import InvalidInput
from marketplace.domain.models import EventContext, Listing, Seller
from marketplace.events import topics
from tests.domain.conftest import Market

ORGANIZER = "organizer-1"


def event(market: Market, **fields: Any) -> Any:
    data = {"id": "event-1", "organizerId": ORGANIZER, "name": "Spring Fair",
            "startsAt": "2026-05-01T09:00:00Z", "endsAt": "2026-05-03T18:00:00Z"}  # fmt: skip
    data |= fields
    return market.deliver(topics.EVENT_CREATED, data).entity


def listings_of(market: Market, context: EventContext) -> list[Listing]:
    found = [market.get(Listing, listing_id) for listing_id in context.listing_ids]
    return [listing for listing in found if listing is not None]


def test_an_event_without_details_gets_the_documented_defaults(market: Market) -> None:
    context = event(market)

    made = listings_of(market, context)
    slots = [listing for listing in made if listing.kind == "exhibitor_slot"]
    sponsorships = [listing for listing in made if listing.kind == "sponsorship"]
    assert len(slots) == event_contexts.DEFAULT_EXHIBITOR_SLOTS == 10
    assert {(s.title, s.price, s.currency) for s in sponsorships} == {
        ("Gold sponsorship · Spring Fair", 1_000_000, "USD"),
        ("Silver sponsorship · Spring Fair", 500_000, "USD"),
        ("Bronze sponsorship · Spring Fair", 250_000, "USD"),
    }
    assert slots[0].title == "Exhibitor slot 1 · Spring Fair"
    assert {(s.price, s.lane, s.status, s.seller_id, s.event_id) for s in slots} == {
        (50_000, "exhibitors", "draft", ORGANIZER, "event-1")
    }
    assert market.types() == ["listing.created"] * 13
    assert market.get(Seller, ORGANIZER) is not None


def test_an_event_says_how_many_slots_and_which_sponsorships(market: Market) -> None:
    context = event(
        market,
        exhibitorSlots=2,
        sponsorshipTiers=[{"name": "Title", "price": 9, "currency": "EUR"}],
    )

    made = listings_of(market, context)
    assert [(listing.kind, listing.price, listing.currency) for listing in made] == [
        ("exhibitor_slot", 50_000, "USD"), ("exhibitor_slot", 50_000, "USD"),
        ("sponsorship", 9, "EUR"),
    ]  # fmt: skip


@pytest.mark.parametrize(("attendance", "slots"), [(0, 0), (1, 1), (250, 3), (100_000, 50)])
def test_expected_attendance_sizes_the_exhibitor_slots(
    market: Market, attendance: int, slots: int
) -> None:
    context = event(market, expectedAttendance=attendance, sponsorshipTiers=[])

    assert len(context.listing_ids) == slots


def test_the_same_event_twice_creates_one_context(market: Market) -> None:
    first = event(market, exhibitorSlots=1, sponsorshipTiers=[])
    again = event(market, exhibitorSlots=5)  # a re-sent event.created, another CloudEvent id

    assert again.listing_ids == first.listing_ids
    assert market.types() == ["listing.created"]


def test_event_listing_ids_are_derived_from_tenant_event_and_slot(
    market: Market, other_market: Market
) -> None:
    mine = event(market, exhibitorSlots=1, sponsorshipTiers=[])
    theirs = event(other_market, exhibitorSlots=1, sponsorshipTiers=[])

    assert mine.listing_ids == [
        event_contexts.listing_id_for(market.tenant, "event-1", "exhibitor_slot/1")
    ]
    assert mine.listing_ids != theirs.listing_ids


def test_an_event_that_ends_before_it_starts_is_permanent(market: Market) -> None:
    with pytest.raises(InvalidInput) as refused:
        event(market, endsAt="2026-04-01T00:00:00Z",
              sponsorshipTiers=[{"name": "Gold", "price": 1, "currency": "USD"}] * 2)  # fmt: skip

    assert len(refused.value.problems) == 2
    assert market.types() == []
