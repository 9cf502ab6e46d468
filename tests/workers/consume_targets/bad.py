from marketplace.consumer import CloudEvent, KafkaConsumer, on_message
from marketplace.events.outbound import OrderCancelled


@KafkaConsumer(group_id="reviews")
class Reviews:
    @on_message("eventzr.marketplace.order.completed.v1")
    def order_completed(self, event: CloudEvent[OrderCancelled]) -> None: ...
