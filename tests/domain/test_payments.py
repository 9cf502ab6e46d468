"""`payment.completed`: an order becomes paid, exactly once, by the payment that matches it."""

from __future__ import annotations

import pytest

from marketplace.domain.errors import IllegalTransition, InvalidInput, NotYetKnown
from marketplace.domain.models import OrderStatus
from marketplace.events import topics
from tests.domain.conftest import NOW, Market


def test_a_matching_payment_marks_the_order_paid(market: Market) -> None:
    order = market.created_order()
    market.forget_events()

    applied = market.pay(order)

    paid = market.reload(order)
    assert (paid.status, paid.payment_id, paid.paid_at) == (
        OrderStatus.PAID, f"payment-{order.id}", NOW
    )  # fmt: skip
    assert applied.entity is not None and not applied.duplicate
    assert market.types() == []


def test_a_payment_for_an_order_not_known_yet_is_transient(market: Market) -> None:
    data = {"id": "payment-1", "orderId": "order-later", "amount": 100, "currency": "USD"}

    with pytest.raises(NotYetKnown, match="order order-later is not known yet; cannot mark paid"):
        market.deliver(topics.PAYMENT_COMPLETED, data)


def test_the_same_payment_twice_is_a_no_op(market: Market) -> None:
    order = market.paid_order()

    again = market.pay(order)  # a new CloudEvent carrying the same payment

    assert not again.duplicate
    assert market.reload(order).status == OrderStatus.PAID


def test_a_payment_that_does_not_match_the_order_is_permanent(market: Market) -> None:
    order = market.created_order()

    with pytest.raises(InvalidInput) as refused:
        market.pay(order, amount=1, currency="EUR")

    assert refused.value.problems == [
        f"amount: payment payment-{order.id} is 1, the order 4500",
        f"currency: payment payment-{order.id} is in EUR, the order in USD",
    ]
    assert market.reload(order).status == OrderStatus.CREATED


def test_a_second_payment_for_a_paid_order_is_permanent(market: Market) -> None:
    order = market.paid_order()

    with pytest.raises(IllegalTransition) as refused:
        market.pay(order, id="payment-2")

    assert str(refused.value) == (
        f"order {order.id} is paid; cannot mark paid: already paid by payment payment-{order.id}"
    )


@pytest.mark.parametrize("given", ["cancelled", "completed"])
def test_a_payment_for_a_finished_order_is_permanent(market: Market, given: str) -> None:
    order = getattr(market, f"{given}_order")()

    with pytest.raises(IllegalTransition, match=f"order {order.id} is {given}; cannot mark paid"):
        market.pay(order, id="payment-late")
