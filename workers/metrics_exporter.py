"""`marketplace metrics`: the whole system's backlog and health as Prometheus metrics.

One process for the system (the Procfile's `metrics`), so each number is counted once and not
once per worker; every scrape runs the probes of `marketplace status` afresh (a few round trips
to Kafka, Redis and the database, bounded by their timeouts), which at Prometheus' usual 15 s
interval costs nothing. A part that does not answer is `marketplace_up{check=…} 0` and its
numbers are left out rather than reported as zero: a missing series alerts, a false zero hides.
Worker task metrics (counts, runtimes, queue wait) are Flower's `/metrics` (`flower_*`); what
Flower cannot know, how long an outbound event took from its commit to Kafka's acknowledgement,
is read from the outbox (`PublishLatency`).
"""

from __future__ import annotations

import bisect
import logging
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from celery import Celery
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from marketplace.domain import outbox
from marketplace.events import topics
from workers import status
from workers.celery_client import client_app
from workers.settings import Settings
from workers.status.check import Check
from workers.status.service_probes import probe_engine

logger = logging.getLogger(__name__)

PREFIX = "marketplace"

# (check name, detail key) -> (metric name, help). A detail that is None (no oldest row) is
# left out, like the numbers of a check that is down.
SCALARS: dict[tuple[str, str], tuple[str, str]] = {
    ("redis", "unacknowledged"): (
        "tasks_unacknowledged",
        "Task messages workers took from Redis and have not acknowledged yet.",
    ),
    ("ledger", "size"): ("inbound_ledger_events", "Inbound events enqueued and not yet settled."),
    ("ledger", "oldest_age_seconds"): (
        "inbound_ledger_oldest_age_seconds",
        "How long ago the oldest unsettled inbound event was enqueued.",
    ),
    ("database", "outbox_pending"): ("outbox_pending_rows", "Outbox rows not yet on Kafka."),
    ("database", "outbox_oldest_age_seconds"): (
        "outbox_oldest_pending_age_seconds",
        "Age of the oldest pending outbox row.",
    ),
    ("database", "outbox_parked"): (
        "outbox_parked_rows",
        "Outbox rows Kafka refused for their content, set aside.",
    ),
    ("dead letters", "last_hour"): (
        "dead_letters_last_hour",
        "Records written to the dead-letter topic in the last hour.",
    ),
    ("dead letters", "kept"): (
        "dead_letters_kept",
        "Records the dead-letter topic still holds.",
    ),
    ("bridge", "members"): ("bridge_members", "Members of the bridge's consumer group."),
}
LABELLED: dict[tuple[str, str], tuple[str, str, str]] = {
    ("lag", "topics"): (
        "consumer_lag_records",
        "Records on a consumed topic the bridge's group has not committed yet.",
        "topic",
    ),
    ("redis", "queues"): ("queue_depth_tasks", "Task messages waiting in a Celery queue.", "queue"),
}


class StatusCollector(Collector):
    def __init__(self, settings: Settings, app: Celery) -> None:
        self.settings = settings
        self.app = app

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        checks = status.collect(self.settings, app=self.app)
        yield from families(checks)
        yield GaugeMetricFamily(
            f"{PREFIX}_probe_seconds",
            "How long this scrape's probes took.",
            value=time.perf_counter() - started,
        )


PUBLISH_LATENCY = f"{PREFIX}_outbox_publish_seconds"
PUBLISH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
ROWS_PER_SCRAPE = 100_000
"""Most outbox rows one scrape reads; a bigger backlog of sent rows is read over the next ones."""


