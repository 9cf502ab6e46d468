"""Domain failures, sorted into the transient and permanent branches the workers act on.

A message always names the entity, its id, its state and the attempted action, so a
dead-lettered event explains itself: `order o-1 is cancelled; cannot mark paid`. An id that
is not fit to print (too long, a NUL, a lone surrogate) is quoted shortened and escaped, so
that the error about a bad id can always be logged and dead-lettered.
"""

from __future__ import annotations

from collections.abc import Iterable

from marketplace.errors import MarketplaceError, PermanentError, TransientError

SHOWN_LENGTH = 200
"""The most of an id a message quotes: a whole valid id (`fields.ID_LENGTH`)."""


def shown(entity_id: object) -> str:
    """`entity_id` as a message quotes it: as it is if printable and short enough."""
    text = str(entity_id)
    if len(text) > SHOWN_LENGTH:
        text = f"{text[:SHOWN_LENGTH]}... ({len(text)} characters)"
    return text if text.isprintable() else ascii(text)


class DomainError(MarketplaceError):
    """A rule of the marketplace refused an operation.

    `args` are the subclass's own constructor arguments, so a copy can be built from them
    (Celery's result backend sends `type(error)(*error.args)` to the caller, who can then tell
    `NotFound` from `InvalidInput`); `str()` is the message.
    """

    def __init__(
        self,
        message: str,
        *,
        entity: str,
        entity_id: str | None,
        action: str,
        rebuild_with: tuple[object, ...],
    ) -> None:
        super().__init__(*rebuild_with)
        self.message = message
        self.entity = entity
        self.entity_id = entity_id
        self.action = action

    def __str__(self) -> str:
        return self.message


class IllegalTransition(DomainError, PermanentError):
    """The entity's state does not allow the action; the same request can never succeed."""

    def __init__(
        self, entity: str, entity_id: str, state: str, action: str, reason: str | None = None
    ) -> None:
        message = f"{entity} {shown(entity_id)} is {state}; cannot {action}"
        super().__init__(
            f"{message}: {reason}" if reason else message,
            entity=entity,
            entity_id=entity_id,
            action=action,
            rebuild_with=(entity, entity_id, state, action, reason),
        )
        self.state = state


class InvalidInput(DomainError, PermanentError, ValueError):
    """The request itself is wrong; `problems` names every bad field at once."""

    def __init__(
        self, entity: str, entity_id: str | None, action: str, problems: Iterable[str]
    ) -> None:
        self.problems = list(problems)
        subject = f"{entity} {shown(entity_id)}" if entity_id else entity
        super().__init__(
            f"{subject}: cannot {action}: " + "; ".join(self.problems),
            entity=entity,
            entity_id=entity_id,
            action=action,
            rebuild_with=(entity, entity_id, action, self.problems),
        )


class NotFound(DomainError, PermanentError):
    """A command names an entity that does not exist (in this tenant)."""

    def __init__(self, entity: str, entity_id: str, action: str) -> None:
        super().__init__(
            f"{entity} {shown(entity_id)} does not exist; cannot {action}",
            entity=entity,
            entity_id=entity_id,
            action=action,
            rebuild_with=(entity, entity_id, action),
        )


class NotYetKnown(DomainError, TransientError):
    """An inbound event arrived before what it depends on; retrying later will succeed."""

    def __init__(self, entity: str, entity_id: str, action: str, reason: str) -> None:
        super().__init__(
            f"{entity} {shown(entity_id)} {reason}; cannot {action} yet",
            entity=entity,
            entity_id=entity_id,
            action=action,
            rebuild_with=(entity, entity_id, action, reason),
        )
