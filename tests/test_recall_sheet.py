"""The recall spreadsheet (``heitu recall --xlsx/--csv``) on the hand-checked season.

Recall of plot P3: H3 harvested on P3, milled (X4) into M3, blended with M1 (X5) into B1,
packed into K1 (X6, 200 bags) and K2 (X7, 100 bags); S1 took K1 from MILL to R1, which sold
10 (SA1) and 5 (SA2) bags and still holds 185.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.season import GTIN_RICE, PARTIES, PRODUCTION, production_row, write_csv, write_season
from traceability.cli import main
from traceability.issuing import issue_code
from traceability.lineage import recall
from traceability.pipeline import ingest_dir
from traceability.recall_sheet import (
    EVENT_COLUMNS,
    STOCK_COLUMNS,
    sheet_rows,
    write_recall_sheet,
)
from traceability.store import open_store

# fmt: off
SHOWN = ("cte", "step", "lot", "quantity_kg", "units", "party", "ship_from", "ship_to",
         "input_lots", "detail", "reference_number")
P3_EVENTS = [
    ("harvesting", "harvest", "H3", 2000, None, "F2", None, None, None, None, "PR5"),
    ("transformation", "milling", "M3", 1360, None, "MILL", None, None, "H3:2000", None, "X4"),
    ("transformation", "blending", "B1", 2000, None, "MILL", None, None, "M1:1000;M3:1000",
     None, "X5"),
    ("transformation", "packing", "K1", 1000, 200, "MILL", None, None, "B1:1000", None, "X6"),
    ("transformation", "packing", "K2", 500, 100, "MILL", None, None, "B1:500", None, "X7"),
    ("shipping", "shipping", "K1", 1000, 200, "MILL", "MILL", "R1", None, "device DEV1", "S1"),
    ("receiving", "receiving", "K1", 1000, 200, "R1", "MILL", "R1", None, "device DEV1", "S1"),
    ("selling", "selling", "K1", 50, 10, "R1", None, None, None, "store", "SA1"),
    ("selling", "selling", "K1", 25, 5, "R1", None, None, None, "ecommerce", "SA2"),
]
# fmt: on
PRODUCT = "五常大米 5kg / Wuchang rice 5 kg"


def _load(inbox: Path, url: str | None = None) -> Any:
    ingest_dir(inbox, url)
    return open_store(url)


@pytest.fixture
def season(inbox: Path, sqlite_url: str) -> tuple[Any, dict[str, Any], str]:
    """(engine, recall of plot P3, K1's code)."""
    eng = _load(write_season(inbox))
    uri = issue_code(eng, "K1")["uri"]
    return eng, recall(eng, "plot", "P3"), uri


def _shown(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in SHOWN) for r in rows]


def test_event_rows_on_both_stores(inbox: Path, store_url: str) -> None:
    eng = _load(write_season(inbox), store_url)
    events, stock = sheet_rows(eng, recall(eng, "plot", "P3"))
    assert _shown(events) == P3_EVENTS
    harvest = events[0]
    assert harvest["plot"] == "P3" and harvest["county"] == "230184"
    assert harvest["product"] == "rice" and harvest["party_name"] == "Li Family Farm"
    assert harvest["time"] == datetime(2026, 9, 27, 10, 0)
    assert harvest["utc_offset"] == "UTC+08:00"
    assert harvest["time_utc"] == datetime(2026, 9, 27, 2, 0)
    assert (harvest["reference_type"], harvest["source_file"], harvest["line"]) == (
        "production",
        "production/production.csv",
        6,
    )
    ship = events[5]
    assert ship["time"] == datetime(2026, 10, 2, 8, 0) and ship["carrier"] == "CAR"
    assert events[6]["time"] == datetime(2026, 10, 2, 10, 0)  # arrival
    assert ship["gtin"] == GTIN_RICE and ship["product"] == PRODUCT and ship["unit"] == "bag"
    assert events[1]["product"] == "rice (milling)"
    assert stock == [
        {
            "party": "R1",
            "party_name": "哈尔滨超市",
            "role": "retailer",
            "county": "230103",
            "lot": "K1",
            "gtin": GTIN_RICE,
            "product": PRODUCT,
            "code": None,
            "units": 185,
            "unit": "bag",
            "kg": 925,
        }
    ]


