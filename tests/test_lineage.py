"""Trace back and forward on the hand-checked season (tests/season.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from tests.season import GTIN_RICE, write_season
from traceability.errors import NotFound
from traceability.lineage import LineageCycle, trace_back, trace_forward
from traceability.pipeline import ingest_dir
from traceability.store import open_store


@pytest.fixture
def season(inbox: Path, store_url: str):  # type: ignore[no-untyped-def]
    write_season(inbox)
    ingest_dir(inbox, store_url)
    return open_store(store_url)


def test_trace_back_plots_lots_and_shares(season) -> None:  # type: ignore[no-untyped-def]
    doc = trace_back(season, "K1")
    assert doc["lot"] == "K1"
    assert doc["plots"] == ["P1", "P2", "P3"]
    assert doc["lots"] == ["B1", "D1", "D2", "H1", "H2", "H3", "M1", "M3"]
    assert doc["shares"] == {"P1": 0.25, "P2": 0.25, "P3": 0.5}
    steps = [e["step"] for e in doc["events"]]
    assert steps[:2] == ["sowing", "input"] and "shipping" in steps and "selling" not in steps
    assert {e["record_id"] for e in doc["events"]} >= {"PR3", "PR4", "PR5", "X1", "X6", "S1"}
    assert "X7" not in {e["record_id"] for e in doc["events"]}  # K2's packing is not K1's past
    assert doc["events"][0]["time"] == "2026-05-10T08:00:00+08:00"


def test_trace_back_by_code(season) -> None:  # type: ignore[no-untyped-def]
    doc = trace_back(season, f"https://other.example/01/{GTIN_RICE}/10/K2")
    assert doc["lot"] == "K2" and doc["plots"] == ["P1", "P2", "P3"]
    with pytest.raises(NotFound, match="packed as"):
        trace_back(season, "https://id.heitu.cn/01/06901234567809/10/K2")
    with pytest.raises(NotFound, match="not in the store"):
        trace_back(season, "NOPE")


def test_trace_back_harvest_lot_is_its_plot(season) -> None:  # type: ignore[no-untyped-def]
    doc = trace_back(season, "H3")
    assert doc["plots"] == ["P3"] and doc["shares"] == {"P3": 1.0} and doc["lots"] == []


def test_trace_forward_from_plot_and_lot(season) -> None:  # type: ignore[no-untyped-def]
    doc = trace_forward(season, "P3")
    assert doc["lots"] == ["B1", "H3", "K1", "K2", "M3"]
    assert doc["retailers"] == ["R1"]
    doc = trace_forward(season, "M1")
    assert doc["lots"] == ["B1", "K1", "K2", "M1"]
    assert trace_forward(season, "K2")["retailers"] == []


def test_cycle_is_reported(season) -> None:  # type: ignore[no-untyped-def]
    # The contract's ingest cannot make a cycle; a hand edit (or a future import) could.
    with season.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO edge (parent_lot, child_lot, kg, share, event_id) "
                "VALUES ('K1', 'H1', 1, 1.0, 'processing/X1')"
            )
        )
    with pytest.raises(LineageCycle):
        trace_back(season, "K1")
    with pytest.raises(LineageCycle):
        trace_forward(season, "P1")


def test_last_seasons_field_work_is_not_in_this_bags_history(inbox: Path, sqlite_url: str) -> None:
    from tests.season import PRODUCTION, write_csv

    write_season(inbox)
    last_year = [
        PRODUCTION[0],
        [
            "OLD1",
            "F1",
            "P1",
            "input",
            "2025-06-01T08:00:00+08:00",
            "",
            "",
            "旧药",
            "PD1999",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
        [
            "OLD2",
            "F1",
            "P1",
            "harvest",
            "2025-09-20T08:00:00+08:00",
            "",
            "",
            "",
            "",
            "",
            "",
            "H2025",
            "900",
            "",
            "",
        ],
    ]
    write_csv(inbox / "production" / "p2025.csv", last_year)
    ingest_dir(inbox)
    ids = {e["record_id"] for e in trace_back(open_store(), "K1")["events"]}
    assert {"PR1", "PR2", "PR3"} <= ids
    assert not ids & {"OLD1", "OLD2"}
