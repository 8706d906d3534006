"""per-bag codes and the scan log: ``unit_code`` (a signed random serial per unit of a packed
lot) and ``scan`` (each scan at the resolver, with a coarse place and no IP address)

A lot's code names the lot, so a copied QR reads as genuine. ``unit_code`` gives every bag
its own serial (traceability/serials.py); ``scan`` lets the scans themselves show a copy: one
serial scanned far apart within a day, more serials of a lot than it had bags, scans after a
recall (traceability/scans.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unit_code",
        sa.Column("serial", sa.String(length=20), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lot_id", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=10), nullable=False),
        sa.Column("signature", sa.String(length=32), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_unit_code")),
        sa.UniqueConstraint("lot_id", "unit", name="uq_unit_code_lot_unit"),
    )
    op.create_table(
        "scan",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lot_id", sa.String(length=128), nullable=True),
        sa.Column("serial", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=15), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("province", sa.String(length=2), nullable=True),
        sa.Column("client", sa.String(length=10), nullable=False),
        sa.Column("typed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan")),
    )
    op.create_index(op.f("ix_scan_at"), "scan", ["at"])
    op.create_index(op.f("ix_scan_lot_id"), "scan", ["lot_id"])
    op.create_index(op.f("ix_scan_serial"), "scan", ["serial"])


def downgrade() -> None:
    op.drop_table("scan")
    op.drop_table("unit_code")
