"""edge carries its child lot's GTIN, units and kg (kept by triggers), and an index that
answers the walk from a parent to its children with them

A recall walks from its seed lots down the edges and then needed, for every lot it reached,
the lot's row (GTIN: is it packed; units and kg: kg per unit): one index lookup per lot, a
third of the recall's SQL on PostgreSQL. With the child's three fields on the edge, and an
index on (parent_lot, child_lot, child_gtin, child_units, child_kg), each step of the walk
reads them from the index it already reads. The seed queries return the same three fields
from the lot rows they already read.

The copies are NULL while the child lot is not in the store (an EPCIS transformation may
arrive before the lot's own record). Triggers fill them when the edge is written, when the
lot arrives, and when its GTIN, units or kg change (or it is deleted), so every writer keeps
them true without knowing about them; sql/edge_child_fill.sql fills them in one pass.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from traceability.sqlrun import sql_text

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("child_gtin", "child_units", "child_kg")
WALK_INDEX = ("parent_lot", "child_lot", *COLUMNS)


def _copy_lot(row: str, where: str = "") -> str:
    """Every edge into the lot of ``row`` gets that row's fields: NEW's, or NULLs for OLD (a
    lot deleted or renamed); ``where`` narrows the edges further."""
    values = (
        "child_gtin = NULL, child_units = NULL, child_kg = NULL"
        if row == "OLD"
        else "child_gtin = NEW.gtin, child_units = NEW.units, child_kg = NEW.quantity_kg"
    )
    return f"UPDATE edge SET {values} WHERE child_lot = {row}.lot_id{where};"


_FROM_LOT = """UPDATE edge SET
    child_gtin = (SELECT gtin FROM lot WHERE lot.lot_id = NEW.child_lot),
    child_units = (SELECT units FROM lot WHERE lot.lot_id = NEW.child_lot),
    child_kg = (SELECT quantity_kg FROM lot WHERE lot.lot_id = NEW.child_lot)
WHERE parent_lot = NEW.parent_lot AND child_lot = NEW.child_lot;"""

SQLITE_TRIGGERS = (
    f"CREATE TRIGGER tr_edge_child_insert AFTER INSERT ON edge BEGIN\n{_FROM_LOT}\nEND",
    f"CREATE TRIGGER tr_edge_child_update AFTER UPDATE OF child_lot ON edge BEGIN\n"
    f"{_FROM_LOT}\nEND",
    f"CREATE TRIGGER tr_lot_edge_child_insert AFTER INSERT ON lot BEGIN\n{_copy_lot('NEW')}\nEND",
    "CREATE TRIGGER tr_lot_edge_child_update AFTER UPDATE OF lot_id, gtin, units, quantity_kg "
    f"ON lot BEGIN\n{_copy_lot('OLD', ' AND OLD.lot_id IS NOT NEW.lot_id')}\n"
    f"{_copy_lot('NEW')}\nEND",
    f"CREATE TRIGGER tr_lot_edge_child_delete AFTER DELETE ON lot BEGIN\n{_copy_lot('OLD')}\nEND",
)

POSTGRESQL_TRIGGERS = (
    """CREATE FUNCTION heitu_edge_child() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT gtin, units, quantity_kg INTO NEW.child_gtin, NEW.child_units, NEW.child_kg
    FROM lot WHERE lot.lot_id = NEW.child_lot;
    RETURN NEW;
END
$$""",
    "CREATE TRIGGER tr_edge_child BEFORE INSERT OR UPDATE OF child_lot ON edge "
    "FOR EACH ROW EXECUTE FUNCTION heitu_edge_child()",
    f"""CREATE FUNCTION heitu_lot_edge_child() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        {_copy_lot("OLD")}
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.lot_id IS DISTINCT FROM NEW.lot_id THEN
            {_copy_lot("OLD")}
        END IF;
    END IF;
    {_copy_lot("NEW")}
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER tr_lot_edge_child AFTER INSERT OR DELETE OR UPDATE OF lot_id, gtin, units, "
    "quantity_kg ON lot FOR EACH ROW EXECUTE FUNCTION heitu_lot_edge_child()",
)
POSTGRESQL_DROPS = (
    "DROP TRIGGER tr_edge_child ON edge",
    "DROP TRIGGER tr_lot_edge_child ON lot",
    "DROP FUNCTION heitu_edge_child()",
    "DROP FUNCTION heitu_lot_edge_child()",
)


def upgrade() -> None:
    with op.batch_alter_table("edge", schema=None) as batch_op:
        batch_op.add_column(sa.Column("child_gtin", sa.String(length=14), nullable=True))
        batch_op.add_column(sa.Column("child_units", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("child_kg", sa.Float(), nullable=True))
        batch_op.create_index("ix_edge_walk", list(WALK_INDEX), unique=False)
    op.execute(sql_text("edge_child_fill", "default"))
    postgresql = op.get_bind().dialect.name == "postgresql"
    for sql in POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for sql in POSTGRESQL_DROPS:
            op.execute(sql)
    else:
        for sql in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {sql.split()[2]}")
    with op.batch_alter_table("edge", schema=None) as batch_op:
        batch_op.drop_index("ix_edge_walk")
        for column in reversed(COLUMNS):
            batch_op.drop_column(column)
