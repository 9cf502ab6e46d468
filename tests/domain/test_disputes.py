"""Disputes: one open at a time on a paid or completed order, resolved with an outcome."""

from __future__ import annotations

import pytest

from marketplace.domain import disputes
from marketplace.domain.errors import IllegalTransition, InvalidInput, NotFound
from marketplace.domain.models import DisputeStatus
from marketplace.events import topics
from tests.domain.conftest import BUYER, Market

NOW_TEXT = "2026-03-02T12:00:00.000Z"


@pytest.mark.parametrize("given", ["paid", "completed"])
def test_a_dispute_is_opened_on_a_paid_or_completed_order(market: Market, given: str) -> None:
    order = getattr(market, f"{given}_order")()
    market.forget_events()

    dispute = market.open_dispute(order)

    assert dispute.status == DisputeStatus.OPEN
    assert market.data(topics.DISPUTE_OPENED) == [
        {"id": dispute.id, "orderId": order.id, "openedBy": BUYER, "reason": "Food arrived cold",
         "evidence": ["photo-1.jpg"], "status": "open", "openedAt": NOW_TEXT}
    ]  # fmt: skip


@pytest.mark.parametrize("given", ["created", "cancelled"])
def test_no_dispute_on_an_unpaid_order(market: Market, given: str) -> None:
    order = getattr(market, f"{given}_order")()

    with pytest.raises(
        IllegalTransition, match=f"order {order.id} is {given}; cannot open dispute"
    ):
        market.open_dispute(order)


def test_one_open_dispute_per_order(market: Market) -> None:
    order = market.paid_order()
    first = market.open_dispute(order)

    with pytest.raises(IllegalTransition) as refused:
        market.open_dispute(order, reason="Again")

    assert str(refused.value) == (
        f"order {order.id} is paid; cannot open dispute: dispute {first.id} is still open"
    )
    market.do(disputes.resolve_dispute, first.id, outcome="split")
    assert market.open_dispute(order, reason="Another matter").status == DisputeStatus.OPEN


def test_a_dispute_id_given_twice_opens_one_dispute(market: Market) -> None:
    order = market.paid_order()
    market.open_dispute(order, dispute_id="dispute-1")

    assert market.open_dispute(order, dispute_id="dispute-1").id == "dispute-1"
    assert market.types().count("dispute.opened") == 1


def test_a_dispute_names_every_bad_field(market: Market) -> None:
    order = market.paid_order()

    with pytest.raises(InvalidInput) as refused:
        market.open_dispute(order, reason="", evidence=["ok", ""], opened_by="")

    assert [problem.split(":")[0] for problem in refused.value.problems] == [
        "opened_by", "reason", "evidence.1"
    ]  # fmt: skip


def test_no_dispute_on_an_unknown_order(market: Market) -> None:
    with pytest.raises(NotFound, match="order nope does not exist; cannot open dispute"):
        market.do(disputes.open_dispute, order_id="nope", opened_by=BUYER, reason="?")


@pytest.mark.parametrize("outcome", ["refund_buyer", "release_to_seller", "split"])
def test_resolving_a_dispute(market: Market, outcome: str) -> None:
    dispute = market.open_dispute()
    market.forget_events()

    resolved = market.do(disputes.resolve_dispute, dispute.id, outcome=outcome, notes="Checked")

    assert (resolved.status, resolved.outcome, resolved.notes) == ("resolved", outcome, "Checked")
    assert market.data(topics.DISPUTE_RESOLVED) == [
        {"id": dispute.id, "orderId": dispute.order_id, "outcome": outcome, "notes": "Checked",
         "resolvedAt": NOW_TEXT}
    ]  # fmt: skip


def test_a_dispute_is_resolved_once_and_with_a_known_outcome(market: Market) -> None:
    dispute = market.open_dispute()
    with pytest.raises(InvalidInput, match="outcome"):
        market.do(disputes.resolve_dispute, dispute.id, outcome="coin_toss")
    market.do(disputes.resolve_dispute, dispute.id, outcome="split")

    with pytest.raises(
        IllegalTransition, match=f"dispute {dispute.id} is resolved; cannot resolve"
    ):
        market.do(disputes.resolve_dispute, dispute.id, outcome="split")


def test_an_unknown_dispute_cannot_be_resolved(market: Market) -> None:
    with pytest.raises(NotFound, match="dispute nope does not exist; cannot resolve"):
        market.do(disputes.resolve_dispute, "nope", outcome="split")
