"""lot_flow: per lot and party, kg received, kg shipped on and units sold, kept by triggers;
it replaces lot_sale

A county recall reaches about 11,000 lots. For each it looked up the lot's shipment lines,
each line's shipment (for its two parties) and the lot's row of lot_sale: three index lookups
per lot, two thirds of the recall's time on PostgreSQL. ``lot_flow`` holds what the recall
needs of all three in one row per lot and party, so a lot costs one lookup, and the stock a
party holds of a lot is one row: (received_kg - shipped_kg) / kg per unit - sold_units.
``records`` counts the shipment lines and till records behind a row; a row whose records drop
to zero is deleted, so the table always equals sql/lot_flow_fill.sql run from scratch.

Triggers on ``sale``, ``shipment_lot`` and ``shipment`` (a change of a shipment's parties)
keep it, so every writer (ingest, EPCIS import, a hand-run SQL fix, the bench generator)
keeps it true without knowing about it. A write moves both parties of a shipment line in one
statement, in party order, so two loads that touch the same rows lock them in the same order.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:50:00
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from traceability.sqlrun import sql_text

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPSERT = """
ON CONFLICT (lot_id, party_id) DO UPDATE SET
    received_kg = lot_flow.received_kg + excluded.received_kg,
    shipped_kg = lot_flow.shipped_kg + excluded.shipped_kg,
    sold_units = lot_flow.sold_units + excluded.sold_units,
    records = lot_flow.records + excluded.records"""
_COLUMNS = "INSERT INTO lot_flow (lot_id, party_id, received_kg, shipped_kg, sold_units, records)"


def _sale(row: str, sign: str) -> str:
    """A till record (OLD or NEW) added to (sign '') or taken from (sign '-') its row."""
    return f"""{_COLUMNS}
VALUES ({row}.lot_id, {row}.retailer_id, 0.0, 0.0, {sign}{row}.quantity_units, {sign}1)
{_UPSERT};"""


def _line(row: str, sign: str) -> str:
    """A shipment line added to / taken from the rows of its shipment's two parties."""
    return f"""{_COLUMNS}
SELECT {row}.lot_id, m.party_id, SUM(m.received_kg), SUM(m.shipped_kg), 0, SUM(m.records)
FROM (
    SELECT to_party AS party_id, {sign}{row}.kg AS received_kg, 0.0 AS shipped_kg,
           {sign}1 AS records
    FROM shipment WHERE shipment_id = {row}.shipment_id
    UNION ALL
    SELECT from_party, 0.0, {sign}{row}.kg, {sign}1
    FROM shipment WHERE shipment_id = {row}.shipment_id
) AS m
WHERE true
GROUP BY m.party_id
ORDER BY m.party_id
{_UPSERT};"""


# A shipment whose parties change (ingest never does it; a hand-run fix may): every line of
# it taken from the old parties' rows and added to the new ones', in one statement.
_PARTIES = f"""{_COLUMNS}
SELECT m.lot_id, m.party_id, SUM(m.received_kg), SUM(m.shipped_kg), 0, SUM(m.records)
FROM (
    SELECT lot_id, OLD.to_party AS party_id, -kg AS received_kg, 0.0 AS shipped_kg,
           -1 AS records
    FROM shipment_lot WHERE shipment_id = OLD.shipment_id
    UNION ALL
    SELECT lot_id, OLD.from_party, 0.0, -kg, -1
    FROM shipment_lot WHERE shipment_id = OLD.shipment_id
    UNION ALL
    SELECT lot_id, NEW.to_party, kg, 0.0, 1 FROM shipment_lot WHERE shipment_id = NEW.shipment_id
    UNION ALL
    SELECT lot_id, NEW.from_party, 0.0, kg, 1 FROM shipment_lot WHERE shipment_id = NEW.shipment_id
) AS m
WHERE true
GROUP BY m.lot_id, m.party_id
ORDER BY m.lot_id, m.party_id
{_UPSERT};
DELETE FROM lot_flow WHERE records <= 0
  AND lot_id IN (SELECT lot_id FROM shipment_lot WHERE shipment_id = NEW.shipment_id);"""


