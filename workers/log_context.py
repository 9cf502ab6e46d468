"""Puts the CloudEvent id and tenant id on every log line written while a task runs.

Done with a log-record factory rather than handler filters, so every record of the process
has the fields, whichever logger or handler (Celery's pool logger included) formats it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

_event_id: contextvars.ContextVar[str] = contextvars.ContextVar("event_id", default="-")
_tenant_id: contextvars.ContextVar[str] = contextvars.ContextVar("tenant_id", default="-")
_base_factory = logging.getLogRecordFactory()


def _record_with_event(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.event_id = _event_id.get()
    record.tenant_id = _tenant_id.get()
    return record


Bound = tuple[contextvars.Token[str], contextvars.Token[str]]


def bind(event_id: str | None, tenant_id: str | None) -> Bound:
    """Log lines from now on carry these ids, until `unbind` with what this returned."""
    return _event_id.set(event_id or "-"), _tenant_id.set(tenant_id or "-")


def unbind(bound: Bound) -> None:
    event_token, tenant_token = bound
    _event_id.reset(event_token)
    _tenant_id.reset(tenant_token)


def install() -> None:
    """Idempotent; `-` stands for "outside any event"."""
    if logging.getLogRecordFactory() is not _record_with_event:
        logging.setLogRecordFactory(_record_with_event)


@contextlib.contextmanager
def bound(event_id: str | None, tenant_id: str | None) -> Iterator[None]:
    """`bind` for the length of a block: one event of a batch."""
    token = bind(event_id, tenant_id)
    try:
        yield
    finally:
        unbind(token)
