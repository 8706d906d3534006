"""Recall on the hand-checked season (tests/season.py), identical on SQLite and PostgreSQL.

R1 received K1 (1000 kg = 200 bags of 5 kg) and sold 15; K2 (100 bags) was never shipped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.season import PRODUCTION, production_row, write_csv, write_season
from traceability.errors import NotFound
from traceability.lineage import recall, trace_back
from traceability.pipeline import ingest_dir
from traceability.store import open_store

FROM_P3 = ["B1", "H3", "K1", "K2", "M3"]
FROM_P1 = ["B1", "D1", "H1", "K1", "K2", "M1"]


@pytest.fixture
def season(inbox: Path, store_url: str):  # type: ignore[no-untyped-def]
    write_season(inbox)
    ingest_dir(inbox, store_url)
    return open_store(store_url)


def test_recall_plot_units_per_retailer(season) -> None:  # type: ignore[no-untyped-def]
    doc = recall(season, "plot", "P3")
    assert doc["query"] == {"kind": "plot", "key": "P3", "from": None, "to": None}
    assert doc["lots"] == FROM_P3
    assert doc["packed_lots"] == ["K1", "K2"]
    assert doc["retailers"] == ["R1"]
    r1 = next(p for p in doc["parties"] if p["party"] == "R1")
    assert r1["received_kg"] == 1000 and r1["received_units"] == 200
    assert r1["sold_units"] == 15 and r1["sold_kg"] == 75
    assert r1["unsold_units"] == 185 and r1["unsold_kg"] == 925
    assert doc["unsold"] == [
        {"party": "R1", "lot": "K1", "gtin": "06901234567892", "units": 185.0, "kg": 925.0}
    ]
    mill = next(p for p in doc["parties"] if p["party"] == "MILL")
    assert mill["shipped_on_kg"] == 1000 and mill["unsold_units"] == 0
    assert doc["totals"] == {
        "lots": 5,
        "packed_units": 300,
        "sold_units": 15,
        "unsold_units": 285,
        "shipped_kg": 1000.0,
    }


def test_recall_by_input_registration_number(season) -> None:  # type: ignore[no-untyped-def]
    # PD20080123 was sprayed on P1 on 2026-06-20; the first harvest after it is H1.
    assert recall(season, "input", "PD20080123")["lots"] == FROM_P1
    with pytest.raises(NotFound, match="names input 'PD00000000'"):
        recall(season, "input", "PD00000000")  # not "nothing to recall": no such input here
    june = datetime(2026, 6, 1, tzinfo=UTC)
    assert recall(season, "input", "PD20080123", date_from=june)["lots"] == FROM_P1
    july = datetime(2026, 7, 1, tzinfo=UTC)
    assert recall(season, "input", "PD20080123", date_from=july)["lots"] == []


def test_recall_farm_county_lot_and_window(season) -> None:  # type: ignore[no-untyped-def]
    assert recall(season, "farm", "F2")["lots"] == FROM_P3
    everything = ["B1", "D1", "D2", "H1", "H2", "H3", "K1", "K2", "M1", "M3"]
    assert recall(season, "county", "230184")["lots"] == everything
    # Harvests from 26 Sep (Asia/Shanghai): H2 and H3, not H1 (25 Sep).
    window = recall(
        season, "county", "230184", date_from=datetime.fromisoformat("2026-09-26T00:00:00+08:00")
    )
    assert "H1" not in window["lots"] and {"H2", "H3"} <= set(window["lots"])
    assert recall(season, "lot", "B1")["lots"] == ["B1", "K1", "K2"]
    with pytest.raises(NotFound, match="no plot in county '231283'"):
        recall(season, "county", "231283")
    late = datetime(2027, 1, 1, tzinfo=UTC)  # known county, nothing harvested since: empty
    assert recall(season, "county", "230184", date_from=late)["lots"] == []


def test_input_recall_skips_a_later_season(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    next_year = [
        PRODUCTION[0],
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
    ingest_dir(inbox)
    assert "H1-2027" not in recall(open_store(), "input", "PD20080123")["lots"]


def test_paths_follow_the_largest_share(season) -> None:  # type: ignore[no-untyped-def]
    doc = trace_back(season, "K1")
    assert doc["paths"] == {
        "P1": ["K1", "B1", "M1", "D1", "H1"],
        "P2": ["K1", "B1", "M1", "D2", "H2"],
        "P3": ["K1", "B1", "M3", "H3"],
    }


def test_recall_keeps_any_lot_id_and_lists_in_code_point_order(inbox: Path, store_url: str) -> None:
    """Lot ids are free text: quotes, backslashes and Chinese come back intact from the JSON
    array the SQL makes, and the list is in code-point order (Python's), not the database's
    collation (a linguistic one such as en_US puts "a-..." before "B1")."""
    write_season(inbox)
    odd = ["a-lower", "Z-upper", "稻-五常-1", 'q"uote\\back']
    rows = [PRODUCTION[0]] + [
        production_row(
            record_id=f"PRX{i}",
            farm_id="F1",
            plot_id="P1",
            event="harvest",
            time="2026-09-27T10:00:00+08:00",
            crop="rice",
            lot_id=lot,
            quantity_kg="100",
        )
        for i, lot in enumerate(odd)
    ]
    write_csv(inbox / "production" / "odd_ids.csv", rows)
    ingest_dir(inbox, store_url)
    lots = recall(open_store(store_url), "plot", "P1")["lots"]
    assert lots == sorted(FROM_P1 + odd)
    assert lots.index("Z-upper") < lots.index("a-lower") < lots.index("稻-五常-1")


@pytest.mark.parametrize(
    ("kind", "key", "message"),
    [
        ("plot", "P9", "no plot 'P9'"),
        ("farm", "F9", "no plot of farm 'F9'"),
        ("lot", "K9", "no lot 'K9'"),
    ],
)
def test_recall_of_a_key_not_in_the_store_is_not_an_empty_answer(
    season, kind: str, key: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    """A typing error must not read as "nothing to recall"; a known key with nothing in the
    window is an empty answer."""
    with pytest.raises(NotFound, match=message):
        recall(season, kind, key)
    late = datetime(2027, 1, 1, tzinfo=UTC)
    assert recall(season, kind, {"plot": "P3", "farm": "F2", "lot": "K1"}[kind], late)["lots"] == (
        [] if kind != "lot" else ["K1"]  # the window does not apply to a lot
    )


def test_cli_refuses_what_cannot_be_a_recall(season, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from traceability.cli import main

    assert main(["recall", "--county", "23"]) == 2  # usage: not a county code
    assert "6-digit code" in capsys.readouterr().err
    assert main(["recall", "--plot", "P3", "--from", "2026-10-01", "--to", "2026-09-01"]) == 2
    assert "is not before --to" in capsys.readouterr().err
    assert main(["recall", "--plot", "P9", "--json"]) == 1  # like trace back of an unknown lot
    assert json.loads(capsys.readouterr().out) == {"error": "no plot 'P9' in the store"}
    assert main(["recall", "--plot", "P3", "--from", "2027-01-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lots"] == []
