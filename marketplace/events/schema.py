"""Building blocks shared by every payload model: camelCase JSON, money, ids, instants."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StringConstraints,
)
from pydantic.alias_generators import to_camel


class EventTime(datetime):
    """A UTC instant that writes itself as the spec does: RFC 3339, milliseconds, `Z`.

    Sub-millisecond precision, when present, is kept rather than silently dropped.
    """

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        if timespec == "auto":
            timespec = "milliseconds" if self.microsecond % 1000 == 0 else "microseconds"
        text = super().isoformat(sep, timespec)
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text

    @classmethod
    def of(cls, moment: datetime) -> EventTime:
        """The same instant in UTC; naive datetimes are refused rather than guessed."""
        if moment.tzinfo is None:
            raise ValueError("a naive datetime has no instant; give it a timezone")
        utc = moment.astimezone(UTC)
        return cls(*utc.timetuple()[:6], utc.microsecond, tzinfo=UTC)

    @classmethod
    def now(cls, tz: object = None) -> EventTime:
        moment = datetime.now(UTC)
        return cls.of(moment.replace(microsecond=moment.microsecond // 1000 * 1000))


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("must carry a timezone, e.g. 2026-03-02T12:00:00.000Z")
    return EventTime.of(moment)


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 code, upper case."""

MinorUnits = Annotated[StrictInt, Field(ge=0)]
"""Money as an integer count of the currency's minor unit (cents for USD)."""

EntityId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""Ids are opaque strings: the producing services choose their own formats."""


def _tenant(value: str) -> str:
    return str(uuid.UUID(value))


TenantId = Annotated[str, AfterValidator(_tenant)]
"""Tenants are UUIDs (the envelope's `tenantid`), written in canonical lower case."""

Instant = Annotated[
    datetime,
    AfterValidator(_aware),
    PlainSerializer(lambda moment: EventTime.of(moment).isoformat(), when_used="json"),
]
"""A timezone-aware instant, written like the envelope's `time`."""


class Payload(BaseModel):
    """An event's `data`: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )

    def to_data(self) -> dict[str, object]:
        """The JSON-ready `data` object; fields never set are left out (partial updates)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class InboundPayload(Payload):
    """What another service sends us: unknown fields are kept but never relied upon."""

    model_config = ConfigDict(extra="allow")


class Money(Payload):
    amount: MinorUnits
    currency: Currency
