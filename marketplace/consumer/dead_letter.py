"""The dead-letter topic: where a record or event that can never be processed is kept.

A dead letter carries the original value, key and headers, plus `dlq-*` headers that say where
it came from and why it failed, so an operator can fix and replay it. The bridge, every
`marketplace.consumer` group and the workers' tasks (`workers.dead_letter.for_task`) write them
alike.

Writing a dead letter cannot fail on content; only Kafka being unreachable can stop it
(`DeadLetterUnavailable`, which callers retry). So the copy is made sendable first:
- what Kafka cannot carry is sanitised: a header without a value gets an empty one, a header
  name that is not text (lone surrogates) is written with backslash escapes, both listed in
  `dlq-headers-sanitised`;
- a copy that would not fit the producer's and the dead-letter topic's limit drops, in order,
  the value (`dlq-value-omitted`; always for a record over the accepted size), then the largest
  original headers (`dlq-headers-omitted`), then the key (`dlq-key-omitted`), until it fits;
- the pointer to the original (`dlq-original-topic`, `-partition`, `-offset`) is always kept,
  so what was dropped can be read where it still is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from marketplace.consumer.errors import Unavailable
from marketplace.consumer.kafka_errors import REFUSED_RECORD_ERRORS
from marketplace.consumer.producer import RenewingProducer
from marketplace.events.envelope import OutboundRecord, RawRecord

logger = logging.getLogger(__name__)

HEADER_PREFIX = "dlq-"
SEND_TIMEOUT_SECONDS = 30.0
METADATA_ALLOWANCE_BYTES = 64 * 1024
"""Room for the `dlq-*` headers on top of a record of the largest accepted size; producers
(`max_request_size`) and the dead-letter topic (`max.message.bytes`) allow this much more."""
RECORD_OVERHEAD_BYTES = 512
"""Kafka's own framing of a record and its batch, kept free under the limit."""
METADATA_FIELD_BYTES = 8 * 1024
"""Each `dlq-*` value is cut to this many bytes; the ten of them fit the allowance."""
NOTES: dict[str, str] = {
    "original-topic": "The topic the record was read from, or the CloudEvent `type` a task was "
    "given (empty if it had none).",
    "original-partition": "Its partition; -1 for a task's dead letter.",
    "original-offset": "Its offset; -1 for a task's dead letter.",
    "original-key": "Its key as text (normally the tenant id), empty if it had none.",
    "error-class": "The class of the error that made it unprocessable.",
    "error-message": "That error's message.",
    "problems": "A JSON list of strings: every problem found, or the message alone.",
    "stage": "Where it failed: `bridge`, or the name of the task; in a `marketplace.consumer` "
    "group's dead letters, `consume` (refused before any handler) or the handler "
    "(`module:Class.method`).",
    "failed-at": "When, in RFC 3339 with milliseconds, in UTC.",
    "headers-sanitised": "A JSON list of the original headers Kafka could not carry as they "
    "were (no value, a name that is not text), written sanitised.",
    "value-omitted": "Present when the value was left out (over the size limit, or a record the "
    "Kafka client could not read): why; read it at the original topic, partition and offset.",
    "headers-omitted": "A JSON list of the original headers left out so that the copy fits.",
    "key-omitted": "Present when the key was left out so that the copy fits: its size.",
}
"""Every `dlq-*` header a dead letter may carry (without the prefix), with what it holds, for
the AsyncAPI document; those not in `OCCASIONAL_NOTES` are on every dead letter."""
OCCASIONAL_NOTES = frozenset(
    {"headers-sanitised", "value-omitted", "headers-omitted", "key-omitted"}
)
_CONTENT_ERRORS: tuple[type[Exception], ...] = (*REFUSED_RECORD_ERRORS, TypeError, ValueError)
"""What a producer raises for a dead letter it will never take (kafka-python's own checks
raise the builtins): not retried, sent reduced instead."""


