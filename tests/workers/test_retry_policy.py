import random

import pytest
from kafka.errors import KafkaTimeoutError
from sqlalchemy.exc import OperationalError

from marketplace.errors import PermanentError, TransientError
from workers import retry_policy


class Both(TransientError, PermanentError):
    pass


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (TransientError("later"), True),
        (OperationalError("select 1", {}, Exception("db down")), True),
        (KafkaTimeoutError("no metadata"), True),
        (PermanentError("never"), False),
        (Both("permanent wins"), False),
        (KeyError("a bug"), False),
    ],
)
def test_failures_are_sorted_by_type(error: BaseException, retryable: bool) -> None:
    assert retry_policy.is_retryable(error) is retryable


def test_backoff_grows_exponentially_within_jitter_and_is_capped_below_the_visibility_timeout() -> (
    None
):
    rng = random.Random(7)
    delays = [retry_policy.backoff_seconds(n, visibility_timeout=7200, rng=rng) for n in range(12)]

    assert 0.1 <= delays[0] <= 1.0
    assert 3.2 <= delays[5] <= 32.0
    assert max(delays) <= 300.0
    assert retry_policy.backoff_seconds(20, visibility_timeout=40, rng=rng) <= 10.0


def test_a_task_gives_up_on_attempts_or_on_age_whichever_comes_first() -> None:
    assert not retry_policy.exhausted(3, 10.0, max_attempts=5, max_age_seconds=60)
    assert retry_policy.exhausted(5, 10.0, max_attempts=5, max_age_seconds=60)
    assert retry_policy.exhausted(1, 61.0, max_attempts=5, max_age_seconds=60)
