"""Which dead letters a command is about: by original topic or type, tenant, stage, error
class and time range (every given criterion must hold; several values of one are alternatives),
or by their place in the dead-letter topic (`<partition>:<offset>`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from marketplace.errors import PermanentError
from workers.dlq.letters import StoredLetter, canonical_tenant

_DURATION = re.compile(r"([0-9]{1,9})([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_REF = re.compile(r"([0-9]{1,9}):([0-9]{1,19})")


class SelectionError(PermanentError, ValueError):
    """A criterion that cannot be understood; names what it accepts."""


@dataclass(frozen=True)
class Selection:
    topics: Sequence[str] = ()
    types: Sequence[str] = ()
    tenants: Sequence[str] = ()
    stages: Sequence[str] = ()
    errors: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, letter: StoredLetter) -> bool:
        tenants = {canonical_tenant(tenant) for tenant in self.tenants}
        return (
            _among(letter.original_topic, self.topics)
            and _among(letter.event_type, self.types)
            and _among(letter.tenant, tenants)
            and _among(letter.stage, self.stages)
            and _among(letter.error_class, self.errors)
            and (self.since is None or letter.when >= self.since)
            and (self.until is None or letter.when < self.until)
        )


def _among(value: str | None, wanted: Sequence[str] | set[str]) -> bool:
    return not wanted or value in wanted


def parse_moment(text: str, *, now: datetime | None = None) -> datetime:
    """`30m`, `2h`, `7d` (that long ago) or an ISO 8601 instant (UTC when it names no zone)."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        amount, unit = match.groups()
        try:
            return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: int(amount)})
        except OverflowError:
            raise SelectionError(f"{text!r} reaches back before year 1") from None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SelectionError(
            f"{text!r} is neither a duration (30m, 2h, 7d) nor an ISO 8601 instant"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def parse_ref(text: str) -> tuple[int, int]:
    """`<partition>:<offset>` of a dead letter, as `marketplace dlq list` shows it."""
    match = _REF.fullmatch(text.strip())
    if not match:
        raise SelectionError(f"{text!r} is not a dead letter's <partition>:<offset> (e.g. 0:42)")
    return int(match.group(1)), int(match.group(2))