class PublishLatency(Collector):
    """`marketplace_outbox_publish_seconds{topic}`: each outbound event's time from being
    recorded (its change's transaction) to Kafka's acknowledgement (`sent_at`), for every row
    settled since this exporter started. Each scrape reads only the rows settled since the
    last one (`outbox.sent_after`), so no row is counted twice and none is missed, whatever
    order publishers finish in."""

    def __init__(self, database_url: str) -> None:
        self.engine = probe_engine(database_url)
        self.after: int | None = None
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(PUBLISH_BUCKETS))
        self.count: dict[str, int] = defaultdict(int)
        self.sum: dict[str, float] = defaultdict(float)

    def collect(self) -> Iterator[Metric]:
        try:
            self._read_new_rows()
        except SQLAlchemyError as error:  # the database check says it is down; keep the counts
            logger.debug("publish latency not read: %r", error)
        family = HistogramMetricFamily(
            PUBLISH_LATENCY,
            "Outbound events' time from commit to Kafka's acknowledgement.",
            labels=["topic"],
        )
        for topic in sorted(self.count):
            cumulative, buckets = 0, []
            for bound, count in zip(PUBLISH_BUCKETS, self.buckets[topic], strict=True):
                cumulative += count
                buckets.append((str(bound), float(cumulative)))
            buckets.append(("+Inf", float(self.count[topic])))
            family.add_metric([topic], buckets, sum_value=self.sum[topic])
        yield family

    def _read_new_rows(self) -> None:
        with Session(self.engine) as session:
            if self.after is None:  # what was settled before this exporter started is history
                self.after = outbox.settled_up_to(session)
                return
            self.after, rows = outbox.sent_after(session, self.after, limit=ROWS_PER_SCRAPE)
        for topic, created_at, sent_at in rows:
            seconds = max(0.0, (sent_at - created_at).total_seconds())
            self.count[topic] += 1
            self.sum[topic] += seconds
            index = bisect.bisect_left(PUBLISH_BUCKETS, seconds)  # first bound >= seconds
            if index < len(PUBLISH_BUCKETS):  # past the last bound: only in +Inf (the count)
                self.buckets[topic][index] += 1

    def close(self) -> None:
        self.engine.dispose()


def families(checks: list[Check]) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        f"{PREFIX}_up", "1 when the part answers, as in `marketplace status`.", labels=["check"]
    )
    for check in checks:
        up.add_metric([check.name], 1.0 if check.up else 0.0)
    yield up
    details = {check.name: check.details for check in checks if check.up}
    for (name, key), (metric, text) in SCALARS.items():
        value = details.get(name, {}).get(key)
        if value is not None:
            yield GaugeMetricFamily(f"{PREFIX}_{metric}", text, value=float(value))
    for (name, key), (metric, text, label) in LABELLED.items():
        values: dict[str, Any] | None = details.get(name, {}).get(key)
        if values is None:
            continue
        family = GaugeMetricFamily(f"{PREFIX}_{metric}", text, labels=[label])
        for item, value in sorted(values.items()):
            family.add_metric([item], float(value))
        yield family
    records = details.get("topics", {}).get("records")
    if records is not None:
        written = CounterMetricFamily(
            f"{PREFIX}_topic_records",
            "Records written to a catalog topic (its end offsets): rate() is the throughput.",
            labels=["topic", "direction"],
        )
        for name, count in sorted(records.items()):
            topic = topics.by_name(name)
            written.add_metric([name, topic.direction.value if topic else "-"], float(count))
        yield written
    if "workers" in details:
        workers = details["workers"].get("names", [])
        yield GaugeMetricFamily(f"{PREFIX}_workers", "Workers that answered a ping.", len(workers))


def serve(settings: Settings, stopping: threading.Event | None = None) -> None:
    """Serve `/metrics` until SIGTERM/SIGINT (or `stopping` is set)."""
    stopping = stopping or threading.Event()
    registry = CollectorRegistry(auto_describe=False)
    app = client_app(settings)
    registry.register(StatusCollector(settings, app))
    publish_latency = PublishLatency(settings.database_url)
    registry.register(publish_latency)
    server, thread = start_http_server(
        settings.metrics_port, addr=settings.metrics_address, registry=registry
    )
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
    logger.info("metrics on http://%s:%d/metrics", settings.metrics_address, settings.metrics_port)
    try:
        stopping.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        app.close()
        publish_latency.close()
