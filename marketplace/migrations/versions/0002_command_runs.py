"""Command runs: a command delivered twice runs once and returns its first result.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 21:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "command_runs",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("command_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "command_id", name=op.f("pk_command_runs")),
    )


def downgrade() -> None:
    op.drop_table("command_runs")
