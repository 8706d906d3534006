"""Plot files -> features: property dicts and GeoJSON geometries in WGS 84 longitude, latitude.

This is the seam for formats: each reader turns one kind of file into ``Features`` and the
registry checks every format's features by the same rules. Add a format by adding a reader
to ``READERS``. A file that cannot be read at all raises ``UnreadableFile``.

GCJ-02 is never guessed: a file is converted from it only when it declares it, by a
top-level GeoJSON member ``"coordinate_system": "GCJ-02"`` or a sidecar file
``<name>.gcj02`` beside it (or inside the zip): docs/plots.md.
"""

from __future__ import annotations

import glob
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from geo import crs as crs_rules
from geo.geometry import GeometryProblem, polygon_parts, to_geojson_many
from landing import UnreadableFile, decode


class Features(NamedTuple):
    """Feature n (1-based: the reject's line) is ``properties[n-1]``, ``geometries[n-1]``."""

    properties: list[Any]  # normally dicts; anything else is a per-feature reject
    geometries: list[Any]  # GeoJSON geometry dicts in WGS 84 lon, lat, or None


def read_features(path: Path) -> Features:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFile(
            path,
            f"unsupported file type {path.suffix!r}; plot files are {', '.join(sorted(READERS))}",
        )
    return reader(path)


# --- GeoJSON ---------------------------------------------------------------------------------


