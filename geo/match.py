"""Matching many GPS points against many plots at once (harvest points, docs/plots.md).

``match_points`` answers, for arrays of longitudes and latitudes, either

(a) which plot contains each point (``claimed=None``: GPS points with no plot named), or
(b) whether each point lies in, or within ``tolerance_m`` of, the plot it claims, and how far
    outside it is in metres (what the ``outside_plot`` check needs).

It gives the same answers as one ``geo.measure.point_in_plot`` call per point, at array speed.
Measured on 2 cores, 1,000,000 points against 100,000 plots: shapely's STRtree costs ~0.5 s
just to make the Point objects and ~1.3 s to query them, so the hot path makes no shapely
objects at all:

- candidates come from a sparse uniform grid over the plots' bounding boxes (numpy sort and
  searchsorted), then a bounding-box test;
- point in polygon is an even-odd crossing count over the candidate plots' ring edges (holes
  and multipolygon parts included), in numpy;
- a point the crossing count leaves outside but that sits in a candidate's bounding box is
  asked again with ``shapely.intersects_xy``, so a point on the boundary counts as inside
  exactly as in ``point_in_plot``;
- distances (mode b, outside points only): the nearest point of the plot is found in a local
  equirectangular frame around each point (longitude scaled by the prime-vertical radius times
  cos(latitude), latitude by the meridian radius, WGS 84), and the distance to it is the
  geodesic one from ``pyproj.Geod.inv``. Within 5 km this agrees with ``point_in_plot``'s
  azimuthal equidistant measure to well under a metre.

Chunks of points are processed on a small thread pool: numpy releases the GIL on big arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from geo import geometry as geom

WGS84_A = 6378137.0
WGS84_E2 = 0.0066943799901413165
DENSE_CELLS_PER_PLOT = 8  # grid kept as a dense table up to this many cells per plot
CHUNK = 131_072  # points per work unit: keeps the edge arrays in a few tens of MB


@dataclass
class MatchResult:
    """Per point (same order as the input):

    plot: index into the plots of the containing plot (mode a) or of the claimed plot
        (mode b), -1 when none contains it (a) or the claimed id is not among the plots (b);
    inside: in the plot, boundary included;
    matched: inside or within ``tolerance_m`` (mode a: same as inside);
    distance_m: 0.0 inside, metres to the plot when outside (mode b); NaN when not measured
        (mode a outside, or an unknown claimed plot).
    """

    plot: np.ndarray
    inside: np.ndarray
    matched: np.ndarray
    distance_m: np.ndarray
    plot_ids: np.ndarray

    def ids(self) -> np.ndarray:
        """Plot id per point (object array), None where ``plot`` is -1."""
        out = np.full(len(self.plot), None, dtype=object)
        ok = self.plot >= 0
        out[ok] = self.plot_ids[self.plot[ok]]
        return out


class PlotIndex:
    """Plots prepared for matching: their ring edges and a grid over their bounding boxes.
    Build once, match many point batches."""

    def __init__(self, plots: Sequence[dict[str, Any]] | np.ndarray) -> None:
        self.shapes = _as_shapes(plots)
        self.bounds = shapely.bounds(self.shapes).reshape(-1, 4)
        if len(self.shapes) == 0:
            kind, coords = shapely.GeometryType.POLYGON, np.empty((0, 2))
            offsets = (np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))
        else:
            kind, coords, offsets = shapely.to_ragged_array(self.shapes, include_z=False)
        if kind == shapely.GeometryType.POLYGON:
            ring_offsets, geom_offsets = offsets
            first_ring = geom_offsets
        elif kind == shapely.GeometryType.MULTIPOLYGON:
            ring_offsets, part_offsets, geom_offsets = offsets
            first_ring = part_offsets[geom_offsets]
        else:
            raise ValueError(f"plots must be Polygons or MultiPolygons, not {kind.name}")
        ring_offsets = ring_offsets.astype(np.int64)
        keep = np.ones(max(len(coords) - 1, 0), dtype=bool)  # edge k: vertex k to k + 1
        ends = ring_offsets[1:] - 1  # a ring's last vertex starts no edge
        keep[ends[(ends >= 0) & (ends < len(keep))]] = False
        self.x1 = np.ascontiguousarray(coords[:-1, 0][keep])
        self.y1 = np.ascontiguousarray(coords[:-1, 1][keep])
        self.x2 = np.ascontiguousarray(coords[1:, 0][keep])
        self.y2 = np.ascontiguousarray(coords[1:, 1][keep])
        first_ring = first_ring.astype(np.int64)
        self.edge_start = ring_offsets[first_ring] - first_ring  # edges before each plot
        self._grid()

    def __len__(self) -> int:
        return len(self.shapes)

    def _grid(self) -> None:
        b = self.bounds
        ok = np.isfinite(b).all(axis=1)
        w, h = b[ok, 2] - b[ok, 0], b[ok, 3] - b[ok, 1]
        self.cx = float(np.median(w)) if ok.any() else 1.0
        self.cy = float(np.median(h)) if ok.any() else 1.0
        self.cx = self.cx if self.cx > 0 else 1e-4
        self.cy = self.cy if self.cy > 0 else 1e-4
        self.x0 = float(b[ok, 0].min()) if ok.any() else 0.0
        self.y0 = float(b[ok, 1].min()) if ok.any() else 0.0
        plots = np.flatnonzero(ok)
        ix0, iy0 = self._cell(b[ok, 0], b[ok, 1])
        ix1, iy1 = self._cell(b[ok, 2], b[ok, 3])
        self.nx = int(ix1.max()) + 1 if len(plots) else 1
        self.ny = int(iy1.max()) + 1 if len(plots) else 1
        nxs, nys = ix1 - ix0 + 1, iy1 - iy0 + 1
        per_plot = nxs * nys
        owner = np.repeat(np.arange(len(plots)), per_plot)
        k = _ranks(per_plot)
        cell_x = ix0[owner] + k // nys[owner]
        cell_y = iy0[owner] + k % nys[owner]
        keys = cell_x * self.ny + cell_y
        order = np.lexsort((plots[owner], keys))  # by cell, then by plot index
        keys = keys[order]
        self.cell_plot = plots[owner][order]
        self.cell_key, first = np.unique(keys, return_index=True)
        self.cell_start = np.append(first, len(keys)).astype(np.int64)
        self.dense: np.ndarray | None = None
        cells = self.nx * self.ny
        if cells <= DENSE_CELLS_PER_PLOT * len(plots) + 1_000_000:
            # a start per cell (searchsorted on 1M random keys measured 0.13 s, this 0.01 s)
            counts = np.zeros(cells, dtype=np.int64)
            counts[self.cell_key] = np.diff(self.cell_start)
            self.dense = np.zeros(cells + 1, dtype=np.int64)
            np.cumsum(counts, out=self.dense[1:])
        self.minx, self.miny, self.maxx, self.maxy = (
            np.ascontiguousarray(self.bounds[:, j]) for j in range(4)
        )

    def _cell(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.floor((x - self.x0) / self.cx).astype(np.int64),
            np.floor((y - self.y0) / self.cy).astype(np.int64),
        )

    # --- candidates and point in polygon ---------------------------------------------------

    def candidates(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point, plot) pairs whose plot's bounding box holds the point (boundary included),
        by point then plot index."""
        ix, iy = self._cell(lon, lat)
        found = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        key = np.where(found, ix * self.ny + iy, 0)
        if self.dense is not None:
            start = self.dense[key]
            count = np.where(found, self.dense[key + 1] - start, 0)
        else:
            pos = np.minimum(np.searchsorted(self.cell_key, key), len(self.cell_key) - 1)
            found &= self.cell_key[pos] == key
            start = self.cell_start[pos]
            count = np.where(found, self.cell_start[pos + 1] - start, 0)
        pt = np.repeat(np.arange(len(lon)), count)
        plot = self.cell_plot[np.repeat(start, count) + _ranks(count)]
        keep = self._in_box(plot, lon[pt], lat[pt])
        return pt[keep], plot[keep]

    def _in_box(self, plot: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (
            (x >= self.minx[plot])
            & (x <= self.maxx[plot])
            & (y >= self.miny[plot])
            & (y <= self.maxy[plot])
        )

    def _edges(self, plot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For pairs of plots: (pair of each edge, edge index)."""
        start = self.edge_start[plot]
        count = self.edge_start[plot + 1] - start
        pair = np.repeat(np.arange(len(plot)), count)
        return pair, np.repeat(start, count) + _ranks(count)

    def contains(self, plot: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Even-odd crossing test of point (x[i], y[i]) in plot[i]; points exactly on the
        boundary may come out either way (``covers`` settles them)."""
        if len(plot) == 0:
            return np.zeros(0, dtype=bool)
        pair, e = self._edges(plot)
        px, py = x[pair], y[pair]
        y1, y2 = self.y1[e], self.y2[e]
        spans = (y1 > py) != (y2 > py)
        sel = np.flatnonzero(spans)
        x1, x2 = self.x1[e[sel]], self.x2[e[sel]]
        y1, y2 = y1[sel], y2[sel]
        py_s = py[sel]
        crossing = px[sel] < x1 + (py_s - y1) * (x2 - x1) / (y2 - y1)
        crossings = np.bincount(pair[sel[crossing]], minlength=len(plot))
        return (crossings & 1).astype(bool)

    def covers(self, plot: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Crossing test, with the pairs it leaves outside but whose box holds the point asked
        again of GEOS (boundary counts as inside, like ``point_in_plot``)."""
        inside = self.contains(plot, x, y)
        again = np.flatnonzero(~inside & self._in_box(plot, x, y))
        if len(again):
            inside[again] = shapely.intersects_xy(self.shapes[plot[again]], x[again], y[again])
        return inside

    # --- distances -------------------------------------------------------------------------

    def distance_m(self, plot: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Geodesic metres from each point to the nearest point of its plot (assumed outside:
        the nearest point of the boundary is measured)."""
        out = np.full(len(plot), np.nan)
        has_edges = self.edge_start[plot + 1] > self.edge_start[plot]
        if not has_edges.all():  # empty plots: no distance
            out[has_edges] = self.distance_m(plot[has_edges], lon[has_edges], lat[has_edges])
            return out
        if len(plot) == 0:
            return out
        from pyproj import Geod

        pair, e = self._edges(plot)
        kx, ky = _metres_per_degree(lat)
        lon0, lat0, kxp, kyp = lon[pair], lat[pair], kx[pair], ky[pair]
        ax = (self.x1[e] - lon0) * kxp
        ay = (self.y1[e] - lat0) * kyp
        dx = (self.x2[e] - self.x1[e]) * kxp
        dy = (self.y2[e] - self.y1[e]) * kyp
        length2 = dx * dx + dy * dy
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(length2 > 0, -(ax * dx + ay * dy) / length2, 0.0)
        np.clip(t, 0.0, 1.0, out=t)
        nx, ny = ax + t * dx, ay + t * dy
        d2 = nx * nx + ny * ny
        count = self.edge_start[plot + 1] - self.edge_start[plot]
        starts = np.cumsum(count) - count  # each pair's first edge
        best = np.minimum.reduceat(d2, starts)
        hit = np.flatnonzero(d2 == best[pair])
        first = hit[np.concatenate(([True], pair[hit][1:] != pair[hit][:-1]))]
        near_lon = nx[first] / kxp[first] + lon0[first]
        near_lat = ny[first] / kyp[first] + lat0[first]
        _, _, dist = Geod(ellps="WGS84").inv(lon, lat, near_lon, near_lat)
        return np.asarray(dist, dtype=np.float64)


def match_points(
    plot_geoms: Sequence[dict[str, Any]] | np.ndarray | PlotIndex,
    plot_ids: Sequence[Any] | np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    claimed: Sequence[Any] | np.ndarray | None = None,
    tolerance_m: float = 30.0,
    workers: int = 2,
) -> MatchResult:
    """Match GPS points (WGS 84 degrees) against plots (GeoJSON geometry dicts in lon, lat,
    a shapely array of Polygons / MultiPolygons, or a prebuilt ``PlotIndex``).

    ``claimed=None``: mode (a), which plot contains each point (boundary included; where plots
    overlap, the lowest-indexed one). Otherwise ``claimed[i]`` is the plot id point i claims
    (an id from ``plot_ids``, which must then be unique): mode (b), inside or within
    ``tolerance_m`` of that plot, with the distance in metres when outside.

    Raises ValueError for a point that is not a longitude, latitude in degrees, or when
    ``plot_ids`` and the plots differ in length.
    """
    index = plot_geoms if isinstance(plot_geoms, PlotIndex) else PlotIndex(plot_geoms)
    ids = np.asarray(plot_ids, dtype=object) if not isinstance(plot_ids, np.ndarray) else plot_ids
    if len(ids) != len(index):
        raise ValueError(f"{len(ids)} plot ids for {len(index)} plots")
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon.shape != lat.shape or lon.ndim != 1:
        raise ValueError("lon and lat must be 1-D arrays of the same length")
    bad = ~((lon >= -180) & (lon <= 180) & (lat >= -90) & (lat <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"point {i} ({lon[i]}, {lat[i]}) is not a longitude, latitude in degrees")
    m = len(lon)
    if claimed is None:
        claimed_index = None
    else:
        import pandas as pd

        lookup = pd.Index(ids)
        if not lookup.is_unique:
            raise ValueError("plot_ids must be unique when points claim plots by id")
        claimed_index = lookup.get_indexer(np.asarray(claimed, dtype=object)).astype(np.int64)
        if len(claimed_index) != m:
            raise ValueError(f"{len(claimed_index)} claimed plots for {m} points")

    plot = np.full(m, -1, dtype=np.int64)
    inside = np.zeros(m, dtype=bool)
    distance = np.full(m, np.nan)

    def work(chunk: slice) -> None:
        x, y = lon[chunk], lat[chunk]
        if claimed_index is None:
            _contains_chunk(index, x, y, plot[chunk], inside[chunk], distance[chunk])
        else:
            _claimed_chunk(index, x, y, claimed_index[chunk], inside[chunk], distance[chunk])

    chunks = [slice(s, min(s + CHUNK, m)) for s in range(0, m, CHUNK)]
    if workers > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, chunks))
    else:
        for chunk in chunks:
            work(chunk)
    if claimed_index is not None:
        plot = claimed_index
        matched = inside | (distance <= tolerance_m)
    else:
        matched = inside.copy()
    return MatchResult(plot, inside, matched, distance, ids)


def _contains_chunk(
    index: PlotIndex,
    x: np.ndarray,
    y: np.ndarray,
    plot: np.ndarray,
    inside: np.ndarray,
    distance: np.ndarray,
) -> None:
    pt, cand = index.candidates(x, y)
    hit = index.contains(cand, x[pt], y[pt])
    # pairs run by point then plot index: writing them in reverse leaves the lowest plot
    pt_hit, plot_hit = pt[hit][::-1], cand[hit][::-1]
    plot[pt_hit] = plot_hit
    # boundary points (and anything the crossing count missed): ask GEOS, lowest plot first
    again = np.flatnonzero(plot[pt] < 0)
    if len(again):
        ok = shapely.intersects_xy(index.shapes[cand[again]], x[pt[again]], y[pt[again]])
        sel = again[ok][::-1]
        plot[pt[sel]] = cand[sel]
    inside[:] = plot >= 0
    distance[inside] = 0.0


def _claimed_chunk(
    index: PlotIndex,
    x: np.ndarray,
    y: np.ndarray,
    claimed: np.ndarray,
    inside: np.ndarray,
    distance: np.ndarray,
) -> None:
    known = np.flatnonzero(claimed >= 0)
    plots = claimed[known]
    ins = index.covers(plots, x[known], y[known])
    inside[known[ins]] = True
    distance[known[ins]] = 0.0
    out = known[~ins]
    distance[out] = index.distance_m(claimed[out], x[out], y[out])


def _as_shapes(plots: Sequence[dict[str, Any]] | np.ndarray) -> np.ndarray:
    if isinstance(plots, np.ndarray) and (len(plots) == 0 or not isinstance(plots[0], dict)):
        return plots
    if len(plots) and isinstance(plots[0], shapely.Geometry):
        return np.asarray(plots, dtype=object)
    return geom.shapes(geom.batch([geom.polygon_parts(g) for g in plots]))


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0..count-1 for each count, concatenated."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) - np.repeat(ends - counts, counts)


def _metres_per_degree(lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metres per degree of longitude and of latitude at ``lat`` on the WGS 84 ellipsoid."""
    phi = np.radians(lat)
    s2 = np.sin(phi) ** 2
    w = np.sqrt(1.0 - WGS84_E2 * s2)
    prime_vertical = WGS84_A / w
    meridian = WGS84_A * (1.0 - WGS84_E2) / (w * w * w)
    rad = math.pi / 180.0
    return prime_vertical * np.cos(phi) * rad, meridian * rad
