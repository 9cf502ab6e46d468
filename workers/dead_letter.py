"""The dead-letter topic: where a record or event that can never be processed is kept.

A dead letter carries the original key and headers, plus headers that say where it came from
and why it failed, so an operator can fix and replay it. The bridge's dead letters keep the
original value untouched, except a record over the size limit: no producer or broker would take
it, so its dead letter says so (`dlq-value-omitted`) and points at the original, still in its
topic. A task's dead letter carries the structured CloudEvent it was given (`for_task`), with
no partition or offset (-1).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer

from marketplace.events.envelope import OutboundRecord, RawRecord

logger = logging.getLogger(__name__)

HEADER_PREFIX = "dlq-"
SEND_TIMEOUT_SECONDS = 30.0
METADATA_ALLOWANCE_BYTES = 64 * 1024
"""Room for the `dlq-*` headers on top of a record of the largest accepted size; producers
(`max_request_size`) and the dead-letter topic (`max.message.bytes`) allow this much more."""


@dataclass(frozen=True)
class DeadLetter:
    """Why `record` is being set aside, and by which stage (`bridge` or a task's name)."""

    record: RawRecord
    error: BaseException
    stage: str
    failed_at: datetime

    def to_outbound(self, dlq_topic: str, *, max_record_bytes: int) -> OutboundRecord:
        problems = getattr(self.error, "problems", None) or [str(self.error)]
        oversize = self.record.size > max_record_bytes
        metadata = {
            "original-topic": self.record.topic,
            "original-partition": str(self.record.partition),
            "original-offset": str(self.record.offset),
            "original-key": (self.record.key or b"").decode("utf-8", "replace"),
            "error-class": type(self.error).__name__,
            "error-message": str(self.error)[:4000],
            "problems": json.dumps(problems)[:8000],
            "stage": self.stage,
            "failed-at": self.failed_at.astimezone(UTC).isoformat(timespec="milliseconds"),
        }
        if oversize:
            metadata["value-omitted"] = (
                f"{self.record.size} bytes, over the {max_record_bytes}-byte limit; "
                "read it at its original topic, partition and offset"
            )
        headers = list(self.record.headers) + [
            (HEADER_PREFIX + name, value.encode("utf-8")) for name, value in metadata.items()
        ]
        value = b"" if oversize else self.record.value or b""
        return OutboundRecord(dlq_topic, self.record.key or b"", value, headers)


def for_task(cloudevent: dict[str, Any], error: BaseException, task_name: str) -> DeadLetter:
    """A task's dead letter: the CloudEvent it was given, as structured-mode JSON."""
    record = RawRecord(
        topic=str(cloudevent.get("type", "")),
        value=json.dumps(cloudevent).encode("utf-8"),
        key=str(cloudevent.get("tenantid", "")).encode("utf-8") or None,
        headers=(("content-type", b"application/cloudevents+json"),),
    )
    return DeadLetter(record, error, task_name, datetime.now(UTC))


class DeadLetterSender:
    """Sends dead letters on one producer; `flush()` returns only when Kafka has them all."""

    def __init__(self, producer: KafkaProducer, topic: str, *, max_record_bytes: int) -> None:
        self.producer = producer
        self.topic = topic
        self.max_record_bytes = max_record_bytes
        self._pending: list[Any] = []

    def send(self, letter: DeadLetter) -> None:
        outbound = letter.to_outbound(self.topic, max_record_bytes=self.max_record_bytes)
        logger.warning(
            "dead-lettering %s[%s]@%s (%s): %s",
            letter.record.topic,
            letter.record.partition,
            letter.record.offset,
            letter.stage,
            letter.error,
        )
        self._pending.append(
            self.producer.send(
                outbound.topic, value=outbound.value, key=outbound.key, headers=outbound.headers
            )
        )

    def close(self) -> None:
        """Waits for what is still in flight, then lets go of the connection."""
        self.producer.close(timeout=SEND_TIMEOUT_SECONDS)

    def flush(self) -> None:
        """Raises the first KafkaError if any dead letter was not stored."""
        pending, self._pending = self._pending, []
        if pending:
            self.producer.flush(timeout=SEND_TIMEOUT_SECONDS)
        for future in pending:
            future.get(timeout=SEND_TIMEOUT_SECONDS)
