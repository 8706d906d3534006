"""Plot polygons: GeoJSON structure, geodesic area, validity and repair, in batches.

Coordinates are WGS 84 longitude, latitude throughout. Areas are geodesic on the WGS 84
ellipsoid (pyproj.Geod, Karney's algorithm), never from degrees: a degree of longitude is
81 km at 43 N and 67 km at 53 N, so no one factor converts.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
M2_PER_MU = 666.67  # the contract's mu (1 mu = 10000/15 m2, rounded as partners use it)
REPAIR_AREA_TOLERANCE = 0.05  # a repair may change the drawn area by at most 5%

# A polygon as its rings (exterior first), each an (n, 2) float array of lon, lat.
Rings = list[np.ndarray]


class GeometryProblem(ValueError):
    """A geometry that cannot be a plot; the message is the reject reason."""


def polygon_parts(geometry: Any) -> list[Rings]:
    """The polygons of a GeoJSON Polygon or MultiPolygon, checked for shape.

    Z (and further) ordinates are dropped here, not in the stored geometry: areas and validity
    are 2D. Raises GeometryProblem naming the first thing that is not as GeoJSON requires.
    """
    if geometry is None:
        raise GeometryProblem("geometry is missing; a plot needs a Polygon or MultiPolygon")
    if not isinstance(geometry, dict):
        raise GeometryProblem("geometry is not a GeoJSON geometry object")
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "Polygon":
        polygons = [coordinates]
    elif kind == "MultiPolygon":
        if not isinstance(coordinates, list):
            raise GeometryProblem("MultiPolygon coordinates are not a list of polygons")
        polygons = coordinates
    else:
        raise GeometryProblem(f"geometry is a {kind}; a plot must be a Polygon or MultiPolygon")
    if not polygons:
        raise GeometryProblem(f"{kind} is empty; a plot needs at least one ring")
    return [_polygon(rings, n, kind) for n, rings in enumerate(polygons, start=1)]


def _polygon(rings: Any, n: int, kind: str) -> Rings:
    where = "the polygon" if kind == "Polygon" else f"polygon {n}"
    if not isinstance(rings, list) or not rings:
        raise GeometryProblem(f"{where} has no rings; expected a list of linear rings")
    return [_ring(ring, f"ring {i} of {where}") for i, ring in enumerate(rings, start=1)]


def _ring(ring: Any, where: str) -> np.ndarray:
    try:
        # No dtype here on purpose: strings like "126.5" must not pass as coordinates.
        array = np.asarray(ring)
    except ValueError:  # ragged: positions of different lengths
        array = None
    if array is None or array.ndim != 2 or array.shape[1] < 2 or array.dtype.kind not in "iuf":
        raise GeometryProblem(f"{where} is not a list of [longitude, latitude] number pairs")
    if len(array) < 4:
        raise GeometryProblem(f"{where} has {len(array)} positions; a closed ring needs at least 4")
    if array[0, 0] != array[-1, 0] or array[0, 1] != array[-1, 1]:
        raise GeometryProblem(f"{where} is not closed (its first and last positions differ)")
    return array if array.shape[1] == 2 else array[:, :2]  # batch() makes it float64


@dataclass(frozen=True)
class Batch:
    """Many plot geometries as flat arrays, the layout shapely's ragged-array API takes.

    ``ring_offsets`` index ``coords``, ``part_offsets`` index rings, ``geom_offsets`` index
    parts (polygons); ``is_hole`` marks the rings that are not a polygon's first.
    """

    coords: np.ndarray
    ring_offsets: np.ndarray
    part_offsets: np.ndarray
    geom_offsets: np.ndarray
    is_hole: np.ndarray

    def __len__(self) -> int:
        return len(self.geom_offsets) - 1


def batch(geometries: Sequence[list[Rings]]) -> Batch:
    rings: list[np.ndarray] = []
    rings_per_part: list[int] = []
    parts_per_geom: list[int] = []
    for parts in geometries:
        parts_per_geom.append(len(parts))
        for part in parts:
            rings_per_part.append(len(part))
            rings.extend(part)
    ring_lengths = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    is_hole = np.ones(len(rings), dtype=bool)
    part_offsets = _offsets(rings_per_part)
    is_hole[part_offsets[:-1]] = False
    return Batch(
        coords=np.concatenate(rings, dtype=np.float64) if rings else np.empty((0, 2)),
        ring_offsets=_offsets(ring_lengths),
        part_offsets=part_offsets,
        geom_offsets=_offsets(parts_per_geom),
        is_hole=is_hole,
    )


def _offsets(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def shapes(b: Batch) -> np.ndarray:
    """Every geometry as a shapely MultiPolygon (a Polygon is a one-part MultiPolygon: same
    validity rules, one vectorised constructor for all)."""
    return shapely.from_ragged_array(
        shapely.GeometryType.MULTIPOLYGON,
        b.coords,
        (b.ring_offsets, b.part_offsets, b.geom_offsets),
    )


def bounds(b: Batch) -> np.ndarray:
    """(n, 4) min_lon, min_lat, max_lon, max_lat per geometry; NaN coordinates propagate."""
    starts = b.ring_offsets[b.part_offsets[b.geom_offsets[:-1]]]
    low = np.minimum.reduceat(b.coords, starts, axis=0)
    high = np.maximum.reduceat(b.coords, starts, axis=0)
    return np.hstack([low, high])


def ring_areas(b: Batch) -> np.ndarray:
    """Absolute geodesic area of every ring, m2.

    One pyproj call per ring: there is no batched polygon-area call, and this loop measured
    ~8 us a ring, under a second for 100,000 plots.
    """
    x = np.ascontiguousarray(b.coords[:, 0])
    y = np.ascontiguousarray(b.coords[:, 1])
    area = GEOD.polygon_area_perimeter
    edges = b.ring_offsets.tolist()
    return np.abs(
        np.fromiter(
            (area(x[i:j], y[i:j])[0] for i, j in itertools.pairwise(edges)),
            dtype=np.float64,
            count=len(edges) - 1,
        )
    )


def areas(b: Batch) -> np.ndarray:
    """Geodesic area of every geometry, m2: exteriors minus holes.

    Ring orientation is ignored on purpose. Geod.geometry_area_perimeter adds a hole's signed
    area, which is right only when holes wind opposite to their exterior; RFC 7946 only asks
    for that ("SHOULD"), and many writers do not, so |exterior| - sum(|hole|) is used instead.
    For a self-intersecting ring this is the drawn (signed) area, the base of the 5% rule.
    """
    if len(b) == 0:
        return np.empty(0)
    signed = np.where(b.is_hole, -1.0, 1.0) * ring_areas(b)
    first_ring = b.part_offsets[b.geom_offsets[:-1]]
    return np.add.reduceat(signed, first_ring)


def area_m2(parts: list[Rings]) -> float:
    return float(areas(batch([parts]))[0])


@dataclass(frozen=True)
class Repair:
    geometry: shapely.Geometry | None  # polygonal, or None when nothing with area is left
    area_m2: float

    def keeps_area(self, drawn_m2: float) -> bool:
        return (
            self.geometry is not None
            and drawn_m2 > 0
            and abs(self.area_m2 - drawn_m2) <= REPAIR_AREA_TOLERANCE * drawn_m2
        )


def repair(shape: shapely.Geometry) -> Repair:
    """make_valid's "structure" method: it keeps the area a ring encloses (both lobes of a
    bow-tie) and, with keep_collapsed=False, drops the lines and points a repair can leave."""
    fixed = shapely.make_valid(shape, method="structure", keep_collapsed=False)
    polygons = [p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not polygons:
        return Repair(None, 0.0)
    merged = shapely.orient_polygons(shapely.union_all(polygons))  # RFC 7946 winding
    if merged.is_empty:
        return Repair(None, 0.0)
    return Repair(merged, area_m2(shapely_parts(merged)))


def shapely_parts(geometry: shapely.Geometry) -> list[Rings]:
    """Rings of a shapely Polygon or MultiPolygon, in the layout ``batch`` takes."""
    return [
        [shapely.get_coordinates(ring) for ring in (polygon.exterior, *polygon.interiors)]
        for polygon in shapely.get_parts(geometry)
    ]


def to_geojson_many(geometries: np.ndarray) -> list[dict[str, Any] | None]:
    """Shapely geometries -> GeoJSON geometry dicts, at array speed for the polygonal ones
    (shapely's ragged arrays, then list slicing: ~5x faster than one geometry at a time).
    Empty or missing -> None; other types -> {"type": ...} only, since they are rejected by
    type and their coordinates never used. Z is dropped: plots are 2D."""
    out: list[dict[str, Any] | None] = [None] * len(geometries)
    kinds = shapely.get_type_id(geometries)
    polygonal = np.isin(kinds, (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON))
    polygonal &= ~shapely.is_empty(geometries)
    for i in np.flatnonzero(~polygonal & (kinds >= 0) & ~shapely.is_empty(geometries)):
        out[i] = {"type": geometries[i].geom_type}
    chosen = np.flatnonzero(polygonal)
    if len(chosen) == 0:
        return out
    kind, coords, offsets = shapely.to_ragged_array(geometries[chosen], include_z=False)
    if kind == shapely.GeometryType.POLYGON:  # all Polygons: one part each
        ring_offsets, part_offsets = offsets
        geom_offsets = np.arange(len(chosen) + 1)
    else:
        ring_offsets, part_offsets, geom_offsets = offsets
    rows = coords.tolist()
    rings = [rows[i:j] for i, j in itertools.pairwise(ring_offsets.tolist())]
    parts = [rings[i:j] for i, j in itertools.pairwise(part_offsets.tolist())]
    for index, (i, j) in zip(
        chosen.tolist(), itertools.pairwise(geom_offsets.tolist()), strict=True
    ):
        if kinds[index] == shapely.GeometryType.POLYGON:
            out[index] = {"type": "Polygon", "coordinates": parts[i]}
        else:
            out[index] = {"type": "MultiPolygon", "coordinates": parts[i:j]}
    return out


def to_geojson(geometry: shapely.Geometry) -> dict[str, Any]:
    """A shapely Polygon or MultiPolygon as a GeoJSON geometry dict (the doubles themselves,
    no round trip through text)."""
    polygons = [
        [
            shapely.get_coordinates(ring, include_z=shapely.has_z(geometry)).tolist()
            for ring in (polygon.exterior, *polygon.interiors)
        ]
        for polygon in shapely.get_parts(geometry)
    ]
    if geometry.geom_type == "Polygon":
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}
