"""A dead letter read back: what the writer noted, the original parts, the event it carried."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from marketplace.consumer.dead_letter import DeadLetter
from marketplace.events import topics
from marketplace.events.envelope import RawRecord
from tests.workers.dlq.letters import (
    DLQ,
    FAILED_AT,
    STRUCTURED,
    TENANT,
    Refused,
    bridge_letter,
    payment,
    stored,
    task_letter,
)
from workers.dlq.letters import StoredLetter


def test_a_bridge_letter_reads_back_where_the_record_was_and_why_it_failed() -> None:
    letter = bridge_letter(at=(2, 41), error=Refused("amount: too small"))

    assert (letter.original_topic, letter.original_partition, letter.original_offset) == (
        topics.PAYMENT_COMPLETED.name,
        2,
        41,
    )
    assert (letter.stage, letter.error_class, letter.error_message) == (
        "bridge",
        "Refused",
        "amount: too small",
    )
    assert letter.failed_at == FAILED_AT == letter.when
    assert letter.original_headers == list(STRUCTURED)
    assert json.loads(letter.value) == payment()
    assert letter.omitted == []


def test_the_event_is_read_from_a_structured_value_or_from_binary_mode_headers() -> None:
    structured = bridge_letter()
    binary = bridge_letter(
        b'{"id": "pay-2"}',
        headers=(("ce_id", b"ev-9"), ("ce_type", b"t.v1"), ("ce_tenantid", TENANT.encode())),
    )

    assert (structured.event_id, structured.event_type, structured.tenant) == (
        payment()["id"],
        topics.PAYMENT_COMPLETED.name,
        TENANT,
    )
    assert (binary.event_id, binary.event_type, binary.tenant) == ("ev-9", "t.v1", TENANT)


def test_a_record_that_is_no_event_is_known_by_its_key_as_tenant() -> None:
    letter = bridge_letter(b"{not json", key=TENANT.upper())

    assert letter.event == {} and letter.event_id is None and letter.event_type is None
    assert letter.tenant == TENANT, "canonical, as the marketplace stores tenants"


def test_a_task_letter_has_the_cloudevent_and_no_original_place() -> None:
    letter = task_letter(task="marketplace.orders.mark_paid")

    assert letter.stage == "marketplace.orders.mark_paid"
    assert letter.original_topic == topics.PAYMENT_COMPLETED.name
    assert (letter.original_partition, letter.original_offset) == (None, None)
    assert json.loads(letter.value) == payment()


def test_a_letter_of_an_oversized_record_says_its_value_is_left_out() -> None:
    letter = bridge_letter({"padding": "x" * 2000}, max_record_bytes=1024)

    assert letter.omitted == ["value"] and letter.value == b""


def test_a_pointer_only_letter_keeps_the_place_and_nothing_else() -> None:
    record = RawRecord(topics.REVIEW_CREATED.name, None, None, (), 0, 9)
    unreadable = DeadLetter(record, Refused("?"), "bridge", FAILED_AT, unreadable=True)

    letter = stored(unreadable)

    assert letter.omitted == ["value"]
    assert (letter.original_partition, letter.original_offset) == (0, 9)


def test_an_earlier_replay_mark_is_no_original_header() -> None:
    letter = bridge_letter(headers=(*STRUCTURED, ("dlq-replayed-from", b"dlq/0/1")))

    assert letter.original_headers == list(STRUCTURED)


def test_anything_on_the_topic_reads_without_raising() -> None:
    garbage = StoredLetter(
        DLQ,
        0,
        5,
        1_767_225_600_000,
        b"\xff",
        b"[" * 100_000,
        (
            ("dlq-original-offset", b"-3"),
            ("dlq-original-partition", b"\xd9\xa3"),  # an Arabic-Indic digit: no number here
            ("dlq-failed-at", b"yesterday"),
            ("dlq-stage", b"\xff\xfe"),
        ),
    )

    assert (garbage.original_partition, garbage.original_offset) == (None, None)
    assert garbage.failed_at is None
    assert garbage.when == datetime(2026, 1, 1, tzinfo=UTC), "when it was written"
    assert garbage.event == {} and garbage.tenant is None
    assert garbage.stage == "\ufffd\ufffd"
    assert garbage.ref == "0:5" and garbage.replayed_from == f"{DLQ}/0/5"
