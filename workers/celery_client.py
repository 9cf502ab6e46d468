"""A Celery app for the command line: sends tasks and asks workers, from the settings it is
given (not the process-wide ones the worker uses), with short broker timeouts."""

from __future__ import annotations

from celery import Celery

from workers.settings import Settings

SOCKET_TIMEOUT_SECONDS = 5


def client_app(settings: Settings) -> Celery:
    app = Celery("marketplace-cli", set_as_current=False)
    app.conf.update(
        broker_url=settings.redis_url,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry=False,
        broker_connection_retry_on_startup=False,
        broker_transport_options={
            "socket_timeout": SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
        },
    )
    return app
