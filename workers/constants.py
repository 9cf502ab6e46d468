"""Every task name, queue name and timing the worker side agrees on, in one place."""

from __future__ import annotations

from marketplace.events import topics

INBOUND_QUEUE = "inbound"
COMMANDS_QUEUE = "commands"
PUBLISH_QUEUE = "publish"
QUEUES = (INBOUND_QUEUE, COMMANDS_QUEUE, PUBLISH_QUEUE)

INBOUND_TASKS: dict[str, str] = {
    topic.name: topic.task for topic in topics.CONSUMED if topic.task is not None
}
"""Consumed topic -> the task that applies its events (declared in the topic catalog)."""

APPLY_BATCH_TASK = "marketplace.inbound.apply_batch"
INBOUND_BATCH_SIZE = 100
"""Most events in one task by default (`INBOUND_BATCH_SIZE` sets the bridge's): one
transaction, one ledger round trip, one publish request for all of them."""
BRIDGE_MAX_HOLD_SECONDS = 0.5
"""Longest the bridge leaves records in Kafka while a task waits in the inbound queue
(`workers.bridge.Bridge.polled`); with no worker taking tasks at all, it still enqueues."""
PUBLISH_TASK = "marketplace.outbox.publish"
SWEEP_TASK = "marketplace.outbox.sweep"
REDELIVER_TASK = "marketplace.inbound.redeliver"

# Retries: exponential backoff with jitter, capped at 300 s and at a quarter of the broker's
# visibility timeout (a countdown longer than that makes Redis deliver the task twice).
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 300.0
SWEEP_INTERVAL_SECONDS = 30.0
PUBLISH_BATCH_SIZE = 500
REDELIVER_BATCH_SIZE = 1000

# Task message headers set by the bridge (and kept by Celery across retries).
HEADER_TENANT_ID = "tenant_id"
HEADER_EVENT_ID = "event_id"
HEADER_FIRST_ATTEMPT_AT = "first_attempt_at"
HEADER_TRACE_CONTEXTS = "trace_contexts"
"""{CloudEvent id: its W3C trace context}: each event's parent span (`workers.tracing`)."""

LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] "
    "event=%(event_id)s tenant=%(tenant_id)s %(name)s: %(message)s"
)

# Set while a publish task is queued, so a burst of commits enqueues one.
PUBLISH_QUEUED_KEY = "marketplace:outbox:queued"
PUBLISH_QUEUED_TTL_SECONDS = 5
