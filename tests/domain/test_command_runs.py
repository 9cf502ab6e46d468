"""Commands run once per command id: a repeat returns the first result and does nothing."""

from __future__ import annotations

import pytest

from marketplace.domain import command_runs, listings
from marketplace.domain.context import Context
from marketplace.domain.errors import IllegalTransition, InvalidInput
from marketplace.domain.models import Listing, ListingStatus
from tests.domain.conftest import Market

PUBLISH = "marketplace.listings.publish"


def publish(
    market: Market, listing: Listing, command_id: str, name: str = PUBLISH
) -> command_runs.Ran:
    runs: list[str] = []

    def run(ctx: Context, tenant: str) -> command_runs.Ran:
        def operation() -> Listing:
            runs.append(command_id)
            return listings.publish_listing(ctx, tenant, listing.id)

        return command_runs.run_once(ctx, tenant, command_id, name, operation)

    ran = market.do(run)
    assert len(runs) == (0 if ran.repeated else 1)
    return ran


def test_a_command_delivered_again_returns_its_first_result_without_running(
    market: Market,
) -> None:
    listing = market.draft_listing()

    first = publish(market, listing, "command-1")
    again = publish(market, listing, "command-1")

    assert (first.repeated, again.repeated) == (False, True)
    assert again.result == first.result
    assert first.result["status"] == ListingStatus.PUBLISHED
    assert market.types() == ["listing.created", "listing.published"]


def test_another_command_id_is_another_command(market: Market) -> None:
    listing = market.draft_listing()
    publish(market, listing, "command-1")

    with pytest.raises(IllegalTransition):
        publish(market, listing, "command-2")


def test_a_command_id_is_per_tenant(market: Market, other_market: Market) -> None:
    ours, theirs = market.draft_listing(), other_market.draft_listing()

    assert not publish(market, ours, "command-1").repeated
    assert not publish(other_market, theirs, "command-1").repeated


def test_a_command_id_reused_for_another_command_is_refused(market: Market) -> None:
    listing = market.draft_listing()
    publish(market, listing, "command-1")

    with pytest.raises(InvalidInput, match="already ran marketplace.listings.publish"):
        publish(market, listing, "command-1", name="marketplace.listings.close")


def test_a_command_that_failed_left_nothing_and_runs_when_delivered_again(
    market: Market,
) -> None:
    listing = market.draft_listing()

    def failing(ctx: Context, tenant: str) -> command_runs.Ran:
        def operation() -> Listing:
            listings.publish_listing(ctx, tenant, listing.id)
            raise ConnectionError("the database went away before the commit")

        return command_runs.run_once(ctx, tenant, "command-1", PUBLISH, operation)

    with pytest.raises(ConnectionError):
        market.do(failing)
    assert market.reload(listing).status == ListingStatus.DRAFT

    assert not publish(market, listing, "command-1").repeated
    assert market.types() == ["listing.created", "listing.published"]
