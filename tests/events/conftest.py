"""Factories for the records and envelopes the event tests are written in terms of."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from marketplace.errors import PermanentError
from marketplace.events import decoding, envelope, topics
from tests import factories

TENANT = "00000000-0000-0000-0000-000000000001"
ONE_MIB = 1024 * 1024
STRUCTURED = (("content-type", b"application/cloudevents+json"),)

SPEC_EXAMPLE_JSON = b"""{
  "specversion": "1.0",
  "id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
  "type": "eventzr.marketplace.listing.created.v1",
  "source": "marketplace-svc",
  "time": "2026-03-02T12:00:00.000Z",
  "datacontenttype": "application/json",
  "subject": "listing:uuid",
  "tenantid": "00000000-0000-0000-0000-000000000001",
  "data": {
    "id": "listing-uuid",
    "title": "Premium Catering Service",
    "lane": "vendora",
    "sellerId": "seller-uuid",
    "price": 5000,
    "currency": "USD"
  }
}"""
"""The envelope example of the spec, byte for byte."""

PAYMENT_COMPLETED: dict[str, Any] = {
    "specversion": "1.0",
    "id": "7d1f0b5e-3c1a-4d0e-9a55-2f6f1f0c9b01",
    "type": topics.PAYMENT_COMPLETED.name,
    "source": "wallet-svc",
    "time": "2026-03-02T12:00:00.000Z",
    "datacontenttype": "application/json",
    "tenantid": TENANT,
    "data": {"id": "payment-1", "orderId": "order-1", "amount": 5000, "currency": "USD"},
}
"""A valid inbound event: the wallet says an order was paid."""

Envelope = dict[str, Any]


@pytest.fixture
def spec_example() -> Envelope:
    result: Envelope = json.loads(SPEC_EXAMPLE_JSON)
    return result


@pytest.fixture
def inbound_envelope() -> Callable[..., Envelope]:
    """`inbound_envelope(drop=("id",), source="x", data={...})`: a payment.completed, changed."""

    def make(*, drop: tuple[str, ...] = (), **changes: Any) -> Envelope:
        result = {**copy.deepcopy(PAYMENT_COMPLETED), **changes}
        for name in drop:
            del result[name]
        return result

    return make


@pytest.fixture
def structured_record() -> Callable[..., envelope.RawRecord]:
    """A record as another service writes it in structured mode: the whole envelope as value."""

    def make(
        event: Envelope | bytes,
        *,
        topic: str | None = None,
        key: bytes | None = TENANT.encode(),
        headers: tuple[tuple[str, bytes], ...] = STRUCTURED,
        partition: int = 2,
        offset: int = 41,
    ) -> envelope.RawRecord:
        value = event if isinstance(event, bytes) else json.dumps(event).encode()
        if topic is None:
            topic = event["type"] if isinstance(event, dict) else topics.PAYMENT_COMPLETED.name
        return envelope.RawRecord(topic, value, key, headers, partition, offset)

    return make


@pytest.fixture
def binary_record() -> Callable[..., envelope.RawRecord]:
    """The same envelope in binary mode: attributes as `ce_*` headers, `data` as the value."""

    def make(
        event: Envelope,
        *,
        topic: str | None = None,
        value: bytes | None = None,
        partition: int = 2,
        offset: int = 42,
    ) -> envelope.RawRecord:
        data, headers = factories.binary(event)
        return envelope.RawRecord(
            topic or event["type"],
            data if value is None else value,
            TENANT.encode(),
            tuple(headers),
            partition,
            offset,
        )

    return make


@pytest.fixture
def decode() -> Callable[..., envelope.InboundEvent]:
    """`from_record` with the production limits: 1 MiB, the consumed topics."""

    def run(
        record: envelope.RawRecord,
        *,
        max_bytes: int = ONE_MIB,
        accepted: tuple[topics.Topic, ...] = topics.CONSUMED,
    ) -> envelope.InboundEvent:
        return decoding.from_record(record, max_bytes=max_bytes, accepted=accepted)

    return run


@pytest.fixture
def rejected(decode: Callable[..., envelope.InboundEvent]) -> Callable[..., envelope.EnvelopeError]:
    """`rejected(raw)`: the error decoding `raw` raises, checked to keep `raw` for the DLQ."""

    def run(raw: envelope.RawRecord, **options: Any) -> envelope.EnvelopeError:
        with pytest.raises(envelope.EnvelopeError) as caught:
            decode(raw, **options)
        error = caught.value
        assert isinstance(error, PermanentError)
        assert isinstance(error, ValueError)
        assert error.record is raw
        assert f"{raw.topic}[{raw.partition}]@{raw.offset}" in str(error)
        return error

    return run


def assert_names(error: envelope.EnvelopeError, *fragments: str) -> None:
    """Each fragment is in one problem, and there is no problem besides those."""
    assert len(error.problems) == len(fragments), error.problems
    for fragment in fragments:
        assert any(fragment in problem for problem in error.problems), (fragment, error.problems)
