"""Dead letters made by the real writer (`marketplace.consumer.dead_letter`), as the topic
would hold them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from marketplace.consumer.dead_letter import DeadLetter
from marketplace.errors import PermanentError
from marketplace.events import topics
from marketplace.events.envelope import RawRecord
from tests import factories
from workers.dead_letter import for_task
from workers.dlq.letters import StoredLetter

DLQ = "eventzr.marketplace.dlq.v1"
TENANT = "00000000-0000-4000-8000-000000000001"
FAILED_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
STRUCTURED = (("content-type", b"application/cloudevents+json"),)
LIMIT = 1024 * 1024


class Refused(PermanentError):
    pass


def payment(tenant: str = TENANT, payment_id: str = "pay-1") -> dict[str, Any]:
    data = {"id": payment_id, "orderId": "order-1", "amount": 5000, "currency": "USD"}
    return factories.cloudevent(topics.PAYMENT_COMPLETED, tenant, data, event_id=f"ev-{payment_id}")


def stored(letter: DeadLetter, *, partition: int = 0, offset: int = 0) -> StoredLetter:
    outbound = letter.to_outbound(DLQ, max_record_bytes=LIMIT)
    return StoredLetter(
        DLQ, partition, offset, 0, outbound.key, outbound.value, tuple(outbound.headers)
    )


def bridge_letter(
    value: bytes | dict[str, Any] | None = None,
    *,
    topic: str = topics.PAYMENT_COMPLETED.name,
    headers: tuple[tuple[str, bytes], ...] = STRUCTURED,
    key: str = TENANT,
    at: tuple[int, int] = (1, 7),
    offset: int = 0,
    failed_at: datetime = FAILED_AT,
    error: BaseException | None = None,
    max_record_bytes: int = LIMIT,
) -> StoredLetter:
    body = value if isinstance(value, bytes) else json.dumps(value or payment()).encode()
    record = RawRecord(topic, body, key.encode(), headers, at[0], at[1])
    letter = DeadLetter(record, error or Refused("not yet"), "bridge", failed_at)
    outbound = letter.to_outbound(DLQ, max_record_bytes=max_record_bytes)
    return StoredLetter(DLQ, 0, offset, 0, outbound.key, outbound.value, tuple(outbound.headers))


def task_letter(
    event: object = None,
    *,
    task: str = "marketplace.orders.mark_paid",
    offset: int = 0,
    error: BaseException | None = None,
) -> StoredLetter:
    letter = for_task(payment() if event is None else event, error or Refused("no"), task)
    return stored(letter, offset=offset)