class DeadLetterUnavailable(Unavailable):
    """Kafka did not store the dead letters; nothing may be committed past them."""

    what = "Dead-letter topic"


@dataclass(frozen=True)
class DeadLetter:
    """Why `record` is being set aside, and by which stage (`bridge` or a task's name)."""

    record: RawRecord
    error: BaseException
    stage: str
    failed_at: datetime
    unreadable: bool = False
    """The Kafka client could not parse the record: only its coordinates are known."""

    def to_outbound(self, dlq_topic: str, *, max_record_bytes: int) -> OutboundRecord:
        if self.unreadable:
            return self.pointer_only(
                dlq_topic, "the Kafka client could not read the record; read it with another"
            )
        headers, sanitised = _sendable_headers(self.record.headers)
        metadata = self._metadata(sanitised)
        value, key = self.record.value or b"", self.record.key or b""
        # Room is kept for the two notes added last (which headers, the key), each at most
        # one metadata field; sizes are summed once, so a record of many headers costs O(n).
        budget = (
            max_record_bytes
            + METADATA_ALLOWANCE_BYTES
            - RECORD_OVERHEAD_BYTES
            - 2 * METADATA_FIELD_BYTES
        )
        weights = [_weight(name, header_value) for name, header_value in headers]
        content = len(key) + sum(weights)
        if self.record.size > max_record_bytes or content + len(value) + _size(metadata) > budget:
            metadata["value-omitted"] = (
                f"{self.record.size} bytes, over the {max_record_bytes}-byte limit with its key "
                "and headers; read it at its original topic, partition and offset"
            )
            value = b""
        room = budget - _size(metadata)
        dropped: set[int] = set()
        for index in sorted(range(len(headers)), key=weights.__getitem__, reverse=True):
            if content <= room:
                break
            dropped.add(index)
            content -= weights[index]
        if dropped:
            metadata["headers-omitted"] = _json_list([headers[i][0] for i in sorted(dropped)])
            headers = [header for i, header in enumerate(headers) if i not in dropped]
        if content > room:
            metadata["key-omitted"] = f"{len(key)} bytes"
            key = b""
        return OutboundRecord(dlq_topic, key, value, headers + _encoded(metadata))

    def pointer_only(self, dlq_topic: str, reason: str) -> OutboundRecord:
        """Where the record is and why it failed, nothing else: for a record that cannot be
        read, or whose full copy a producer refused."""
        metadata = self._metadata([])
        metadata["value-omitted"] = f"{reason} at its original topic, partition and offset"
        return OutboundRecord(dlq_topic, b"", b"", _encoded(metadata))

    def _metadata(self, sanitised: list[str]) -> dict[str, str]:
        problems = getattr(self.error, "problems", None) or [str(self.error)]
        metadata = {
            "original-topic": self.record.topic,
            "original-partition": str(self.record.partition),
            "original-offset": str(self.record.offset),
            "original-key": (self.record.key or b"").decode("utf-8", "replace"),
            "error-class": type(self.error).__name__,
            "error-message": str(self.error),
            "problems": _json_list([str(problem) for problem in problems]),
            "stage": self.stage,
            "failed-at": self.failed_at.astimezone(UTC).isoformat(timespec="milliseconds"),
        }
        if sanitised:
            metadata["headers-sanitised"] = _json_list(sanitised)
        return metadata