def _tidy(row: str) -> str:
    return f"DELETE FROM lot_flow WHERE lot_id = {row}.lot_id AND records <= 0;"


# The row sources of lot_flow: table, trigger name part, PostgreSQL function, the statement
# that moves one row (OLD or NEW, sign) into lot_flow, and the columns whose update moves it.
_SOURCES = (
    ("sale", "sale_lot_flow", "heitu_lot_flow_sale", _sale,
     "lot_id, retailer_id, quantity_units"),
    ("shipment_lot", "shipment_lot_lot_flow", "heitu_lot_flow_line", _line,
     "shipment_id, lot_id, kg"),
)  # fmt: skip


def _sqlite_triggers() -> list[str]:
    out = []
    for table, tag, _, move, columns in _SOURCES:
        take = f"{move('OLD', '-')}\n{_tidy('OLD')}"
        out += [
            f"CREATE TRIGGER tr_{tag}_insert AFTER INSERT ON {table} BEGIN\n{move('NEW', '')}\nEND",
            f"CREATE TRIGGER tr_{tag}_delete AFTER DELETE ON {table} BEGIN\n{take}\nEND",
            f"CREATE TRIGGER tr_{tag}_update AFTER UPDATE OF {columns} ON {table} BEGIN\n"
            f"{take}\n{move('NEW', '')}\nEND",
        ]
    out.append(
        "CREATE TRIGGER tr_shipment_lot_flow_parties\n"
        f"AFTER UPDATE OF from_party, to_party ON shipment BEGIN\n{_PARTIES}\nEND"
    )
    return out


def _postgresql_triggers() -> list[str]:
    out = []
    for table, tag, function, move, columns in _SOURCES:
        out += [
            f"""CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
{move("OLD", "-")}
{_tidy("OLD")}
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
{move("NEW", "")}
    END IF;
    RETURN NULL;
END
$$""",
            f"CREATE TRIGGER tr_{tag} AFTER INSERT OR DELETE OR UPDATE OF {columns} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        ]
    out += [
        f"""CREATE FUNCTION heitu_lot_flow_parties() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.from_party IS DISTINCT FROM NEW.from_party
       OR OLD.to_party IS DISTINCT FROM NEW.to_party THEN
{_PARTIES}
    END IF;
    RETURN NULL;
END
$$""",
        "CREATE TRIGGER tr_shipment_lot_flow_parties AFTER UPDATE OF from_party, to_party "
        "ON shipment FOR EACH ROW EXECUTE FUNCTION heitu_lot_flow_parties()",
    ]
    return out


SQLITE_TRIGGERS = _sqlite_triggers()
POSTGRESQL_TRIGGERS = _postgresql_triggers()
POSTGRESQL_DROPS = (
    "DROP TRIGGER tr_sale_lot_flow ON sale",
    "DROP TRIGGER tr_shipment_lot_lot_flow ON shipment_lot",
    "DROP TRIGGER tr_shipment_lot_flow_parties ON shipment",
    "DROP FUNCTION heitu_lot_flow_sale()",
    "DROP FUNCTION heitu_lot_flow_line()",
    "DROP FUNCTION heitu_lot_flow_parties()",
)


def _lot_sale() -> object:
    return importlib.import_module("traceability.migrations.versions.0002_recall_at_scale")


def upgrade() -> None:
    _lot_sale().drop_lot_sale()  # type: ignore[attr-defined]
    op.create_table(
        "lot_flow",
        sa.Column("lot_id", sa.String(length=128), nullable=False),
        sa.Column("party_id", sa.String(length=128), nullable=False),
        sa.Column("received_kg", sa.Float(), nullable=False),
        sa.Column("shipped_kg", sa.Float(), nullable=False),
        sa.Column("sold_units", sa.BigInteger(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("lot_id", "party_id", name=op.f("pk_lot_flow")),
        sqlite_with_rowid=False,
    )
    op.execute(sql_text("lot_flow_fill", "default"))
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
    op.drop_table("lot_flow")
    _lot_sale().create_lot_sale()  # type: ignore[attr-defined]
