"""PostgreSQL: the triggers that keep lot_flow and the edges' copies of their child lot run
once per INSERT statement over its new rows, instead of once per row

A load writes sales and shipment lines by COPY, tens of thousands in one statement. The row
triggers of migrations 0003 and 0004 ran a PL/pgSQL call and an upsert per row: on the
20,000-plot season they were two thirds of the time PostgreSQL spent on sale, shipment_lot
and lot (bench "store floor"). Statement triggers with a transition table (``REFERENCING NEW
TABLE``) do the same sums in one grouped upsert per statement:

- ``sale``: the new till records, summed per lot and retailer, added to lot_flow;
- ``shipment_lot``: the new lines, joined to their shipment's two parties, summed per lot and
  party, added to lot_flow (in lot and party order, the lock order the row triggers kept),
  the shipments read under a share lock as migration 0005 made the row trigger read them;
- ``lot``: the edges into the new lots get their GTIN, units and kg.

UPDATE and DELETE (a hand-run fix; ingest never does them) keep the row triggers, now for
those events only. The tables hold the same rows as before (``lot_flow`` sums kg in another
order, so a float may differ in its last bit from the row-by-row sum). SQLite has no
statement triggers: its triggers stay as they are.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 19:10:00
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# lot_flow's upsert and column list, as migration 0003's row triggers write them
_LOT_FLOW = importlib.import_module("traceability.migrations.versions.0003_lot_flow")
_UPSERT = _LOT_FLOW._UPSERT
_INTO = _LOT_FLOW._COLUMNS

_SALES = f"""{_INTO}
SELECT lot_id, retailer_id, 0.0, 0.0, SUM(quantity_units), COUNT(*)
FROM new_rows
GROUP BY lot_id, retailer_id
ORDER BY lot_id, retailer_id
{_UPSERT};"""

# The shipments are read under a share lock first, in id order, as the row trigger read each
# line's (migration 0005): a change of their parties in flight is waited for, then seen.
_LINES = f"""PERFORM 1 FROM shipment
WHERE shipment_id IN (SELECT shipment_id FROM new_rows)
ORDER BY shipment_id
FOR SHARE;
{_INTO}
SELECT m.lot_id, m.party_id, SUM(m.received_kg), SUM(m.shipped_kg), 0, SUM(m.records)
FROM (
    SELECT n.lot_id, s.to_party AS party_id, n.kg AS received_kg, 0.0 AS shipped_kg,
           1 AS records
    FROM new_rows AS n JOIN shipment AS s ON s.shipment_id = n.shipment_id
    UNION ALL
    SELECT n.lot_id, s.from_party, 0.0, n.kg, 1
    FROM new_rows AS n JOIN shipment AS s ON s.shipment_id = n.shipment_id
) AS m
GROUP BY m.lot_id, m.party_id
ORDER BY m.lot_id, m.party_id
{_UPSERT};"""

_LOTS = """UPDATE edge
SET child_gtin = n.gtin, child_units = n.units, child_kg = n.quantity_kg
FROM new_rows AS n
WHERE edge.child_lot = n.lot_id;"""

# (table, statement trigger and function name, its body, the row trigger it takes INSERT from,
# the row trigger's function and the events the row trigger keeps)
_MOVES = (
    ("sale", "heitu_lot_flow_sale_insert", _SALES, "tr_sale_lot_flow", "heitu_lot_flow_sale",
     "DELETE OR UPDATE OF lot_id, retailer_id, quantity_units"),
    ("shipment_lot", "heitu_lot_flow_line_insert", _LINES, "tr_shipment_lot_lot_flow",
     "heitu_lot_flow_line", "DELETE OR UPDATE OF shipment_id, lot_id, kg"),
    ("lot", "heitu_lot_edge_child_insert", _LOTS, "tr_lot_edge_child", "heitu_lot_edge_child",
     "DELETE OR UPDATE OF lot_id, gtin, units, quantity_kg"),
)  # fmt: skip


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, body, row_trigger, row_function, kept in _MOVES:
        op.execute(f"DROP TRIGGER {row_trigger} ON {table}")
        op.execute(
            f"CREATE TRIGGER {row_trigger} AFTER {kept} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {row_function}()"
        )
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n{body}\nRETURN NULL;\nEND\n$$"
        )
        op.execute(
            f"CREATE TRIGGER tr_{name.removeprefix('heitu_')} AFTER INSERT ON {table} "
            f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, _, row_trigger, row_function, kept in _MOVES:
        op.execute(f"DROP TRIGGER tr_{name.removeprefix('heitu_')} ON {table}")
        op.execute(f"DROP FUNCTION {name}()")
        op.execute(f"DROP TRIGGER {row_trigger} ON {table}")
        op.execute(
            f"CREATE TRIGGER {row_trigger} AFTER INSERT OR {kept} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {row_function}()"
        )
