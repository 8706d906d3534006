"""Coordinate reference systems: which ones a plot file may declare, and the way to WGS 84.

The registry stores every plot in WGS 84 longitude, latitude (EPSG:4326), see docs/plots.md.
This module is the seam for CRSs: a format reader asks ``geographic_lonlat`` whether the
file's coordinates can be kept as they are, and ``to_wgs84`` moves the others. GCJ-02 and
Gauss-Kruger coordinates without a declared zone (a later issue) belong here too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

# Datums whose coordinates Heitu takes as WGS 84 without a shift. CGCS2000 is fixed at epoch
# 2000.0 and WGS 84 follows the plates, so in Heilongjiang they drift apart ~3 cm a year (under
# 1 m in 2026): below plot-boundary accuracy, so EPSG:4490 is stored as is (docs/plots.md).
# Other Chinese datums (Beijing 1954, Xian 1980) sit tens to 100+ metres away and need local
# parameters PROJ does not have: refusing them is safer than a silent "ballpark"
# transformation that misplaces every plot.
ACCEPTED_DATUMS = frozenset(
    {"World Geodetic System 1984", "World Geodetic System 1984 ensemble", "China 2000"}
)
WGS84 = "EPSG:4326"


class CRSNotAccepted(ValueError):
    """The declared CRS is not one a plot file may use; the message is the cause for the user."""


def parse_crs(text: str) -> CRS:
    """A pyproj CRS from an EPSG code, URN, WKT or PROJ string (``CRS84`` included)."""
    if text.strip().upper() == "CRS84":  # short name some writers use, unknown to PROJ
        text = "OGC:CRS84"
    try:
        return CRS.from_user_input(text)
    except CRSError as exc:
        raise CRSNotAccepted(f"CRS {text[:120]!r} is not a CRS PROJ knows ({exc})") from exc


def _datum_name(crs: CRS) -> str | None:
    geodetic = crs.geodetic_crs
    datum = geodetic.datum if geodetic is not None else None
    return datum.name if datum is not None else None


def geographic_lonlat(crs: CRS) -> bool:
    """True when coordinates in ``crs`` can be stored as they are: 2D degrees on WGS 84 or
    CGCS2000. Axis order is not checked on purpose: GeoJSON, GeoPackage and Shapefile all
    store x = longitude whatever EPSG:4326's formal latitude-first order says."""
    return (
        crs.is_geographic
        and len(crs.axis_info) == 2
        and _datum_name(crs) in ACCEPTED_DATUMS
        and crs.axis_info[0].unit_name.lower().startswith("degree")
    )


def check_geojson_crs(member: Any) -> None:
    """Accept the legacy (GeoJSON 2008) ``crs`` member only when it names a WGS 84 or CGCS2000
    longitude-latitude CRS: RFC 7946 dropped the member and says coordinates are WGS 84."""
    if member is None:
        return
    name: Any = None
    if isinstance(member, dict):
        props = member.get("properties") if isinstance(member.get("properties"), dict) else {}
        if member.get("type") == "name":
            name = props.get("name")
        elif member.get("type") == "EPSG" and props.get("code") is not None:
            name = f"EPSG:{props['code']}"
    if not isinstance(name, str) or not name.strip():
        raise CRSNotAccepted(
            f"its 'crs' member {str(member)[:120]} does not name a CRS; a GeoJSON plot file "
            "should have no 'crs' member (RFC 7946: WGS 84) or name EPSG:4326, CRS84 or EPSG:4490"
        )
    crs = parse_crs(name)
    if not geographic_lonlat(crs):
        raise CRSNotAccepted(
            f"it declares CRS {name!r} ({crs.name}); a GeoJSON plot file must be WGS 84 "
            "(EPSG:4326, CRS84) or CGCS2000 (EPSG:4490) longitude, latitude - reproject it, "
            "or deliver projected coordinates as a GeoPackage"
        )


def check_projectable(crs: CRS) -> None:
    """A projected CRS is moved to WGS 84 only when its datum is WGS 84 or CGCS2000."""
    datum = _datum_name(crs)
    if datum not in ACCEPTED_DATUMS:
        raise CRSNotAccepted(
            f"it declares CRS {crs.name!r} on datum {datum!r}; plots must be on WGS 84 or "
            "CGCS2000 (e.g. EPSG:4326, EPSG:4490, or a CGCS2000 Gauss-Kruger zone such as "
            "EPSG:4530): other datums need a local datum shift (tens to over a hundred "
            "metres) that Heitu does not apply"
        )


def to_wgs84(geometries: np.ndarray, crs: CRS) -> np.ndarray:
    """Shapely geometries in ``crs`` -> the same in WGS 84 longitude, latitude.

    Vertices are transformed, edges stay straight lines between them: at plot scale (edges of
    metres to a few hundred metres) the difference from a curved projected edge is millimetres.
    Points PROJ cannot transform come back as inf and are rejected later as out of range.
    """
    if geographic_lonlat(crs):
        return geometries
    check_projectable(crs)
    transformer = Transformer.from_crs(crs, WGS84, always_xy=True)
    return shapely.transform(geometries, transformer.transform, interleaved=False)
