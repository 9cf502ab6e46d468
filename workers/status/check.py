"""One line of `marketplace status`: a named part, up or not, what it shows."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

TIMEOUT_MS = 5_000
"""Every probe gives up after this long: a dead service costs seconds, not minutes."""


@dataclass(frozen=True)
class Check:
    name: str
    up: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def guarded(name: str, probe: Callable[[], list[Check]]) -> list[Check]:
    """The probe's checks, or one `down` check saying why it could not run."""
    try:
        return probe()
    except Exception as error:  # whatever a client raises for a service that is not there
        logger.debug("%s probe failed", name, exc_info=True)
        return [Check(name, False, f"failed: {short(error)}")]


def short(error: BaseException) -> str:
    """The first line of what the client said (SQLAlchemy appends the statement)."""
    cause = getattr(error, "orig", None) or error
    text = (str(cause).strip().splitlines() or [""])[0] or type(cause).__name__
    return text if len(text) <= 200 else text[:199] + "…"
