"""What a subscribed topic's records are checked against, and how they become handlers' events.

Every record goes through the pipeline's own decoding (`marketplace.events.decoding`): a valid
CloudEvent 1.0 of its topic, a UUID `tenantid`, JSON data, nothing a database could not hold.
The 12 topics the marketplace produces are typed: `data` must fit the catalog's model, and
unknown fields are kept at every level (the marketplace may add fields; a reader must not
refuse them). Any other topic (the 6 the marketplace consumes, or another service's) has a JSON
object as `data`, as it was sent.
"""

from __future__ import annotations

from marketplace.consumer.event import CloudEvent
from marketplace.events import decoding, topics
from marketplace.events.envelope import RawRecord
from marketplace.events.fields import InboundPayload, Payload

TYPED: dict[str, type[Payload]] = {topic.name: topic.payload for topic in topics.PRODUCED}
"""The model of each typed topic's `data`."""


class AnyObject(InboundPayload):
    """`data` of a topic that is not typed here: any JSON object."""


def checked_as(topic_name: str) -> topics.Topic:
    """The catalog entry a record of `topic_name` is decoded against."""
    if topic_name in TYPED:
        topic = topics.by_name(topic_name)
        assert topic is not None
        return topic
    return topics.Topic(topic_name, topics.Direction.CONSUMED, "", AnyObject)


def read(record: RawRecord, *, as_topic: topics.Topic, max_bytes: int) -> CloudEvent[object]:
    """The event in `record`; raises `EnvelopeError` naming every problem."""
    event = decoding.from_record(record, max_bytes=max_bytes, accepted=(as_topic,), extra="allow")
    return CloudEvent.of(event, typed=as_topic.name in TYPED)
