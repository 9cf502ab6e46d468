"""What a consumer raises on purpose, sorted into the project's transient and permanent branches."""

from __future__ import annotations

from marketplace.errors import MarketplaceError, PermanentError, TransientError


class DeclarationError(MarketplaceError, TypeError):
    """A consumer declared wrongly (unknown topic, a handler annotated for another model, two
    handlers for one topic): raised at import, naming every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class Unavailable(TransientError):
    """Whatever a whole batch goes to (Redis, the dead-letter topic) did not take it: the
    consumer pauses its partitions, commits nothing and tries the same batch again."""

    what = "A downstream service"
    """How the pause is logged: "<what> unavailable, pausing consumption"."""


class KafkaFatal(PermanentError):
    """Kafka refused this client for good: authentication, authorisation or configuration."""


class UnreadableRecord(MarketplaceError):
    """The Kafka client raised while parsing a record: its bytes never reached us."""
