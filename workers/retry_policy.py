"""When a failed task runs again: exponential backoff with jitter, bounded by attempts and age.

Which failures are worth retrying is decided by type alone: our `TransientError` branch, plus
the infrastructure errors that mean "the database or Kafka is not answering right now".
"""

from __future__ import annotations

import random

from kafka.errors import KafkaError
from sqlalchemy.exc import IntegrityError, OperationalError

from marketplace.errors import PermanentError, TransientError
from workers import constants

# An IntegrityError is a lost race (two first sightings of one seller, one event delivered
# twice at once); on the next attempt the winner's row is visible and the duplicate is a no-op.
RETRYABLE: tuple[type[BaseException], ...] = (
    TransientError,
    OperationalError,
    IntegrityError,
    KafkaError,
)


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, RETRYABLE) and not isinstance(error, PermanentError)


def backoff_seconds(
    attempt: int, *, visibility_timeout: float, rng: random.Random | None = None
) -> float:
    """Uniform in [ceiling/10, ceiling], ceiling = min(cap, base·2^attempt): a burst spreads out."""
    cap = min(constants.RETRY_CAP_SECONDS, visibility_timeout / 4)
    ceiling = min(cap, constants.RETRY_BASE_SECONDS * 2**attempt)
    return (rng or random).uniform(ceiling / 10, ceiling)


def exhausted(
    attempt: int, age_seconds: float, *, max_attempts: int, max_age_seconds: float
) -> bool:
    return attempt >= max_attempts or age_seconds >= max_age_seconds
