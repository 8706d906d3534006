"""certificates: pledges, geographical indications, green-food and organic certificates

``certificate`` holds the rows of ``inbox/certificates/*.csv`` (one per record; a certificate
of several plots is one row per plot), indexed for the lookups the checks and the consumer
page make: by lot, product (GTIN), plot and holder.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificate",
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("certificate_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("holder_id", sa.String(length=128), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("lot_id", sa.String(length=128), nullable=True),
        sa.Column("plot_id", sa.String(length=128), nullable=True),
        sa.Column("area", sa.Text(), nullable=True),
        sa.Column("items", sa.Text(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event.event_id"], name=op.f("fk_certificate_event_id_event")
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_certificate")),
    )
    for column in ("certificate_id", "holder_id", "gtin", "lot_id", "plot_id"):
        op.create_index(op.f(f"ix_certificate_{column}"), "certificate", [column])


def downgrade() -> None:
    op.drop_table("certificate")
