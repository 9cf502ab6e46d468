"""Consuming the marketplace's events from Python: the counterpart of `@eventzr/kafka`.

    from marketplace.consumer import CloudEvent, KafkaConsumer, on_message
    from marketplace.events.outbound import OrderCompleted

    @KafkaConsumer(group_id="review-svc-marketplace-consumer")
    class MarketplaceEventHandler:
        @on_message("eventzr.marketplace.order.completed.v1")
        def order_completed(self, event: CloudEvent[OrderCompleted]) -> None:
            print(f"order {event.data.id} completed for tenant {event.tenantid}")

Run it with `marketplace consume package.module:MarketplaceEventHandler`; test it without a
broker with `marketplace.consumer.testing.TestKafkaBroker`. Delivery is `AT_LEAST_ONCE` unless
a policy says otherwise (`marketplace.consumer.policy`). The group runs on the same consumer
core as the bridge (`marketplace.consumer.loop`), so it has the bridge's hardening: bad records
dead-lettered, outages waited out, nothing committed before it is done.

Unlike kafka-python's `kafka.KafkaConsumer` (a client), this `KafkaConsumer` declares a
consumer group, as the spec's decorator does.
"""

from marketplace.consumer.declaration import KafkaConsumer, on_message
from marketplace.consumer.errors import DeclarationError
from marketplace.consumer.event import CloudEvent
from marketplace.consumer.group import ConsumerGroup, Counters
from marketplace.consumer.idempotency import MemoryStore, RedisStore, SqlStore
from marketplace.consumer.policy import AT_LEAST_ONCE, AT_MOST_ONCE, DeliveryPolicy
from marketplace.errors import GaveUp
from marketplace.events.envelope import RawRecord

__all__ = [
    "AT_LEAST_ONCE",
    "AT_MOST_ONCE",
    "CloudEvent",
    "ConsumerGroup",
    "Counters",
    "DeclarationError",
    "DeliveryPolicy",
    "GaveUp",
    "KafkaConsumer",
    "MemoryStore",
    "RawRecord",
    "RedisStore",
    "SqlStore",
    "on_message",
]
