"""The benchmarks' own machinery at a tiny size. Lineage (300 plots, SQLite): the generated store
has the shape ingest gives a store, and heitu's answers equal the per-hop loops'. Ingest (a
20-plot sample season, SQLite and PostgreSQL): every figure of the section is there and the
counts add up. No timings are checked here; ``make bench`` measures at 200,000 plots (lineage)
and 20,000 plots (ingest)."""

from __future__ import annotations

import json
import os
import random
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench import codes, generate, ingest
from bench.lineage import (
    LATERAL_WALK,
    _flows_from_base,
    _params,
    _rounded,
    _walk_variant,
    per_hop_back,
    per_hop_recall,
    pg_variants,
    pick_county,
    plain_recall_sql,
)
from tests.conftest import _fresh_pg
from traceability import lineage
from traceability.lineage import recall, trace_back
from traceability.pipeline import SOURCES
from traceability.store import open_store, reset_engines

PLOTS = 300


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("bench")
    path, took = generate.sqlite_store(PLOTS, 7, out=out, log=lambda _: None)
    assert took is not None  # built, not taken from a cache
    assert generate.sqlite_store(PLOTS, 7, out=out)[1] is None  # and now cached
    reset_engines()
    eng = open_store(f"sqlite:///{path}")
    raw = sqlite3.connect(path)
    yield eng, raw
    raw.close()
    eng.dispose()
    reset_engines()


def test_generator_is_deterministic_per_county() -> None:
    a = generate.county_rows(generate.counties(PLOTS)[1], 7)
    b = generate.county_rows(generate.counties(PLOTS)[1], 7)
    assert a == b
    assert generate.county_rows(generate.counties(PLOTS)[1], 8) != a


def test_store_is_shaped_like_ingest(store) -> None:  # type: ignore[no-untyped-def]
    _, raw = store
    counts = generate.row_counts(raw)
    assert counts["plot"] == PLOTS and counts["edge"] > PLOTS and counts["sale"] > counts["lot"]
    assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    # every row made by a record points at its event, and the event names the file it came from
    for table in ("party", "product", "plot", "lot", "edge", "shipment", "sale"):
        orphans = raw.execute(
            f"SELECT COUNT(*) FROM {table} AS t LEFT JOIN event AS e "
            "ON e.event_id = t.event_id WHERE e.event_id IS NULL"
        ).fetchone()[0]
        assert orphans == 0, table
    src, rid, step, payload, offset = raw.execute(
        "SELECT source, record_id, step, payload, time_offset_min FROM event "
        "WHERE source = 'processing' AND step = 'blending' LIMIT 1"
    ).fetchone()
    rec = json.loads(payload)
    assert (src, rec["record_id"], rec["step"], offset) == ("processing", rid, step, 480)
    assert len(rec["inputs"]) >= 2 and rec["time"].endswith("+08:00")
    # share = kg / all input kg of the child, so each child's shares add up to 1
    worst = raw.execute(
        "SELECT MAX(ABS(s - 1)) FROM (SELECT SUM(share) AS s FROM edge GROUP BY child_lot)"
    ).fetchone()[0]
    assert worst < 1e-9
    # a lot is made at its event's time; sales only of packed lots (GTIN), after they were made
    assert raw.execute(
        "SELECT COUNT(*) FROM lot JOIN event AS e ON e.event_id = lot.event_id "
        "WHERE e.time <> lot.made_at"
    ).fetchone() == (0,)
    assert raw.execute(
        "SELECT COUNT(*) FROM sale JOIN lot USING (lot_id) "
        "WHERE lot.gtin IS NULL OR lot.gtin <> sale.gtin OR sale.time < lot.made_at"
    ).fetchone() == (0,)
    # lot_flow filled in one pass at the end, as the triggers would have kept it (their sums
    # checked against the base tables by tests/test_lot_flow.py), and the triggers are back
    # for whatever writes to the store later
    sold = "SELECT lot_id, retailer_id, SUM(quantity_units) FROM sale GROUP BY 1, 2"
    kept = "SELECT lot_id, party_id, sold_units FROM lot_flow WHERE sold_units > 0"
    assert sorted(raw.execute(kept)) == sorted(raw.execute(sold)) and counts["lot_flow"] > 0
    lines = "SELECT SUM(kg), COUNT(*) FROM shipment_lot"
    flows = "SELECT SUM(received_kg), SUM(shipped_kg), SUM(records) FROM lot_flow"
    (kg, n), (received, shipped, records) = (raw.execute(q).fetchone() for q in (lines, flows))
    assert abs(received - kg) < 1e-6 * kg and abs(shipped - kg) < 1e-6 * kg
    assert records == 2 * n + raw.execute("SELECT COUNT(*) FROM sale").fetchone()[0]
    # every edge carries its child lot's fields, as migration 0004's triggers keep them
    copies = (
        "SELECT COUNT(*) FROM edge JOIN lot ON lot.lot_id = edge.child_lot "
        "WHERE edge.child_gtin IS NOT lot.gtin OR edge.child_units IS NOT lot.units "
        "OR edge.child_kg IS NOT lot.quantity_kg"
    )
    assert raw.execute(copies).fetchone() == (0,)
    triggers = raw.execute(  # the copies' triggers; audit_log's own two only refuse changes
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name <> 'audit_log'"
    )
    assert triggers.fetchone() == (12,)


