"""an edge reads its child lot's fields under a share lock, so a lot corrected at the same
moment cannot leave the edge's copy stale (PostgreSQL)

Migration 0004's trigger copied the child lot's GTIN, units and kg into a new edge with a
plain SELECT. On PostgreSQL, a load writing an edge into lot X while another load corrects X
(both uncommitted) each missed the other: the edge's trigger read X's old row, X's trigger
updated the edges it could see, not the new one, and the edge kept X's old units and kg for
good, so a recall counted that lot's units with the wrong kg per unit. ``FOR SHARE`` makes the
edge wait for a correction in flight and then read the corrected row; a correction that comes
second waits for the edge's transaction and then sees, and updates, the new edge. No lock when
the lot is not in the store yet: sql/recall.postgresql.sql looks a lot with NULL copies up.
SQLite needs nothing: its writers take turns.

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

LOCKED = """CREATE OR REPLACE FUNCTION heitu_edge_child() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT gtin, units, quantity_kg INTO NEW.child_gtin, NEW.child_units, NEW.child_kg
    FROM lot WHERE lot.lot_id = NEW.child_lot FOR SHARE;
    RETURN NEW;
END
$$"""


def _unlocked() -> str:
    """Migration 0004's function, as 0004 made it."""
    v0004 = importlib.import_module("traceability.migrations.versions.0004_edge_child")
    made: str = v0004.POSTGRESQL_TRIGGERS[0]
    return made.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LOCKED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_unlocked())
