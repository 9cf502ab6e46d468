"""A consumer loop's own numbers as Prometheus metrics (`--metrics-port` of `marketplace bridge`
and `marketplace consume`).

What only the process reading Kafka knows: what it read, delivered (for the bridge: enqueued
as Celery tasks) and dead-lettered per topic, its batch sizes and delivery times, whether it is
paused and why, and its lag per partition. The whole system's backlog (outbox, ledger, queues,
the group's committed lag) is `marketplace metrics`' from one place.

Every loop of a process shares one registry; a `group` label tells the loops apart. What a
loop reports here is also what its process's `/livez` and `/readyz` answer
(`marketplace.consumer.probes`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TypeVar

from kafka import TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "marketplace_consumer"
M = TypeVar("M", Counter, Gauge, Histogram)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ConsumerMetrics:
    """The metric families, registered once per registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        family = self._family
        self.read = family(Counter, "records_read", "Records polled from Kafka.", "topic")
        self.delivered = family(
            Counter,
            "records_delivered",
            "Records handed on and committed: for the bridge, enqueued as Celery tasks; for a "
            "consumer group, handled.",
            "topic",
        )
        self.dead_lettered = family(
            Counter,
            "dead_letters",
            "Records written to the dead-letter topic, by the class of the error.",
            "topic",
            "reason",
        )
        self.batch = family(
            Histogram, "batch_records", "Records in one poll's batch.", buckets=BATCH_BUCKETS
        )
        self.delivery = family(
            Histogram,
            "delivery_seconds",
            "Time to hand one batch on (for the bridge: to enqueue it in Redis).",
            buckets=DELIVERY_BUCKETS,
        )
        self.paused = family(
            Gauge,
            "paused",
            "1 while every partition is paused because what the loop writes to is unavailable "
            "(`reason`).",
            "reason",
        )
        self.waiting = family(
            Gauge, "partitions_waiting_retry", "Partitions paused until a record's retry is due."
        )
        self.kafka_reachable = family(
            Gauge, "kafka_reachable", "0 while the last poll found Kafka unreachable."
        )
        self.lag = family(
            Gauge,
            "partition_lag_records",
            "Records of a partition after the last offset this member committed (end offset as "
            "of the last fetch).",
            "topic",
            "partition",
        )

        self.groups: list[GroupMetrics] = []
        """Every loop's view, for the process's probes."""

    def _family(
        self, kind: type[M], name: str, documentation: str, *labels: str, **options: Any
    ) -> M:
        """A family of this registry, named under `PREFIX`, labelled by `group` first."""
        return kind(
            f"{PREFIX}_{name}",
            documentation,
            ["group", *labels],
            registry=self.registry,
            **options,
        )

    def of(self, group: str) -> GroupMetrics:
        view = GroupMetrics(self, group)
        self.groups.append(view)
        return view


class GroupMetrics:
    """One loop's view of the families, labelled with its group."""

    def __init__(self, families: ConsumerMetrics, group: str) -> None:
        self.families, self.group = families, group
        self.pause_reason: str | None = None
        self.kafka_reachable = True
        self.went_round_at: float | None = None
        """When the loop last polled or kept its membership (monotonic); None: not yet."""
        self._lagging: set[TopicPartition] = set()
        # The series labelled by group alone, looked up once rather than at every poll.
        self._batch = families.batch.labels(group)
        self._delivery = families.delivery.labels(group)
        self._waiting = families.waiting.labels(group)
        self._kafka_reachable = families.kafka_reachable.labels(group)
        self._kafka_reachable.set(1)
        self._waiting.set(0)

    def batch_read(self, per_topic: Mapping[str, int]) -> None:
        self._batch.observe(sum(per_topic.values()))
        for topic, count in per_topic.items():
            self.families.read.labels(self.group, topic).inc(count)

    def batch_done(self, delivered: Mapping[str, int], dead: Mapping[tuple[str, str], int]) -> None:
        for topic, count in delivered.items():
            self.families.delivered.labels(self.group, topic).inc(count)
        for (topic, reason), count in dead.items():
            self.families.dead_lettered.labels(self.group, topic, reason).inc(count)

    def delivery_took(self, seconds: float) -> None:
        self._delivery.observe(seconds)

    def went_round(self) -> None:
        self.went_round_at = time.monotonic()

    def paused_for(self, reason: str | None) -> None:
        if self.pause_reason is not None:
            self.families.paused.labels(self.group, self.pause_reason).set(0)
        if reason is not None:
            self.families.paused.labels(self.group, reason).set(1)
        self.pause_reason = reason

    def waiting_retry(self, partitions: int) -> None:
        self._waiting.set(partitions)

    def kafka(self, reachable: bool) -> None:
        self.kafka_reachable = reachable
        self._kafka_reachable.set(1 if reachable else 0)

    def lag_of(self, lags: Mapping[TopicPartition, int]) -> None:
        """The lag of every assigned partition; a partition no longer assigned loses its
        series (its new owner reports it)."""
        for tp in self._lagging - set(lags):
            self.families.lag.remove(self.group, tp.topic, str(tp.partition))
        for tp, lag in lags.items():
            self.families.lag.labels(self.group, tp.topic, str(tp.partition)).set(lag)
        self._lagging = set(lags)
