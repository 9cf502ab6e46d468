"""The one way tests and benchmarks write another service's CloudEvent (structured or binary
mode), and one payload of each topic the marketplace produces."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from marketplace.events import outbound, topics
from marketplace.events.fields import Money, Payload

SPEC_TIME = "2026-03-02T12:00:00.000Z"
"""The `time` of the spec's example."""


AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
"""`SPEC_TIME` as a datetime."""

SAMPLE_PAYLOADS: dict[str, Payload] = {
    topics.LISTING_CREATED.name: outbound.ListingCreated(
        id="listing-1",
        title="Premium Catering Service",
        lane="vendora",
        seller_id="seller-1",
        price=5000,
        currency="USD",
        description="Hot buffet for 200",
        seller_display_name="Ada",
        kind="standard",
        created_at=AT,
    ),
    topics.LISTING_PUBLISHED.name: outbound.ListingPublished(
        id="listing-2", seller_id="seller-1", lane="vendora", published_at=AT
    ),
    topics.LISTING_UPDATED.name: outbound.ListingUpdated(
        id="listing-3", seller_id="seller-1", updated_at=AT, price=5500
    ),
    topics.LISTING_CLOSED.name: outbound.ListingClosed(
        id="listing-4",
        seller_id="seller-1",
        reason="sold out",
        closed_at=AT,
        statistics=outbound.ListingStatistics(
            quotes_received=3, orders=2, completed_orders=1, revenue=5000, currency="USD"
        ),
    ),
    topics.QUOTE_SUBMITTED.name: outbound.QuoteSubmitted(
        id="quote-1",
        listing_id="listing-1",
        buyer_id="buyer-1",
        seller_id="seller-1",
        amount=4800,
        currency="USD",
        message="Can you do 80 guests?",
        submitted_at=AT,
    ),
    topics.QUOTE_ACCEPTED.name: outbound.QuoteAccepted(
        id="quote-2", listing_id="listing-1", amount=4800, currency="USD", accepted_at=AT
    ),
    topics.ORDER_CREATED.name: outbound.OrderCreated(
        id="order-1",
        quote_id="quote-2",
        listing_id="listing-1",
        buyer_id="buyer-1",
        seller_id="seller-1",
        amount=4800,
        currency="USD",
        status="created",
        created_at=AT,
    ),
    topics.ORDER_COMPLETED.name: outbound.OrderCompleted(
        id="order-2", completed_at=AT, final_amount=4800, currency="USD"
    ),
    topics.ORDER_CANCELLED.name: outbound.OrderCancelled(
        id="order-3", reason="event postponed", refund_status="pending", cancelled_at=AT
    ),
    topics.DISPUTE_OPENED.name: outbound.DisputeOpened(
        id="dispute-1",
        order_id="order-1",
        opened_by="buyer-1",
        reason="no-show",
        evidence=["photo-1.jpg"],
        status="open",
        opened_at=AT,
    ),
    topics.DISPUTE_RESOLVED.name: outbound.DisputeResolved(
        id="dispute-2",
        order_id="order-1",
        outcome="refund_buyer",
        notes="seller absent",
        resolved_at=AT,
    ),
    topics.RFP_BROADCAST.name: outbound.RfpBroadcast(
        id="rfp-1",
        buyer_id="buyer-1",
        title="AV for 500 guests",
        requirements="2 screens",
        target_lanes=["vendora"],
        deadline=AT + timedelta(days=7),
        budget=Money(amount=250000, currency="USD"),
        matched_seller_ids=["seller-1", "seller-2"],
        broadcast_at=AT,
    ),
}
"""One valid payload per produced topic, keyed by topic name."""


def cloudevent(
    topic: topics.Topic,
    tenant: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    source: str | None = None,
    time: datetime | str | None = SPEC_TIME,
) -> dict[str, Any]:
    """An event of `topic` as its producing service sends it; `time=None` means now."""
    moment = datetime.now(UTC) if time is None else time
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source or topic.source_service,
        "type": topic.name,
        "time": moment if isinstance(moment, str) else _rfc3339(moment),
        "datacontenttype": "application/json",
        "tenantid": tenant,
        "data": data,
    }


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def binary(cloudevent: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A structured CloudEvent in binary mode: its data as the value, `ce_*` headers."""
    headers = [
        ("content-type" if name == "datacontenttype" else f"ce_{name}", str(value).encode())
        for name, value in cloudevent.items()
        if name != "data"
    ]
    return json.dumps(cloudevent["data"]).encode(), headers