def test_trace_back_equals_the_per_hop_loop(store) -> None:  # type: ignore[no-untyped-def]
    eng, raw = store
    packed = [r[0] for r in raw.execute("SELECT lot_id FROM lot WHERE gtin IS NOT NULL")]
    several = 0
    for lot in random.Random(1).sample(packed, 60):
        doc = trace_back(eng, lot, with_events=False)
        expect = per_hop_back(raw.cursor(), "?", lot)
        assert doc["plots"] == sorted(expect)
        assert all(abs(doc["shares"][p] - expect[p]) < 1e-6 for p in expect)
        assert abs(sum(expect.values()) - 1) < 1e-6  # all of a bag's rice came from its plots
        several += len(expect) > 1
    assert several > 20  # blends: most bags have several plots


def test_county_recall_equals_the_per_hop_loop(store) -> None:  # type: ignore[no-untyped-def]
    eng, raw = store
    county = pick_county(PLOTS)
    doc = recall(eng, "county", county.code)
    base = per_hop_recall(raw.cursor(), "?", county.code)
    assert doc["lots"] == base["lots"] and len(doc["packed_lots"]) > 10
    assert doc["totals"]["shipped_kg"] == pytest.approx(base["shipped_kg"])
    assert doc["totals"]["sold_units"] == base["sold_units"]


def test_recall_reads_from_lot_flow_what_the_base_tables_add_up_to(store) -> None:  # type: ignore[no-untyped-def]
    """The generator fills lot_flow in one pass: the recall's rows from it equal the same rows
    summed from shipment_lot, shipment and sale (the SQL the benchmark measures beside it)."""
    eng, _ = store
    county = pick_county(PLOTS).code
    sql = lineage.recall_sql("county", "sqlite")
    with lineage.reading(eng) as reader:
        ours = sorted(_rounded(r) for r in reader.tuples(sql, _params(county)))
        summed = _flows_from_base(sql, "sqlite")
        base = sorted(_rounded(r) for r in reader.tuples(summed, _params(county)))
    assert ours == base
    assert {r[0] for r in ours} == {"lots", "party", "unsold"}


def test_the_planner_variants_swap_the_walk_of_the_shipped_sql() -> None:
    """bench.lineage.pg_variants runs sql/recall.sql with its walk replaced (PostgreSQL only,
    so ``make bench`` alone would find a walk that no longer fits)."""
    plain = plain_recall_sql()
    swapped = _walk_variant(plain, LATERAL_WALK)
    assert swapped.count("descendants(") == 1 and LATERAL_WALK.strip() in swapped
    assert swapped.count("WITH RECURSIVE") == 1 and "flows AS (" in swapped
    assert "json_agg(" in plain and "json_group_array(" not in plain


def test_the_planner_variants_run_on_postgresql(store, pg_database: str) -> None:  # type: ignore[no-untyped-def]
    """``make bench`` runs the county recall's SQL on PostgreSQL in every planner variant: on a
    PostgreSQL copy of the tiny season each one runs and gives the shipped SQL's rows, and
    recall() there gives SQLite's lots."""
    eng, _ = store
    _fresh_pg(pg_database)
    generate.copy_to_postgres(Path(eng.url.database), pg_database, log=lambda _: None)
    county = pick_county(PLOTS).code
    pg = open_store(pg_database)
    variants = pg_variants(pg, county, 1)
    assert [v["key"] for v in variants] == [
        "plain",
        "toggles",
        "lateral",
        "shipped",
        "shipped_nojit",
    ]
    assert all(v["same"] and v["n_rows"] > 1 for v in variants), variants
    ours, theirs = recall(pg, "county", county), recall(eng, "county", county)
    assert ours["lots"] == theirs["lots"] and ours["packed_lots"] == theirs["packed_lots"]
    assert ours["totals"]["sold_units"] == theirs["totals"]["sold_units"] > 0


