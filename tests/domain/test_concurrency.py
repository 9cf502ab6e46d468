"""Several workers on PostgreSQL at once: row locks serialise what must not interleave; a
unique-key race surfaces as IntegrityError, which the worker retries as transient, except in
the inbox, where the second claim of an event waits for the first and finds it applied."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from marketplace.domain import inbound
from marketplace.domain.models import Seller
from marketplace.events import topics
from tests.domain.conftest import SELLER, Database, Market

pytestmark = pytest.mark.postgres


def in_background(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as error:  # handed to the test thread
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.3)  # long enough to be waiting on the first transaction's lock
    return thread, outcome


def test_two_reviews_of_one_seller_at_once_both_count(postgres: Database) -> None:
    market = Market(postgres)
    market.draft_listing()
    second = market.inbound_event(
        topics.REVIEW_CREATED, {"id": "r-2", "sellerId": SELLER, "rating": 1}
    )

    with postgres.sessions() as session, session.begin():
        first = market.inbound_event(
            topics.REVIEW_CREATED, {"id": "r-1", "sellerId": SELLER, "rating": 5}
        )
        inbound.apply(market.context(session), first)
        thread, outcome = in_background(lambda: market_apply(market, second))
        assert outcome == [], "the second review must wait for the seller's lock"
    thread.join(timeout=10)

    assert not isinstance(outcome[0], Exception)
    seller = market.get(Seller, SELLER)
    assert seller is not None and (seller.rating_count, seller.rating_total) == (2, 6)


def test_the_same_event_in_two_workers_at_once_applies_once(postgres: Database) -> None:
    market = Market(postgres)
    event = market.inbound_event(topics.PROFILE_UPDATED, {"userId": "new", "displayName": "A"})

    with postgres.sessions() as session, session.begin():
        first = inbound.apply(market.context(session), event)
        thread, outcome = in_background(lambda: market_apply(market, event))
        assert outcome == [], "the second waits for the first transaction's inbox row"
    thread.join(timeout=10)

    assert not first.duplicate
    assert outcome == [inbound.Applied(duplicate=True, entity=None)]


def test_the_same_event_in_a_batch_and_alone_at_once_applies_once(postgres: Database) -> None:
    market = Market(postgres)
    alone = market.inbound_event(topics.PROFILE_UPDATED, {"userId": "new", "displayName": "A"})
    other = market.inbound_event(topics.PROFILE_UPDATED, {"userId": "two", "displayName": "B"})

    with postgres.sessions() as session, session.begin():
        inbound.apply(market.context(session), alone)
        thread, outcome = in_background(lambda: market_batch(market, [other, alone]))
    thread.join(timeout=10)

    assert [applied.duplicate for applied in outcome[0]] == [False, True]


def market_apply(market: Market, event: Any) -> inbound.Applied:
    with market.db.sessions() as session, session.begin():
        return inbound.apply(market.context(session), event)


def market_batch(market: Market, events: list[Any]) -> list[inbound.Applied | Exception]:
    with market.db.sessions() as session, session.begin():
        return inbound.apply_batch(market.context(session), events)


def test_a_batch_holds_each_of_its_tenants_outbox_locks_until_it_ends(postgres: Database) -> None:
    from marketplace.domain.context import lock_tenant_outboxes

    def lock_other() -> str:
        with postgres.sessions() as session, session.begin():
            lock_tenant_outboxes(session, ["tenant-b"])
            return "locked"

    with postgres.sessions() as session, session.begin():
        lock_tenant_outboxes(session, ["tenant-c", "tenant-a", "tenant-b", "tenant-a"])
        thread, outcome = in_background(lock_other)
        assert outcome == [], "tenant-b's lock is the batch's until it commits"
    thread.join(timeout=10)

    assert outcome == ["locked"]


def test_one_release_delivered_twice_at_once_pays_out_once_and_both_apply(
    postgres: Database,
) -> None:
    """wallet-svc re-sent a release under a new CloudEvent id while the first delivery was
    being applied: the second waits for the order's lock and then finds the payout, instead
    of counting the first's amount as already released and refusing itself for good."""
    market = Market(postgres)
    order = market.paid_order()
    data = {"id": "release-1", "orderId": order.id, "sellerId": order.seller_id,
            "amount": order.amount, "currency": order.currency}  # fmt: skip
    first, again = (market.inbound_event(topics.ESCROW_RELEASED, data) for _ in range(2))

    with postgres.sessions() as session, session.begin():
        inbound.apply(market.context(session), first)
        thread, outcome = in_background(lambda: market_apply(market, again))
        assert outcome == [], "the second delivery waits for the order's lock"
    thread.join(timeout=10)

    assert not isinstance(outcome[0], Exception), outcome
    seller = market.get(Seller, order.seller_id)
    assert seller is not None and seller.payouts_received == 1
