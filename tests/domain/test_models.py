"""What every model shares: the state machines' tables, UTC instants, JSON views."""

from __future__ import annotations

from datetime import datetime

import pytest

from marketplace.domain.errors import IllegalTransition
from marketplace.domain.models import Dispute, Listing, Order, Quote
from marketplace.domain.models.base import Lifecycle, UTCDateTime
from tests.domain.conftest import NOW, Market

MACHINES: list[type[Lifecycle]] = [Listing, Quote, Order, Dispute]


def every_move() -> list[tuple[type[Lifecycle], str, str]]:
    """(model, action, state) for every action in every state the model knows."""
    moves = []
    for model in MACHINES:
        states = {state for moves in model.transitions.values() for pair in moves.items()
                  for state in pair}  # fmt: skip
        moves += [
            (model, action, state) for action in model.transitions for state in sorted(states)
        ]
    return moves


@pytest.mark.parametrize(
    ("model", "action", "state"),
    every_move(),
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_every_action_in_every_state_moves_or_names_the_refusal(
    model: type[Lifecycle], action: str, state: str
) -> None:
    entity = model()
    entity.id, entity.status = "e-1", state  # type: ignore[misc]
    allowed = model.transitions[action]

    if state in allowed:
        entity.move(action)
        assert entity.status == allowed[state]
    else:
        with pytest.raises(IllegalTransition) as refused:
            entity.move(action)
        assert str(refused.value) == f"{model.entity} e-1 is {state}; cannot {action}"
        assert (refused.value.state, refused.value.action) == (state, action)


def test_a_naive_datetime_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 3, 2, 12), dialect=None)  # type: ignore[arg-type]


def test_as_dict_is_json_ready_and_camel_case(market: Market) -> None:
    order = market.paid_order()

    view = market.reload(order).as_dict()

    assert view["paidAt"] == "2026-03-02T12:00:00.000Z"
    assert (view["status"], view["amount"], view["refundStatus"]) == ("paid", 4500, "none")
    assert market.reload(order).paid_at == NOW
