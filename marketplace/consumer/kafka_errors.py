"""What kafka-python's errors mean for us, declared once (as kombu declares a transport's
recoverable errors): every `KafkaError` not listed here means the broker is unreachable for
now, and is retried with backoff."""

from __future__ import annotations

from kafka.errors import (
    AuthorizationError,
    CorruptRecordError,
    IllegalSaslStateError,
    InvalidConfigurationError,
    InvalidRecordError,
    KafkaConfigurationError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    SaslAuthenticationFailedError,
    UnsupportedSaslMechanismError,
    UnsupportedVersionError,
)

FATAL_ERRORS: tuple[type[KafkaError], ...] = (
    AuthorizationError,
    SaslAuthenticationFailedError,
    IllegalSaslStateError,
    UnsupportedSaslMechanismError,
    KafkaConfigurationError,
    InvalidConfigurationError,
    UnsupportedVersionError,
)
"""No retry can cure them (credentials, permissions, configuration): a process stops with one
message."""

UNREADABLE_RECORD_ERRORS: tuple[type[BaseException], ...] = (CorruptRecordError,)
"""What `poll()` raises for a record the client itself cannot parse (e.g. a header name that is
not UTF-8): the record, not the broker, is at fault."""

REFUSED_RECORD_ERRORS: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidRecordError,
)
"""A producer's or broker's answer to a record it will never take, whatever the retries."""


def is_fatal(error: BaseException) -> bool:
    return isinstance(error, FATAL_ERRORS)
