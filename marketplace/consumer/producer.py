"""One Kafka producer at a time, made afresh after a send that failed for Kafka's sake.

A kafka-python producer that lost its broker can stay stuck once the broker is back ("No node
available for metadata refresh", every send timing out until it is closed), so a producer is
never trusted again after a failed send: it is closed and the next send makes a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kafka import KafkaProducer
from kafka.errors import KafkaError

logger = logging.getLogger(__name__)


class RenewingProducer:
    def __init__(
        self, make: Callable[[], KafkaProducer], *, current: KafkaProducer | None = None
    ) -> None:
        """`make()` builds a producer (raising `KafkaError` while Kafka cannot be reached);
        `current` is one already connected, used first."""
        self._make = make
        self._current = current

    @property
    def current(self) -> KafkaProducer:
        """The producer the next send uses, made now if there is none."""
        if self._current is None:
            self._current = self._make()
        return self._current

    @contextmanager
    def sending(self) -> Iterator[KafkaProducer]:
        """The producer, for one send that waits for Kafka; dropped if the send raises a
        `KafkaError`."""
        producer = self.current
        try:
            yield producer
        except KafkaError:
            self._drop(producer)
            raise

    def close(self, timeout: float | None = None) -> None:
        """Waits up to `timeout` for what is in flight, then lets go of the connection."""
        producer, self._current = self._current, None
        if producer is not None:
            producer.close(timeout=timeout)

    def _drop(self, producer: KafkaProducer) -> None:
        if self._current is producer:
            self._current = None
        try:
            producer.close(timeout=0)
        except Exception as error:  # it is dropped either way
            logger.warning("closing the Kafka producer failed: %r", error)
