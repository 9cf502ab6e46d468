"""kombu's Redis transport, with one gap closed: tasks a worker held when Redis went away.

When a worker loses its broker connection, kombu puts the tasks it had taken but not run back
on their queue (`restore_unacked`). If Redis is the one that went away, that restore fails,
and kombu forgets those tasks; they stay in Redis's `unacked` hash until the visibility
timeout (`BROKER_VISIBILITY_TIMEOUT_SECONDS`, hours) brings them back. Here the delivery tags
of a failed restore are kept, and the worker's next channel, opened once Redis answers again,
puts them back at once. A tag whose task another process already restored or ran is a no-op
(`restore_by_tag` finds nothing), and a task that ran anyway is a no-op for the inbox.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

from workers.broker_errors import REDIS_ERRORS

logger = logging.getLogger(__name__)

UNACKED_KEY: str = kombu_redis.Channel.unacked_key
"""kombu's hash of the messages workers took and did not acknowledge yet."""


def queue_depth(client: redis.Redis, queue: str) -> int:
    """Task messages waiting in `queue`, of every priority, in one round trip: this transport
    keeps priority 0 in the list `queue` and priority p in `queue` + `\\x06\\x16` + p (what
    kombu's own `Channel._size` counts)."""
    with client.pipeline(transaction=False) as pipe:
        for priority in kombu_redis.PRIORITY_STEPS:
            pipe.llen(f"{queue}{kombu_redis.Channel.sep}{priority}" if priority else queue)
        return sum(int(size) for size in pipe.execute())


_unrestored: set[str] = set()
"""Delivery tags of this process whose restore failed; one worker process, one set."""


class QoS(kombu_redis.QoS):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if _unrestored:
            self._restore_left_behind()

    def restore_unacked(self, client: Any = None) -> None:
        delivered: dict[str, Any] = self._delivered or {}
        tags = list(delivered)
        try:
            super().restore_unacked(client)
        except REDIS_ERRORS as error:
            _unrestored.update(tags)
            delivered.clear()
            logger.warning(
                "%d taken tasks not put back (Redis unreachable: %r); they will be once it is back",
                len(tags),
                error,
            )

    def _restore_left_behind(self) -> None:
        for tag in list(_unrestored):
            try:
                self.restore_by_tag(tag)
            except REDIS_ERRORS:
                return  # still unreachable: the next channel tries again
            _unrestored.discard(tag)
        logger.info("taken tasks left behind by the Redis outage are back on their queues")


class Channel(kombu_redis.Channel):
    QoS = QoS


class Transport(kombu_redis.Transport):
    Channel = Channel
