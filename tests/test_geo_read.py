"""The plot registry reader and its helpers (geo/): docs/plots.md."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import shapely
from pyproj import Geod

from geo import geometry_area_m2, point_in_plot, read_plots
from traceability.errors import UnreadableFile

GEOD = Geod(ellps="WGS84")
# WGS 84 ellipsoid, for the hand computation of a small square's size in degrees.
A = 6378137.0
F = 1 / 298.257223563
E2 = F * (2 - F)
LON0, LAT0 = 126.6, 45.0  # near Harbin / Wuchang


def square_ring(lon: float, lat: float, side_m: float) -> list[list[float]]:
    """A side_m x side_m square with its south-west corner at (lon, lat), counter-clockwise.

    Degrees per metre from the ellipsoid's radii of curvature at ``lat``: meridian
    M = a(1-e2)/(1-e2 sin2)^1.5 and prime vertical N = a/(1-e2 sin2)^0.5, so its area is
    side_m**2 to well under 0.01% for a square of 100 m.
    """
    s2 = math.sin(math.radians(lat)) ** 2
    m = A * (1 - E2) / (1 - E2 * s2) ** 1.5
    n = A / math.sqrt(1 - E2 * s2)
    mid = math.radians(lat) + side_m / m / 2  # east-west size taken at the middle latitude
    dlat = math.degrees(side_m / m)
    dlon = math.degrees(side_m / (n * math.cos(mid)))
    return [
        [lon, lat],
        [lon + dlon, lat],
        [lon + dlon, lat + dlat],
        [lon, lat + dlat],
        [lon, lat],
    ]


def polygon(ring: list[list[float]], *holes: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring, *holes]}


def local_ring(points_m: list[tuple[float, float]]) -> list[list[float]]:
    """A ring drawn in metres east/north of (LON0, LAT0), for shapes like bow-ties."""
    scale_lat = 1 / 111_132.0  # degrees per metre north at 45 N; shape only, not areas
    scale_lon = 1 / (111_320.0 * math.cos(math.radians(LAT0)))
    return [[LON0 + x * scale_lon, LAT0 + y * scale_lat] for x, y in points_m]


def plot_feature(plot_id: str = "230184-101-0007", /, **changes: Any) -> dict[str, Any]:
    """A valid Wuchang rice plot of 100 m x 100 m; ``changes`` set properties (None deletes)
    or, with the key ``geometry``, the geometry."""
    props: dict[str, Any] = {
        "plot_id": plot_id,
        "farm_id": "F-0001",
        "county_code": "230184",
        "township": "牛家镇",
        "village": "V-12",
        "crop": "rice",
        "declared_area_mu": 15,
        "soil_organic_matter_pct": "4.2",
        "black_soil_depth_cm": 35.5,
        "practices": "straw_return; rotation;",
    }
    geometry = changes.pop("geometry", polygon(square_ring(LON0, LAT0, 100.0)))
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return {"type": "Feature", "properties": props, "geometry": geometry}


def write_geojson(
    tmp_path: Path, features: list[Any], crs: Any = None, name: str = "plots.geojson"
) -> Path:
    document: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs is not None:
        document["crs"] = crs
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def only_record(path: Path) -> dict[str, Any]:
    result = read_plots(path)
    assert result.rejects == []
    assert len(result.records) == 1
    return result.records[0]


def only_reject(path: Path) -> dict[str, Any]:
    result = read_plots(path)
    assert result.records == []
    assert len(result.rejects) == 1
    return result.rejects[0]


# --- valid plots -----------------------------------------------------------------------------


def test_valid_plot_has_geodesic_area_bbox_and_fields(tmp_path: Path) -> None:
    record = only_record(write_geojson(tmp_path, [plot_feature()]))
    assert record["area_m2"] == pytest.approx(10_000.0, rel=0.005)
    assert record["area_mu"] == pytest.approx(10_000.0 / 666.67, rel=0.005)
    ring = square_ring(LON0, LAT0, 100.0)
    assert (record["min_lon"], record["min_lat"]) == (ring[0][0], ring[0][1])
    assert (record["max_lon"], record["max_lat"]) == (ring[2][0], ring[2][1])
    assert record["line"] == 1
    assert record["plot_id"] == "230184-101-0007"
    assert record["farm_id"] == "F-0001"
    assert record["county_code"] == "230184"
    assert record["township"] == "牛家镇"
    assert record["declared_area_mu"] == 15.0
    assert record["soil_organic_matter_pct"] == 4.2  # numeric text is a number
    assert record["black_soil_depth_cm"] == 35.5
    assert record["practices"] == ["straw_return", "rotation"]
    assert record["extra"] == {}
    assert record["repaired"] is False


def test_area_is_geodesic_not_degrees(tmp_path: Path) -> None:
    """The same 100 m square in the far north of Heilongjiang (53 N) spans more degrees of
    longitude but has the same area."""
    north = plot_feature(geometry=polygon(square_ring(122.3, 53.0, 100.0)))
    record = only_record(write_geojson(tmp_path, [north]))
    assert record["area_m2"] == pytest.approx(10_000.0, rel=0.005)


def test_coordinates_are_kept_exactly(tmp_path: Path) -> None:
    ring = [
        [126.60000000000001, 45.123456789012345, 151.25],  # Z is kept in the stored geometry
        [126.6012345678901, 45.123456789012345, 151.5],
        [126.6012345678901, 45.12445678901234, 152.0],
        [126.60000000000001, 45.12445678901234, 151.0],
        [126.60000000000001, 45.123456789012345, 151.25],
    ]
    original = polygon(ring)
    record = only_record(write_geojson(tmp_path, [plot_feature(geometry=copy.deepcopy(original))]))
    assert record["geometry"] == original
    assert json.dumps(record["geometry"]) == json.dumps(original)


def test_property_names_ignore_case_and_spaces_and_extras_are_kept(tmp_path: Path) -> None:
    feature = plot_feature()
    props = feature["properties"]
    feature["properties"] = {
        " Plot_ID ": props["plot_id"],
        "FARM_ID": props["farm_id"],
        "County_Code  ": props["county_code"],
        "Crop": "Soybean",
        "Owner_Name": "张三",
        " Irrigation ": "canal",
        "Remark": "",  # empty: missing, not an extra
    }
    record = only_record(write_geojson(tmp_path, [feature]))
    assert record["plot_id"] == "230184-101-0007"
    assert record["farm_id"] == "F-0001"
    assert record["county_code"] == "230184"
    assert record["crop"] == "Soybean"
    assert record["extra"] == {"owner_name": "张三", "irrigation": "canal"}
    assert record["declared_area_mu"] is None
    assert record["practices"] == []


def test_multipolygon_and_holes_wound_either_way(tmp_path: Path) -> None:
    """|exterior| - |hole| whatever the winding: RFC 7946 only recommends it, and pyproj's
    geometry_area_perimeter would add a hole that winds like its exterior."""
    outer = square_ring(LON0, LAT0, 100.0)
    hole = square_ring(LON0 + 0.0003, LAT0 + 0.0003, 20.0)
    same_way = polygon(outer, hole)
    opposite_way = polygon(outer, hole[::-1])
    second = square_ring(LON0 + 0.01, LAT0, 50.0)
    multi = {"type": "MultiPolygon", "coordinates": [[outer, hole], [second]]}
    path = write_geojson(
        tmp_path,
        [
            plot_feature("A", geometry=same_way),
            plot_feature("B", geometry=opposite_way),
            plot_feature("C", geometry=multi),
        ],
    )
    result = read_plots(path)
    assert result.rejects == []
    a, b, c = result.records
    assert a["area_m2"] == pytest.approx(9_600.0, rel=0.005)
    assert b["area_m2"] == pytest.approx(a["area_m2"], rel=1e-9)
    assert c["area_m2"] == pytest.approx(9_600.0 + 2_500.0, rel=0.005)
    assert geometry_area_m2(same_way) == pytest.approx(a["area_m2"], rel=1e-9)


# --- invalid geometry: repaired or rejected by the 5% rule -----------------------------------


def test_bow_tie_with_a_small_twist_is_repaired(tmp_path: Path) -> None:
    """A square whose closing edge crosses its first: a 2 m2 twisted lobe next to ~9,900 m2.
    make_valid keeps both lobes, changing the area by ~0.04%."""
    ring = local_ring([(0, 0), (100, 0), (100, 100), (0, 100), (2, -2), (0, 0)])
    record = only_record(write_geojson(tmp_path, [plot_feature(geometry=polygon(ring))]))
    assert record["repaired"] is True
    repaired = shapely.geometry.shape(record["geometry"])
    assert repaired.is_valid
    assert record["geometry"]["type"] == "MultiPolygon"
    drawn = abs(GEOD.geometry_area_perimeter(shapely.Polygon(ring))[0])
    assert record["area_m2"] == pytest.approx(drawn, rel=0.05)
    assert record["area_m2"] == pytest.approx(abs(GEOD.geometry_area_perimeter(repaired)[0]))
    assert record["min_lat"] < LAT0  # bbox of the repaired shape, lobe included


def test_symmetric_bow_tie_is_rejected(tmp_path: Path) -> None:
    """Two equal lobes wound opposite ways enclose no area as drawn: a repair would invent
    one, so the plot is rejected."""
    ring = local_ring([(0, 0), (100, 100), (100, 0), (0, 100), (0, 0)])
    reject = only_reject(write_geojson(tmp_path, [plot_feature(geometry=polygon(ring))]))
    assert reject["field"] == "geometry"
    assert reject["record"] == "230184-101-0007"
    assert "not a valid polygon" in reject["reason"]
    assert "(self-intersection at longitude 126.6006" in reject["reason"]


def test_bow_tie_with_a_big_lobe_is_rejected_naming_the_change(tmp_path: Path) -> None:
    """Lobes of 3,125 and 1,125 m2 wound opposite ways: drawn 2,000, repaired 4,250."""
    ring = local_ring([(0, 0), (100, 60), (100, 0), (0, 100), (0, 0)])
    reject = only_reject(write_geojson(tmp_path, [plot_feature(geometry=polygon(ring))]))
    assert reject["field"] == "geometry"
    assert "more than the 5% allowed" in reject["reason"]
    assert "(112%)" in reject["reason"]


# --- per-feature rejects ---------------------------------------------------------------------

NOT_A_POLYGON = {"type": "Point", "coordinates": [LON0, LAT0]}
SWAPPED = polygon([[lat, lon] for lon, lat in square_ring(LON0, LAT0, 100.0)])
PROJECTED = polygon(
    [[42_500_000.0 + x, 4_985_000.0 + y] for x, y in [(0, 0), (100, 0), (100, 100), (0, 0)]]
)
UNCLOSED = polygon(square_ring(LON0, LAT0, 100.0)[:-1])
TEXT_COORDINATES = polygon([[str(x), str(y)] for x, y in square_ring(LON0, LAT0, 100.0)])


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"plot_id": None}, "plot_id", "plot_id is missing or empty"),
        ({"plot_id": "  "}, "plot_id", "plot_id is missing or empty"),
        ({"farm_id": None}, "farm_id", "farm_id is missing"),
        ({"county_code": None}, "county_code", "county_code is missing"),
        (
            {"county_code": "2301"},
            "county_code",
            "county_code '2301' is not a 6-digit administrative code",
        ),
        ({"county_code": "23018A"}, "county_code", "not a 6-digit administrative code"),
        ({"geometry": None}, "geometry", "geometry is missing"),
        ({"geometry": NOT_A_POLYGON}, "geometry", "geometry is a Point; a plot must be"),
        ({"geometry": UNCLOSED}, "geometry", "is not closed"),
        ({"geometry": TEXT_COORDINATES}, "geometry", "not a list of [longitude, latitude]"),
        ({"geometry": SWAPPED}, "geometry", "look like latitude, longitude"),
        ({"geometry": PROJECTED}, "geometry", "look like projected metres"),
        ({"declared_area_mu": "15 mu"}, "declared_area_mu", "'15 mu' is not a number"),
        ({"declared_area_mu": -1}, "declared_area_mu", "must not be negative"),
        ({"soil_organic_matter_pct": "high"}, "soil_organic_matter_pct", "is not a number"),
        ({"soil_organic_matter_pct": "-0.5"}, "soil_organic_matter_pct", "must not be negative"),
        ({"black_soil_depth_cm": True}, "black_soil_depth_cm", "is not a number"),
        ({"black_soil_depth_cm": -30}, "black_soil_depth_cm", "must not be negative"),
    ],
)
def test_reject_rules(tmp_path: Path, changes: dict[str, Any], field: str, reason: str) -> None:
    good = plot_feature("230184-101-0001")
    bad = plot_feature("230184-101-0002", **changes)
    result = read_plots(write_geojson(tmp_path, [good, bad]))
    assert [r["plot_id"] for r in result.records] == ["230184-101-0001"]
    [reject] = result.rejects
    assert reject["line"] == 2
    assert reject["field"] == field
    assert reason in reject["reason"]
    expected_record = bad["properties"].get("plot_id", "").strip() or None
    assert reject["record"] == expected_record


def test_coordinates_out_of_range(tmp_path: Path) -> None:
    ring = [[LON0, 95.0], [LON0 + 0.001, 95.0], [LON0 + 0.001, 95.001], [LON0, 95.0]]
    reject = only_reject(write_geojson(tmp_path, [plot_feature(geometry=polygon(ring))]))
    assert reject["field"] == "geometry"
    assert reject["reason"].startswith("coordinates out of range")
    assert "latitude -90..90" in reject["reason"]


def test_property_names_that_collapse_with_different_values_are_rejected(
    tmp_path: Path,
) -> None:
    feature = plot_feature(**{"Crop ": "soybean", "crop": "rice"})
    reject = only_reject(write_geojson(tmp_path, [feature]))
    assert reject["field"] == "crop"
    assert reject["record"] == "230184-101-0007"


def test_entries_that_are_not_features_keep_their_line(tmp_path: Path) -> None:
    path = write_geojson(tmp_path, [["not", "a", "feature"], plot_feature()])
    result = read_plots(path)
    assert [r["line"] for r in result.records] == [2]
    assert result.rejects == [
        {
            "line": 1,
            "record": None,
            "field": None,
            "reason": "feature is not a GeoJSON Feature object",
        }
    ]


def test_same_plot_id_with_different_geometry_rejects_the_second(tmp_path: Path) -> None:
    moved = polygon(square_ring(LON0 + 0.01, LAT0, 100.0))
    path = write_geojson(
        tmp_path,
        [plot_feature(), plot_feature("230184-101-0008"), plot_feature(geometry=moved)],
    )
    result = read_plots(path)
    assert [r["line"] for r in result.records] == [1, 2]
    [reject] = result.rejects
    assert reject["line"] == 3
    assert reject["record"] == "230184-101-0007"
    assert "already appears at feature 1 with a different geometry" in reject["reason"]


def test_an_exact_repeat_is_read_once_and_a_changed_one_rejected(tmp_path: Path) -> None:
    path = write_geojson(tmp_path, [plot_feature(), plot_feature(), plot_feature(crop="corn")])
    result = read_plots(path)
    assert [r["line"] for r in result.records] == [1]
    [reject] = result.rejects
    assert reject["line"] == 3
    assert reject["field"] == "crop"
    assert "with different crop" in reject["reason"]


# --- files that cannot be read ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        ("plot_id,farm_id\n1,2\n", "not JSON"),
        (json.dumps(plot_feature()), "expected a GeoJSON FeatureCollection, found 'Feature'"),
        (json.dumps({"type": "FeatureCollection"}), "no 'features' list"),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
                    "features": [],
                }
            ),
            "declares CRS 'EPSG:3857'",
        ),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32652"}},
                    "features": [],
                }
            ),
            "must be WGS 84 (EPSG:4326, CRS84) or CGCS2000 (EPSG:4490)",
        ),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "crs": {"type": "name", "properties": {"name": "Beijing grid"}},
                    "features": [],
                }
            ),
            "CRS 'Beijing grid' is not a CRS PROJ knows",
        ),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "crs": {"type": "link", "properties": {"href": "http://example.com/crs"}},
                    "features": [],
                }
            ),
            "does not name a CRS",
        ),
    ],
)
def test_unreadable_file_names_the_file_and_cause(tmp_path: Path, content: str, cause: str) -> None:
    path = tmp_path / "bad plots.geojson"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UnreadableFile) as caught:
        read_plots(path)
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    assert cause in caught.value.cause


def test_missing_file_and_unknown_type_are_unreadable(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.geojson"
    with pytest.raises(UnreadableFile) as caught:
        read_plots(missing)
    assert caught.value.path == str(missing)
    kml = tmp_path / "plots.kml"
    kml.write_text("<kml/>", encoding="utf-8")
    with pytest.raises(UnreadableFile) as caught:
        read_plots(kml)
    assert caught.value.cause.startswith("unsupported file type '.kml'")


@pytest.mark.parametrize(
    "crs",
    [
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}},
        {"type": "name", "properties": {"name": "EPSG:4490"}},
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        {"type": "name", "properties": {"name": "EPSG:4326"}},
        {"type": "EPSG", "properties": {"code": 4326}},
    ],
)
def test_legacy_crs_member_for_wgs84_and_cgcs2000_is_accepted(
    tmp_path: Path, crs: dict[str, Any]
) -> None:
    """CGCS2000 is within centimetres of WGS 84: its coordinates are stored unchanged."""
    feature = plot_feature()
    record = only_record(write_geojson(tmp_path, [feature], crs=crs))
    assert record["geometry"] == feature["geometry"]
    assert record["area_m2"] == pytest.approx(10_000.0, rel=0.005)


def test_gb18030_geojson_is_read(tmp_path: Path) -> None:
    path = tmp_path / "plots.geojson"
    text = json.dumps(
        {"type": "FeatureCollection", "features": [plot_feature()]}, ensure_ascii=False
    )
    path.write_bytes(text.encode("gb18030"))
    assert only_record(path)["township"] == "牛家镇"


# --- GeoPackage and Shapefile ----------------------------------------------------------------


def write_vector(tmp_path: Path, name: str, epsg: int, **columns: Any) -> Path:
    """A one-plot file: the 100 m square (drawn in WGS 84) stored in EPSG:``epsg``."""
    import geopandas

    square = shapely.Polygon(square_ring(LON0, LAT0, 100.0))
    frame = geopandas.GeoDataFrame(
        {"plot_id": ["230184-101-0007"], "farm_id": ["F-0001"], **columns},
        geometry=[square],
        crs="EPSG:4326",
    ).to_crs(epsg)
    path = tmp_path / name
    frame.to_file(path)
    return path


@pytest.mark.parametrize(
    "epsg",
    [
        4526,  # CGCS2000 3-degree GK zone 38 (CM 114 E): far from the plot, still exact
        4530,  # CGCS2000 3-degree GK zone 42 (CM 126 E): Wuchang's own zone
    ],
)
def test_geopackage_in_a_gauss_kruger_zone_is_reprojected(tmp_path: Path, epsg: int) -> None:
    path = write_vector(tmp_path, "plots.gpkg", epsg, county_code=["230184"])
    record = only_record(path)
    assert record["area_m2"] == pytest.approx(10_000.0, rel=0.005)
    ring = square_ring(LON0, LAT0, 100.0)
    got = record["geometry"]["coordinates"][0]
    for (lon, lat), (want_lon, want_lat) in zip(got, ring, strict=True):
        assert lon == pytest.approx(want_lon, abs=1e-8)  # ~1 mm
        assert lat == pytest.approx(want_lat, abs=1e-8)
    assert record["min_lon"] == pytest.approx(LON0, abs=1e-8)


def test_geopackage_features_of_every_kind(tmp_path: Path) -> None:
    import geopandas

    square = shapely.Polygon(square_ring(LON0, LAT0, 100.0))
    second = shapely.Polygon(square_ring(LON0 + 0.01, LAT0, 50.0))
    frame = geopandas.GeoDataFrame(
        {
            "Plot_ID": ["P1", "P2", "P3", "P4"],
            "farm_id": ["F"] * 4,
            "county_code": ["230184"] * 4,
            "declared_area_mu": [15.0, None, 3.0, 1.0],
        },
        geometry=[square, shapely.MultiPolygon([square, second]), None, square.centroid],
        crs="EPSG:4490",
    )
    path = tmp_path / "plots.gpkg"
    frame.to_file(path, layer="plots")
    frame.iloc[:1].to_file(path, layer="roads")  # a second layer: "plots" is the one read
    result = read_plots(path)
    p1, p2 = result.records
    assert p1["geometry"] == {
        "type": "Polygon",
        "coordinates": [square_ring(LON0, LAT0, 100.0)],
    }  # degrees on CGCS2000: kept exactly
    assert p2["geometry"]["type"] == "MultiPolygon"
    assert p2["area_m2"] == pytest.approx(12_500.0, rel=0.005)
    assert p2["declared_area_mu"] is None
    assert [(r["line"], r["record"], r["reason"][:22]) for r in result.rejects] == [
        (3, "P3", "geometry is missing; a"),
        (4, "P4", "geometry is a Point; a"),
    ]


def test_geopackage_with_several_layers_and_none_named_plots(tmp_path: Path) -> None:
    import geopandas

    path = write_vector(tmp_path, "wuchang.gpkg", 4326, county_code=["230184"])  # layer wuchang
    geopandas.read_file(path).to_file(path, layer="more")
    with pytest.raises(UnreadableFile) as caught:
        read_plots(path)
    assert "expected one layer, or one named 'plots'" in caught.value.cause


def test_geopackage_on_another_datum_is_unreadable(tmp_path: Path) -> None:
    path = write_vector(tmp_path, "plots.gpkg", 2366, county_code=["230184"])  # Xian 1980 GK
    with pytest.raises(UnreadableFile, match="Xian 1980") as caught:
        read_plots(path)
    assert "datum shift" in caught.value.cause


def test_shapefile_with_truncated_field_names(tmp_path: Path) -> None:
    """dBASE names stop at 10 characters: county_code arrives as county_cod, and so on."""
    with warnings.catch_warnings():  # geopandas and GDAL say they truncate: that is the point
        warnings.simplefilter("ignore")
        path = write_vector(
            tmp_path,
            "plots.shp",
            4490,
            county_code=["230184"],
            declared_area_mu=[15.0],
            soil_organic_matter_pct=[4.2],
            black_soil_depth_cm=[None],
        )
    record = only_record(path)
    assert record["county_code"] == "230184"
    assert record["declared_area_mu"] == 15.0
    assert record["soil_organic_matter_pct"] == 4.2
    assert record["black_soil_depth_cm"] is None
    assert record["area_m2"] == pytest.approx(10_000.0, rel=0.005)


# --- point in plot ---------------------------------------------------------------------------


def east_of_plot(distance_m: float) -> tuple[float, float]:
    """A point ``distance_m`` due east of the middle of the square's east edge."""
    ring = square_ring(LON0, LAT0, 100.0)
    edge_lon, mid_lat = ring[1][0], (ring[1][1] + ring[2][1]) / 2
    lon, lat, _ = GEOD.fwd(edge_lon, mid_lat, 90.0, distance_m)
    return lon, lat


