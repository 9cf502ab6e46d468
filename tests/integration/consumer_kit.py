"""The consumer `marketplace consume` runs in tests/integration/test_consumer_kit.py: it writes a
line per event it handles to `KIT_OUT`, after `KIT_SLOW_SECONDS`, as group `KIT_GROUP`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from marketplace.consumer import CloudEvent, KafkaConsumer, on_message
from marketplace.events import topics
from marketplace.events.outbound import ListingCreated

GROUP = os.environ.get("KIT_GROUP", "marketplace-kit-it")
OUT = Path(os.environ.get("KIT_OUT", os.devnull))
SLOW_SECONDS = float(os.environ.get("KIT_SLOW_SECONDS", "0"))


@KafkaConsumer(group_id=GROUP)
class Recorder:
    @on_message(topics.LISTING_CREATED)
    def listing_created(self, event: CloudEvent[ListingCreated]) -> None:
        time.sleep(SLOW_SECONDS)
        line = {
            "id": event.id,
            "tenant": event.tenantid,
            "listing": event.data.id,
            "model": type(event.data).__name__,
            "price": event.data.price,
        }
        # One write of one line with O_APPEND: a SIGKILL cannot leave half a line.
        fd = os.open(OUT, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
        finally:
            os.close(fd)
