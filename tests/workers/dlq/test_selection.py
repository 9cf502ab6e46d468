"""Selecting dead letters: each criterion alone, alternatives within one, all of them together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketplace.events import topics
from tests.workers.dlq.letters import FAILED_AT, TENANT, bridge_letter, payment, task_letter
from workers.dlq.selection import Selection, SelectionError, parse_moment, parse_ref

OTHER = "00000000-0000-4000-8000-000000000002"
BAD_RECORD = bridge_letter(b"{not json", topic=topics.REVIEW_CREATED.name, offset=1)
PAYMENT_LETTER = bridge_letter(offset=2, failed_at=FAILED_AT + timedelta(minutes=5))
TASK = task_letter(payment(OTHER), offset=3)
EVERY = [BAD_RECORD, PAYMENT_LETTER, TASK]


def chosen(selection: Selection) -> list[int]:
    return [letter.offset for letter in EVERY if selection.matches(letter)]


@pytest.mark.parametrize(
    ("selection", "offsets"),
    [
        (Selection(), [1, 2, 3]),
        (Selection(topics=[topics.REVIEW_CREATED.name]), [1]),
        (Selection(types=[topics.PAYMENT_COMPLETED.name]), [2, 3]),
        (Selection(tenants=[TENANT]), [1, 2]),
        (Selection(tenants=[OTHER.upper()]), [3]),
        (Selection(stages=["bridge"]), [1, 2]),
        (Selection(stages=["marketplace.orders.mark_paid"]), [3]),
        (Selection(errors=["Refused"]), [1, 2, 3]),
        (Selection(errors=["EnvelopeError"]), []),
        (Selection(topics=["nope", topics.REVIEW_CREATED.name]), [1]),
        (Selection(stages=["bridge"], tenants=[OTHER]), []),
        (Selection(stages=["bridge"], types=[topics.PAYMENT_COMPLETED.name]), [2]),
        (Selection(since=FAILED_AT + timedelta(minutes=5)), [2, 3]),
        (Selection(until=FAILED_AT + timedelta(minutes=5)), [1]),
        (Selection(since=FAILED_AT, until=FAILED_AT + timedelta(seconds=1)), [1]),
    ],
)
def test_a_selection_holds_for_exactly_the_letters_it_names(
    selection: Selection, offsets: list[int]
) -> None:
    assert TASK.when > PAYMENT_LETTER.when > BAD_RECORD.when  # the task letter failed now
    assert chosen(selection) == offsets


def test_a_moment_is_a_duration_ago_or_an_instant() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    assert parse_moment("90s", now=now) == now - timedelta(seconds=90)
    assert parse_moment("30m", now=now) == now - timedelta(minutes=30)
    assert parse_moment("2h", now=now) == now - timedelta(hours=2)
    assert parse_moment("7d", now=now) == now - timedelta(days=7)
    assert parse_moment("2026-03-02T10:00:00Z") == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert parse_moment("2026-03-02T10:00:00") == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert parse_moment("2026-03-02T12:00:00+02:00") == datetime(2026, 3, 2, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["", "yesterday", "-1h", "1w", "1.5h", "9" * 30 + "d", "2h ago", "٣h"]
)
def test_a_moment_that_is_neither_is_refused_naming_the_accepted_forms(text: str) -> None:
    with pytest.raises(SelectionError, match="30m, 2h, 7d"):
        parse_moment(text)


def test_a_duration_too_long_for_the_calendar_is_refused() -> None:
    with pytest.raises(SelectionError, match="before year 1"):
        parse_moment("999999999d")


def test_a_place_is_partition_colon_offset() -> None:
    assert parse_ref("0:42") == (0, 42)
    assert parse_ref(" 12:0 ") == (12, 0)


@pytest.mark.parametrize("text", ["", "0", "0:", ":1", "-1:2", "1:-2", "a:b", "1:2:3", "٣:1"])
def test_a_place_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(SelectionError, match="<partition>:<offset>"):
        parse_ref(text)
