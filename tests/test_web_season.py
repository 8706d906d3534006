"""Every packed lot of a generated season (a seed no other test uses) through the page: the
rules of the page hold for lots nobody wrote by hand, with the sample's deliberate faults
(oversold lots, a mill giving out more than it took in, truck excursions and gaps)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from traceability import Store, pipeline
from traceability.lineage import reading
from traceability.sample import write_sample
from traceability.store import reset_engines
from traceability.web.app import create_app
from traceability.web.chain import STAGES

SEED = 4711


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("web-season")
    url = f"sqlite:///{home / 'heitu.db'}"
    reset_engines()
    inbox = home / "inbox"
    write_sample(inbox, plots=40, seed=SEED)
    pipeline.ingest_dir(inbox, url=url)
    findings = Store.open(url).check().as_dict()
    yield url, inbox, findings
    reset_engines()


@pytest.fixture(scope="module")
def client(season: tuple[str, Path, dict[str, Any]]) -> Iterator[TestClient]:
    with TestClient(create_app(season[0])) as c:
        yield c


def _packed(url: str) -> list[tuple[str, str]]:
    with reading(url) as r:
        rows = r.rows("SELECT lot_id, gtin FROM lot WHERE gtin IS NOT NULL ORDER BY lot_id", {})
    return [(x.lot_id, x.gtin) for x in rows]


def _farm_names(inbox: Path) -> set[str]:
    names = set()
    for path in (inbox / "parties").glob("*.csv"):
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
        for row in csv.DictReader(text.splitlines()):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            if row.get("role") == "farm" and row.get("name"):
                names.add(row["name"])
    return names


def test_every_packed_lot_has_a_page(
    client: TestClient, season: tuple[str, Path, dict[str, Any]]
) -> None:
    url, inbox, findings = season
    packed = _packed(url)
    assert len(packed) >= 10
    farms = _farm_names(inbox)
    assert farms  # the sample's family farms are named after people
    css = len(client.get("/static/heitu.css").content)
    oversold = {f["lot"] for f in findings["mass_balance"] if f["kind"] == "oversold"}
    statuses = set()
    for lot, gtin in packed:
        path = f"/01/{gtin}/10/{lot}"
        hop = client.get(path, follow_redirects=False)
        assert hop.status_code == 307, path
        html = client.get(hop.headers["location"] + "?lang=zh")
        assert html.status_code == 200, path
        assert len(html.content) + css <= 60 * 1024, (path, len(html.content))
        doc = client.get(f"/page{path}.json").json()
        twin = json.dumps(doc, ensure_ascii=False)
        for name in farms:
            assert name not in html.text and name not in twin, (path, name)
        assert set(doc["completeness"]) == set(STAGES)
        v = doc["verdict"]
        statuses.add(v["status"])
        if v["status"] == "traced":
            assert doc["origin"]["plots"] and doc["completeness"]["harvest"]
            assert abs(sum(p["share"] for p in doc["origin"]["plots"]) - 1) < 1e-3
            assert f"{v['plots']} 块地" in html.text
        if lot in oversold:
            assert v["status"] == "warning" and "oversold" in v["warnings"]
        for s in doc["shipments"]:
            cold = s["cold_chain"]
            assert cold["status"] in {
                "in_range", "excursion", "gap", "no_telemetry", "not_required"
            }  # fmt: skip
            if cold["status"] == "excursion":
                assert cold["minutes"] > 30 and cold["peak_c"] is not None
        # the page shows what the twin says about each shipment it lists
        if doc["shipments"]:
            assert '<svg class="temp"' in html.text or not doc["shipments"][0]["readings"]
    assert "traced" in statuses and "warning" in statuses


def test_cold_chain_findings_reach_the_pages_of_what_was_on_the_truck(
    client: TestClient, season: tuple[str, Path, dict[str, Any]]
) -> None:
    url, _, findings = season
    broken = {f["shipment"] for f in findings["cold_chain"] if f["kind"] in ("excursion", "gap")}
    assert broken, "the sample season has trucks that broke the cold chain"
    with reading(url) as r:
        rows = r.rows(
            "SELECT sl.shipment_id, l.lot_id, l.gtin FROM shipment_lot AS sl "
            "JOIN lot AS l ON l.lot_id = sl.lot_id "
            "WHERE l.gtin IS NOT NULL AND sl.shipment_id IN :s",
            {"s": sorted(broken)},
        )
    assert rows
    for row in rows:
        doc = client.get(f"/page/01/{row.gtin}/10/{row.lot_id}.json").json()
        ship = next(s for s in doc["shipments"] if s["shipment"] == row.shipment_id)
        assert ship["cold_chain"]["status"] in ("excursion", "gap")
        assert doc["verdict"]["status"] in ("warning", "recalled")
        assert {"excursion", "gap"} & set(doc["verdict"]["warnings"])
