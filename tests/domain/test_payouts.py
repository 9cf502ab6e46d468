"""`escrow.released`: a payout for the seller; a paid order becomes completed."""

from __future__ import annotations

from typing import Any

import pytest

from marketplace.domain import orders
from marketplace.domain.errors import IllegalTransition, InvalidInput, NotYetKnown
from marketplace.domain.models import Order, OrderStatus, Payout, Seller
from marketplace.events import topics
from tests.domain.conftest import SELLER, Market


def release(market: Market, order: Order, **fields: Any) -> object:
    data = {"id": f"release-{order.id}", "orderId": order.id, "sellerId": order.seller_id,
            "amount": 4000, "currency": order.currency} | fields  # fmt: skip
    return market.deliver(topics.ESCROW_RELEASED, data).entity


def test_releasing_a_paid_orders_escrow_completes_it(market: Market) -> None:
    order = market.paid_order()
    market.forget_events()

    payout = release(market, order)

    assert isinstance(payout, Payout) and (payout.amount, payout.seller_id) == (4000, SELLER)
    assert market.reload(order).status == OrderStatus.COMPLETED
    assert market.data(topics.ORDER_COMPLETED) == [
        {"id": order.id, "completedAt": "2026-03-02T12:00:00.000Z", "finalAmount": 4500,
         "currency": "USD"}
    ]  # fmt: skip
    seller = market.get(Seller, SELLER)
    assert seller is not None and seller.payouts_received == 1


def test_releasing_a_completed_orders_escrow_only_records_the_payout(market: Market) -> None:
    order = market.completed_order()
    market.forget_events()

    release(market, order)

    assert market.types() == []
    assert market.get(Payout, f"release-{order.id}") is not None


def test_the_same_release_twice_pays_out_once(market: Market) -> None:
    order = market.paid_order()
    release(market, order)
    release(market, order, amount=1)  # a re-sent event with the same release id

    seller = market.get(Seller, SELLER)
    assert seller is not None and seller.payouts_received == 1
    assert market.types().count("order.completed") == 1


def test_a_release_before_the_payment_is_transient(market: Market) -> None:
    order = market.created_order()

    with pytest.raises(NotYetKnown, match=f"order {order.id} is created and its payment not seen"):
        release(market, order)
    assert market.get(Payout, f"release-{order.id}") is None


def test_a_release_for_an_order_not_known_yet_is_transient(market: Market) -> None:
    data = {"id": "r-1", "orderId": "later", "sellerId": SELLER, "amount": 1, "currency": "USD"}
    with pytest.raises(NotYetKnown, match="order later is not known yet; cannot release escrow"):
        market.deliver(topics.ESCROW_RELEASED, data)


def test_a_release_for_a_cancelled_order_is_permanent(market: Market) -> None:
    order = market.paid_order()
    market.do(orders.cancel_order, order.id, "changed plans")

    with pytest.raises(IllegalTransition, match=f"order {order.id} is cancelled; cannot release"):
        release(market, order)


def test_a_release_to_another_seller_is_permanent(market: Market) -> None:
    order = market.paid_order()

    with pytest.raises(InvalidInput, match="sellerId: someone-else"):
        release(market, order, sellerId="someone-else")


def test_a_release_of_more_than_the_order_is_permanent(market: Market) -> None:
    order = market.paid_order()  # 4500 USD

    with pytest.raises(InvalidInput) as refused:
        release(market, order, amount=4501)

    assert refused.value.problems == [
        f"amount: release release-{order.id} is 4501, but the order is 4500"
    ]
    assert market.get(Payout, f"release-{order.id}") is None
    assert market.reload(order).status == OrderStatus.PAID


def test_releases_in_parts_may_add_up_to_the_order_but_not_beyond(market: Market) -> None:
    """A dispute settled by `split` is released in parts."""
    order = market.paid_order()
    release(market, order, id="part-1", amount=4000)
    release(market, order, id="part-2", amount=500)

    with pytest.raises(InvalidInput) as refused:
        release(market, order, id="part-3", amount=1)

    assert refused.value.problems == [
        "amount: release part-3 is 1, but the order is 4500, of which 4500 is released already"
    ]
    assert [market.get(Payout, part) is not None for part in ("part-1", "part-2", "part-3")] == [
        True, True, False
    ]  # fmt: skip


def test_a_release_that_matches_nothing_names_every_difference(market: Market) -> None:
    order = market.paid_order()

    with pytest.raises(InvalidInput) as refused:
        release(market, order, sellerId="someone-else", currency="EUR", amount=9000)

    assert [problem.split(":")[0] for problem in refused.value.problems] == [
        "sellerId", "currency", "amount"
    ]  # fmt: skip