def _sendable_headers(
    headers: Sequence[tuple[Any, Any]],
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """Headers kafka-python will send, and the names of those that had to change."""
    sendable, sanitised = [], []
    for name, value in headers:
        text = text_of(name)
        if text != name or not isinstance(value, bytes):
            sanitised.append(text)
        sendable.append((text, value if isinstance(value, bytes) else _bytes(value)))
    return sendable, sanitised


def text_of(name: object) -> str:
    """A header name or key as text Kafka can carry: undecodable bytes backslash-escaped."""
    if isinstance(name, bytes):
        return name.decode("utf-8", "backslashreplace")
    text = name if isinstance(name, str) else str(name)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _bytes(value: object) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return text_of(value).encode("utf-8")


def _json_list(items: list[str]) -> str:
    """A JSON list that stays valid within one metadata field: what does not fit is counted."""
    kept: list[str] = []
    used = 2
    longest = METADATA_FIELD_BYTES // 16  # characters: escaped, each may take up to 12 bytes
    for index, whole in enumerate(items):
        item = whole if len(whole) <= longest else f"{whole[:longest]}…"
        text = json.dumps(item)
        if used + len(text.encode("utf-8", "backslashreplace")) + 40 > METADATA_FIELD_BYTES:
            kept.append(f"... and {len(items) - index} more")
            break
        kept.append(item)
        used += len(text.encode("utf-8", "backslashreplace")) + 2
    return json.dumps(kept)


def _weight(name: str, value: bytes) -> int:
    return len(name.encode()) + len(value)


def _size(metadata: dict[str, str]) -> int:
    return sum(_weight(name, value) for name, value in _encoded(metadata))


def _encoded(metadata: dict[str, str]) -> list[tuple[str, bytes]]:
    return [
        (HEADER_PREFIX + name, _cut(value.encode("utf-8", "backslashreplace")))
        for name, value in metadata.items()
    ]


def _cut(value: bytes) -> bytes:
    """At most `METADATA_FIELD_BYTES`, cut on a character boundary."""
    if len(value) <= METADATA_FIELD_BYTES:
        return value
    return value[:METADATA_FIELD_BYTES].decode("utf-8", "ignore").encode("utf-8")


class DeadLetterSender:
    """Sends dead letters and waits until Kafka has them all."""

    def __init__(self, producers: RenewingProducer, topic: str, *, max_record_bytes: int) -> None:
        self.producers = producers
        self.topic = topic
        self.max_record_bytes = max_record_bytes

    def deliver(self, letters: Sequence[DeadLetter]) -> None:
        """Returns once every letter is stored; raises `DeadLetterUnavailable` if Kafka is not
        reachable (send them all again later: a repeated dead letter is harmless)."""
        if not letters:
            return
        try:
            with self.producers.sending() as producer:
                sent = [(letter, self._send(producer, letter)) for letter in letters]
                producer.flush(timeout=SEND_TIMEOUT_SECONDS)
                for letter, future in sent:
                    try:
                        future.get(timeout=SEND_TIMEOUT_SECONDS)
                    except _CONTENT_ERRORS as refused:  # the broker's own limit, lower than ours
                        self._send_pointer(producer, letter, refused).get(
                            timeout=SEND_TIMEOUT_SECONDS
                        )
        except KafkaError as error:
            raise DeadLetterUnavailable(
                f"the dead-letter topic {self.topic} did not take {len(letters)} records: {error!r}"
            ) from error

    def close(self) -> None:
        """Waits for what is still in flight, then lets go of the connection."""
        self.producers.close(timeout=SEND_TIMEOUT_SECONDS)

    def _send(self, producer: KafkaProducer, letter: DeadLetter) -> Any:
        logger.warning(
            "dead-lettering %s[%s]@%s (%s): %s",
            letter.record.topic,
            letter.record.partition,
            letter.record.offset,
            letter.stage,
            letter.error,
        )
        outbound = letter.to_outbound(self.topic, max_record_bytes=self.max_record_bytes)
        try:
            return producer.send(
                outbound.topic, value=outbound.value, key=outbound.key, headers=outbound.headers
            )
        except _CONTENT_ERRORS as refused:
            return self._send_pointer(producer, letter, refused)

    def _send_pointer(
        self, producer: KafkaProducer, letter: DeadLetter, refused: BaseException
    ) -> Any:
        logger.error("the dead letter's full copy was refused (%r); sending its pointer", refused)
        outbound = letter.pointer_only(self.topic, "Kafka refused the full copy; read it")
        return producer.send(outbound.topic, value=outbound.value, headers=outbound.headers)
