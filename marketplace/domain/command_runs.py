"""Commands run once per command id.

A command is delivered at least once: a worker that dies after its commit but before its
acknowledgement gets the same command again. The operation and the record of its result
commit together, so the repeat returns the first result: it neither acts twice nor fails a
transition that already happened. Two deliveries at once: the second insert waits for the
first transaction, then raises `sqlalchemy.exc.IntegrityError`, which the worker retries as
transient and which then finds the record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marketplace.domain import inputs, tenants
from marketplace.domain.context import Context
from marketplace.domain.errors import InvalidInput
from marketplace.domain.models import Base, CommandRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ran:
    result: dict[str, Any]
    """The entity as the command's first run returned it."""
    repeated: bool
    """True when this command id had run already: nothing was done now."""


def run_once(
    ctx: Context, tenant_id: str, command_id: str, name: str, operation: Callable[[], Base]
) -> Ran:
    tenant = tenants.canonical(tenant_id, action=name)
    command_id = inputs.checked_id(command_id, entity="command", action=name)
    earlier = ctx.session.get(CommandRun, (tenant, command_id))
    if earlier is not None:
        if earlier.name != name:
            raise InvalidInput(
                "command", command_id, name, [f"this command id already ran {earlier.name}"]
            )
        logger.info("%s %s: already ran; returning its result", name, command_id)
        return Ran(earlier.result, repeated=True)
    result = operation().as_dict()
    ctx.session.add(
        CommandRun(
            tenant_id=tenant, command_id=command_id, name=name, result=result, ran_at=ctx.now()
        )
    )
    ctx.session.flush()
    return Ran(result, repeated=False)
