"""The outbox stores the Kafka record it will send (value, key, headers), not a JSON object to
rebuild a CloudEvent from.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:30:00.000000

Rows written before this revision are converted here, in structured mode keyed by tenant, as
`marketplace.events.envelope.to_record` writes them (self-contained on purpose: a migration
must not change when the application code does).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STRUCTURED = [["content-type", "application/cloudevents+json"]]
OUTBOX = sa.table(
    "outbox",
    sa.column("id", sa.BigInteger()),
    sa.column("envelope", sa.JSON()),
    sa.column("record_value", sa.LargeBinary()),
    sa.column("record_key", sa.LargeBinary()),
    sa.column("record_headers", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as outbox:
        outbox.add_column(sa.Column("record_value", sa.LargeBinary(), nullable=True))
        outbox.add_column(sa.Column("record_key", sa.LargeBinary(), nullable=True))
        outbox.add_column(sa.Column("record_headers", sa.JSON(), nullable=True))
    table, connection = OUTBOX, op.get_bind()
    for row_id, cloudevent in connection.execute(sa.select(table.c.id, table.c.envelope)):
        connection.execute(
            table.update()
            .where(table.c.id == row_id)
            .values(
                record_value=json.dumps(cloudevent).encode(),
                record_key=str(cloudevent["tenantid"]).encode(),
                record_headers=STRUCTURED,
            )
        )
    with op.batch_alter_table("outbox") as outbox:
        outbox.alter_column("record_value", nullable=False)
        outbox.alter_column("record_key", nullable=False)
        outbox.alter_column("record_headers", nullable=False)
        outbox.drop_column("envelope")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as outbox:
        outbox.add_column(sa.Column("envelope", sa.JSON(), nullable=True))
    table, connection = OUTBOX, op.get_bind()
    for row_id, value in connection.execute(sa.select(table.c.id, table.c.record_value)):
        connection.execute(
            table.update().where(table.c.id == row_id).values(envelope=json.loads(value))
        )
    with op.batch_alter_table("outbox") as outbox:
        outbox.alter_column("envelope", nullable=False)
        outbox.drop_column("record_headers")
        outbox.drop_column("record_key")
        outbox.drop_column("record_value")
