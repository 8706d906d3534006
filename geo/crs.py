"""Coordinate reference systems: which ones a plot file may declare, and the way to WGS 84.

The registry stores every plot in WGS 84 longitude, latitude (EPSG:4326), see docs/plots.md.
This module is the seam for CRSs: a format reader asks ``geographic_lonlat`` whether the
file's coordinates can be kept as they are, and ``to_wgs84`` moves the others. GCJ-02
("Mars") coordinates are converted only when the file declares them (``gcj02_to_wgs84``).
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
# CGCS2000 3-degree Gauss-Kruger zones: 4513-4533 carry the zone number in the false easting
# (x = 42,500,000 m at CM 126 E), 4534-4554 do not (x = 500,000 m; the CRS names the CM).
GAUSS_KRUGER_CGCS2000 = frozenset(range(4513, 4555))


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


def check_geojson_crs(member: Any) -> CRS | None:
    """Accept the legacy (GeoJSON 2008) ``crs`` member only when it names a WGS 84 or CGCS2000
    longitude-latitude CRS (returns None: keep the coordinates) or a CGCS2000 3-degree
    Gauss-Kruger zone (returns it: reproject). RFC 7946 dropped the member and says
    coordinates are WGS 84; land registries still write GK zones with it."""
    if member is None:
        return None
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
    if geographic_lonlat(crs):
        return None
    if crs.to_epsg() in GAUSS_KRUGER_CGCS2000:
        return crs
    raise CRSNotAccepted(
        f"it declares CRS {name!r} ({crs.name}); a GeoJSON plot file must be WGS 84 "
        "(EPSG:4326, CRS84) or CGCS2000 (EPSG:4490) longitude, latitude, or a CGCS2000 "
        "3-degree Gauss-Kruger zone (EPSG:4513-4554) - reproject it, or deliver other "
        "projected coordinates as a GeoPackage"
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


# --- GCJ-02 ----------------------------------------------------------------------------------

GCJ02_NAMES = frozenset({"gcj-02", "gcj02", "gcj_02", "gcj 02"})


class NotGCJ02(ValueError):
    """Coordinates declared GCJ-02 that GCJ-02 does not cover (outside China)."""


def gcj02_to_wgs84_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 longitude, latitude arrays -> WGS 84, with prcoords' iterative inverse
    (``gcj_wgs_bored``: the forward obfuscation inverted to ~0.1 mm, far below any plot
    boundary's accuracy). GCJ-02 is only defined inside China's box (prcoords'
    ``sanity_in_china_p``); a declared GCJ-02 coordinate outside it is an error, not a guess."""
    import prcoords  # a small pure-Python module, loaded only for GCJ-02 files

    lon_out = np.empty(len(x), dtype=np.float64)
    lat_out = np.empty(len(y), dtype=np.float64)
    convert = prcoords.gcj_wgs_bored
    for i, (lon, lat) in enumerate(
        zip(np.asarray(x).tolist(), np.asarray(y).tolist(), strict=True)
    ):
        point = prcoords.Coords(lat, lon)
        if not prcoords.sanity_in_china_p(point):
            raise NotGCJ02(
                f"the file declares GCJ-02 but has longitude {lon:g}, latitude {lat:g}, "
                "outside China where GCJ-02 is not defined"
            )
        wgs = convert(point, check_china=False)
        lon_out[i] = wgs.lon
        lat_out[i] = wgs.lat
    return lon_out, lat_out


def gcj02_to_wgs84(geometries: np.ndarray) -> np.ndarray:
    """Shapely geometries in GCJ-02 longitude, latitude -> WGS 84 (vertex by vertex)."""
    return shapely.transform(
        geometries, lambda xy: np.column_stack(gcj02_to_wgs84_xy(xy[:, 0], xy[:, 1]))
    )


def wgs84_to_gcj02_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 -> GCJ-02 (prcoords' forward ``wgs_gcj``): tests and checks against Amap data."""
    import prcoords

    pairs = [
        prcoords.wgs_gcj(prcoords.Coords(lat, lon), check_china=False)
        for lon, lat in zip(np.asarray(x).tolist(), np.asarray(y).tolist(), strict=True)
    ]
    return (
        np.fromiter((p.lon for p in pairs), dtype=np.float64, count=len(pairs)),
        np.fromiter((p.lat for p in pairs), dtype=np.float64, count=len(pairs)),
    )
