from marketplace.consumer import CloudEvent, KafkaConsumer, on_message
from marketplace.events.outbound import OrderCompleted

NOT_A_CONSUMER = object()


@KafkaConsumer(group_id="reviews")
class Reviews:
    @on_message("eventzr.marketplace.order.completed.v1")
    def order_completed(self, event: CloudEvent[OrderCompleted]) -> None: ...


@KafkaConsumer(group_id="reviews")
class MoreReviews:
    @on_message("eventzr.marketplace.order.cancelled.v1")
    def order_cancelled(self, event: CloudEvent) -> None: ...  # type: ignore[type-arg]


analytics = KafkaConsumer(group_id="analytics")


@analytics.on_message("eventzr.marketplace.order.completed.v1")
def count(event: CloudEvent[OrderCompleted]) -> None: ...
