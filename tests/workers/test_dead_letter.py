import json
from datetime import UTC, datetime

from marketplace.events.envelope import EnvelopeError, RawRecord
from workers.dead_letter import DeadLetter, for_task

LIMIT = 1 << 20


def test_a_dead_letter_keeps_the_original_bytes_and_says_where_and_why() -> None:
    raw = RawRecord(
        "eventzr.wallet.payment.completed.v1",
        b"\xff garbage",
        b"tenant-key",
        (("trace", b"abc"),),
        partition=2,
        offset=41,
    )
    error = EnvelopeError(["value is not UTF-8 text"], raw)

    out = DeadLetter(raw, error, "bridge", datetime(2026, 3, 2, 12, tzinfo=UTC)).to_outbound(
        "dlq", max_record_bytes=LIMIT
    )
    headers = dict(out.headers)

    assert (out.topic, out.key, out.value) == ("dlq", b"tenant-key", b"\xff garbage")
    assert headers["trace"] == b"abc"
    assert headers["dlq-original-topic"] == b"eventzr.wallet.payment.completed.v1"
    assert (headers["dlq-original-partition"], headers["dlq-original-offset"]) == (b"2", b"41")
    assert headers["dlq-error-class"] == b"EnvelopeError"
    assert json.loads(headers["dlq-problems"]) == ["value is not UTF-8 text"]
    assert headers["dlq-stage"] == b"bridge"
    assert headers["dlq-failed-at"] == b"2026-03-02T12:00:00.000+00:00"


def test_a_task_dead_letter_carries_the_cloudevent_it_was_given() -> None:
    event = {
        "specversion": "1.0",
        "id": "e-1",
        "type": "eventzr.wallet.payment.completed.v1",
        "tenantid": "00000000-0000-0000-0000-000000000001",
        "data": {"id": "p"},
    }

    letter = for_task(event, ValueError("amount mismatch"), "marketplace.orders.mark_paid")
    out = letter.to_outbound("dlq", max_record_bytes=LIMIT)

    assert json.loads(out.value) == event
    assert out.key == b"00000000-0000-0000-0000-000000000001"
    assert dict(out.headers)["dlq-stage"] == b"marketplace.orders.mark_paid"
    assert dict(out.headers)["dlq-error-message"] == b"amount mismatch"


def test_a_record_over_the_limit_is_dead_lettered_without_its_value_and_points_at_it() -> None:
    raw = RawRecord("eventzr.wallet.payment.completed.v1", b"x" * 2048, b"k", (), 1, 7)
    error = EnvelopeError([f"record is {raw.size} bytes, over the 1024-byte limit"], raw)

    out = DeadLetter(raw, error, "bridge", datetime.now(UTC)).to_outbound(
        "dlq", max_record_bytes=1024
    )
    headers = dict(out.headers)

    assert out.value == b""
    assert headers["dlq-value-omitted"].startswith(f"{raw.size} bytes, over the 1024".encode())
    assert (headers["dlq-original-partition"], headers["dlq-original-offset"]) == (b"1", b"7")
