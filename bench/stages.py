"""Where an event's time went between produced and visible, by the instants the pipeline
leaves behind: its inbox row's `processed_at` (claimed by the worker's task, the first thing
a task does), its outbox row's `created_at` (recorded, inside the applying transaction, before
its commit) and its outbound record's Kafka timestamp (handed to the worker's producer)."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text

from bench.layout import Stack
from marketplace.events import topics

CLAIMED = "produced -> claimed"
RECORDED = "claimed -> recorded"
PUBLISHED = "recorded -> to Kafka"
DELIVERED = "to Kafka -> visible"


def of(
    stack: Stack,
    produced_at: dict[str, float],
    event_orders: dict[str, str],
    stamped_at: dict[str, float],
    seen_at: dict[str, float],
) -> dict[str, list[float]]:
    """Stage -> seconds, one per event (order id) that got that far."""
    engine = create_engine(stack.system.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("select record_value, created_at from outbox where topic = :t"),
                {"t": topics.ORDER_COMPLETED.name},
            ).all()
            claims = connection.execute(
                text("select event_id, processed_at from inbox where topic = :t"),
                {"t": topics.ESCROW_RELEASED.name},
            ).all()
    finally:
        engine.dispose()
    claimed_at = {
        event_orders[event_id]: processed_at.timestamp()
        for event_id, processed_at in claims
        if event_id in event_orders
    }
    spent: dict[str, list[float]] = {CLAIMED: [], RECORDED: [], PUBLISHED: [], DELIVERED: []}
    for value, created_at in rows:
        order_id = json.loads(value)["data"]["id"]
        if order_id not in produced_at:
            continue  # the warm-up's
        recorded = created_at.timestamp()
        if order_id in claimed_at:
            spent[CLAIMED].append(claimed_at[order_id] - produced_at[order_id])
            spent[RECORDED].append(recorded - claimed_at[order_id])
        if order_id in stamped_at:
            spent[PUBLISHED].append(stamped_at[order_id] - recorded)
            spent[DELIVERED].append(seen_at[order_id] - stamped_at[order_id])
    return spent
