"""Plot files -> features: property dicts and GeoJSON geometries in WGS 84 longitude, latitude.

This is the seam for formats: each reader turns one kind of file into ``Features`` and the
registry checks every format's features by the same rules. Add a format by adding a reader
to ``READERS``. A file that cannot be read at all raises ``UnreadableFile``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from geo import crs as crs_rules
from geo.geometry import to_geojson_many
from traceability.errors import UnreadableFile
from traceability.readers import decode


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
        crs_rules.check_geojson_crs(document.get("crs"))
    except crs_rules.CRSNotAccepted as exc:
        raise UnreadableFile(path, str(exc)) from None
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
    return Features(properties, geometries)


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
    """GeoPackage or Shapefile: the layer named ``plots``, or the only layer. Coordinates in
    any other CRS on the WGS 84 / CGCS2000 datums are reprojected to WGS 84."""
    import pyogrio  # GDAL is loaded only when a GeoPackage or Shapefile is actually read
    import shapely
    from pyogrio.errors import DataSourceError
    from pyproj.exceptions import ProjError

    try:
        layer = _layer(path, pyogrio.list_layers(path))
        meta, _, wkb, field_data = pyogrio.raw.read(path, layer=layer, datetime_as_string=True)
    except (DataSourceError, OSError, RuntimeError) as exc:
        raise UnreadableFile(path, str(exc)) from None
    if not meta.get("crs"):
        raise UnreadableFile(
            path, "the file declares no CRS (for a Shapefile: the .prj file is missing)"
        )
    try:
        geometries = crs_rules.to_wgs84(shapely.from_wkb(wkb), crs_rules.parse_crs(meta["crs"]))
    except crs_rules.CRSNotAccepted as exc:
        raise UnreadableFile(path, str(exc)) from None
    except shapely.errors.ShapelyError as exc:
        raise UnreadableFile(path, f"a geometry cannot be decoded: {exc}") from None
    except ProjError as exc:
        raise UnreadableFile(path, f"coordinates cannot be moved to WGS 84: {exc}") from None
    names = [str(n) for n in meta["fields"]]
    if path.suffix.lower() == ".shp":
        names = [SHAPEFILE_NAMES.get(n.strip().lower(), n) for n in names]
    columns = [_plain_values(values) for values in field_data]
    properties = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    if not columns:
        properties = [{} for _ in range(len(geometries))]
    return Features(properties, to_geojson_many(geometries))


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
}