def read_geojson(path: Path) -> Features:
    """A GeoJSON FeatureCollection. Geometries are handed on exactly as parsed (Python floats
    round-trip JSON numbers), which is what keeps the stored coordinates lossless."""
    text, _ = decode(path)  # UTF-8 as RFC 7946 says, but also the GB18030 some tools write
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(
            path, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        found = document.get("type") if isinstance(document, dict) else type(document).__name__
        raise UnreadableFile(path, f"expected a GeoJSON FeatureCollection, found {found!r}")
    features = document.get("features")
    if not isinstance(features, list):
        raise UnreadableFile(path, "the FeatureCollection has no 'features' list")
    try:
        projected = crs_rules.check_geojson_crs(document.get("crs"))
    except crs_rules.CRSNotAccepted as exc:
        raise UnreadableFile(path, str(exc)) from None
    gcj02 = declares_gcj02(path, document.get("coordinate_system"))
    properties: list[Any] = []
    geometries: list[Any] = []
    for feature in features:
        if isinstance(feature, dict) and feature.get("type") == "Feature":
            props = feature.get("properties")
            properties.append({} if props is None else props)
            geometries.append(feature.get("geometry"))
        else:
            properties.append(None)  # not a Feature: rejected by the registry, line kept
            geometries.append(None)
    if projected is not None:
        if gcj02:
            raise UnreadableFile(path, _GCJ02_PROJECTED)
        from pyproj import Transformer

        move = Transformer.from_crs(projected, crs_rules.WGS84, always_xy=True).transform
        geometries = _transform_geojson(path, geometries, move)
    elif gcj02:
        geometries = _transform_geojson(path, geometries, crs_rules.gcj02_to_wgs84_xy)
    return Features(properties, geometries)


_GCJ02_PROJECTED = "it declares GCJ-02 and a projected CRS; GCJ-02 is longitude, latitude only"


def declares_gcj02(path: Path, member: Any = None) -> bool:
    """True when the file says its coordinates are GCJ-02: a GeoJSON ``coordinate_system``
    member, or a sidecar ``<name>.gcj02`` (any content) beside it or inside its zip."""
    if member is not None:
        name = str(member).strip().lower()
        if name in crs_rules.GCJ02_NAMES:
            return True
        if name.replace(" ", "") not in ("wgs84", "wgs-84", "epsg:4326", "cgcs2000", "epsg:4490"):
            raise UnreadableFile(
                path,
                f"its coordinate_system {member!r} is not one Heitu reads; use 'GCJ-02' for "
                "coordinates from Chinese web maps, or leave it out for WGS 84 (BD-09 and "
                "other offsets are not accepted)",
            )
    if any(p.exists() for p in (path.with_suffix(".gcj02"), path.with_suffix(".GCJ02"))):
        return True
    if path.suffix.lower() == ".zip":
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                return any(n.lower().endswith(".gcj02") for n in archive.namelist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise UnreadableFile(path, f"not a zip archive: {exc}") from None
    return False


def _transform_geojson(
    path: Path, geometries: list[Any], move: Callable[[Any, Any], tuple[Any, Any]]
) -> list[Any]:
    """Move the vertices of every well-formed Polygon/MultiPolygon with ``move(x, y)`` (all
    at once); malformed geometries are left as they are for the registry to reject."""
    shaped: list[tuple[int, list[list[np.ndarray]]]] = []
    for i, geometry in enumerate(geometries):
        try:
            shaped.append((i, polygon_parts(geometry)))
        except GeometryProblem:
            continue
    rings = [ring for _, parts in shaped for part in parts for ring in part]
    if not rings:
        return geometries
    xy = np.concatenate(rings).astype(np.float64)
    try:
        x, y = move(xy[:, 0], xy[:, 1])
    except crs_rules.NotGCJ02 as exc:
        raise UnreadableFile(path, str(exc)) from None
    moved = np.column_stack([x, y]).tolist()
    out = list(geometries)
    at = 0
    for i, parts in shaped:
        polygons = []
        for part in parts:
            polygon = []
            for ring in part:
                polygon.append(moved[at : at + len(ring)])
                at += len(ring)
            polygons.append(polygon)
        kind = geometries[i]["type"]
        out[i] = {"type": kind, "coordinates": polygons[0] if kind == "Polygon" else polygons}
    return out


# --- GeoPackage and Shapefile, through GDAL (pyogrio) ---------------------------------------

# Shapefile (dBASE) field names stop at 10 characters: GDAL writes the contract's long names
# truncated, so these are read as the names they were cut from.
SHAPEFILE_NAMES = {
    "county_cod": "county_code",
    "declared_a": "declared_area_mu",
    "soil_organ": "soil_organic_matter_pct",
    "black_soil": "black_soil_depth_cm",
}


def read_ogr(path: Path) -> Features:
    """GeoPackage, Shapefile or zipped Shapefile: the layer named ``plots``, or the only
    layer. Coordinates in any other CRS on the WGS 84 / CGCS2000 datums are reprojected to
    WGS 84; declared GCJ-02 longitude, latitude are converted to WGS 84."""
    # GDAL (pyogrio) is loaded only when a GeoPackage or Shapefile is actually read
    import shapely
    from pyogrio.errors import DataSourceError
    from pyproj.exceptions import ProjError

    gcj02 = declares_gcj02(path)
    source, member = _zip_member(path) if path.suffix.lower() == ".zip" else (str(path), None)
    try:
        meta, _, wkb, field_data = _read_layer(path, source, member)
    except (DataSourceError, OSError, RuntimeError) as exc:
        raise UnreadableFile(path, str(exc)) from None
    if not meta.get("crs"):
        raise UnreadableFile(
            path, "the file declares no CRS (for a Shapefile: the .prj file is missing)"
        )
    try:
        crs = crs_rules.parse_crs(meta["crs"])
        geometries = crs_rules.to_wgs84(shapely.from_wkb(wkb), crs)
        if gcj02:
            if not crs_rules.geographic_lonlat(crs):
                raise UnreadableFile(path, _GCJ02_PROJECTED)
            geometries = crs_rules.gcj02_to_wgs84(geometries)
    except (crs_rules.CRSNotAccepted, crs_rules.NotGCJ02) as exc:
        raise UnreadableFile(path, str(exc)) from None
    except shapely.errors.ShapelyError as exc:
        raise UnreadableFile(path, f"a geometry cannot be decoded: {exc}") from None
    except ProjError as exc:
        raise UnreadableFile(path, f"coordinates cannot be moved to WGS 84: {exc}") from None
    names = [str(n) for n in meta["fields"]]
    if path.suffix.lower() in (".shp", ".zip"):
        names = [SHAPEFILE_NAMES.get(n.strip().lower(), n) for n in names]
    columns = [_plain_values(values) for values in field_data]
    properties = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    if not columns:
        properties = [{} for _ in range(len(geometries))]
    return Features(properties, to_geojson_many(geometries))


def _zip_member(path: Path) -> tuple[str, str]:
    """The GDAL path of the Shapefile inside a zip (anywhere in it), and its member name."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            shapefiles = [n for n in archive.namelist() if n.lower().endswith(".shp")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFile(path, f"not a zip archive: {exc}") from None
    if len(shapefiles) > 1:
        shapefiles = [n for n in shapefiles if Path(n).stem.lower() == "plots"] or shapefiles
    if len(shapefiles) != 1:
        found = ", ".join(shapefiles) or "none"
        raise UnreadableFile(
            path, f"expected one Shapefile (.shp) in the zip, or one named plots.shp; found {found}"
        )
    return f"/vsizip/{path.resolve()}/{shapefiles[0]}", shapefiles[0]


def _read_layer(path: Path, source: str, member: str | None) -> tuple[Any, Any, Any, Any]:
    """pyogrio's raw read; a Shapefile's text is decoded as its .cpg (or the code page byte
    of its .dbf) says. Without either GDAL would take ISO-8859-1 and turn GBK into mojibake,
    so the text is tried as strict UTF-8 and, when that fails, as GB18030 (a superset of GBK
    and GB2312, which is what Chinese GIS tools write)."""
    import pyogrio

    layer = _layer(path, pyogrio.list_layers(source))
    if _shapefile_without_code_page(path, member):
        try:
            return pyogrio.raw.read(source, layer=layer, datetime_as_string=True, encoding="UTF-8")
        except UnicodeDecodeError:
            return pyogrio.raw.read(
                source, layer=layer, datetime_as_string=True, encoding="GB18030"
            )
    return pyogrio.raw.read(source, layer=layer, datetime_as_string=True)


def _shapefile_without_code_page(path: Path, member: str | None) -> bool:
    """A Shapefile (loose or zipped) with no .cpg and a zero language-driver byte in its .dbf
    header: nothing says how its text is encoded."""
    suffix = path.suffix.lower()
    if suffix == ".shp":
        siblings = {p.name.lower(): p for p in path.parent.glob(f"{glob.escape(path.stem)}.*")}
        if f"{path.stem.lower()}.cpg" in siblings:
            return False
        dbf = siblings.get(f"{path.stem.lower()}.dbf")
        return dbf is not None and _dbf_code_page(dbf.read_bytes()[:32]) == 0
    if suffix == ".zip" and member is not None:
        import zipfile

        stem = member[: -len(".shp")].lower()
        with zipfile.ZipFile(path) as archive:
            names = {n.lower(): n for n in archive.namelist()}
            if f"{stem}.cpg" in names:
                return False
            dbf = names.get(f"{stem}.dbf")
            if dbf is None:
                return False
            with archive.open(dbf) as f:
                return _dbf_code_page(f.read(32)) == 0
    return False


def _dbf_code_page(header: bytes) -> int:
    """The dBASE language driver id (byte 29); 0 means not set."""
    return header[29] if len(header) > 29 else 0


def _layer(path: Path, layers: np.ndarray) -> str:
    names = [str(row[0]) for row in layers]
    if len(names) == 1:
        return names[0]
    for name in names:
        if name.lower() == "plots":
            return name
    raise UnreadableFile(
        path,
        f"the file has layers {', '.join(names) or '(none)'}; expected one layer, "
        "or one named 'plots'",
    )


def _plain_values(values: np.ndarray) -> list[Any]:
    """Python values of a GDAL column; a null number arrives as NaN and becomes None."""
    items = values.tolist()
    if values.dtype.kind == "f":
        return [None if isinstance(v, float) and math.isnan(v) else v for v in items]
    return items


READERS: dict[str, Callable[[Path], Features]] = {
    ".geojson": read_geojson,
    ".json": read_geojson,
    ".gpkg": read_ogr,
    ".shp": read_ogr,
    ".zip": read_ogr,  # a zipped Shapefile (.shp .shx .dbf .prj [.cpg]), as registries send it
}