def test_the_cache_key_names_size_seed_and_schema(tmp_path: Path) -> None:
    a = generate.cache_path(PLOTS, 7, tmp_path)
    assert a != generate.cache_path(PLOTS + 1, 7, tmp_path) != generate.cache_path(PLOTS, 8)
    assert generate.schema_revision() in a.name and f"g{generate.GEN_VERSION}" in a.name


def test_the_ingest_bench_loads_a_tiny_season_into_sqlite_and_postgresql(tmp_path: Path) -> None:
    """``python -m bench --only ingest`` at 20 plots: the bare baselines and our load (first
    and again) on both databases, per folder; the PostgreSQL databases it made are gone."""
    res = ingest.run(20, 7, ("sqlite", "postgresql"), lots=20, out=tmp_path)
    assert res["gen_s"] is not None and ingest.season(20, 7, tmp_path)[1] is None  # cached
    assert set(res["dbs"]) == {"sqlite", "postgresql"}
    for db, r in res["dbs"].items():
        folders = {f["folder"]: f for f in r["folders"]}
        assert list(folders) == [s for s in SOURCES if s in folders], db
        assert {"parties", "plots", "production", "processing", "transport", "sales"} <= set(
            folders
        )
        # the same file rows on both sides; the plots folder's are its 20 features
        assert folders["plots"]["rows"] == 20 and r["rows"] == r["bare_rows"] > 1000, db
        assert r["rows"] == sum(f["rows"] for f in r["folders"])
        assert r["s"] == pytest.approx(sum(f["s"] for f in r["folders"]) + r["retry_s"])
        assert all(f["s"] > 0 and f["again_s"] > 0 for f in r["folders"]), db
        assert r["rate"] > 0 and r["bare_rate"] > 0 and r["again_s"] > 0
        assert r["ratio"] == pytest.approx(r["rate"] / r["bare_rate"])
        assert r["speedup"] == pytest.approx(r["s"] / r["again_s"])
        assert r["rss"] > 10 and r["again_rss"] > 10 and r["bare_rss"] > 10
        # the store floor put every loaded row into an empty store of the same schema
        assert r["floor_s"] > 0 and r["floor_tables"]["event"]["rows"] > 100, db
        assert r["floor_tables"]["reading"]["rows"] > 100, db
    assert res["lots"] == 20 and res["p50"] > 0 and res["export"]["events"] > 0
    assert res["pg_version"].startswith("PostgreSQL")
    engine = create_engine(ingest.PG_ADMIN)
    with engine.connect() as conn:
        left = conn.execute(
            text("SELECT datname FROM pg_database WHERE datname LIKE 'heitu_bench_ingest_%'")
        ).all()
    engine.dispose()
    assert not [n for (n,) in left if n.split("_")[3] == str(os.getpid())]
    text_ = "\n".join(ingest.markdown(res))
    assert ingest.title(res) == "Ingest (20-plot season, SQLite and PostgreSQL)"
    for part in ("SQLite, per landing-zone folder", "PostgreSQL, per landing-zone folder",
                 "bare COPY", "re-ingest", "| **total** |", "Issue 14's targets",
                 "store floor"):  # fmt: skip
        assert part in text_, part


def test_the_codes_bench_draws_decodes_and_compares_at_a_tiny_size() -> None:
    """``python -m bench --only codes`` at 40 codes: every row of its table measured, the
    sample decoded by zbar, the mask table complete; no timing is checked."""
    res = codes.run(40, 7, bare_n=4, decode_n=10, mask_n=3, processes=2)
    for key in ("bare_qrcode", "bare_segno", "qrcode_fixed_mask", "matrix", "heitu_1", "heitu_n"):
        assert res[key]["n"] > 0 and res[key]["rate"] > 0, key
    assert res["heitu_n"]["n"] == 40 and res["processes"] == 2
    assert res["decoded"] == {"n": 10, "ok": 10, "failed": []} and res["same_as_single"]
    assert res["print"]["side_mm"] >= 20 and res["uri_len"] > 80
    assert [r["mask"] for r in res["masks"]["rows"]] == list(range(8))
    assert sum(r["best"] for r in res["masks"]["rows"]) == 3
    assert all(len(u.split("&s=")[-1]) == 14 and "?k=1&s=" in u for u in codes.sample_uris(3, 1))
    text_ = "\n".join(codes.markdown(res))
    for part in ("bare qrcode", "bare segno", "season of 1,000,000", "Decoded with zbar", "| 7 |"):
        assert part in text_, part
