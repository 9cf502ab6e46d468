"""kafka-python's errors sorted once, in `marketplace.consumer.kafka_errors`; here for the
workers' modules that name them."""

from marketplace.consumer.kafka_errors import (
    FATAL_ERRORS,
    REFUSED_RECORD_ERRORS,
    UNREADABLE_RECORD_ERRORS,
    is_fatal,
)

__all__ = ["FATAL_ERRORS", "REFUSED_RECORD_ERRORS", "UNREADABLE_RECORD_ERRORS", "is_fatal"]
