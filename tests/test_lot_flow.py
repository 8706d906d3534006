"""lot_flow: per lot and party, kg received, kg shipped on and units sold, kept by triggers
on sale, shipment_lot and shipment (migration 0003, which replaced 0002's lot_sale).

recall reads lot_flow instead of every shipment line, shipment and till record, so it must
equal the sums of those tables after any write, on SQLite and PostgreSQL, and a store migrated
from an older revision must get it filled from what it already holds. The sums here are
made in Python from the base tables, independently of the triggers and of
sql/lot_flow_fill.sql.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from sqlalchemy import Engine, text

from tests.conftest import _fresh_pg
from tests.races import second_waits_for_first
from tests.season import GTIN_RICE, SALES, SHIPMENTS, write_csv, write_season
from traceability.lineage import recall
from traceability.pipeline import ingest_dir
from traceability.store import MIGRATIONS, open_store

KEPT = (
    "SELECT lot_id, party_id, received_kg, shipped_kg, sold_units, records FROM lot_flow "
    "ORDER BY lot_id, party_id"
)


def sums(eng: Engine) -> tuple[list[tuple], list[tuple]]:
    """(what the base tables add up to, what lot_flow holds), kg rounded to 6 places."""
    flow: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0, 0])
    with eng.connect() as conn:
        lines = conn.execute(
            text(
                "SELECT sl.lot_id, s.from_party, s.to_party, sl.kg FROM shipment_lot AS sl "
                "JOIN shipment AS s ON s.shipment_id = sl.shipment_id"
            )
        )
        for lot, sender, receiver, kg in lines:
            flow[lot, receiver][0] += kg
            flow[lot, receiver][3] += 1
            flow[lot, sender][1] += kg
            flow[lot, sender][3] += 1
        for lot, shop, units in conn.execute(
            text("SELECT lot_id, retailer_id, quantity_units FROM sale")
        ):
            flow[lot, shop][2] += units
            flow[lot, shop][3] += 1
        have = [
            (lot, party, round(rk, 6), round(sk, 6), int(su), n)
            for lot, party, rk, sk, su, n in conn.execute(text(KEPT))
        ]
    want = [(*k, round(v[0], 6), round(v[1], 6), v[2], v[3]) for k, v in sorted(flow.items())]
    return want, have


def test_ingest_keeps_lot_flow_equal_to_the_sums(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox, store_url)
    eng = open_store(store_url)
    want, have = sums(eng)
    assert have == want
    assert ("K1", "MILL", 0.0, 1000.0, 0, 1) in have  # shipped on by the mill
    assert ("K1", "R1", 1000.0, 0.0, 15, 3) in have  # received and sold by R1
    # a later delivery of sales adds to the same (lot, retailer) row; a new shipment of the
    # same lot adds to the mill's row and makes one for the new receiver
    write_csv(
        inbox / "sales" / "more.csv",
        [SALES[0], ["SA9", "R1", "2026-11-20T10:00:00+08:00", "K1", GTIN_RICE, "5", "store"]],
    )
    write_csv(
        inbox / "transport" / "shipments-more.csv",
        [SHIPMENTS[0], ["S9", *SHIPMENTS[1][1:4], "R2", *SHIPMENTS[1][5:7], "K1:200"]],
    )
    ingest_dir(inbox, store_url)
    ingest_dir(inbox, store_url)  # a re-run changes nothing
    want, have = sums(eng)
    assert have == want
    assert ("K1", "MILL", 0.0, 1200.0, 0, 2) in have
    assert ("K1", "R1", 1000.0, 0.0, 20, 4) in have
    assert ("K1", "R2", 200.0, 0.0, 0, 1) in have
    r1 = next(p for p in recall(eng, "lot", "K1")["parties"] if p["party"] == "R1")
    assert r1["sold_units"] == 20 and r1["received_kg"] == 1000.0


def test_triggers_follow_updates_and_deletes(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox, store_url)
    eng = open_store(store_url)
    edits = [
        "UPDATE sale SET quantity_units = quantity_units + 7 WHERE record_id = 'SA1'",
        "UPDATE sale SET retailer_id = 'R-OTHER' WHERE record_id = 'SA2'",  # a new row
        "UPDATE shipment_lot SET kg = 900 WHERE shipment_id = 'S1' AND lot_id = 'K1'",
        "UPDATE shipment SET to_party = 'R-OTHER' WHERE shipment_id = 'S1'",  # R1 keeps sales
        "UPDATE shipment SET from_party = 'R-OTHER' WHERE shipment_id = 'S1'",  # to itself
    ]
    for sql in edits:
        with eng.begin() as conn:
            conn.execute(text(sql))
        want, have = sums(eng)
        assert have == want, sql
    assert ("K1", "R-OTHER", 900.0, 900.0, 5, 3) in have
    assert ("K1", "R1", 0.0, 0.0, 17, 1) in have
    with eng.begin() as conn:  # every line and sale gone: no row left behind at zero
        conn.execute(text("DELETE FROM sale"))
        conn.execute(text("DELETE FROM shipment_lot"))
    assert sums(eng) == ([], [])


def test_migration_fills_lot_flow_from_what_the_store_holds(inbox: Path, store_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    write_season(inbox)
    ingest_dir(inbox, store_url)
    eng = open_store(store_url)
    want = sums(eng)[0]
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with eng.begin() as conn:  # back to 0002: lot_sale again, filled from sale
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    with eng.connect() as conn:
        kept = conn.execute(text("SELECT lot_id, retailer_id, units, sales FROM lot_sale"))
        assert sorted(tuple(r) for r in kept) == [("K1", "R1", 15, 2)]
    with eng.begin() as conn:  # and to the store as session 1 left it
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with eng.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    eng = open_store(store_url)  # what every command does: migrate to the head
    assert sums(eng) == (want, want)


def test_two_sales_files_loading_at_once_both_load(home: Path, store_url: str) -> None:
    """Two files whose sales hit the same (lot, retailer) pairs in opposite orders, loaded by
    two processes at once (two DAG runs, or the sales and EPCIS DAGs): both land, and lot_flow
    still equals the sums. (The triggers lock each pair's row; ingest inserts sales sorted by
    pair, so two loads that do overlap wait for each other rather than deadlock. Whether
    these two overlap is up to the scheduler: this test does not force it.)"""
    import os
    import subprocess
    import sys

    from traceability.sample import write_sample

    write_sample(home / "season", plots=40, seed=3)
    ingest_dir(home / "season", store_url)
    eng = open_store(store_url)
    with eng.connect() as conn:
        lots = conn.execute(
            text("SELECT lot_id, gtin FROM lot WHERE gtin IS NOT NULL ORDER BY lot_id")
        ).all()
        shops = (
            conn.execute(
                text("SELECT party_id FROM party WHERE role = 'retailer' ORDER BY party_id")
            )
            .scalars()
            .all()
        )
        before = conn.execute(text("SELECT COUNT(*) FROM sale")).scalar()
    pairs = [(lot, gtin, shop) for lot, gtin in lots for shop in shops]
    assert len(pairs) >= 100
    pairs *= 5  # a few thousand sales per file
    for name, order in (("a", pairs), ("b", pairs[::-1])):
        write_csv(
            home / name / "sales" / f"{name}.csv",
            [SALES[0]]
            + [
                [f"{name}-{i}", shop, "2026-12-20T10:00:00+08:00", lot, gtin, "1", "store"]
                for i, (lot, gtin, shop) in enumerate(order)
            ],
        )
    env = {**os.environ, "HEITU_DB_URL": store_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "traceability.cli", "ingest", str(home / name), "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in ("a", "b")
    ]  # fmt: skip
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in results]
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM sale")).scalar() == before + 2 * len(pairs)
    want, have = sums(eng)
    assert have == want


def test_a_line_written_while_its_shipment_changes_parties_counts_for_the_new_ones(
    inbox: Path, pg_database: str
) -> None:
    """PostgreSQL, two writers at once: a fix moves shipment S1 to another receiver
    (uncommitted) while a load adds a line to S1. The line's trigger reads S1 under a share
    lock (migration 0005), so it waits and counts the line under the new receiver; before,
    it went to the old one, and lot_flow no longer equalled the base tables."""
    _fresh_pg(pg_database)
    write_season(inbox)
    ingest_dir(inbox, pg_database)
    eng = open_store(pg_database)
    assert second_waits_for_first(
        eng,
        "UPDATE shipment SET to_party = 'R-OTHER' WHERE shipment_id = 'S1'",
        "INSERT INTO shipment_lot (shipment_id, lot_id, kg) VALUES ('S1', 'K2', 50)",
    )
    want, have = sums(eng)
    assert have == want
    assert ("K2", "R-OTHER", 50.0, 0.0, 0, 1) in have
