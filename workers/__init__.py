"""The worker side: Celery app, Kafka bridge, tasks and CLI. `celery -A workers` finds `app`."""

from workers.celery_app import app

__all__ = ["app"]
