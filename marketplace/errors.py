"""The error hierarchy every part of the pipeline sorts failures by.

A failure is either *transient* (the world may change: retry with backoff) or *permanent*
(retrying cannot help: dead-letter it once). Workers decide what to do by the branch alone,
never by the message.
"""

from __future__ import annotations


class MarketplaceError(Exception):
    """Root of every error this project raises on purpose."""


class TransientError(MarketplaceError):
    """Not possible yet; the same input may succeed later (retry with backoff)."""


class PermanentError(MarketplaceError):
    """Can never succeed as given; retrying only delays the dead letter."""


class GaveUp(PermanentError):
    """A transient failure that outlived its retries or its age: dead-lettered under this name,
    whether a worker's task or a consumer's handler gave up."""
