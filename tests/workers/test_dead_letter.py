import json
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError

from marketplace.consumer.dead_letter import (
    HEADER_PREFIX,
    METADATA_ALLOWANCE_BYTES,
    NOTES,
    OCCASIONAL_NOTES,
    RECORD_OVERHEAD_BYTES,
    DeadLetter,
    DeadLetterSender,
    DeadLetterUnavailable,
)
from marketplace.consumer.producer import RenewingProducer
from marketplace.events.envelope import EnvelopeError, OutboundRecord, RawRecord
from workers.dead_letter import for_task

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


BUDGET = LIMIT + METADATA_ALLOWANCE_BYTES - RECORD_OVERHEAD_BYTES


def outbound_of(raw: RawRecord, limit: int = LIMIT) -> OutboundRecord:
    error = EnvelopeError(["bad"], raw)
    return DeadLetter(raw, error, "bridge", datetime.now(UTC)).to_outbound(
        "dlq", max_record_bytes=limit
    )


def size_of(out: OutboundRecord) -> int:
    headers = sum(len(name.encode()) + len(value) for name, value in out.headers)
    return len(out.key) + len(out.value) + headers


def assert_sendable(out: OutboundRecord) -> None:
    """What kafka-python's `send()` checks, and what it then encodes."""
    for name, value in out.headers:
        assert isinstance(name, str) and isinstance(value, bytes)
        name.encode("utf-8")


def test_headers_kafka_cannot_carry_are_sanitised_and_named() -> None:
    raw = RawRecord("t", b"{}", b"k", (("null", None), ("bad\udcff", b"v"), ("ok", b"x")), 0, 3)  # type: ignore[arg-type]

    out = outbound_of(raw)
    headers = dict(out.headers)

    assert_sendable(out)
    assert headers["null"] == b"" and headers["bad\\udcff"] == b"v" and headers["ok"] == b"x"
    assert json.loads(headers["dlq-headers-sanitised"]) == ["null", "bad\\udcff"]
    assert out.value == b"{}"


def test_an_oversize_header_is_dropped_after_the_value_and_the_pointer_stays() -> None:
    big = b"h" * 1_200_000
    raw = RawRecord("t", b"{}", b"k", (("huge", big), ("small", b"s")), 4, 9)

    out = outbound_of(raw)
    headers = dict(out.headers)

    assert size_of(out) <= BUDGET
    assert out.value == b"" and "dlq-value-omitted" in headers
    assert json.loads(headers["dlq-headers-omitted"]) == ["huge"]
    assert headers["small"] == b"s" and out.key == b"k"
    assert (headers["dlq-original-partition"], headers["dlq-original-offset"]) == (b"4", b"9")


def test_an_oversize_key_is_dropped_last() -> None:
    raw = RawRecord("t", b"v" * 100, b"k" * 400_000, (("a", b"a" * 100_000),), 1, 2)

    out = outbound_of(raw, limit=256 * 1024)

    assert size_of(out) <= 256 * 1024 + METADATA_ALLOWANCE_BYTES - RECORD_OVERHEAD_BYTES
    assert out.key == b"" and b"400000 bytes" in dict(out.headers)["dlq-key-omitted"]
    assert dict(out.headers)["dlq-original-topic"] == b"t"


def test_metadata_is_bounded_whatever_the_error_says() -> None:
    raw = RawRecord("t", b"{}", "é".encode() * 100_000, (), 0, 0)
    error = EnvelopeError(["\udcff" + "é" * 50_000] * 5, raw)

    out = DeadLetter(raw, error, "bridge", datetime.now(UTC)).to_outbound(
        "dlq", max_record_bytes=LIMIT
    )

    assert_sendable(out)
    assert all(len(v) <= 8 * 1024 for n, v in out.headers if n.startswith("dlq-"))
    assert size_of(out) <= BUDGET


@pytest.mark.parametrize("argument", [None, "x", [None], 5, {"type": 7, "tenantid": ["t"]}])
def test_a_task_dead_letter_can_be_built_from_any_argument(argument: object) -> None:
    out = for_task(argument, ValueError("not a CloudEvent"), "task").to_outbound(
        "dlq", max_record_bytes=LIMIT
    )

    assert_sendable(out)
    assert json.loads(out.value) == argument


def test_a_task_dead_letter_of_an_argument_json_cannot_write_keeps_a_readable_copy() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]

    out = for_task(deep, ValueError("too deep"), "task").to_outbound("dlq", max_record_bytes=LIMIT)

    assert out.value.startswith(b"[[")


class FakeProducer:
    def __init__(self, *, refuse: bool = False, unreachable: bool = False) -> None:
        self.refuse, self.unreachable = refuse, unreachable
        self.sent: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []
        self.closed = False

    def send(self, topic: str, value: bytes, key: bytes = b"", headers: Any = ()) -> Any:
        if self.refuse and value:
            raise MessageSizeTooLargeError("too large")
        self.sent.append((topic, value, list(headers)))
        return self

    def get(self, timeout: float) -> None:
        if self.unreachable:
            raise KafkaTimeoutError("no broker")

    def flush(self, timeout: float) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def letter() -> DeadLetter:
    raw = RawRecord("t", b"{}", b"k", (), 0, 5)
    return DeadLetter(raw, EnvelopeError(["bad"], raw), "bridge", datetime.now(UTC))


