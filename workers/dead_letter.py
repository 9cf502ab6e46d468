"""A task's dead letter: the argument it was given, with no partition or offset (-1).

Dead letters themselves (what they carry, how they are made to fit, how they are sent) are
`marketplace.consumer.dead_letter`'s, shared with the bridge and every consumer group.
"""

from __future__ import annotations

import json
import reprlib
from datetime import UTC, datetime

from marketplace.consumer.dead_letter import DeadLetter, text_of
from marketplace.events.envelope import RawRecord


def for_task(argument: object, error: BaseException, task_name: str) -> DeadLetter:
    """A task's dead letter from whatever it was given: normally a structured CloudEvent (kept
    as JSON); anything else (a hand-made call) is kept as readably as it can be."""
    cloudevent = argument if isinstance(argument, dict) else {}
    try:
        value = json.dumps(argument).encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        value = reprlib.repr(argument).encode("utf-8", "backslashreplace")
    topic, tenant = cloudevent.get("type"), cloudevent.get("tenantid")
    record = RawRecord(
        topic=topic if isinstance(topic, str) else "",
        value=value,
        key=text_of(tenant).encode("utf-8") if isinstance(tenant, str) and tenant else None,
        headers=(("content-type", b"application/cloudevents+json"),),
    )
    return DeadLetter(record, error, task_name, datetime.now(UTC))
