"""Commands that ran: what makes a command delivered twice run once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.domain.models.base import ID, TENANT, Base


class CommandRun(Base):
    """A command by its id (the caller's idempotency key), with the result it returned.

    The row is written in the command's transaction, so it exists exactly when the command's
    changes do.
    """

    __tablename__ = "command_runs"

    tenant_id: Mapped[str] = mapped_column(TENANT, primary_key=True)
    command_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    ran_at: Mapped[datetime]
