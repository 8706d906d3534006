"""geo.match.match_points against the per-point reference (geo.measure.point_in_plot) and
against geopandas sjoin, on small seeded synthetic plots (fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod

from bench.geo import synthetic_plots, synthetic_points
from geo.geometry import to_geojson_many
from geo.match import PlotIndex, match_points
from geo.measure import point_in_plot

GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def plots() -> tuple[np.ndarray, np.ndarray]:
    shapes, centres = synthetic_plots(400, seed=7)
    # a plot with a hole and a two-part plot, away from the grid
    holed = shapely.box(127.5, 44.9, 127.502, 44.9015).difference(
        shapely.box(127.5005, 44.9004, 127.5015, 44.9011)
    )
    multi = shapely.MultiPolygon(
        [shapely.box(127.51, 44.9, 127.511, 44.901), shapely.box(127.512, 44.9, 127.513, 44.901)]
    )
    shapes = np.concatenate([shapes, [holed, multi]])
    centres = np.concatenate([centres, [[127.501, 44.90075], [127.5115, 44.9005]]])
    return shapes, centres


def _reference(geojson, lon, lat, claimed, tolerance_m=30.0):
    # Python floats: point_in_plot writes lon, lat into a PROJ string with !r, and a numpy
    # float64 prints as "np.float64(...)" there (numpy 2)
    out = [
        point_in_plot(geojson[c], x, y, tolerance_m)
        for c, x, y in zip(claimed.tolist(), lon.tolist(), lat.tolist(), strict=True)
    ]
    return np.array([o[0] for o in out]), np.array([o[1] for o in out])


def _offset_points(shapes, rng, plot, metres):
    """Points ``metres`` outside (negative: inside) the midpoint of an exterior edge of each
    plot, along the edge's outward normal (geodesic, pyproj Geod.fwd)."""
    lon, lat = [], []
    for p, d in zip(plot, metres, strict=True):
        poly = shapely.get_parts(shapes[p])[0]
        ring = shapely.get_coordinates(poly.exterior)
        k = rng.integers(0, len(ring) - 1)
        (x1, y1), (x2, y2) = ring[k], ring[k + 1]
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        east, north = (y2 - y1), -(x2 - x1) * math.cos(math.radians(my))  # a normal
        azimuth = math.degrees(math.atan2(east, north))
        step = GEOD.fwd(mx, my, azimuth, 1.0)
        if shapely.intersects_xy(poly, step[0], step[1]):  # that normal points inwards
            azimuth += 180.0
        if d < 0:
            azimuth, d = azimuth + 180.0, -d
        x, y, _ = GEOD.fwd(mx, my, azimuth, d)
        lon.append(x)
        lat.append(y)
    return np.array(lon), np.array(lat)


def test_claimed_mode_matches_point_in_plot(plots):
    shapes, centres = plots
    geojson = to_geojson_many(shapes)
    ids = np.array([f"P{i}" for i in range(len(shapes))], dtype=object)
    rng = np.random.default_rng(11)
    lon_a, lat_a, claim_a = synthetic_points(centres, 200, seed=12)  # inside or nearest plot
    claim_b = rng.integers(0, len(shapes), 150)
    metres = np.concatenate(
        [
            rng.choice([29.5, 29.9, 30.1, 30.5, -1.0, -5.0], 60),  # around the tolerance edge
            rng.uniform(0.5, 5000.0, 90),  # outside, up to 5 km
        ]
    )
    lon_b, lat_b = _offset_points(shapes, rng, claim_b, metres)
    lon = np.concatenate([lon_a, lon_b])
    lat = np.concatenate([lat_a, lat_b])
    claimed = np.concatenate([claim_a, claim_b])

    result = match_points(geojson, ids, lon, lat, claimed=ids[claimed])
    ok, dist = _reference(geojson, lon, lat, claimed)

    assert (result.plot == claimed).all()
    assert (result.matched == ok).all()
    assert (result.inside == (dist == 0.0)).all()
    assert np.abs(result.distance_m - dist).max() < 0.01  # metres (measured 0.5 mm at 10 km)
    near_edge = np.abs(dist - 30.0) < 0.2
    assert (near_edge & ok).sum() > 5 and (near_edge & ~ok).sum() > 5  # both sides of 30 m
    assert list(result.ids()[:3]) == list(ids[claimed[:3]])


def test_boundary_counts_as_inside(plots):
    shapes, _ = plots
    ids = np.arange(len(shapes))
    coords, owner = shapely.get_coordinates(shapes, return_index=True)
    ring = shapely.get_coordinates(shapely.get_exterior_ring(shapes[0]))
    mids = (ring[:-1] + ring[1:]) / 2  # on the edges (up to rounding)
    lon = np.concatenate([coords[:, 0], mids[:, 0]])
    lat = np.concatenate([coords[:, 1], mids[:, 1]])
    claimed = np.concatenate([owner, np.zeros(len(mids), dtype=np.int64)])
    geojson = to_geojson_many(shapes)
    ok, dist = _reference(geojson, lon, lat, claimed)
    result = match_points(shapes, ids, lon, lat, claimed=claimed)
    assert (result.inside[: len(coords)]).all()  # every vertex is on its plot
    assert (result.matched == ok).all()
    assert np.abs(result.distance_m - dist).max() < 1e-3
    contained = match_points(shapes, ids, lon, lat)
    assert (contained.plot[: len(coords)] >= 0).all()


def test_containing_mode_matches_sjoin(plots):
    gpd = pytest.importorskip("geopandas")
    shapes, centres = plots
    lon, lat, _ = synthetic_points(centres, 3000, seed=21)
    hole = np.array([[127.501, 44.9008], [127.5115, 44.9005], [127.5025, 44.9]])  # hole, gap
    lon, lat = np.concatenate([lon, hole[:, 0]]), np.concatenate([lat, hole[:, 1]])
    ids = np.arange(len(shapes))
    result = match_points(PlotIndex(shapes), ids, lon, lat)

    points = gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326)
    frame = gpd.GeoDataFrame({"pid": ids}, geometry=shapes, crs=4326)
    joined = gpd.sjoin(points, frame, predicate="intersects")
    found: dict[int, set[int]] = {}
    for i, p in zip(joined.index, joined["pid"], strict=True):
        found.setdefault(int(i), set()).add(int(p))
    for i in range(len(lon)):
        if i in found:
            assert result.plot[i] == min(found[i]), i
        else:
            assert result.plot[i] == -1, i
    assert result.inside.sum() == len(found)
    assert (result.plot[-3:] == -1).all()  # in the hole, in the gap between parts, outside
    assert np.isnan(result.distance_m[result.plot < 0]).all()


def test_unknown_claim_and_bad_points(plots):
    shapes, centres = plots
    ids = np.array([f"P{i}" for i in range(len(shapes))], dtype=object)
    lon, lat = centres[:2, 0].copy(), centres[:2, 1].copy()
    result = match_points(shapes, ids, lon, lat, claimed=["P0", "nope"])
    assert result.plot.tolist() == [0, -1]
    assert result.matched.tolist() == [True, False]
    assert np.isnan(result.distance_m[1])
    assert list(result.ids()) == ["P0", None]
    with pytest.raises(ValueError, match="longitude, latitude"):
        match_points(shapes, ids, np.array([4_500_000.0]), np.array([44.0]))
    with pytest.raises(ValueError, match="plot ids"):
        match_points(shapes, ids[:3], lon, lat)
    empty = match_points(shapes, ids, np.zeros(0), np.zeros(0), claimed=[])
    assert len(empty.plot) == 0