def test_a_copy_the_producer_refuses_is_sent_as_its_pointer() -> None:
    producer = FakeProducer(refuse=True)

    DeadLetterSender(RenewingProducer(lambda: producer), "dlq", max_record_bytes=LIMIT).deliver(
        [letter()]
    )

    [(topic, value, headers)] = producer.sent
    assert (topic, value) == ("dlq", b"")
    assert dict(headers)["dlq-original-offset"] == b"5"
    assert b"refused" in dict(headers)["dlq-value-omitted"]


def test_an_unreachable_dead_letter_topic_is_an_outage_not_a_content_error() -> None:
    sender = DeadLetterSender(
        RenewingProducer(lambda: FakeProducer(unreachable=True)), "dlq", max_record_bytes=LIMIT
    )

    with pytest.raises(DeadLetterUnavailable):
        sender.deliver([letter()])


def test_a_producer_that_failed_a_dead_letter_is_closed_and_the_next_one_is_new() -> None:
    """A bridge's dead-letter producer must not stay stuck after a Kafka outage for life."""
    stuck, fresh = FakeProducer(unreachable=True), FakeProducer()
    made = iter([stuck, fresh])
    sender = DeadLetterSender(RenewingProducer(lambda: next(made)), "dlq", max_record_bytes=LIMIT)

    with pytest.raises(DeadLetterUnavailable):
        sender.deliver([letter()])
    sender.deliver([letter()])

    assert stuck.closed and not fresh.closed
    assert [topic for topic, _value, _headers in fresh.sent] == ["dlq"]


def test_a_producer_kafka_does_not_let_be_made_is_an_outage_too() -> None:
    def unreachable() -> FakeProducer:
        raise KafkaConnectionError("no broker")

    sender = DeadLetterSender(RenewingProducer(unreachable), "dlq", max_record_bytes=LIMIT)

    with pytest.raises(DeadLetterUnavailable):
        sender.deliver([letter()])


def test_a_record_of_many_headers_keeps_as_many_as_fit() -> None:
    headers = tuple((f"h{i}", b"v" * 100) for i in range(20_000))
    raw = RawRecord("t", b"{}", b"k", headers, 0, 1)

    out = outbound_of(raw)
    kept = [name for name, _ in out.headers if not name.startswith("dlq-")]

    assert size_of(out) <= BUDGET
    assert 0 < len(kept) < len(headers) and out.key == b"k"
    assert len(kept) + len(json.loads(dict(out.headers)["dlq-headers-omitted"])) <= len(headers)


def test_dlq_problems_stay_valid_json_however_many_and_long() -> None:
    raw = RawRecord("t", b"{}", b"k", (), 0, 0)
    problems = ["p" * 50_000] + [f"problem {i}" for i in range(5_000)]
    error = EnvelopeError(problems, raw)

    out = DeadLetter(raw, error, "bridge", datetime.now(UTC)).to_outbound(
        "dlq", max_record_bytes=LIMIT
    )
    listed = json.loads(dict(out.headers)["dlq-problems"])

    assert listed[0].startswith("ppp") and listed[0].endswith("…")
    assert listed[-1].startswith("... and ") and listed[-1].endswith(" more")


def every_kind_of_dead_letter() -> list[OutboundRecord]:
    """A dead letter of each shape: plain, a task's, sanitised, reduced in each way, unreadable."""
    at = datetime.now(UTC)
    unreadable = DeadLetter(
        RawRecord("t", None, None, (), 3, 4), ValueError("?"), "bridge", at, True
    )
    return [
        outbound_of(RawRecord("t", b"{}", b"k", (("ok", b"x"),), 0, 1)),
        for_task({"type": "t"}, ValueError("no"), "marketplace.orders.mark_paid").to_outbound(
            "dlq", max_record_bytes=LIMIT
        ),
        outbound_of(RawRecord("t", b"{}", b"k", (("null", None),), 0, 3)),  # type: ignore[arg-type]
        outbound_of(RawRecord("t", b"{}", b"k", (("huge", b"h" * 1_200_000),), 4, 9)),
        outbound_of(RawRecord("t", b"v", b"k" * 400_000, (), 1, 2), limit=256 * 1024),
        unreadable.to_outbound("dlq", max_record_bytes=LIMIT),
    ]


def test_every_dlq_header_is_documented_and_the_usual_ones_are_always_there() -> None:
    letters = every_kind_of_dead_letter()
    written = [
        {name.removeprefix(HEADER_PREFIX) for name, _ in out.headers if name.startswith("dlq-")}
        for out in letters
    ]

    assert set().union(*written) == set(NOTES)
    for notes in written:
        assert set(NOTES) - OCCASIONAL_NOTES <= notes
