"""Puts the CloudEvent id and tenant id on every log line written while a task runs."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

_event_id: contextvars.ContextVar[str] = contextvars.ContextVar("event_id", default="-")
_tenant_id: contextvars.ContextVar[str] = contextvars.ContextVar("tenant_id", default="-")


class EventContextFilter(logging.Filter):
    """Adds `event_id` and `tenant_id` to each record, `-` outside any event."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.event_id = _event_id.get()
        record.tenant_id = _tenant_id.get()
        return True


@contextmanager
def event_context(event_id: str | None, tenant_id: str | None) -> Iterator[None]:
    event_token = _event_id.set(event_id or "-")
    tenant_token = _tenant_id.set(tenant_id or "-")
    try:
        yield
    finally:
        _event_id.reset(event_token)
        _tenant_id.reset(tenant_token)


def install(logger: logging.Logger) -> None:
    """Attach the filter to every handler, so records from any logger get the fields."""
    for handler in logger.handlers:
        if not any(isinstance(f, EventContextFilter) for f in handler.filters):
            handler.addFilter(EventContextFilter())
