"""Open data: county aggregates per season and crop, anonymised (traceability/opendata.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from traceability import Store, pipeline
from traceability.cli import main
from traceability.lineage import reading
from traceability.opendata import COLUMNS, MIN_FARMS
from traceability.sample import write_sample
from traceability.web.app import create_app


@pytest.fixture
def published(store_url: str, home: Path) -> dict[str, Any]:
    write_sample(home / "inbox", plots=50, seed=31)
    pipeline.ingest_dir(home / "inbox", url=store_url)
    Store.open(store_url).check()
    done = pipeline.publish_open_data(store_url, home / "open")
    return {"url": store_url, "home": home, "done": done}


def _cells(url: str) -> dict[tuple[str, int, str], dict[str, Any]]:
    """What each cell must hold, recomputed from the store without the module's code."""
    from datetime import timedelta, timezone

    china = timezone(timedelta(hours=8))
    out: dict[tuple[str, int, str], dict[str, Any]] = {}
    with reading(url) as r:
        rows = r.rows(
            "SELECT h.quantity_kg, h.made_at, p.county_code, p.crop, p.farm_id, p.plot_id "
            "FROM lot AS h JOIN plot AS p ON p.plot_id = h.plot_id WHERE h.step = 'harvest'",
            {},
        )
    from datetime import UTC, datetime

    for x in rows:
        made = x.made_at if not isinstance(x.made_at, str) else datetime.fromisoformat(x.made_at)
        year = (made if made.tzinfo else made.replace(tzinfo=UTC)).astimezone(china).year
        c = out.setdefault(
            (x.county_code, year, x.crop), {"farms": set(), "plots": set(), "kg": 0.0}
        )
        c["farms"].add(x.farm_id)
        c["plots"].add(x.plot_id)
        c["kg"] += x.quantity_kg
    return out


def test_cells_are_right_and_small_ones_suppressed(published: dict[str, Any]) -> None:
    home, url = published["home"], published["url"]
    doc = json.loads((home / "open" / "county_season_crop.json").read_text(encoding="utf-8"))
    expected = _cells(url)
    assert {(r["county_code"], r["season"], r["crop"]) for r in doc["rows"]} == set(expected)
    shown = 0
    for row in doc["rows"]:
        cell = expected[(row["county_code"], row["season"], row["crop"])]
        assert row["suppressed"] == (len(cell["farms"]) < MIN_FARMS)
        if row["suppressed"]:
            assert all(row[c] is None for c in COLUMNS[5:]), row
            continue
        shown += 1
        assert row["plots"] == len(cell["plots"])
        assert row["harvest_kg"] == pytest.approx(cell["kg"], abs=0.1)
        assert row["packed_units"] >= row["sold_units"] >= 0 or row["findings"].get("oversold")
    assert shown, "the season should have a county with enough farms to publish"
    assert published["done"]["suppressed"] == sum(r["suppressed"] for r in doc["rows"])


def test_files_name_no_plot_farm_or_lot(published: dict[str, Any]) -> None:
    home, url = published["home"], published["url"]
    text = "".join(p.read_text(encoding="utf-8-sig") for p in (home / "open").glob("*.*"))
    with reading(url) as r:
        ids = [x[0] for x in r.tuples("SELECT plot_id FROM plot", {})]
        ids += [x[0] for x in r.tuples("SELECT lot_id FROM lot", {})]
        ids += [x[0] for x in r.tuples("SELECT party_id FROM party WHERE role = 'farm'", {})]
        ids += [x[0] for x in r.tuples("SELECT name FROM party WHERE role = 'farm'", {})]
    leaked = [i for i in ids if i in text]
    assert not leaked, leaked[:5]


def test_csv_json_and_dictionary_agree(published: dict[str, Any]) -> None:
    folder = published["home"] / "open"
    rows = list(
        csv.DictReader(io.StringIO((folder / "county_season_crop.csv").read_text("utf-8-sig")))
    )
    doc = json.loads((folder / "county_season_crop.json").read_text(encoding="utf-8"))
    dictionary = json.loads((folder / "dictionary.json").read_text(encoding="utf-8"))
    assert list(rows[0]) == [c["name"] for c in dictionary["columns"]] == COLUMNS
    assert len(rows) == len(doc["rows"])
    for a, b in zip(rows, doc["rows"], strict=True):
        assert a["county_code"] == b["county_code"] and int(a["season"]) == b["season"]
        assert a["suppressed"] == str(b["suppressed"])
        if b["findings"] is not None:
            assert json.loads(a["findings"]) == b["findings"]
    assert all(c["zh"] and c["en"] for c in dictionary["columns"])


def test_served_at_open_and_made_by_the_command(
    published: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = published["home"]
    monkeypatch.setenv("HEITU_OPEN_DIR", str(home / "served"))
    assert main(["export", "open", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert Path(done["dir"]) == home / "served" and done["rows"] > 0
    with TestClient(create_app(published["url"])) as client:
        index = client.get("/open/")
        assert index.status_code == 200 and "county_season_crop.csv" in index.text
        assert "suppressed" in index.text  # the dictionary is on the page
        data = client.get("/open/county_season_crop.json")
        assert (
            data.json()["rows"]
            == json.loads(
                (home / "served" / "county_season_crop.json").read_text(encoding="utf-8")
            )["rows"]
        )
        assert client.get("/open/heitu.db").status_code == 404
