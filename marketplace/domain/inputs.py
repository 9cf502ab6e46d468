"""What commands accept, checked completely before anything changes.

Each command's arguments are validated by one pydantic model, and every problem is reported at
once in a single `InvalidInput` that names the entity and the action. Values may arrive as a
Celery task's JSON (ISO strings for instants, dicts for money); money stays strict integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from marketplace.domain.errors import InvalidInput
from marketplace.domain.models import DisputeOutcome, ListingKind
from marketplace.events.schema import Currency, EntityId, Instant, MinorUnits, Money

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Lane = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Input(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


class NewListing(_Input):
    id: EntityId | None = None
    seller_id: EntityId
    title: Title
    lane: Lane
    price: MinorUnits
    currency: Currency
    description: str | None = None
    kind: ListingKind = ListingKind.STANDARD
    event_id: EntityId | None = None


class ListingChanges(_Input):
    """A partial update: only the keys given are changed; snake_case or camelCase."""

    title: Title | None = None
    description: str | None = None
    lane: Lane | None = None
    price: MinorUnits | None = None
    currency: Currency | None = None

    @field_validator("title", "lane", "price", "currency")
    @classmethod
    def _not_cleared(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be changed but not cleared")
        return value

    def given(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


class NewQuote(_Input):
    id: EntityId | None = None
    listing_id: EntityId
    buyer_id: EntityId
    amount: MinorUnits
    currency: Currency
    message: str = ""


class NewDispute(_Input):
    id: EntityId | None = None
    order_id: EntityId
    opened_by: EntityId
    reason: Text
    evidence: list[Text] = Field(default_factory=list)


class NewRfp(_Input):
    id: EntityId | None = None
    buyer_id: EntityId
    title: Title
    requirements: Text
    target_lanes: Annotated[list[Lane], Field(min_length=1)]
    deadline: Instant
    budget: Money | None = None


class Resolution(_Input):
    outcome: DisputeOutcome
    notes: str = ""


class Reason(_Input):
    reason: Text


M = TypeVar("M", bound=_Input)


def parse(
    model: type[M], values: Mapping[str, object], *, entity: str, entity_id: str | None, action: str
) -> M:
    """`model` from `values`, or one `InvalidInput` naming every bad or unknown field."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as error:
        raise InvalidInput(entity, entity_id, action, _problems(error)) from None


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "input"
        message = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(f"{where}: {message}")
    return problems
