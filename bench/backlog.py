"""What is still on its way at a given moment, stage by stage: records the bridge has not
consumed yet, tasks in Redis (queued, or taken and not acknowledged), outbox rows not sent."""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import create_engine, text

from bench.layout import Stack
from marketplace.events import topics
from workers import constants


@dataclass(frozen=True)
class Backlog:
    bridge_lag: int
    """Records of the consumed topics past the bridge's committed offsets."""
    queues: dict[str, int]
    """Queue -> tasks waiting in it, and `unacked` -> tasks taken, not yet acknowledged."""
    outbox_pending: int

    @property
    def empty(self) -> bool:
        return not (self.bridge_lag or self.outbox_pending or any(self.queues.values()))

    def __str__(self) -> str:
        queues = ", ".join(f"{name} {count}" for name, count in self.queues.items())
        return (
            f"bridge lag {self.bridge_lag} records, Redis: {queues}, "
            f"outbox pending {self.outbox_pending}"
        )


def measure(stack: Stack, *, bridge: bool = True) -> Backlog:
    """`bridge=False` leaves the bridge's lag out (0), which takes a Kafka client to ask."""
    system = stack.system
    queues = {name: int(system.redis.llen(name)) for name in constants.QUEUES}
    queues["unacked"] = int(system.redis.hlen("unacked"))
    engine = create_engine(system.database_url)
    try:
        with engine.connect() as connection:
            pending = connection.execute(
                text("select count(*) from outbox where status = 'pending'")
            ).scalar_one()
    finally:
        engine.dispose()
    return Backlog(_bridge_lag(stack) if bridge else 0, queues, int(pending))


def _bridge_lag(stack: Stack) -> int:
    consumer = KafkaConsumer(
        bootstrap_servers=stack.system.bootstrap,
        group_id=stack.system.group,
        enable_auto_commit=False,
    )
    try:
        partitions = [
            TopicPartition(topic.name, p)
            for topic in topics.CONSUMED
            for p in consumer.partitions_for_topic(topic.name) or ()
        ]
        ends = consumer.end_offsets(partitions)
        return sum(max(0, end - (consumer.committed(tp) or 0)) for tp, end in ends.items())
    finally:
        consumer.close()
