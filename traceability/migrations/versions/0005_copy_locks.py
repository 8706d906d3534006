"""the triggers that copy a row's fields into another table read that row under a share lock,
so a change made at the same moment cannot leave the copy stale (PostgreSQL)

Two copies are kept by triggers: an edge's copy of its child lot's GTIN, units and kg
(migration 0004), and a shipment line's kg counted under its shipment's two parties in
lot_flow (migration 0003). Each trigger read the other row with a plain SELECT. On PostgreSQL,
a load writing an edge into lot X while another load corrects X (both uncommitted) each missed
the other: the edge's trigger read X's old row, X's trigger updated the edges it could see,
not the new one, and the edge kept X's old units and kg for good (a recall then counted that
lot's units with the wrong kg per unit). A line written while its shipment's parties are
changed went the same way, to the old parties. ``FOR SHARE`` makes the writer of the edge or
line wait for the change in flight and then read the changed row; a change that comes second
waits for the edge or line and then sees, and moves, it. There is no row to lock while the lot
is not in the store yet: sql/recall.postgresql.sql looks a lot with NULL copies up. SQLite
needs nothing: its writers take turns.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:45:00
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOCK_SHIPMENTS = """BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM 1 FROM shipment WHERE shipment_id = OLD.shipment_id FOR SHARE;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM 1 FROM shipment WHERE shipment_id = NEW.shipment_id FOR SHARE;
    END IF;
"""


def _made(version: str, function: str) -> str:
    """The CREATE FUNCTION statement of ``function`` as migration ``version`` made it, as a
    CREATE OR REPLACE."""
    module = importlib.import_module(f"traceability.migrations.versions.{version}")
    (made,) = [
        s for s in module.POSTGRESQL_TRIGGERS if s.startswith(f"CREATE FUNCTION {function}()")
    ]
    return made.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def _functions() -> list[tuple[str, str]]:
    """(as made before, with the lock) for each function this migration changes."""
    edge = _made("0004_edge_child", "heitu_edge_child")
    line = _made("0003_lot_flow", "heitu_lot_flow_line")
    locked_edge = edge.replace(
        "WHERE lot.lot_id = NEW.child_lot;", "WHERE lot.lot_id = NEW.child_lot FOR SHARE;", 1
    )
    locked_line = line.replace("BEGIN\n", _LOCK_SHIPMENTS, 1)
    if locked_edge == edge or locked_line == line:
        raise RuntimeError("the functions of 0003/0004 no longer read as 0005 expects")
    return [(edge, locked_edge), (line, locked_line)]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for _, locked in _functions():
            op.execute(locked)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for made, _ in _functions():
            op.execute(made)
