"""The ledger of inbound events enqueued but not yet settled: the backstop for a task the broker
loses.

Celery's Redis transport takes a task off its queue (BRPOP) and only then records it as
unacknowledged. A worker whose main process dies between the two loses that task: it is in no
queue, the visibility timeout never brings it back, and Kafka will not replay it because the
bridge committed the offset once Redis had the task.

So the bridge records each event here before enqueueing it, and the worker settles it once the
event is applied or dead-lettered. `marketplace.inbound.redeliver` (beat) sends again whatever is
still unsettled a visibility timeout after it was enqueued. By then a live task has finished or
been dead-lettered (`TASK_MAX_AGE_SECONDS` is shorter by default), or waits in a backlog, where
the second copy is a no-op for the inbox.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, cast

import redis

from workers.broker_errors import REDIS_ERRORS

logger = logging.getLogger(__name__)

ENQUEUED_AT_KEY = "marketplace:inbound:ledger"  # sorted set: entry → when it was last enqueued
EVENTS_KEY = "marketplace:inbound:ledger:events"  # hash: entry → the structured CloudEvent


def entry_of(cloudevent: Mapping[str, Any]) -> str:
    """The inbox's identity of an event (tenant, source, id): two services may reuse an id."""
    return json.dumps([cloudevent.get("tenantid"), cloudevent.get("source"), cloudevent.get("id")])


class InboundLedger:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def record(self, cloudevents: Iterable[Mapping[str, Any]], *, now: float) -> None:
        """Record (or re-stamp) events about to be enqueued; raises `RedisError` if Redis did not
        take them, and then none of them may be enqueued."""
        entries = {entry_of(event): json.dumps(event) for event in cloudevents}
        if not entries:
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(EVENTS_KEY, mapping=entries)  # type: ignore[arg-type]  # (a str is encodable)
        pipe.zadd(ENQUEUED_AT_KEY, dict.fromkeys(entries, now))
        pipe.execute()

    def settle(self, *cloudevents: object) -> None:
        """The events are applied or dead-lettered, in one round trip. Never raises: an entry
        left behind only costs one redundant delivery, a no-op for the inbox. A task argument
        that is no object (sent by hand) was never recorded."""
        entries = [entry_of(event) for event in cloudevents if isinstance(event, Mapping)]
        if not entries:
            return
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.zrem(ENQUEUED_AT_KEY, *entries)
            pipe.hdel(EVENTS_KEY, *entries)
            pipe.execute()
        except REDIS_ERRORS as error:
            logger.warning("ledger entry not settled (it will be delivered again): %r", error)

    def unsettled_since(self, enqueued_before: float, *, limit: int) -> list[dict[str, Any]]:
        """The oldest events last enqueued before `enqueued_before` and not settled since."""
        entries = cast(  # without scores, the reply is the members alone
            list[bytes],
            self.client.zrangebyscore(ENQUEUED_AT_KEY, "-inf", enqueued_before, start=0, num=limit),
        )
        if not entries:
            return []
        # Both keys change together (MULTI), so a missing event was settled between the reads.
        stored = self.client.hmget(EVENTS_KEY, entries)
        return [json.loads(event) for event in stored if event is not None]

    def size(self) -> int:
        return int(self.client.zcard(ENQUEUED_AT_KEY))
