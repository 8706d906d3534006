"""recall at scale: lot_sale (units sold per lot and retailer, kept by triggers), a
covering index for a lot's shipment lines, an index on plot.farm_id

A county recall reaches about 11,000 lots and 66,000 till records at 200,000 plots; summing
the till records per lot and retailer was a third of the recall's time. ``lot_sale`` holds
those sums, kept by triggers on ``sale`` so that every writer (ingest, EPCIS import, a
hand-run SQL fix, the bench generator) keeps them true without knowing about them.
``ix_shipment_lot_lot_cover`` answers "which shipments carried this lot, how many kg" from
the index alone. ``ix_plot_farm_id``: a recall by farm found the farm's plots by scanning
every plot.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite: one trigger per statement kind; the UPDATE trigger takes the old row out and puts
# the new one in. Pairs that drop to no sales are deleted so the table mirrors sale exactly.
SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER tr_sale_lot_sale_insert AFTER INSERT ON sale BEGIN
        INSERT INTO lot_sale (lot_id, retailer_id, units, sales)
        VALUES (NEW.lot_id, NEW.retailer_id, NEW.quantity_units, 1)
        ON CONFLICT (lot_id, retailer_id)
        DO UPDATE SET units = units + excluded.units, sales = sales + 1;
    END
    """,
    """
    CREATE TRIGGER tr_sale_lot_sale_delete AFTER DELETE ON sale BEGIN
        UPDATE lot_sale SET units = units - OLD.quantity_units, sales = sales - 1
        WHERE lot_id = OLD.lot_id AND retailer_id = OLD.retailer_id;
        DELETE FROM lot_sale
        WHERE lot_id = OLD.lot_id AND retailer_id = OLD.retailer_id AND sales = 0;
    END
    """,
    """
    CREATE TRIGGER tr_sale_lot_sale_update
    AFTER UPDATE OF lot_id, retailer_id, quantity_units ON sale BEGIN
        UPDATE lot_sale SET units = units - OLD.quantity_units, sales = sales - 1
        WHERE lot_id = OLD.lot_id AND retailer_id = OLD.retailer_id;
        DELETE FROM lot_sale
        WHERE lot_id = OLD.lot_id AND retailer_id = OLD.retailer_id AND sales = 0;
        INSERT INTO lot_sale (lot_id, retailer_id, units, sales)
        VALUES (NEW.lot_id, NEW.retailer_id, NEW.quantity_units, 1)
        ON CONFLICT (lot_id, retailer_id)
        DO UPDATE SET units = units + excluded.units, sales = sales + 1;
    END
    """,
)

POSTGRESQL_TRIGGER = (
    """
    CREATE FUNCTION heitu_lot_sale() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE lot_sale SET units = units - OLD.quantity_units, sales = sales - 1
            WHERE lot_id = OLD.lot_id AND retailer_id = OLD.retailer_id;
            DELETE FROM lot_sale
            WHERE lot_id = OLD.lot_id AND retailer_id = OLD.retailer_id AND sales = 0;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO lot_sale (lot_id, retailer_id, units, sales)
            VALUES (NEW.lot_id, NEW.retailer_id, NEW.quantity_units, 1)
            ON CONFLICT (lot_id, retailer_id)
            DO UPDATE SET units = lot_sale.units + EXCLUDED.units, sales = lot_sale.sales + 1;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER tr_sale_lot_sale
    AFTER INSERT OR DELETE OR UPDATE OF lot_id, retailer_id, quantity_units ON sale
    FOR EACH ROW EXECUTE FUNCTION heitu_lot_sale()
    """,
)


def upgrade() -> None:
    create_lot_sale()
    with op.batch_alter_table("shipment_lot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipment_lot_lot_id"))
        batch_op.create_index(
            "ix_shipment_lot_lot_cover", ["lot_id", "shipment_id", "kg"], unique=False
        )
    with op.batch_alter_table("plot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plot_farm_id"), ["farm_id"], unique=False)


def create_lot_sale() -> None:
    """lot_sale, filled from sale, and its triggers (also migration 0003's downgrade)."""
    op.create_table(
        "lot_sale",
        sa.Column("lot_id", sa.String(length=128), nullable=False),
        sa.Column("retailer_id", sa.String(length=128), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("sales", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("lot_id", "retailer_id", name=op.f("pk_lot_sale")),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO lot_sale (lot_id, retailer_id, units, sales) "
        "SELECT lot_id, retailer_id, SUM(quantity_units), COUNT(*) FROM sale "
        "GROUP BY lot_id, retailer_id"
    )
    if op.get_bind().dialect.name == "postgresql":
        for sql in POSTGRESQL_TRIGGER:
            op.execute(sql)
    else:
        for sql in SQLITE_TRIGGERS:
            op.execute(sql)


def downgrade() -> None:
    with op.batch_alter_table("plot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plot_farm_id"))
    with op.batch_alter_table("shipment_lot", schema=None) as batch_op:
        batch_op.drop_index("ix_shipment_lot_lot_cover")
        batch_op.create_index(batch_op.f("ix_shipment_lot_lot_id"), ["lot_id"], unique=False)
    drop_lot_sale()


def drop_lot_sale() -> None:
    """lot_sale and its triggers gone (also migration 0003's upgrade)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER tr_sale_lot_sale ON sale")
        op.execute("DROP FUNCTION heitu_lot_sale()")
    else:
        for kind in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER tr_sale_lot_sale_{kind}")
    op.drop_table("lot_sale")