def test_point_inside_plot() -> None:
    plot = polygon(square_ring(LON0, LAT0, 100.0))
    assert point_in_plot(plot, LON0 + 0.0005, LAT0 + 0.0004) == (True, 0.0)


@pytest.mark.parametrize(("distance_m", "matches"), [(10.0, True), (100.0, False)])
def test_point_outside_plot_distance_in_metres(distance_m: float, matches: bool) -> None:
    plot = polygon(square_ring(LON0, LAT0, 100.0))
    inside, distance = point_in_plot(plot, *east_of_plot(distance_m), tolerance_m=30.0)
    assert inside is matches
    assert distance == pytest.approx(distance_m, abs=0.5)


def test_point_north_of_plot() -> None:
    """North-south: 50 m is ~0.00045 degrees of latitude, not of longitude."""
    ring = square_ring(LON0, LAT0, 100.0)
    lon, lat, _ = GEOD.fwd(LON0 + 0.0006, ring[2][1], 0.0, 50.0)
    inside, distance = point_in_plot(polygon(ring), lon, lat, tolerance_m=30.0)
    assert inside is False
    assert distance == pytest.approx(50.0, abs=0.5)


def test_importing_geo_does_not_load_gdal_or_pandas() -> None:
    """The CLI and web import geo for point checks; GDAL and pandas load only for a
    GeoPackage or Shapefile."""
    code = "import sys, geo; print(sorted({'pyogrio', 'geopandas', 'pandas'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
