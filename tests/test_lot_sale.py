"""lot_sale: units sold per lot and retailer, kept by triggers on sale (migration 0002).

recall reads lot_sale instead of summing every till record, so it must equal the sums of
sale after any write, on SQLite and PostgreSQL, and a store migrated from 0001 must get it
filled from the sales it already holds.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from tests.season import GTIN_RICE, SALES, write_csv, write_season
from traceability.lineage import recall
from traceability.pipeline import ingest_dir
from traceability.store import MIGRATIONS, open_store

SUMS = (
    "SELECT lot_id, retailer_id, SUM(quantity_units), COUNT(*) FROM sale "
    "GROUP BY lot_id, retailer_id ORDER BY lot_id, retailer_id"
)
KEPT = "SELECT lot_id, retailer_id, units, sales FROM lot_sale ORDER BY lot_id, retailer_id"


def sums(eng: Engine) -> tuple[list[tuple], list[tuple]]:
    with eng.connect() as conn:
        want = [tuple(r) for r in conn.execute(text(SUMS))]
        have = [tuple(r) for r in conn.execute(text(KEPT))]
    return want, have


def test_ingest_keeps_lot_sale_equal_to_the_sums_of_sale(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox, store_url)
    eng = open_store(store_url)
    want, have = sums(eng)
    assert have == want and len(want) > 0
    # a later delivery of sales adds to the same (lot, retailer) pair
    write_csv(
        inbox / "sales" / "more.csv",
        [SALES[0], ["SA9", "R1", "2026-11-20T10:00:00+08:00", "K1", GTIN_RICE, "5", "store"]],
    )
    before = dict(((lot, r), n) for lot, r, n, _ in have)
    ingest_dir(inbox, store_url)
    ingest_dir(inbox, store_url)  # a re-run changes nothing
    want, have = sums(eng)
    assert have == want
    after = dict(((lot, r), n) for lot, r, n, _ in have)
    assert after[("K1", "R1")] == before[("K1", "R1")] + 5
    r1 = next(p for p in recall(eng, "lot", "K1")["parties"] if p["party"] == "R1")
    assert r1["sold_units"] == after[("K1", "R1")]


def test_triggers_follow_updates_and_deletes(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox, store_url)
    eng = open_store(store_url)
    with eng.begin() as conn:
        first = conn.execute(text("SELECT record_id, lot_id FROM sale ORDER BY record_id")).first()
        conn.execute(
            text("UPDATE sale SET quantity_units = quantity_units + 7 WHERE record_id = :r"),
            {"r": first.record_id},
        )
    assert sums(eng)[0] == sums(eng)[1]
    with eng.begin() as conn:  # moved to another retailer: a new pair
        conn.execute(
            text("UPDATE sale SET retailer_id = 'R-OTHER' WHERE record_id = :r"),
            {"r": first.record_id},
        )
    want, have = sums(eng)
    assert have == want and any(r == "R-OTHER" for _, r, _, _ in have)
    with eng.begin() as conn:  # every sale gone: no pair left behind at zero
        conn.execute(text("DELETE FROM sale"))
    assert sums(eng) == ([], [])


def test_migration_fills_lot_sale_from_existing_sales(inbox: Path, store_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    write_season(inbox)
    ingest_dir(inbox, store_url)
    eng = open_store(store_url)
    want = sums(eng)[0]
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with eng.begin() as conn:  # back to the store as session 1 left it: no lot_sale
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with eng.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    eng = open_store(store_url)  # what every command does: migrate to the head
    assert sums(eng) == (want, want)


def test_two_sales_files_loading_at_once_both_load(home: Path, store_url: str) -> None:
    """Two files whose sales hit the same (lot, retailer) pairs in opposite orders, loaded by
    two processes at once (two DAG runs, or the sales and EPCIS DAGs): both land, and lot_sale
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
