"""Pydantic's findings as the project words them: one line per problem, `where: what`."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails

WORDING = {
    "extra_forbidden": "unknown field",
    "model_type": "must be an object",
}
"""Pydantic's messages reworded for the person who sent the input (`model_type` would name a
Python class: `Input should be a valid dictionary or instance of Money`)."""


def problems(error: ValidationError, *, prefix: str = "") -> list[str]:
    """Every problem of `error`, located by its path under `prefix` (`data.amount: …`)."""
    return [f"{prefix}{location(item) or 'input'}: {worded(item)}" for item in error.errors()]


def location(item: ErrorDetails) -> str:
    return ".".join(str(part) for part in item["loc"])


def worded(item: ErrorDetails) -> str:
    return WORDING.get(item["type"], item["msg"])
