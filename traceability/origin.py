"""Where produce comes from, as GeoJSON for EUDR due diligence (``heitu export plots`` and
``heitu export origin``): a county's plots with their latest harvest, and the plots a lot came
from through its lineage, each in the version valid at its harvest, with its share of the lot.

The store and the lineage decide which plots and what is said of them; ``geo.export`` writes
the geometries and checks them by the registry's import rules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, bindparam, text

from geo.export import ExportError, plot_feature, write_features
from traceability.lineage import trace_back

__all__ = ["ExportError", "export_origin", "export_plots"]

CHINA_TIME = ZoneInfo("Asia/Shanghai")
PLOT_COLUMNS = "plot_id, version, farm_id, county_code, township, crop, area_m2, geometry"


def _local_date(value: Any) -> str | None:
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:  # the store keeps naive UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone(CHINA_TIME).date().isoformat()


def export_plots(eng: Engine, county: str, out: Path) -> dict[str, Any]:
    """The newest version of every plot in ``county``, with its latest harvest date."""
    with eng.connect() as conn:
        plots = conn.execute(
            text(
                f"SELECT {PLOT_COLUMNS} FROM plot AS p WHERE p.county_code = :county AND "
                "p.version = (SELECT MAX(q.version) FROM plot AS q WHERE q.plot_id = p.plot_id) "
                "ORDER BY p.plot_id"
            ),
            {"county": county},
        ).all()
        harvested = dict(
            conn.execute(
                text(
                    "SELECT plot_id, MAX(made_at) FROM lot WHERE step = 'harvest' AND plot_id IN "
                    "(SELECT plot_id FROM plot WHERE county_code = :county) GROUP BY plot_id"
                ),
                {"county": county},
            ).all()
        )
    if not plots:
        raise ExportError(f"no plots in county {county}")
    features = [
        plot_feature(p, {"harvest_date": _local_date(harvested.get(p.plot_id))}) for p in plots
    ]
    return {"county": county, **write_features(features, out)}


def export_origin(eng: Engine, lot: str, out: Path) -> dict[str, Any]:
    """The plots a lot (or traceability code) came from, each in the version valid at its
    harvest, with its share of the lot's kg and the dates of the lot's harvests on it."""
    trace = trace_back(eng, lot, with_events=False)
    if not trace["plots"]:
        raise ExportError(f"lot {trace['lot']} has no plots in its lineage")
    versions = trace["plot_versions"]
    stmt = text(
        f"SELECT {PLOT_COLUMNS} FROM plot WHERE plot_id IN :plots ORDER BY plot_id"
    ).bindparams(bindparam("plots", expanding=True))
    dates = text(
        "SELECT plot_id, made_at FROM lot WHERE lot_id IN :lots AND plot_id IS NOT NULL "
        "ORDER BY made_at"
    ).bindparams(bindparam("lots", expanding=True))
    with eng.connect() as conn:
        rows = [
            r
            for r in conn.execute(stmt, {"plots": trace["plots"]})
            if r.version == versions.get(r.plot_id)
        ]
        harvests: dict[str, list[str]] = {}
        for r in conn.execute(dates, {"lots": [trace["lot"], *trace["lots"]]}):
            day = _local_date(r.made_at)
            if day and day not in harvests.setdefault(r.plot_id, []):
                harvests[r.plot_id].append(day)
    features = [
        plot_feature(
            p,
            {
                "harvest_date": (harvests.get(p.plot_id) or [None])[-1],
                "harvest_dates": harvests.get(p.plot_id, []),
                "share": trace["shares"][p.plot_id],
            },
        )
        for p in rows
    ]
    return {"lot": trace["lot"], **write_features(features, out)}
