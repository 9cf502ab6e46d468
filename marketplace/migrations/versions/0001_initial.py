"""The initial marketplace schema: aggregates, inbox and outbox.

Revision ID: 0001
Revises:
Create Date: 2026-03-02 12:00:00.000000

Hand-written to match `marketplace.domain.models`; every row is keyed by tenant first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT = sa.String(36)
ID = sa.String(200)
CURRENCY = sa.String(3)
STATUS = sa.String(20)


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _key(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
    ]


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{referred}.tenant_id", f"{referred}.id"],
        name=op.f(f"fk_{table}_tenant_id_{column}_{referred}"),
    )


def _index(table: str, *columns: str, unique: bool = False) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns), unique=unique)


def upgrade() -> None:
    op.create_table(
        "sellers",
        *_key("sellers"),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        _instant("display_name_at", nullable=True),
        _instant("avatar_url_at", nullable=True),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("rating_total", sa.Integer(), nullable=False),
        sa.Column("rating_average", sa.Float(), nullable=True),
        sa.Column("tier", sa.String(50), nullable=False),
        sa.Column("listing_limit", sa.Integer(), nullable=True),
        _instant("subscription_at", nullable=True),
        sa.Column("payouts_received", sa.Integer(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
    )
    op.create_table(
        "listings",
        *_key("listings"),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("lane", sa.String(100), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("currency", CURRENCY, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("kind", STATUS, nullable=False),
        sa.Column("event_id", ID, nullable=True),
        sa.Column("quality_score", sa.Float(), nullable=False),
        sa.Column("seller_display_name", sa.Text(), nullable=True),
        sa.Column("seller_avatar_url", sa.Text(), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        _instant("published_at", nullable=True),
        _instant("closed_at", nullable=True),
        _fk("listings", "seller_id", "sellers"),
    )
    _index("listings", "tenant_id", "seller_id")
    _index("listings", "tenant_id", "lane", "status")
    op.create_table(
        "quotes",
        *_key("quotes"),
        sa.Column("listing_id", ID, nullable=False),
        sa.Column("buyer_id", ID, nullable=False),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", CURRENCY, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        _instant("submitted_at"),
        _instant("accepted_at", nullable=True),
        _fk("quotes", "listing_id", "listings"),
    )
    _index("quotes", "tenant_id", "listing_id")
    op.create_table(
        "orders",
        *_key("orders"),
        sa.Column("quote_id", ID, nullable=False),
        sa.Column("listing_id", ID, nullable=False),
        sa.Column("buyer_id", ID, nullable=False),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", CURRENCY, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("refund_status", STATUS, nullable=False),
        sa.Column("payment_id", ID, nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        _instant("paid_at", nullable=True),
        _instant("completed_at", nullable=True),
        _instant("cancelled_at", nullable=True),
        _fk("orders", "quote_id", "quotes"),
        _fk("orders", "listing_id", "listings"),
        sa.UniqueConstraint("tenant_id", "quote_id", name=op.f("uq_orders_tenant_id_quote_id")),
    )
    _index("orders", "tenant_id", "listing_id")
    op.create_table(
        "payouts",
        *_key("payouts"),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", CURRENCY, nullable=False),
        _instant("released_at"),
        _fk("payouts", "order_id", "orders"),
    )
    _index("payouts", "tenant_id", "order_id")
    op.create_table(
        "disputes",
        *_key("disputes"),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("opened_by", ID, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("outcome", STATUS, nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        _instant("opened_at"),
        _instant("resolved_at", nullable=True),
        _fk("disputes", "order_id", "orders"),
    )
    _index("disputes", "tenant_id", "order_id")
    op.create_table(
        "rfps",
        *_key("rfps"),
        sa.Column("buyer_id", ID, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("requirements", sa.Text(), nullable=False),
        sa.Column("target_lanes", sa.JSON(), nullable=False),
        _instant("deadline"),
        sa.Column("budget_amount", sa.BigInteger(), nullable=True),
        sa.Column("budget_currency", CURRENCY, nullable=True),
        sa.Column("matched_seller_ids", sa.JSON(), nullable=False),
        _instant("broadcast_at"),
    )
    op.create_table(
        "reviews",
        *_key("reviews"),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("listing_id", ID, nullable=True),
        sa.Column("order_id", ID, nullable=True),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        _instant("received_at"),
        _fk("reviews", "seller_id", "sellers"),
    )
    _index("reviews", "tenant_id", "seller_id")
    op.create_table(
        "event_contexts",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("organizer_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        _instant("starts_at"),
        _instant("ends_at"),
        sa.Column("listing_ids", sa.JSON(), nullable=False),
        _instant("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name=op.f("pk_event_contexts")),
        _fk("event_contexts", "organizer_id", "sellers"),
    )
    op.create_table(
        "inbox",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("event_id", sa.String(500), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        _instant("processed_at"),
        sa.PrimaryKeyConstraint("tenant_id", "source", "event_id", name=op.f("pk_inbox")),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _instant("created_at"),
        _instant("sent_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    _index("outbox", "status", "id")
    _index("outbox", "tenant_id", "id")


def downgrade() -> None:
    for table in (
        "outbox", "inbox", "event_contexts", "reviews", "rfps", "disputes", "payouts",
        "orders", "quotes", "listings", "sellers",
    ):  # fmt: skip
        op.drop_table(table)
