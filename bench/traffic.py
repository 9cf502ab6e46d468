"""The foreign side: a plain kafka-python producer writing `escrow.released` events the way
wallet-svc would, and a plain consumer watching for the `order.completed` each one causes.

An event counts as fully processed when its outbound record reached the foreign consumer;
its latency is that moment (the consumer's clock) minus the moment the producer was handed the
inbound event. Both clocks are this process's, so they need no synchronising.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer

from bench.seed import PaidOrder
from marketplace.events import topics
from tests.integration.system import TopicReader


class Producer:
    """Sends structured-mode CloudEvents keyed by tenant, remembering when each was sent."""

    def __init__(self, bootstrap: str) -> None:
        self.kafka = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        self.sent_at: dict[str, float] = {}
        """Order id -> when its release was handed to the producer (time.time())."""
        self.orders: dict[str, str] = {}
        """CloudEvent id -> the order id it releases."""

    def send(self, order: PaidOrder) -> None:
        event = order.escrow_released()
        self.sent_at[order.id] = time.time()
        self.orders[str(event["id"])] = order.id
        self.kafka.send(
            str(event["type"]),
            json.dumps(event).encode(),
            key=order.tenant.encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        )

    def burst(self, orders: Iterable[PaidOrder]) -> None:
        for order in orders:
            self.send(order)
        self.kafka.flush(60)

    def paced(self, orders: list[PaidOrder], rate: float) -> float:
        """One event every 1/`rate` s (sleeping between them, catching up if late); returns
        the rate achieved, events over the time from the first send to the last."""
        start = time.monotonic()
        for i, order in enumerate(orders):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.send(order)
        elapsed = time.monotonic() - start
        self.kafka.flush(60)
        return (len(orders) - 1) / elapsed if elapsed > 0 else float("inf")

    def close(self) -> None:
        self.kafka.close()


class Arrivals:
    """A consumer thread on `order.completed`, positioned at its end when created, recording
    when each watched order's event first arrives (at least once: later copies are ignored)."""

    def __init__(self, bootstrap: str) -> None:
        self.reader = TopicReader([topics.ORDER_COMPLETED.name], bootstrap=bootstrap)
        self.seen_at: dict[str, float] = {}
        """Order id -> when its `order.completed` was received."""
        self.stamped_at: dict[str, float] = {}
        """Order id -> its record's Kafka timestamp: when the worker's producer was handed it."""
        self.records = 0
        """Every `order.completed` record received, copies included."""
        self._watched: set[str] = set()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arrivals", daemon=True)
        self._thread.start()

    def watch(self, orders: Iterable[PaidOrder]) -> None:
        with self._changed:
            self._watched.update(order.id for order in orders)

    def wait_for(self, orders: list[PaidOrder], *, timeout: float) -> bool:
        """Whether every one of `orders` arrived within `timeout` seconds."""
        ids = [order.id for order in orders]
        with self._changed:
            return self._changed.wait_for(
                lambda: all(i in self.seen_at for i in ids), timeout=timeout
            )

    def _run(self) -> None:
        consumer = self.reader.consumer
        while not self._stopping.is_set():
            batches = consumer.poll(timeout_ms=100)
            now = time.time()
            if not batches:
                continue
            with self._changed:
                for records in batches.values():
                    for record in records:
                        self.records += 1
                        order_id = _order_id(record)
                        if order_id in self._watched and order_id not in self.seen_at:
                            self.seen_at[order_id] = now
                            self.stamped_at[order_id] = record.timestamp / 1000
                self._changed.notify_all()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(10)
        self.reader.close()


def _order_id(record: Any) -> str | None:
    try:
        data = json.loads(record.value).get("data")
        return data.get("id") if isinstance(data, dict) else None
    except (ValueError, AttributeError):
        return None
