"""What land registries send: zipped and GBK Shapefiles, Gauss-Kruger zones, GCJ-02 files,
and the round trip GK zone -> store -> `heitu export plots` (docs/plots.md, docs/cli.md)."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod

from geo import geometry_area_m2, read_plots
from geo.crs import wgs84_to_gcj02_xy
from tests.season import PARTIES, write_csv
from traceability.cli import main
from traceability.errors import UnreadableFile
from traceability.pipeline import ingest_dir

GEOD = Geod(ellps="WGS84")
# A plot near Wuchang (CM 126 E zone 42: EPSG:4530 with the zone prefix, 4551 without).
TRUTH = shapely.Polygon(
    [(127.1500, 44.9300), (127.1530, 44.9301), (127.1528, 44.9322), (127.1499, 44.9320)]
)
PROPS = {
    "plot_id": "230184-101-0001",
    "farm_id": "F1",
    "county_code": "230184",
    "township": "民乐乡",
    "crop": "rice",
}


def frame(crs: int | str = 4490) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {k: [v] for k, v in PROPS.items()}, geometry=[TRUTH], crs="EPSG:4490"
    ).to_crs(crs)


def write_shapefile(folder: Path, crs: int, encoding: str = "UTF-8", cpg: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plots.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # field names cut to 10 characters: expected
        frame(crs).to_file(path, encoding=encoding)
    if not cpg:
        path.with_suffix(".cpg").unlink()
    return path


def max_offset_m(geometry: dict[str, Any], truth: shapely.Geometry = TRUTH) -> float:
    """Largest distance (m) between the read vertices and the truth's, same order or not."""
    got = shapely.get_coordinates(shapely.geometry.shape(geometry))[:-1]
    want = shapely.get_coordinates(truth)[:-1]
    worst = 0.0
    for lon, lat in got:
        _, _, d = GEOD.inv(np.full(len(want), lon), np.full(len(want), lat), want[:, 0], want[:, 1])
        worst = max(worst, float(np.min(d)))
    return worst


def only(path: Path) -> dict[str, Any]:
    result = read_plots(path)
    assert result.rejects == []
    [record] = result.records
    return record


def test_zipped_shapefile_is_read(tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path / "src", 4490)
    archive = tmp_path / "wuchang.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in shp.parent.iterdir():
            z.write(part, f"registry/{part.name}")  # in a folder, as zip tools often do
    record = only(archive)
    assert record["plot_id"] == PROPS["plot_id"] and record["township"] == "民乐乡"
    assert record["county_code"] == "230184"
    assert max_offset_m(record["geometry"]) < 0.01


@pytest.mark.parametrize("zipped", [False, True])
def test_gbk_shapefile_without_cpg(tmp_path: Path, zipped: bool) -> None:
    shp = write_shapefile(tmp_path / "src", 4490, encoding="GBK", cpg=False)
    path = shp
    if zipped:
        path = tmp_path / "gbk.zip"
        with zipfile.ZipFile(path, "w") as z:
            for part in shp.parent.iterdir():
                z.write(part, part.name)
    record = only(path)
    assert record["township"] == "民乐乡"


@pytest.mark.parametrize(
    ("epsg", "suffix"),
    [
        (4530, ".gpkg"),  # zone 42 with the zone number in the false easting
        (4551, ".shp"),  # CM 126 E without it: the .prj names the central meridian
        (4530, ".shp"),
    ],
)
def test_gauss_kruger_zone_read_back_within_half_a_metre(
    tmp_path: Path, epsg: int, suffix: str
) -> None:
    if suffix == ".shp":
        path = write_shapefile(tmp_path, epsg)
    else:
        path = tmp_path / "plots.gpkg"
        frame(epsg).to_file(path, layer="plots")
    record = only(path)
    assert max_offset_m(record["geometry"]) < 0.5
    truth_m2 = abs(GEOD.geometry_area_perimeter(TRUTH)[0])
    assert record["area_m2"] == pytest.approx(truth_m2, rel=1e-3)


def test_geojson_with_a_gauss_kruger_crs_member(tmp_path: Path) -> None:
    document = json.loads(frame(4530).to_json())
    document["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4530"}}
    path = tmp_path / "gk.geojson"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert max_offset_m(only(path)["geometry"]) < 0.5


def gcj_document(declare: bool) -> dict[str, Any]:
    xy = shapely.get_coordinates(TRUTH)
    lon, lat = wgs84_to_gcj02_xy(xy[:, 0], xy[:, 1])
    ring = np.column_stack([lon, lat]).tolist()
    document: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": PROPS,
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    if declare:
        document["coordinate_system"] = "GCJ-02"
    return document


def test_declared_gcj02_is_converted_to_wgs84(tmp_path: Path) -> None:
    path = tmp_path / "amap.geojson"
    path.write_text(json.dumps(gcj_document(declare=True)), encoding="utf-8")
    assert max_offset_m(only(path)["geometry"]) < 1.0


def test_gcj02_sidecar_declares_it_and_nothing_is_guessed(tmp_path: Path) -> None:
    path = tmp_path / "amap.geojson"
    path.write_text(json.dumps(gcj_document(declare=False)), encoding="utf-8")
    assert max_offset_m(only(path)["geometry"]) > 300  # undeclared: kept as WGS 84
    path.with_suffix(".gcj02").write_text("")
    assert max_offset_m(only(path)["geometry"]) < 1.0


def test_unknown_coordinate_system_is_unreadable(tmp_path: Path) -> None:
    document = gcj_document(declare=False)
    document["coordinate_system"] = "BD-09"
    path = tmp_path / "baidu.geojson"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(UnreadableFile, match="BD-09"):
        read_plots(path)


def test_gauss_kruger_round_trip_through_the_store_and_export(
    inbox: Path, sqlite_url: str, tmp_path: Path
) -> None:
    (inbox / "plots").mkdir()
    frame(4530).to_file(inbox / "plots" / "registry.gpkg", layer="plots")
    write_csv(inbox / "parties" / "parties.csv", PARTIES)
    result = ingest_dir(inbox)
    assert result["sources"]["plots"]["loaded"] == 1
    out = tmp_path / "out" / "wuchang.geojson"
    assert main(["export", "plots", "--county", "230184", "--out", str(out)]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    [feature] = document["features"]
    assert feature["properties"]["ProducerCountry"] == "CN"
    assert feature["properties"]["ProductionPlace"] == "五常市 民乐乡"
    assert feature["properties"]["harvest_date"] is None
    ring = feature["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    assert all(len(str(v).split(".")[-1]) <= 6 for pos in ring for v in pos)
    record = only(out)  # the export passes the import rules
    assert max_offset_m(record["geometry"]) < 0.5
    truth_m2 = abs(GEOD.geometry_area_perimeter(TRUTH)[0])
    assert geometry_area_m2(feature["geometry"]) == pytest.approx(truth_m2, rel=1e-3)
    assert feature["properties"]["Area"] == pytest.approx(truth_m2 / 10_000, rel=1e-3)
