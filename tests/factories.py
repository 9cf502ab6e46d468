"""The one way tests and benchmarks write another service's CloudEvent (structured mode)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from marketplace.events import topics

SPEC_TIME = "2026-03-02T12:00:00.000Z"
"""The `time` of the spec's example."""


def cloudevent(
    topic: topics.Topic,
    tenant: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    source: str | None = None,
    time: datetime | str | None = SPEC_TIME,
) -> dict[str, Any]:
    """An event of `topic` as its producing service sends it; `time=None` means now."""
    moment = datetime.now(UTC) if time is None else time
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source or topic.source_service,
        "type": topic.name,
        "time": moment if isinstance(moment, str) else _rfc3339(moment),
        "datacontenttype": "application/json",
        "tenantid": tenant,
        "data": data,
    }


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
