"""Building blocks shared by every payload model: camelCase JSON, money, ids, text, instants.

The limits below are the one place that says how large a value may be. Some are the columns'
(`String(n)`, `BIGINT`); the others keep the largest outbound CloudEvent far below the
producer's record limit once written as JSON, which escapes every non-ASCII character (6
bytes for one of the Basic Multilingual Plane, 12 for any other). `tests/events/
test_event_sizes.py` builds the largest event each outbound payload allows and checks it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    StrictInt,
    StringConstraints,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError, core_schema

# What the databases can hold.
MAX_BIGINT = 2**63 - 1
"""Every integer column is at most a BIGINT (money, prices)."""
MAX_INTEGER = 2**31 - 1
"""An INTEGER column (`sellers.listing_limit`)."""
ID_LENGTH = 200
"""Id columns are `String(200)` (the inbox's source and event id are `String(500)`)."""
TITLE_LENGTH = 200
"""`listings.title`, `rfps.title`."""
LANE_LENGTH = 100
"""`listings.lane`; an RFP's target lanes are matched against it."""
TIER_LENGTH = 50
"""`sellers.tier`."""

# Free text stored in TEXT columns, bounded so that every event carrying it stays small.
DESCRIPTION_LENGTH = 20_000
REQUIREMENTS_LENGTH = 10_000
MESSAGE_LENGTH = 5_000
"""A quote's message, a dispute's resolution notes."""
REASON_LENGTH = 2_000
"""Why a listing was closed, an order cancelled, a dispute opened."""
EVIDENCE_LENGTH = 1_000
"""One piece of a dispute's evidence (a reference, a URL or a line of text)."""
NAME_LENGTH = 200
"""A seller's display name, a sponsorship tier's name, a subscription's status."""
EVENT_NAME_LENGTH = 500
"""An event's name (listing titles quote it, cut to `TITLE_LENGTH`)."""
URL_LENGTH = 2_048
"""A seller's avatar URL."""
COMMENT_LENGTH = 10_000
"""A review's comment (stored, never published)."""

# Lists.
MAX_EVIDENCE = 20
MAX_TARGET_LANES = 20
MAX_MATCHED_SELLERS = 100
"""An RFP is broadcast to at most this many sellers (`marketplace.domain.rfps`)."""
MAX_EXHIBITOR_SLOTS = 1_000
MAX_SPONSORSHIP_TIERS = 1_000

EVENT_BYTES_BUDGET = 512 * 1024
"""The largest an outbound CloudEvent may be once encoded: half the producer's 1 MiB record
limit, leaving the rest for the record's key, headers and framing."""


class InstantOutOfRange(ValueError, OverflowError):
    """A datetime whose instant, in UTC, falls outside years 1 to 9999.

    An `OverflowError`, as `datetime` raises, and a `ValueError`, so that a pydantic model
    reports it as a bad field rather than letting it escape validation.
    """


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
        """The same instant in UTC; naive datetimes are refused rather than guessed, and
        `InstantOutOfRange` is raised for one that UTC cannot express (0001-01-01T00:00+14:00)."""
        if moment.tzinfo is None:
            raise ValueError("a naive datetime has no instant; give it a timezone")
        try:
            utc = moment.astimezone(UTC)
        except OverflowError:
            raise InstantOutOfRange(
                f"{moment.isoformat()} is outside years 0001 to 9999 once in UTC"
            ) from None
        return cls(*utc.timetuple()[:6], utc.microsecond, tzinfo=UTC)

    @classmethod
    def now(cls, tz: object = None) -> EventTime:
        moment = datetime.now(UTC)
        return cls.of(moment.replace(microsecond=moment.microsecond // 1000 * 1000))


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise PydanticCustomError(
            "naive_instant", "must carry a timezone, e.g. 2026-03-02T12:00:00.000Z"
        )
    try:
        return EventTime.of(moment)
    except InstantOutOfRange:
        raise PydanticCustomError(
            "instant_out_of_range", "is outside years 0001 to 9999 once converted to UTC"
        ) from None


def _unicode(value: object) -> object:
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise PydanticCustomError(
                "text_surrogate",
                "holds a lone surrogate at position {position}, which is not Unicode text",
                {"position": error.start},
            ) from None
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("text_nul", "must not contain NUL (\\x00) characters")
    return value


@dataclass(frozen=True)
class Text:
    """Text the databases can store and an event can carry: `Annotated[str, Text(200)]`.

    At most `max_length` characters (code points, as `String(n)` counts them), at least
    `min_length`, never a NUL (PostgreSQL refuses it in text) nor a lone surrogate (which
    UTF-8 cannot encode). `strip` trims surrounding whitespace first: for what a person
    typed into a command. Payloads never strip, so what is stored is what is sent.
    """

    max_length: int
    min_length: int = 1
    strip: bool = False

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        text = core_schema.str_schema(
            min_length=self.min_length,
            max_length=self.max_length,
            strip_whitespace=self.strip or None,
        )
        return core_schema.no_info_before_validator_function(
            _unicode, core_schema.no_info_after_validator_function(_no_nul, text)
        )


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 code, upper case."""

MinorUnits = Annotated[StrictInt, Field(ge=0, le=MAX_BIGINT)]
"""Money as an integer count of the currency's minor unit (cents for USD), BIGINT-sized."""

EntityId = Annotated[str, Text(ID_LENGTH)]
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
