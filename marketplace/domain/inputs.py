"""What commands accept, checked completely before anything changes.

Each command's arguments are validated by one pydantic model, and every problem is reported at
once in a single `InvalidInput` that names the entity and the action. Values may arrive as a
Celery task's JSON (ISO strings for instants, dicts for money); money stays strict integers.
The limits are the payloads' (`marketplace.events.fields`): whatever a command accepts, the
database can store and the event it causes can carry. Titles, lanes, reasons, requirements
and evidence are trimmed of surrounding whitespace (a person typed them) and must not be
blank; descriptions, messages and notes are kept as given and may be empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from marketplace import validation
from marketplace.domain.errors import InvalidInput
from marketplace.domain.models import DisputeOutcome, ListingKind
from marketplace.events.fields import (
    DESCRIPTION_LENGTH,
    EVIDENCE_LENGTH,
    LANE_LENGTH,
    MAX_EVIDENCE,
    MAX_TARGET_LANES,
    MESSAGE_LENGTH,
    REASON_LENGTH,
    REQUIREMENTS_LENGTH,
    TITLE_LENGTH,
    Currency,
    EntityId,
    Instant,
    MinorUnits,
    Money,
    Text,
)

Title = Annotated[str, Text(TITLE_LENGTH, strip=True)]
Lane = Annotated[str, Text(LANE_LENGTH, strip=True)]
ReasonText = Annotated[str, Text(REASON_LENGTH, strip=True)]
Description = Annotated[str, Text(DESCRIPTION_LENGTH, min_length=0)]
Message = Annotated[str, Text(MESSAGE_LENGTH, min_length=0)]
Requirements = Annotated[str, Text(REQUIREMENTS_LENGTH, strip=True)]


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
    description: Description | None = None
    kind: ListingKind = ListingKind.STANDARD
    event_id: EntityId | None = None


class ListingChanges(_Input):
    """A partial update: only the keys given are changed; snake_case or camelCase."""

    title: Title | None = None
    description: Description | None = None
    lane: Lane | None = None
    price: MinorUnits | None = None
    currency: Currency | None = None

    @field_validator("title", "lane", "price", "currency")
    @classmethod
    def _not_cleared(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError("not_cleared", "may be changed but not cleared")
        return value

    def given(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


class NewQuote(_Input):
    id: EntityId | None = None
    listing_id: EntityId
    buyer_id: EntityId
    amount: MinorUnits
    currency: Currency
    message: Message = ""


class NewDispute(_Input):
    id: EntityId | None = None
    order_id: EntityId
    opened_by: EntityId
    reason: ReasonText
    evidence: Annotated[
        list[Annotated[str, Text(EVIDENCE_LENGTH, strip=True)]], Field(max_length=MAX_EVIDENCE)
    ] = Field(default_factory=list)


class NewRfp(_Input):
    id: EntityId | None = None
    buyer_id: EntityId
    title: Title
    requirements: Requirements
    target_lanes: Annotated[list[Lane], Field(min_length=1, max_length=MAX_TARGET_LANES)]
    deadline: Instant
    budget: Money | None = None


class Resolution(_Input):
    outcome: DisputeOutcome
    notes: Message = ""


class Reason(_Input):
    reason: ReasonText


M = TypeVar("M", bound=_Input)
_ENTITY_ID: TypeAdapter[str] = TypeAdapter(EntityId)


def parse(model: type[M], values: object, *, entity: str, entity_id: str | None, action: str) -> M:
    """`model` from `values`, or one `InvalidInput` naming every bad or unknown field."""
    if not isinstance(values, Mapping):
        raise InvalidInput(entity, entity_id, action, ["input: must be an object of fields"])
    try:
        return model.model_validate(dict(values))
    except ValidationError as error:
        raise InvalidInput(entity, entity_id, action, validation.problems(error)) from None


def checked_id(entity_id: object, *, entity: str, action: str) -> str:
    """An id a caller gives (of an `entity` to find, or a command's own), or `InvalidInput`
    if no row could have it."""
    try:
        return _ENTITY_ID.validate_python(entity_id)
    except ValidationError as error:
        problems = [f"{entity} id: {validation.worded(item)}" for item in error.errors()]
        raise InvalidInput(entity, None, action, problems) from None
