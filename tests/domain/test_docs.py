"""The README shows the state machines the models enforce, diagram for diagram."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketplace.domain.models import Dispute, Listing, Order, Quote
from marketplace.domain.models.base import Lifecycle

DOCS = Path(__file__).parents[2] / "README.md"
INITIAL: dict[type[Lifecycle], str] = {
    Listing: "draft", Quote: "submitted", Order: "created", Dispute: "open"
}  # fmt: skip


def diagram(model: type[Lifecycle]) -> str:
    """The mermaid `stateDiagram-v2` of a model's transitions table."""
    lines = ["```mermaid", "stateDiagram-v2", f"    [*] --> {INITIAL[model]}"]
    leaving: set[str] = set()
    states = {INITIAL[model]}
    for action, moves in model.transitions.items():
        for source, target in moves.items():
            lines.append(f"    {source} --> {target}: {action}")
            states |= {source, target}
            if source != target:
                leaving.add(source)
    lines += [f"    {state} --> [*]" for state in sorted(states - leaving)]
    return "\n".join([*lines, "```"])


@pytest.mark.parametrize("model", list(INITIAL), ids=lambda model: model.__name__)
def test_the_docs_show_each_state_machine_as_enforced(model: type[Lifecycle]) -> None:
    assert diagram(model) in DOCS.read_text(encoding="utf-8")
