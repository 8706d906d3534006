"""Plot registry at scale: harvest GPS points matched to plots, and reading a big GeoPackage.

Baselines, measured in the same run on the same synthetic data (seeded numpy):
- matching: ``geo.match.match_points`` (mode a: which plot contains each point; mode b: the
  claimed plot, 30 m tolerance and metres when outside) against a bare geopandas ``sjoin``
  (points ``within`` plots, GeoDataFrames built beforehand, not timed) and against a per-point
  shapely ``contains`` loop (timed on a subsample, rate extrapolated);
- reading: ``geo.read_plots`` (every contract rule, to WGS 84) of a GeoPackage in the CGCS2000
  Gauss-Kruger zone EPSG:4530 against a bare ``geopandas.read_file(...).to_crs(4326)``.

Plots are non-overlapping quadrilaterals (about 120 m x 110 m, jittered corners) on a grid
around 127.4 E, 44.85 N; 80% of the points fall inside a random plot, 20% anywhere in the
grid's extent (inside, in a gap, or near a plot's edge).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import log, peak_rss_mb, reset_peak_rss

CENTRE = (127.4, 44.85)
STEP = (0.002, 0.0015)  # grid spacing in degrees (~158 m x 167 m at 44.85 N)
HALF = (0.00075, 0.0005)  # plot half-size in degrees before jitter
GK_ZONE = 4530  # CGCS2000 3-degree Gauss-Kruger zone 42 (CM 126 E)


def synthetic_plots(n: int, seed: int = 2026) -> tuple[np.ndarray, np.ndarray]:
    """n plot quadrilaterals (shapely array, lon/lat) and their centres (n, 2)."""
    import shapely

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    cx = CENTRE[0] + (i % side - side / 2) * STEP[0]
    cy = CENTRE[1] + (i // side - side / 2) * STEP[1]
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], dtype=np.float64)
    jitter = rng.uniform(-0.3, 0.3, size=(n, 4, 2))
    ring = (corners[None] + jitter) * np.array(HALF)[None, None] + np.stack([cx, cy], 1)[:, None]
    ring = np.concatenate([ring, ring[:, :1]], axis=1)  # close the rings
    return shapely.polygons(ring), np.stack([cx, cy], 1)


def synthetic_points(
    centres: np.ndarray, m: int, seed: int = 2027, inside_share: float = 0.8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lon, lat and the plot each point claims: ``inside_share`` of the points lie near the
    centre of a random plot (so inside it) and claim it; the others lie anywhere in the
    extent (in a plot, in a gap, near an edge) and claim the plot whose grid node is nearest,
    like a harvest logged at the edge of its field."""
    rng = np.random.default_rng(seed)
    n = len(centres)
    claimed = rng.integers(0, n, m)
    lon = centres[claimed, 0] + rng.uniform(-0.5, 0.5, m) * HALF[0]
    lat = centres[claimed, 1] + rng.uniform(-0.5, 0.5, m) * HALF[1]
    loose = np.flatnonzero(rng.random(m) >= inside_share)
    lo, hi = centres.min(axis=0) - STEP, centres.max(axis=0) + STEP
    lon[loose] = rng.uniform(lo[0], hi[0], len(loose))
    lat[loose] = rng.uniform(lo[1], hi[1], len(loose))
    side = int(np.ceil(np.sqrt(n)))
    col = np.clip(np.rint((lon[loose] - CENTRE[0]) / STEP[0] + side / 2), 0, side - 1)
    row = np.clip(np.rint((lat[loose] - CENTRE[1]) / STEP[1] + side / 2), 0, (n - 1) // side)
    claimed[loose] = np.minimum(row * side + col, n - 1).astype(np.int64)
    return lon, lat, claimed


def write_geopackage(shapes: np.ndarray, path: Path) -> None:
    """The plots with contract properties, as a GeoPackage in EPSG:4530."""
    import geopandas as gpd

    n = len(shapes)
    frame = gpd.GeoDataFrame(
        {
            "plot_id": [f"P{i:07d}" for i in range(n)],
            "farm_id": [f"F{i // 20:06d}" for i in range(n)],
            "county_code": "230124",
            "crop": "soybean",
            "declared_area_mu": np.full(n, 19.5),
        },
        geometry=shapes,
        crs=4326,
    ).to_crs(GK_ZONE)
    frame.to_file(path, layer="plots", driver="GPKG")


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(points: int = 1_000_000, plots: int = 100_000, seed: int = 2026) -> list[str]:
    import geopandas as gpd
    import shapely

    from geo import point_in_plot, read_plots
    from geo.geometry import to_geojson_many
    from geo.match import match_points

    reset_peak_rss()
    shapes, centres = synthetic_plots(plots, seed)
    lon, lat, made_for = synthetic_points(centres, points, seed + 1)
    ids = np.array([f"P{i:07d}" for i in range(plots)], dtype=object)
    claimed = ids[made_for]
    log(f"geo: {plots:,} plots, {points:,} points generated")

    result_a = match_points(shapes, ids, lon, lat)  # warm-up, and the answer to compare
    t_a = _best(lambda: match_points(shapes, ids, lon, lat))
    result_b = match_points(shapes, ids, lon, lat, claimed=claimed)
    t_b = _best(lambda: match_points(shapes, ids, lon, lat, claimed=claimed))
    log(f"geo: match_points {t_a:.2f} s (containing plot), {t_b:.2f} s (claimed plot)")
    rss_match = peak_rss_mb()

    point_frame = gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326)
    plot_frame = gpd.GeoDataFrame({"plot_id": ids}, geometry=shapes, crs=4326)
    joined = gpd.sjoin(point_frame, plot_frame, predicate="within")
    t_sjoin = _best(lambda: gpd.sjoin(point_frame, plot_frame, predicate="within"))
    log(f"geo: sjoin {t_sjoin:.2f} s")
    agree = _agreement(result_a.plot, joined, points)

    sub = min(points, 20_000)
    sub_plots = shapes[made_for[:sub]]
    sub_lon, sub_lat = lon[:sub].tolist(), lat[:sub].tolist()

    def loop() -> None:
        for plot, x, y in zip(sub_plots, sub_lon, sub_lat, strict=True):
            plot.contains(shapely.Point(x, y))

    t_loop = _best(loop, repeat=1) * points / sub
    log(f"geo: contains loop {t_loop:.2f} s extrapolated")

    few = min(points, 2_000)
    geojson = to_geojson_many(shapes[made_for[:few]])

    def today() -> None:
        for g, x, y in zip(geojson, sub_lon[:few], sub_lat[:few], strict=True):
            point_in_plot(g, x, y)

    t_today = _best(today, repeat=1) * points / few
    log(f"geo: point_in_plot loop {t_today:.2f} s extrapolated")

    with tempfile.TemporaryDirectory(prefix="heitu-bench-geo-") as tmp:
        gpkg = Path(tmp) / "plots.gpkg"
        write_geopackage(shapes, gpkg)
        start = time.perf_counter()
        read = read_plots(gpkg)
        t_read = time.perf_counter() - start
        start = time.perf_counter()
        frame = gpd.read_file(gpkg)
        t_read_file = time.perf_counter() - start
        frame.to_crs(4326)
        t_bare_read = time.perf_counter() - start
    log(f"geo: read_plots {t_read:.2f} s, read_file + to_crs {t_bare_read:.2f} s")

    outside = ~result_b.inside
    far = result_b.distance_m[outside]
    lines = [
        "## Plot registry",
        "",
        f"{points:,} harvest GPS points against {plots:,} plots (synthetic quadrilaterals on a "
        f"grid around {CENTRE[0]} E, {CENTRE[1]} N; 80% of the points inside a plot, 20% "
        "anywhere in the extent, claiming the nearest plot). Best of 3 runs, plot index "
        "built inside every timed call; the GeoDataFrames for `sjoin` are built beforehand.",
        "",
        "| What | Time (s) | Points/s | sjoin time / this | contains loop time / this |",
        "|---|---:|---:|---:|---:|",
        _row("`match_points`, containing plot (mode a)", t_a, points, t_sjoin, t_loop),
        _row("`match_points`, claimed plot, 30 m, metres (mode b)", t_b, points, t_sjoin, t_loop),
        _row("bare geopandas `sjoin` (within)", t_sjoin, points, t_sjoin, t_loop),
        _row(
            f"per-point shapely `Point` + `contains` loop ({sub:,} points timed, extrapolated)",
            t_loop,
            points,
            t_sjoin,
            t_loop,
        ),
        _row(
            f"per-point `geo.point_in_plot` loop, the check's former path ({few:,} points timed, "
            "extrapolated)",
            t_today,
            points,
            t_sjoin,
            t_loop,
        ),
        "",
        f"- mode a agrees with `sjoin` on {agree:.4%} of points; "
        f"{int(result_a.inside.sum()):,} points are in a plot.",
        f"- mode b: {int(result_b.inside.sum()):,} inside their claimed plot, "
        f"{int((result_b.matched & outside).sum()):,} outside but within 30 m, "
        f"{int((~result_b.matched).sum()):,} further; median distance of the points outside "
        f"{np.nanmedian(far):,.1f} m (inside count equals mode a's: the loose points claim "
        "the nearest plot)."
        if outside.any()
        else "- mode b: every point inside its claimed plot.",
        "",
        "| Reading | Time (s) | Ratio |",
        "|---|---:|---:|",
        f"| `geo.read_plots` of a {plots:,}-plot GeoPackage in EPSG:{GK_ZONE} "
        f"(all contract rules, to WGS 84) | {t_read:.3f} | {t_read / t_bare_read:.1f}x |",
        f"| bare `geopandas.read_file(...).to_crs(4326)` of the same file | "
        f"{t_bare_read:.3f} | 1.0 |",
        f"| of which `to_crs(4326)` alone | {t_bare_read - t_read_file:.3f} | |",
        "",
        f"- read_plots kept {len(read.records):,} plots, rejected {len(read.rejects):,}.",
        f"- peak RSS: {rss_match:,.0f} MB after the `match_points` runs (data included), "
        f"{peak_rss_mb():,.0f} MB for the whole section (GeoDataFrames, GeoPackage).",
    ]
    return lines


def _row(what: str, seconds: float, points: int, t_sjoin: float, t_loop: float) -> str:
    return (
        f"| {what} | {seconds:.3f} | {points / seconds:,.0f} | {t_sjoin / seconds:.2f} | "
        f"{t_loop / seconds:.1f} |"
    )


def _agreement(ours: np.ndarray, joined, points: int) -> float:
    """Share of points where match_points' plot is the one sjoin found (or both found none);
    where sjoin found several (a shared edge), any of them counts."""
    theirs = np.full(points, -1, dtype=np.int64)
    left = joined.index.to_numpy()
    right = joined["index_right"].to_numpy()
    theirs[left] = right
    same = ours == theirs
    several = np.flatnonzero(np.bincount(left, minlength=points) > 1)
    if len(several):
        pairs = set(zip(left.tolist(), right.tolist(), strict=True))
        for i in several:
            same[i] = (int(i), int(ours[i])) in pairs
    return float(same.mean())


if __name__ == "__main__":
    args = [int(a.replace("_", "")) for a in sys.argv[1:3]]
    print("\n".join(run(*args)))
