"""Geo findings over plots (overlap, area_mismatch, outside_county), the Heilongjiang reject,
and `heitu export origin` of a blended lot (docs/plots.md, docs/cli.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geo import geometry_area_m2, read_plots
from geo.checks import PlotRow, area_mismatches, outside_county, overlaps
from tests.season import square, write_season
from traceability.checks import run_checks
from traceability.cli import main
from traceability.pipeline import ingest_dir


def row(plot_id: str, lon: float, lat: float, d: float = 0.002, **kw: object) -> PlotRow:
    geometry = square(lon, lat, d)
    mu = geometry_area_m2(geometry) / 666.67
    return PlotRow(plot_id, geometry, kw.get("declared", mu), mu, str(kw.get("county", "230184")))


def test_overlap_above_one_percent_of_the_smaller_plot() -> None:
    a = row("A", 127.150, 44.930)
    b = row("B", 127.1519, 44.930)  # 5% of A's width overlaps
    c = row("C", 127.1538, 44.930)  # overlaps B by 0.0001 / 0.002 = 5% too
    d = row("D", 127.15579, 44.930)  # overlaps C by 0.5%: below 1%
    findings = overlaps([a, b, c, d])
    pairs = {(f["plot"], f["other_plot"]): f for f in findings}
    assert set(pairs) == {("A", "B"), ("B", "C")}
    ab = pairs[("A", "B")]
    assert ab["kind"] == "overlap" and ab["overlap_pct"] == pytest.approx(5.0, abs=0.05)
    assert ab["overlap_m2"] == pytest.approx(a.area_mu * 666.67 * 0.05, rel=1e-3)


def test_area_mismatch_above_ten_percent() -> None:
    ok = row("OK", 127.15, 44.93)
    plots = [ok._replace(declared_area_mu=ok.area_mu * 1.09), ok._replace(plot_id="BAD")]
    plots[1] = plots[1]._replace(declared_area_mu=ok.area_mu * 1.2)
    [finding] = area_mismatches(plots)
    assert finding["kind"] == "area_mismatch" and finding["plot"] == "BAD"
    assert finding["off_pct"] == pytest.approx(20.0, abs=0.1)


def test_plot_in_liaoning_is_rejected(tmp_path: Path) -> None:
    document = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"plot_id": "210102-1", "farm_id": "F", "county_code": "210102"},
                "geometry": square(123.4, 41.8),
            }
        ],
    }
    path = tmp_path / "shenyang.geojson"
    path.write_text(json.dumps(document), encoding="utf-8")
    [reject] = read_plots(path).rejects
    assert reject["field"] == "county_code" and "not in Heilongjiang" in reject["reason"]


def test_plot_outside_its_declared_county() -> None:
    inside = row("WC", 127.15, 44.93)  # Wuchang town
    harbin = row("HRB", 126.63, 45.75)  # central Harbin, declared as Wuchang
    [finding] = outside_county([inside, harbin])
    assert finding["kind"] == "outside_county" and finding["plot"] == "HRB"
    assert finding["distance_m"] > 10_000
    [unknown] = outside_county([row("X", 127.15, 44.93, county="239999")])
    assert unknown["kind"] == "unknown_county"


def test_season_has_no_plot_findings_and_origin_export_of_a_blend(
    inbox: Path, sqlite_url: str, tmp_path: Path
) -> None:
    write_season(inbox)
    ingest_dir(inbox)
    kinds = {f["kind"] for f in run_checks_geo()}
    assert not kinds & {"overlap", "area_mismatch", "outside_county"}
    out = tmp_path / "k1.geojson"
    assert main(["export", "origin", "K1", "--out", str(out)]) == 0
    features = json.loads(out.read_text(encoding="utf-8"))["features"]
    shares = {f["properties"]["plot_id"]: f["properties"]["share"] for f in features}
    assert shares == {"P1": 0.25, "P2": 0.25, "P3": 0.5}
    for f in features:
        assert f["properties"]["harvest_dates"] and f["properties"]["harvest_date"]
        assert f["properties"]["ProducerCountry"] == "CN"
    read = read_plots(out)
    assert read.rejects == [] and len(read.records) == 3


def run_checks_geo() -> list[dict[str, object]]:
    from traceability.store import open_store

    return run_checks(open_store())["geo"]