def test_xlsx(season: tuple[Any, dict[str, Any], str], tmp_path: Path) -> None:
    eng, doc, uri = season
    path = tmp_path / "out" / "recall.xlsx"
    assert write_recall_sheet(eng, doc, path, "xlsx") == [path]
    wb = load_workbook(path)
    assert wb.sheetnames == ["events", "unsold stock", "about"]

    ws = wb["events"]
    names = [c for c, _ in EVENT_COLUMNS]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == names
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:Z{len(P3_EVENTS) + 1}" and len(names) == 26
    assert all(c.font.b for c in ws[1])
    events = [dict(zip(names, r, strict=True)) for r in rows[1:]]
    assert _shown(events) == P3_EVENTS
    time_cell = ws.cell(row=2, column=names.index("time") + 1)
    assert time_cell.is_date and time_cell.value == datetime(2026, 9, 27, 10, 0)
    assert time_cell.number_format == "yyyy-mm-dd hh:mm:ss"
    assert [e["code"] for e in events if e["lot"] == "K1"] == [uri] * 5
    assert ws.cell(row=2, column=names.index("line") + 1).data_type == "n"
    assert ws.column_dimensions["I"].width > 20  # product names are not squeezed

    ws = wb["unsold stock"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:K2"
    stock = list(ws.iter_rows(values_only=True))
    assert list(stock[0]) == [c for c, _ in STOCK_COLUMNS]
    assert stock[1] == (
        "R1",
        "哈尔滨超市",
        "retailer",
        "230103",
        "K1",
        GTIN_RICE,
        PRODUCT,
        uri,
        185,
        "bag",
        925,
    )

    about = dict(list(wb["about"].iter_rows(values_only=True))[1:])
    assert about["kind"] == "plot"
    assert (about["lots"], about["sold_units"], about["unsold_units"]) == (5, 15, 285)
    assert about["event_rows"] == 9 and about["stock_rows"] == 1
    assert "events.time_utc" in about


def test_csv(season: tuple[Any, dict[str, Any], str], tmp_path: Path) -> None:
    eng, doc, uri = season
    path = tmp_path / "recall.csv"
    assert write_recall_sheet(eng, doc, path, "csv") == [path, tmp_path / "recall_stock.csv"]
    assert path.read_bytes().startswith(b"\xef\xbb\xbfcte,step,time,")
    with path.open(encoding="utf-8-sig", newline="") as f:
        events = list(csv.DictReader(f))
    as_text = [tuple("" if v is None else str(v) for v in row) for row in P3_EVENTS]
    assert [tuple(e[c] for c in SHOWN) for e in events] == as_text
    assert events[0]["time"] == "2026-09-27 10:00:00"
    assert events[0]["time_utc"] == "2026-09-27 02:00:00"
    assert events[3]["code"] == uri and events[3]["gtin"] == GTIN_RICE
    with (tmp_path / "recall_stock.csv").open(encoding="utf-8-sig", newline="") as f:
        assert list(csv.DictReader(f)) == [
            {
                "party": "R1",
                "party_name": "哈尔滨超市",
                "role": "retailer",
                "county": "230103",
                "lot": "K1",
                "gtin": GTIN_RICE,
                "product": PRODUCT,
                "code": uri,
                "units": "185",
                "unit": "bag",
                "kg": "925",
            }
        ]


def test_input_recall_shows_this_seasons_field_work(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    next_year = [
        PRODUCTION[0],
        [
            "PR8",
            "F1",
            "P1",
            "input",
            "2027-06-01T09:00:00+08:00",
            "rice",
            "",
            "吡虫啉",
            "PD20080123",
            "25",
            "g/mu",
            "",
            "",
            "",
            "",
        ],
        production_row(
            record_id="PR9",
            farm_id="F1",
            plot_id="P1",
            event="harvest",
            time="2027-09-25T10:00:00+08:00",
            crop="rice",
            lot_id="H1-2027",
            quantity_kg="900",
        ),
    ]
    write_csv(inbox / "production" / "p2027.csv", next_year)
    eng = _load(inbox)
    events, _ = sheet_rows(eng, recall(eng, "input", "PD20080123"))
    growing = [
        (e["lot"], e["step"], e["plot"], e["detail"], e["reference_number"])
        for e in events
        if e["cte"] == "growing"
    ]
    # 2026 field work goes with H1; the 2027 spraying starts its own recall of H1-2027.
    assert growing == [
        ("H1", "sowing", "P1", "稻花香2号", "PR1"),
        ("H1", "input", "P1", "吡虫啉 PD20080123 30 g/mu", "PR2"),
        ("H1-2027", "input", "P1", "吡虫啉 PD20080123 25 g/mu", "PR8"),
    ]
    events, _ = sheet_rows(eng, recall(eng, "lot", "H1-2027"))
    assert [e["reference_number"] for e in events] == ["PR8", "PR9"]


def test_supplier_text_never_becomes_a_formula(
    inbox: Path, sqlite_url: str, tmp_path: Path
) -> None:
    write_season(inbox)
    parties = [r if r[0] != "R1" else [*r[:2], '=HYPERLINK("x")', *r[3:]] for r in PARTIES]
    write_csv(inbox / "parties" / "parties.csv", parties)
    eng = _load(inbox)
    doc = recall(eng, "lot", "K1")
    (xlsx,) = write_recall_sheet(eng, doc, tmp_path / "r.xlsx", "xlsx")
    cell = load_workbook(xlsx)["unsold stock"]["B2"]
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("x")'
    _, stock = write_recall_sheet(eng, doc, tmp_path / "r.csv", "csv")
    assert "'=HYPERLINK" in stock.read_text(encoding="utf-8-sig")


def test_empty_recall(season: tuple[Any, dict[str, Any], str], tmp_path: Path) -> None:
    eng = season[0]
    nothing = recall(eng, "county", "230184", date_from=datetime(2027, 1, 1, tzinfo=UTC))
    (xlsx,) = write_recall_sheet(eng, nothing, tmp_path / "e.xlsx", "xlsx")
    ws = load_workbook(xlsx)["events"]
    assert ws.max_row == 1 and ws.auto_filter.ref == "A1:Z1"


def test_cli_writes_the_files(
    season: tuple[Any, dict[str, Any], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xlsx, events_csv = tmp_path / "r.xlsx", tmp_path / "r.csv"
    argv = ["recall", "--plot", "P3", "--xlsx", str(xlsx), "--csv", str(events_csv), "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    written = [xlsx, events_csv, tmp_path / "r_stock.csv"]
    assert doc["files"] == [str(p.resolve()) for p in written]
    assert load_workbook(xlsx)["events"].max_row == len(P3_EVENTS) + 1
    assert main(["recall", "--plot", "P3", "--xlsx", str(xlsx)]) == 0
    assert f"wrote {xlsx.resolve()}" in capsys.readouterr().out


def test_progress_reaches_every_row(
    season: tuple[Any, dict[str, Any], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's progress bar is fed by write_recall_sheet: each stage's count climbs to its
    rows (here with a call every 2 rows instead of every 2,000)."""
    import traceability.recall_sheet as rs

    eng, doc, _ = season
    monkeypatch.setattr(rs, "EVERY", 2)
    events, stock = sheet_rows(eng, doc)
    for fmt, written in (("xlsx", "writing events"), ("csv", "writing recall.csv")):
        calls: list[tuple[str, int, int]] = []

        def record(stage: str, done: int, total: int, calls: list = calls) -> None:
            calls.append((stage, done, total))

        write_recall_sheet(eng, doc, tmp_path / f"recall.{fmt}", fmt, record)
        assert calls[0][0].startswith(f"reading the events of {len(doc['lots'])} lots")
        counts = [done for stage, done, total in calls if stage == written]
        assert counts == sorted(counts) and counts[-1] == len(events) > 2 and len(counts) > 2
        assert all(total == len(events) for stage, _, total in calls if stage == written)
        stock_stage = "writing unsold stock" if fmt == "xlsx" else "writing recall_stock.csv"
        assert [c for c in calls if c[0] == stock_stage][-1][1:] == (len(stock), len(stock))
