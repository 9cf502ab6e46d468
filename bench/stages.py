"""Where an event's time went between produced and visible, by the instants the pipeline
leaves behind: its outbox row's `created_at` (recorded, inside the applying transaction, before
its commit) and its outbound record's Kafka timestamp (handed to the worker's producer)."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text

from bench.layout import Stack
from marketplace.events import topics

RECORDED = "produced -> recorded"
PUBLISHED = "recorded -> to Kafka"
DELIVERED = "to Kafka -> visible"


def of(
    stack: Stack,
    produced_at: dict[str, float],
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
    finally:
        engine.dispose()
    spent: dict[str, list[float]] = {RECORDED: [], PUBLISHED: [], DELIVERED: []}
    for value, created_at in rows:
        order_id = json.loads(value)["data"]["id"]
        if order_id not in produced_at:
            continue  # the warm-up's
        recorded = created_at.timestamp()
        spent[RECORDED].append(recorded - produced_at[order_id])
        if order_id in stamped_at:
            spent[PUBLISHED].append(stamped_at[order_id] - recorded)
            spent[DELIVERED].append(seen_at[order_id] - stamped_at[order_id])
    return spent
