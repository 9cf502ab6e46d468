"""Orders: created from an accepted quote, completed or cancelled by command."""

from __future__ import annotations

import pytest

from marketplace.domain import orders
from marketplace.domain.errors import IllegalTransition, InvalidInput, NotFound
from marketplace.domain.models import OrderStatus
from marketplace.events import topics
from tests.domain.conftest import Market


def test_creating_the_order_of_an_accepted_quote_again_returns_the_same_order(
    market: Market,
) -> None:
    quote = market.accepted_quote()
    market.forget_events()

    order = market.do(orders.create_order, quote.id)

    assert order.id == orders.order_id_for(market.tenant, quote.id)
    assert (order.quote_id, order.amount, order.status) == (quote.id, 4500, OrderStatus.CREATED)
    assert market.types() == []


def test_a_submitted_quote_has_no_order(market: Market) -> None:
    quote = market.submitted_quote()

    with pytest.raises(
        IllegalTransition, match=f"quote {quote.id} is submitted; cannot create order"
    ):
        market.do(orders.create_order, quote.id)


def test_an_unknown_quote_has_no_order(market: Market) -> None:
    with pytest.raises(NotFound, match="quote nope does not exist; cannot create order"):
        market.do(orders.create_order, "nope")


def test_completing_a_paid_order_announces_the_final_amount(market: Market) -> None:
    paid = market.paid_order()
    market.forget_events()

    completed = market.do(orders.complete_order, paid.id)

    assert completed.status == OrderStatus.COMPLETED
    assert market.data(topics.ORDER_COMPLETED) == [
        {"id": paid.id, "completedAt": "2026-03-02T12:00:00.000Z", "finalAmount": 4500,
         "currency": "USD"}
    ]  # fmt: skip


@pytest.mark.parametrize("given", ["created", "completed", "cancelled"])
def test_only_a_paid_order_can_be_completed(market: Market, given: str) -> None:
    order = getattr(market, f"{given}_order")()

    with pytest.raises(IllegalTransition, match=f"order {order.id} is {given}; cannot complete"):
        market.do(orders.complete_order, order.id)


@pytest.mark.parametrize(("given", "refund"), [("created", "none"), ("paid", "pending")])
def test_cancelling_an_order_says_whether_a_refund_is_due(
    market: Market, given: str, refund: str
) -> None:
    order = getattr(market, f"{given}_order")()
    market.forget_events()

    cancelled = market.do(orders.cancel_order, order.id, "changed plans")

    assert (cancelled.status, cancelled.refund_status) == (OrderStatus.CANCELLED, refund)
    assert cancelled.cancel_reason == "changed plans"
    assert market.data(topics.ORDER_CANCELLED) == [
        {"id": order.id, "reason": "changed plans", "refundStatus": refund,
         "cancelledAt": "2026-03-02T12:00:00.000Z"}
    ]  # fmt: skip


@pytest.mark.parametrize("given", ["completed", "cancelled"])
def test_a_finished_order_cannot_be_cancelled(market: Market, given: str) -> None:
    order = getattr(market, f"{given}_order")()

    with pytest.raises(IllegalTransition, match=f"order {order.id} is {given}; cannot cancel"):
        market.do(orders.cancel_order, order.id, "too late")


def test_cancelling_needs_a_reason(market: Market) -> None:
    order = market.created_order()

    with pytest.raises(InvalidInput, match="reason"):
        market.do(orders.cancel_order, order.id, "  ")


@pytest.mark.parametrize("operation", [orders.complete_order, orders.cancel_order])
def test_an_unknown_order_cannot_change(market: Market, operation: object) -> None:
    args = ("nope",) if operation is orders.complete_order else ("nope", "why")
    with pytest.raises(NotFound, match="order nope does not exist"):
        market.do(operation, *args)  # type: ignore[arg-type]
