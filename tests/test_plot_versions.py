"""A plot delivered again with other geometry is a new version: history kept with valid_from,
traces and checks use the version that was valid at the harvest."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from tests.season import plots_geojson, write_season
from traceability.checks import run_checks
from traceability.lineage import trace_back
from traceability.pipeline import ingest_dir
from traceability.rejects import open_rejects
from traceability.store import open_store


def _redraw(inbox: Path, valid_from: str | None) -> None:
    """P1 moved 5 km east (a redrawn registry entry), delivered in a second file."""
    doc = plots_geojson([("P1", "F1", 127.2, 44.93)])
    if valid_from:
        doc["features"][0]["properties"]["valid_from"] = valid_from
    (inbox / "plots" / "redrawn.geojson").write_text(json.dumps(doc))


def _versions() -> list[tuple[int, str]]:
    with open_store().connect() as conn:
        return [
            (r.version, str(r.valid_from)[:10])
            for r in conn.execute(
                text("SELECT version, valid_from FROM plot WHERE plot_id = 'P1' ORDER BY version")
            )
        ]


def test_new_geometry_is_a_new_version_not_a_conflict(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox)
    _redraw(inbox, None)
    result = ingest_dir(inbox)
    assert result["sources"]["plots"]["loaded"] == 1
    assert open_rejects(open_store()) == []
    versions = _versions()
    assert [v for v, _ in versions] == [1, 2] and versions[0][1] == "1900-01-01"
    # Both deliveries again: nothing new (the old file does not make a third version).
    ingest_dir(inbox)
    assert [v for v, _ in _versions()] == [1, 2]
    # The harvest (25 Sep) predates version 2 (valid from when it arrived): the trace and the
    # GPS check use version 1, inside which the harvester reported.
    assert trace_back(open_store(), "K1")["plot_versions"] == {"P1": 1, "P2": 1, "P3": 1}
    assert run_checks(open_store())["geo"] == []


def test_version_valid_before_the_harvest_is_the_one_used(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox)
    _redraw(inbox, "2026-01-01")
    ingest_dir(inbox)
    assert _versions() == [(1, "1900-01-01"), (2, "2025-12-31")]  # 2026-01-01 +08:00 in UTC
    assert trace_back(open_store(), "K1")["plot_versions"]["P1"] == 2
    [finding] = run_checks(open_store())["geo"]
    assert finding["kind"] == "outside_plot" and finding["plot"] == "P1"
    assert finding["plot_version"] == 2 and finding["distance_m"] > 3000


def test_black_soil_attributes_weighted_by_share(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    doc = plots_geojson()
    soil = {
        "P1": (4.0, 40, "straw_return;no_till"),
        "P2": (5.0, 60, ""),
        "P3": (3.0, None, "straw_return"),
    }
    for f in doc["features"]:
        som, depth, practices = soil[f["properties"]["plot_id"]]
        f["properties"].update(
            soil_organic_matter_pct=som, black_soil_depth_cm=depth, practices=practices
        )
    (inbox / "plots" / "wuchang.geojson").write_text(json.dumps(doc))
    ingest_dir(inbox)
    # K1: P1 25 %, P2 25 %, P3 50 %.
    assert trace_back(open_store(), "K1")["soil"] == {
        "soil_organic_matter_pct": 3.75,  # .25 x 4 + .25 x 5 + .5 x 3
        "soil_organic_matter_pct_coverage": 1.0,
        "black_soil_depth_cm": 50.0,  # P3 has no depth: (.25 x 40 + .25 x 60) / .5
        "black_soil_depth_cm_coverage": 0.5,
        "practices": {"no_till": 0.25, "straw_return": 0.75},
    }
