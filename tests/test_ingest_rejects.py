"""One test per reject rule: the bad record is kept with file, line, field and a plain reason,
and everything else in the file still loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from tests.season import GTIN_CORN, GTIN_RICE, write_csv, write_season
from traceability.pipeline import ingest_dir
from traceability.rejects import open_rejects
from traceability.store import open_store

HEADERS = {
    "parties": ["party_id", "role", "name", "county_code", "gln", "lon", "lat"],
    "products": ["gtin", "name_zh", "name_en", "category", "storage", "unit"],
    "production": [
        "record_id",
        "farm_id",
        "plot_id",
        "event",
        "time",
        "lot_id",
        "quantity_kg",
        "input_name",
        "lon",
        "lat",
    ],
    "processing": [
        "record_id",
        "processor_id",
        "time",
        "step",
        "inputs",
        "output_lot_id",
        "output_gtin",
        "output_quantity_kg",
        "output_units",
    ],
    "transport": [
        "shipment_id",
        "carrier_id",
        "device_id",
        "from_party",
        "to_party",
        "departed_at",
        "arrived_at",
        "lots",
    ],
    "sales": ["record_id", "retailer_id", "time", "lot_id", "gtin", "quantity_units", "channel"],
}
GOOD = {
    "parties": ["NEW", "farm", "新农场", "230184", "", "127.1", "44.9"],
    "products": ["06901234567816", "豆", "Soy", "soybean", "ambient", "bag"],
    "production": ["NEW", "F1", "P1", "sowing", "2026-05-01T08:00:00+08:00", "", "", "", "", ""],
    "processing": [
        "NEW",
        "MILL",
        "2026-10-05T08:00:00+08:00",
        "splitting",
        "K2:100",
        "K9",
        "",
        "100",
        "",
    ],
    "transport": ["NEW", "CAR", "", "MILL", "R2", "2026-10-05T08:00:00+08:00", "", "K2:100"],
    "sales": ["NEW", "R1", "2026-10-05T10:00:00+08:00", "K1", GTIN_RICE, "1", "store"],
}

# (source, {column: bad value}, field named, words in the reason)
RULES = [
    ("parties", {"role": "farmer"}, "role", "is not one of farm, coop"),
    ("parties", {"name": ""}, "name", "name is missing"),
    ("parties", {"county_code": "2301"}, "county_code", "not a 6-digit"),
    ("parties", {"gln": "6901234000005"}, "gln", "check digit"),
    ("parties", {"lon": "44.9", "lat": "127.1"}, "lon", "look swapped"),
    ("parties", {"lon": "2.35", "lat": "48.85"}, "lon", "outside China"),
    ("parties", {"lat": ""}, "lat", "given together"),
    ("products", {"gtin": "06901234567817"}, "gtin", "check digit"),
    ("products", {"gtin": "12345"}, "gtin", "not 8, 12, 13 or 14 digits"),
    ("products", {"storage": "warm"}, "storage", "is not one of ambient"),
    ("products", {"unit": "sack"}, "unit", "is not one of kg"),
    ("products", {"name_zh": "", "name_en": ""}, "name_zh", "needs name_zh or name_en"),
    ("production", {"event": "weeding"}, "event", "is not one of sowing"),
    ("production", {"time": "05/01/2026 8am"}, "time", "not ISO 8601"),
    ("production", {"time": ""}, "time", "time is missing"),
    (
        "production",
        {"event": "harvest", "lot_id": "H9", "quantity_kg": "-5"},
        "quantity_kg",
        "must not be negative",
    ),
    (
        "production",
        {"event": "harvest", "lot_id": "H9", "quantity_kg": "0"},
        "quantity_kg",
        "greater than 0",
    ),
    (
        "production",
        {"event": "harvest", "lot_id": "H9", "quantity_kg": "abc"},
        "quantity_kg",
        "not a number",
    ),
    ("production", {"event": "harvest", "quantity_kg": "100"}, "lot_id", "lot_id is missing"),
    (
        "production",
        {"event": "harvest", "lot_id": "H1", "quantity_kg": "100"},
        "lot_id",
        "already made by production/PR3",
    ),
    ("production", {"farm_id": "F2"}, "farm_id", "plot P1 is farmed by F1, not F2"),
    ("production", {"event": "input"}, "input_name", "input_name is missing"),
    ("processing", {"step": "roasting"}, "step", "is not one of drying"),
    ("processing", {"inputs": "K2-100"}, "inputs", "is not lot_id:kg"),
    ("processing", {"inputs": "K2:-100"}, "inputs", "greater than 0"),
    ("processing", {"inputs": "K2:50;K2:50"}, "inputs", "more than once"),
    ("processing", {"output_lot_id": "K1"}, "output_lot_id", "already made by processing/X6"),
    ("processing", {"output_lot_id": "K2"}, "output_lot_id", "also one of the inputs"),
    ("processing", {"time": "2026-09-01T08:00:00+08:00"}, "inputs", "before it was made"),
    ("processing", {"output_gtin": "06901234567810"}, "output_gtin", "check digit"),
    ("processing", {"output_units": "2.5"}, "output_units", "not a whole number"),
    ("transport", {"arrived_at": "2026-10-04T08:00:00+08:00"}, "arrived_at", "before departed_at"),
    ("transport", {"lots": "K2"}, "lots", "is not lot_id:kg"),
    ("transport", {"departed_at": "2026-09-01T08:00:00+08:00"}, "lots", "before it was made"),
    ("sales", {"quantity_units": "0"}, "quantity_units", "greater than 0"),
    ("sales", {"quantity_units": "1.5"}, "quantity_units", "not a whole number"),
    ("sales", {"gtin": GTIN_CORN}, "gtin", f"packed as GTIN {GTIN_RICE}"),
    ("sales", {"retailer_id": "MILL"}, "retailer_id", "is a processor, not a retailer"),
    ("sales", {"time": "2026-09-01T08:00:00+08:00"}, "time", "before it was made"),
    ("sales", {"channel": "door-to-door"}, "channel", "is not one of store"),
]


def _bad_file(inbox: Path, source: str, changes: dict[str, str]) -> Path:
    header = HEADERS[source]
    bad = dict(zip(header, GOOD[source], strict=True))
    for key in ("record_id", "party_id", "shipment_id"):
        if key in bad:
            bad[key] = "BAD"
    if source == "products":
        bad["gtin"] = "06901234567830"
    bad.update(changes)
    bad_row = [bad[c] for c in header]
    good_row = list(GOOD[source])
    # Named to sort after the season's own files, which load first.
    name = "shipments_zz_extra.csv" if source == "transport" else "zz_extra.csv"
    # The bad record sits between two good ones: both of those must load.
    good_row2 = [
        v + "2" if c in ("record_id", "party_id", "shipment_id") else v
        for c, v in zip(header, good_row, strict=True)
    ]
    if source == "products":
        good_row2[0] = "06901234567823"
    if source == "processing":
        good_row2[5] = "K8"
    return write_csv(inbox / source / name, [header, good_row, bad_row, good_row2])


@pytest.mark.parametrize(("source", "changes", "field", "words"), RULES)
def test_reject_rule(
    inbox: Path, sqlite_url: str, source: str, changes: dict[str, str], field: str, words: str
) -> None:
    write_season(inbox)
    _bad_file(inbox, source, changes)
    result = ingest_dir(inbox)
    folder = result["sources"][source]
    extra = next(f for f in folder["files"] if "extra" in f["file"])
    assert extra["rejected"] == 1, open_rejects(open_store())
    assert extra["loaded"] == 2  # the good records on lines 2 and 4 still load
    rejects = [r for r in open_rejects(open_store()) if "extra" in r["file"]]
    assert len(rejects) == 1
    r = rejects[0]
    assert r["line"] == 3
    assert r["field"] == field
    assert words in r["reason"]
    assert r["status"] == "rejected"
    assert r["file"].startswith(f"{source}/")


def test_row_with_wrong_number_of_cells(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    path = inbox / "sales" / "zz_extra.csv"
    path.write_text(
        "record_id,retailer_id,time,lot_id,gtin,quantity_units,channel\n"
        f"A,R1,2026-10-05T10:00:00+08:00,K1,{GTIN_RICE},1,store,surplus\n"
    )
    ingest_dir(inbox)
    [r] = [r for r in open_rejects(open_store()) if r["file"] == "sales/zz_extra.csv"]
    assert r["line"] == 2 and "8 cells, the header has 7" in r["reason"]


def test_rejects_are_not_duplicated_by_reingest(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    _bad_file(inbox, "sales", {"quantity_units": "0"})
    ingest_dir(inbox)
    ingest_dir(inbox)
    eng = open_store()
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM reject")).scalar() == 1


@pytest.mark.parametrize(
    ("source", "changes", "waiting"),
    [
        ("production", {"plot_id": "P404"}, "plot P404"),
        ("production", {"farm_id": "F404"}, "party F404"),
        ("processing", {"inputs": "NOPE:100"}, "lot NOPE"),
        ("processing", {"output_gtin": "06901234567816"}, "product 06901234567816"),
        ("sales", {"lot_id": "K404"}, "lot K404"),
        ("transport", {"to_party": "R404"}, "party R404"),
    ],
)
def test_unknown_key_parks_record(
    inbox: Path, sqlite_url: str, source: str, changes: dict[str, str], waiting: str
) -> None:
    write_season(inbox)
    _bad_file(inbox, source, changes)
    ingest_dir(inbox)
    [r] = [r for r in open_rejects(open_store()) if "extra" in r["file"]]
    assert r["status"] == "waiting"
    assert waiting in r["waiting_for"]
    assert r["line"] == 3
