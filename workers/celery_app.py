"""The Celery application: `celery -A workers worker | beat | flower`.

Configuration is built lazily from the settings, so importing the app (the bridge, the CLI,
a test) reads nothing until a broker connection is actually needed.

Delivery is at least once: a task is acknowledged only after it ran (`acks_late`), and a task
whose worker process died is requeued (`reject_on_worker_lost`). Duplicates are expected and
deduplicated in the database (the inbox), never by the broker.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown, worker_ready
from kombu import Exchange, Queue

from workers import constants, gc_pauses, log_context, runtime, tracing


def celery_config() -> dict[str, Any]:
    settings = runtime.current().settings
    return {
        "broker_url": settings.redis_url,
        # kombu's Redis transport, putting back tasks held when Redis went away.
        "broker_transport": "workers.broker_transport:Transport",
        "result_backend": settings.redis_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_ignore_result": True,
        "result_expires": 24 * 3600,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            # Longer than any retry countdown, or Redis redelivers a task that is only waiting.
            "visibility_timeout": settings.broker_visibility_timeout_seconds,
            # A stalled Redis must fail a publish, not hang it.
            "socket_timeout": 5,
            "socket_connect_timeout": 5,
            # Look for a dead worker's unacknowledged tasks every 10 s (default: ~100 s).
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
            # No `retry_on_timeout`: kombu only pipelines a batch when a timed-out write is
            # never silently replayed; the bridge resends a failed batch itself.
        },
        "result_backend_transport_options": {"socket_timeout": 5, "socket_connect_timeout": 5},
        # Each queue bound under its own name: without an exchange Celery binds all three to
        # the default queue's, and the worker banner shows them all as `key=commands`.
        "task_queues": [Queue(name, Exchange(name), routing_key=name) for name in constants.QUEUES],
        "task_default_queue": constants.COMMANDS_QUEUE,
        "task_routes": {
            "marketplace.outbox.*": {"queue": constants.PUBLISH_QUEUE},
            **{
                name: {"queue": constants.INBOUND_QUEUE}
                for name in (constants.APPLY_BATCH_TASK, *constants.INBOUND_TASKS.values())
            },
        },
        "beat_schedule": {
            "sweep-stale-outbox": {
                "task": constants.SWEEP_TASK,
                "schedule": constants.SWEEP_INTERVAL_SECONDS,
            },
            "redeliver-lost-inbound": {
                "task": constants.REDELIVER_TASK,
                "schedule": constants.SWEEP_INTERVAL_SECONDS,
            },
        },
        "worker_hijack_root_logger": True,
        "worker_log_format": constants.LOG_FORMAT,
        "worker_task_log_format": constants.LOG_FORMAT,
    }


# Every task gets the failure policy of its base class, periodic ones included.
app = Celery(
    "marketplace",
    task_cls="workers.task_base:MarketplaceTask",
    include=[
        "workers.inbound_tasks",
        "workers.command_tasks",
        "workers.publish_tasks",
        "workers.redelivery_tasks",
    ],
)
app.add_defaults(celery_config)
log_context.install()
logging.getLogger("kafka").setLevel(logging.WARNING)  # its INFO is a line per socket event


@worker_process_init.connect
def _trace_pool_process(**_: Any) -> None:
    """Each pool process makes its own tracer provider: its exporting thread, unlike the
    parent's, survives the fork."""
    tracing.configure(runtime.current().settings, service="marketplace-worker", celery=True)


@worker_ready.connect
@worker_process_init.connect
def _freeze_startup_objects(**_: Any) -> None:
    """In the worker's main process once it consumes, and in each pool process."""
    gc_pauses.freeze_startup_objects()


@worker_process_shutdown.connect
def _export_last_spans(**_: Any) -> None:
    tracing.shutdown()
