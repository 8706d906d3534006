"""Late, repeated and out-of-order deliveries (docs/ingest.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import text

from tests.season import GTIN_RICE, PRODUCTION, SHIPMENTS, table_counts, write_csv, write_season
from traceability.pipeline import ingest_dir
from traceability.rejects import open_rejects
from traceability.store import open_store


def test_sales_before_processing_wait_then_load(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    held = inbox.parent / "held"
    shutil.move(inbox / "processing", held)  # the mill's file is late
    ingest_dir(inbox)
    waiting = [r for r in open_rejects(open_store()) if r["source"] == "sales"]
    assert {r["record"] for r in waiting} == {"SA1", "SA2"}
    assert all(r["status"] == "waiting" and r["waiting_for"] == "lot K1" for r in waiting)

    shutil.move(held, inbox / "processing")
    for f in ("sales", "transport"):
        shutil.rmtree(inbox / f)  # only the late file arrives this time
    result = ingest_dir(inbox)
    assert result["retried"]["waiting"] == 0
    assert open_rejects(open_store()) == []
    with open_store().connect() as conn:
        sold = conn.execute(text("SELECT SUM(quantity_units) FROM sale")).scalar()
    assert sold == 15


def test_chain_in_reverse_file_order_loads(inbox: Path, sqlite_url: str) -> None:
    """Packing before milling before drying, each in its own file, sorted the wrong way."""
    write_season(inbox)
    rows = (inbox / "processing" / "processing.csv").read_text().splitlines()
    (inbox / "processing" / "processing.csv").unlink()
    for i, row in enumerate(rows[1:]):
        (inbox / "processing" / f"p{9 - i}.csv").write_text(rows[0] + "\n" + row + "\n")
    ingest_dir(inbox)
    assert open_rejects(open_store()) == []
    assert table_counts()["edge"] == 9


def test_reingest_changes_nothing(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    write_csv(
        inbox / "sales" / "zz_bad.csv",
        [
            ["record_id", "retailer_id", "time", "lot_id", "gtin", "quantity_units", "channel"],
            ["SB1", "R1", "2026-10-05T10:00:00+08:00", "K1", GTIN_RICE, "0", "store"],
            ["SB2", "R1", "2026-10-05T10:00:00+08:00", "K404", GTIN_RICE, "1", "store"],
        ],
    )
    ingest_dir(inbox)
    first = table_counts()
    result = ingest_dir(inbox)
    assert table_counts() == first
    assert all(r["loaded"] == 0 for r in result["sources"].values())
    assert result["sources"]["production"]["unchanged"] == 5


def test_same_record_in_two_files_loads_once(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    shutil.copy(inbox / "sales" / "sales.csv", inbox / "sales" / "sales_again.csv")
    result = ingest_dir(inbox)
    assert result["sources"]["sales"]["loaded"] == 2
    assert result["sources"]["sales"]["unchanged"] == 2
    assert table_counts()["sale"] == 2


def test_conflicting_redelivery_is_rejected(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox)
    write_csv(
        inbox / "sales" / "sales_fix.csv",
        [
            ["record_id", "retailer_id", "time", "lot_id", "gtin", "quantity_units", "channel"],
            ["SA1", "R1", "2026-10-03T10:00:00+08:00", "K1", GTIN_RICE, "12", "store"],
        ],
    )
    ingest_dir(inbox)
    [r] = open_rejects(open_store())
    assert r["record"] == "SA1" and r["status"] == "rejected"
    assert "conflicting re-delivery" in r["reason"] and "sales/sales.csv line 2" in r["reason"]
    with open_store().connect() as conn:
        assert (
            conn.execute(text("SELECT quantity_units FROM sale WHERE record_id='SA1'")).scalar()
            == 10
        )


def test_shipment_in_transit_completed_by_later_delivery(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    in_transit = [SHIPMENTS[0], [*SHIPMENTS[1][:6], "", SHIPMENTS[1][7]]]
    write_csv(inbox / "transport" / "shipments.csv", in_transit)
    ingest_dir(inbox)
    with open_store().connect() as conn:
        assert conn.execute(text("SELECT arrived_at FROM shipment")).scalar() is None
    write_csv(inbox / "transport" / "shipments.csv", SHIPMENTS)
    result = ingest_dir(inbox)
    assert result["sources"]["transport"]["files"][0]["loaded"] == 1
    assert open_rejects(open_store()) == []
    with open_store().connect() as conn:
        assert str(conn.execute(text("SELECT arrived_at FROM shipment")).scalar()).startswith(
            "2026-10-02 02:00"
        )


def test_corrected_record_resolves_its_reject(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    header = ["record_id", "retailer_id", "time", "lot_id", "gtin", "quantity_units", "channel"]
    write_csv(
        inbox / "sales" / "zz.csv",
        [header, ["SC", "R1", "2026-10-05", "K1", GTIN_RICE, "-1", "store"]],
    )
    ingest_dir(inbox)
    assert [r["record"] for r in open_rejects(open_store())] == ["SC"]
    write_csv(
        inbox / "sales" / "zz.csv",
        [header, ["SC", "R1", "2026-10-05", "K1", GTIN_RICE, "1", "store"]],
    )
    ingest_dir(inbox)
    assert open_rejects(open_store()) == []


SALES_HEADER = ["record_id", "retailer_id", "time", "lot_id", "gtin", "quantity_units", "channel"]


def test_conflict_stays_open_when_original_is_sent_again(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox)
    write_csv(
        inbox / "sales" / "sales_fix.csv",
        [SALES_HEADER, ["SA1", "R1", "2026-10-03T10:00:00+08:00", "K1", GTIN_RICE, "12", "store"]],
    )
    ingest_dir(inbox)
    (inbox / "sales" / "sales_fix.csv").unlink()
    ingest_dir(inbox)  # sales.csv again: SA1 unchanged, but the conflict was never settled
    assert [r["record"] for r in open_rejects(open_store())] == ["SA1"]


def test_broken_then_fixed_in_one_file(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    write_csv(
        inbox / "sales" / "zz.csv",
        [
            SALES_HEADER,
            ["SD", "R1", "2026-10-05", "K1", GTIN_RICE, "-1", "store"],
            ["SD", "R1", "2026-10-05", "K1", GTIN_RICE, "1", "store"],
        ],
    )
    ingest_dir(inbox)
    assert open_rejects(open_store()) == []
    ingest_dir(inbox)  # delivered again: the settled broken copy does not come back
    assert open_rejects(open_store()) == []


def test_rejected_gtin13_settled_by_its_correction(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    header = ["gtin", "name_zh", "name_en", "category", "storage", "unit"]
    write_csv(
        inbox / "products" / "zz.csv", [header, ["6901234567816", "豆", "", "", "warm", "bag"]]
    )
    ingest_dir(inbox)
    assert [r["record"] for r in open_rejects(open_store())] == ["06901234567816"]
    write_csv(
        inbox / "products" / "zz.csv", [header, ["6901234567816", "豆", "", "", "ambient", "bag"]]
    )
    ingest_dir(inbox)
    assert open_rejects(open_store()) == []


def test_in_transit_copy_arriving_after_the_completed_one(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox)  # S1 arrived
    in_transit = [SHIPMENTS[0], [*SHIPMENTS[1][:6], "", SHIPMENTS[1][7]]]
    write_csv(inbox / "transport" / "shipments_old.csv", in_transit)
    result = ingest_dir(inbox)
    assert open_rejects(open_store()) == []
    assert result["sources"]["transport"]["unchanged"] >= 2
    with open_store().connect() as conn:
        assert conn.execute(text("SELECT arrived_at FROM shipment")).scalar() is not None


def test_overlong_id_is_a_reject_on_both_stores(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    write_csv(
        inbox / "parties" / "zz.csv",
        [["party_id", "role", "name"], ["X" * 200, "farm", "long"], ["OK", "farm", "short"]],
    )
    result = ingest_dir(inbox, store_url)
    assert result["sources"]["parties"]["loaded"] == 7
    [r] = open_rejects(open_store(store_url))
    assert r["field"] == "party_id" and "longer than 128" in r["reason"]


def test_overlong_input_registration_is_a_reject_on_both_stores(
    inbox: Path, store_url: str
) -> None:
    """input_reg_no is kept as an id (the recall by input keys on it): one longer than the
    store's ids is that record's reject, not a database error that stops the whole load."""
    write_season(inbox)
    header = PRODUCTION[0]
    row = dict.fromkeys(header, "")
    row.update(record_id="PR-LONG", farm_id="F1", plot_id="P1", event="input",
               time="2026-06-01T08:00:00+08:00", input_name="除草剂",
               input_reg_no="PD" + "9" * 200)  # fmt: skip
    write_csv(inbox / "production" / "zz.csv", [header, [row[h] for h in header]])
    result = ingest_dir(inbox, store_url)
    assert result["unreadable"] == []
    [r] = open_rejects(open_store(store_url))
    assert r["field"] == "input_reg_no" and "longer than 128" in r["reason"]
    assert r["file"] == "production/zz.csv" and r["line"] == 2
