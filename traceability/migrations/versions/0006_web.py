"""what the consumer page needs: the store's change counter, stored findings, declared
recalls and consumers' reports

``store_state`` holds one row whose ``generation`` every writer bumps after it commits; the web
app keys its page cache on it. ``finding`` keeps the last checks run's findings with the lot,
shipment, plot or county each is about. ``recall_notice`` and ``consumer_report`` are written
by ``heitu recall declare`` / ``lift`` and by the page's report form.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 14:20:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    state = op.create_table(
        "store_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_state")),
    )
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    op.bulk_insert(state, [{"id": 1, "generation": 1, "changed_at": now}])
    op.create_table(
        "finding",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("check_name", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("lot_id", sa.String(length=128), nullable=True),
        sa.Column("shipment_id", sa.String(length=128), nullable=True),
        sa.Column("plot_id", sa.String(length=128), nullable=True),
        sa.Column("county_code", sa.String(length=6), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("found_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding")),
    )
    for col in ("lot_id", "shipment_id", "plot_id"):
        op.create_index(op.f(f"ix_finding_{col}"), "finding", [col])
    op.create_table(
        "recall_notice",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("declared_at", sa.DateTime(), nullable=False),
        sa.Column("lifted_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recall_notice")),
    )
    op.create_table(
        "consumer_report",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lot_id", sa.String(length=128), nullable=True),
        sa.Column("serial", sa.String(length=128), nullable=True),
        sa.Column("known_lot", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=15), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumer_report")),
    )
    op.create_index(op.f("ix_consumer_report_lot_id"), "consumer_report", ["lot_id"])


def downgrade() -> None:
    op.drop_table("consumer_report")
    op.drop_table("recall_notice")
    op.drop_table("finding")
    op.drop_table("store_state")
