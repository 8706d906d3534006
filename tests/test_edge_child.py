"""edge.child_gtin / child_units / child_kg: each edge's copy of its child lot's fields, kept by
triggers on edge and lot (migration 0004), which the recall's walk reads instead of looking up
every lot it reaches. They must equal the lot's fields after any write, whichever arrives
first, on SQLite and PostgreSQL, and a store migrated from 0003 must get them filled. On
PostgreSQL two loads at once must not leave them wrong: a correction is waited for (migration
0005), and NULL copies an unseen lot left behind are looked up by the recall.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.conftest import _fresh_pg
from tests.races import second_waits_for_first
from tests.season import write_season
from traceability.lineage import recall
from traceability.pipeline import ingest_dir
from traceability.sqlrun import sql_text
from traceability.store import MIGRATIONS, open_store

# Edges whose copy differs from the child lot's row (NULLs when the lot is not in the store)
STALE = """
SELECT e.parent_lot, e.child_lot FROM edge AS e LEFT JOIN lot AS l ON l.lot_id = e.child_lot
WHERE NOT (
    (e.child_gtin = l.gtin OR (e.child_gtin IS NULL AND l.gtin IS NULL))
    AND (e.child_units = l.units OR (e.child_units IS NULL AND l.units IS NULL))
    AND (e.child_kg = l.quantity_kg OR (e.child_kg IS NULL AND l.quantity_kg IS NULL))
)
"""

# A packed lot of 4 bags, 10 kg (:lot, :e), and an edge from :p into it
NEW_LOT = (
    "INSERT INTO lot (lot_id, step, gtin, quantity_kg, units, made_at, made_by, event_id) "
    "VALUES (:lot, 'packing', '06901234567892', 10, 4, '2026-10-05 00:00:00', 'MILL', :e)"
)
NEW_EDGE = (
    "INSERT INTO edge (parent_lot, child_lot, kg, share, event_id) VALUES (:p, :lot, 10, 1, :e)"
)


def stale(eng: Engine) -> list[tuple]:
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text(STALE))]


def copy_of(eng: Engine, child: str) -> set[tuple]:
    with eng.connect() as conn:
        rows = conn.execute(
            text("SELECT child_gtin, child_units, child_kg FROM edge WHERE child_lot = :c"),
            {"c": child},
        )
        return {tuple(r) for r in rows}


def test_ingest_fills_every_edge_from_its_child_lot(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox, store_url)
    eng = open_store(store_url)
    with eng.connect() as conn:
        packed = conn.execute(
            text("SELECT lot_id, gtin, units, quantity_kg FROM lot WHERE gtin IS NOT NULL")
        ).first()
        edges = conn.execute(text("SELECT COUNT(*) FROM edge")).scalar()
    assert edges > 0 and stale(eng) == []
    assert copy_of(eng, packed.lot_id) == {tuple(packed[1:])}


def test_copies_follow_the_lot_whichever_arrives_first(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox, store_url)
    eng = open_store(store_url)
    with eng.begin() as conn:  # an edge to a lot the store does not know yet (EPCIS may)
        parent, event = conn.execute(text("SELECT lot_id, event_id FROM lot LIMIT 1")).one()
        late = {"p": parent, "e": event, "lot": "LATE-1"}
        conn.execute(text(NEW_EDGE), late)
    assert copy_of(eng, "LATE-1") == {(None, None, None)}
    assert "LATE-1" not in recall(eng, "lot", parent)["lots"]  # walked through, not listed
    with eng.begin() as conn:  # the lot arrives
        conn.execute(text(NEW_LOT), late)
    assert copy_of(eng, "LATE-1") == {("06901234567892", 4, 10.0)}
    assert "LATE-1" in recall(eng, "lot", parent)["packed_lots"]
    with eng.begin() as conn:  # corrected
        conn.execute(text("UPDATE lot SET units = 5, quantity_kg = 12.5 WHERE lot_id = 'LATE-1'"))
    assert copy_of(eng, "LATE-1") == {("06901234567892", 5, 12.5)}
    assert stale(eng) == []
    with eng.begin() as conn:  # renamed away: the edge points at no known lot
        conn.execute(text("UPDATE lot SET lot_id = 'LATE-2' WHERE lot_id = 'LATE-1'"))
    assert copy_of(eng, "LATE-1") == {(None, None, None)} and stale(eng) == []
    with eng.begin() as conn:  # and back
        conn.execute(text("UPDATE lot SET lot_id = 'LATE-1' WHERE lot_id = 'LATE-2'"))
    assert copy_of(eng, "LATE-1") == {("06901234567892", 5, 12.5)}
    with eng.begin() as conn:  # and gone
        conn.execute(text("DELETE FROM lot WHERE lot_id = 'LATE-1'"))
    assert copy_of(eng, "LATE-1") == {(None, None, None)} and stale(eng) == []


def test_migration_fills_the_copies(inbox: Path, store_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    write_season(inbox)
    ingest_dir(inbox, store_url)
    eng = open_store(store_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    with eng.connect() as conn:
        columns = conn.execute(text("SELECT * FROM edge LIMIT 1")).keys()
        assert "child_kg" not in columns
    eng = open_store(store_url)  # what every command does: migrate to the head
    assert stale(eng) == []
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM edge WHERE child_kg IS NULL")).scalar() == 0


@pytest.fixture
def pg_season(inbox: Path, pg_database: str) -> tuple[Engine, str, str]:
    """The hand-checked season on the real PostgreSQL: (store, a lot, an event id)."""
    _fresh_pg(pg_database)
    write_season(inbox)
    ingest_dir(inbox, pg_database)
    eng = open_store(pg_database)
    with eng.connect() as conn:
        parent, event = conn.execute(text("SELECT lot_id, event_id FROM lot LIMIT 1")).one()
    return eng, parent, event


def test_recall_lists_a_lot_whose_copies_two_loads_at_once_left_empty(
    pg_season: tuple[Engine, str, str],
) -> None:
    """On PostgreSQL an edge written before its child lot, while the lot's own record commits
    in another transaction, keeps NULL copies: the edge's trigger does not see the lot, the
    lot's trigger does not see the edge, and there is no lot row to wait for. The recall
    (sql/recall.postgresql.sql) looks such a lot up, so it is listed with its units all the
    same. (SQLite's writers take turns: a trigger there always sees what the other writer
    committed.)"""
    eng, parent, event = pg_season
    params = {"p": parent, "e": event, "lot": "RACE-1"}
    assert not second_waits_for_first(eng, NEW_EDGE, NEW_LOT, params)
    assert copy_of(eng, "RACE-1") == {(None, None, None)}  # what the race leaves
    doc = recall(eng, "lot", parent)
    assert "RACE-1" in doc["lots"] and "RACE-1" in doc["packed_lots"]
    with eng.begin() as conn:  # the copies mended: the same answer
        conn.execute(text(sql_text("edge_child_fill", "postgresql")))
    assert stale(eng) == [] and recall(eng, "lot", parent) == doc


def test_a_lot_corrected_while_an_edge_into_it_is_written_leaves_no_stale_copy(
    pg_season: tuple[Engine, str, str],
) -> None:
    """PostgreSQL, two loads at once: one corrects lot X (uncommitted), the other writes an edge
    into X. The edge's trigger reads X under a share lock (migration 0005), so it waits for the
    correction and copies the corrected units and kg, not the row it would have seen before."""
    eng, parent, event = pg_season
    params = {"p": parent, "e": event, "lot": "FIX-1"}
    with eng.begin() as conn:
        conn.execute(text(NEW_LOT), params)
    assert second_waits_for_first(
        eng, "UPDATE lot SET units = 5, quantity_kg = 12.5 WHERE lot_id = :lot", NEW_EDGE, params
    )
    assert copy_of(eng, "FIX-1") == {("06901234567892", 5, 12.5)} and stale(eng) == []
