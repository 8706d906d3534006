"""The sample-season generator (traceability/sample.py): layout, codes, yields, mass balance,
cold chain, sales and the deliberate faults, checked from the files alone."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from biip import ParseError
from biip.gln import Gln
from biip.gtin import Gtin
from pyproj import Geod
from shapely import STRtree
from shapely.geometry import Point, shape

from traceability import sample
from traceability.sample import (
    DRYING_LOSS,
    FAULTS,
    MILLING_YIELD,
    MU_M2,
    OVER_OUTPUT_YIELD,
    YIELDS,
    write_sample,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
GEOD = Geod(ellps="WGS84")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "sample.md"

DEFAULT_FILES = {
    "certificates/certificates.csv",
    "parties/farms_001.csv",
    "parties/partners.csv",
    "plots/230113_shuangcheng.geojson",
    "plots/230124_fangzheng.geojson",
    "plots/230184_wuchang.geojson",
    "plots/231283_hailun.geojson",
    "processing/late_packing.csv",
    "processing/processing_001.csv",
    "production/production_001.csv",
    "production/resend_2026-10-28.csv",
    "products/products.csv",
    "sales/late_delivery.csv",
    "sales/sales_001.csv",
    "transport/shipments_001.csv",
    "transport/telemetry_001.jsonl",
}


# --- reading the files back, independently of the project's readers ---------------------------


def text_of(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def rows(path: Path) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text_of(path), newline=""))
    header = [h.strip().lower() for h in next(reader)]
    return [dict(zip(header, r, strict=True)) for r in reader]


def source(outdir: Path, pattern: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for path in sorted(outdir.glob(pattern)):
        for row in rows(path):
            row["_file"] = path.relative_to(outdir).as_posix()
            out.append(row)
    return out


def features(outdir: Path) -> list[dict]:
    out = []
    for path in sorted((outdir / "plots").glob("*.geojson")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["type"] == "FeatureCollection"
        assert "crs" not in doc  # no crs member: WGS 84 by RFC 7946
        out += doc["features"]
    return out


def telemetry(outdir: Path) -> Iterator[dict]:
    for path in sorted((outdir / "transport").glob("telemetry*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)


def when(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=SHANGHAI)


def tenths(kg: str) -> int:
    return round(float(kg) * 10)


def lot_list(text: str) -> list[tuple[str, int]]:
    return [(p.rpartition(":")[0], tenths(p.rpartition(":")[2])) for p in text.split(";") if p]


def gtin14(code: str) -> str:
    return Gtin.parse(code).as_gtin_14()


def good_products(outdir: Path) -> dict[str, dict[str, str]]:
    """GTIN-14 -> product row, leaving out the row with the deliberately bad check digit."""
    out = {}
    for p in rows(outdir / "products" / "products.csv"):
        try:
            out[gtin14(p["gtin"])] = p
        except ParseError:
            continue
    return out


def geodesic_mu(geom: dict) -> float:
    return abs(GEOD.geometry_area_perimeter(shape(geom))[0]) / MU_M2


def fault_record(kind: str) -> str:
    return next(f.record for f in FAULTS if f.kind == kind)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def season(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("season")
    write_sample(out)
    return out


@pytest.fixture(scope="session")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("big")
    write_sample(out, plots=2000, seed=7)
    return out


@pytest.fixture(params=["season", "big"])
def any_season(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(request.param)


# --- layout and determinism --------------------------------------------------------------------


def test_default_layout(tmp_path: Path) -> None:
    written = write_sample(tmp_path)
    on_disk = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert {p.relative_to(tmp_path).as_posix() for p in written} == DEFAULT_FILES == on_disk


def test_same_seed_same_bytes_other_seed_other_season(tmp_path: Path) -> None:
    a, b, c = (
        write_sample(tmp_path / name, plots=40, seed=s)
        for name, s in (("a", 11), ("b", 11), ("c", 12))
    )
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "c") for p in c]
    prod = "production/production_001.csv"
    assert (tmp_path / "a" / prod).read_bytes() != (tmp_path / "c" / prod).read_bytes()


def test_plots_out_of_range_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plots must be between"):
        write_sample(tmp_path, plots=sample.MIN_PLOTS - 1)


def test_progress_bar_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_sample(tmp_path, plots=sample.MIN_PLOTS, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "sales" in captured.err


def test_2000_plots_write_the_expected_counts(big: Path) -> None:
    feats = features(big)
    assert len(feats) == 2000
    by_county = defaultdict(int)
    for f in feats:
        by_county[f["properties"]["county_code"]] += 1
    assert by_county == {"230184": 900, "230124": 200, "231283": 540, "230113": 360}
    harvests = [r for r in source(big, "production/production_*.csv") if r["event"] == "harvest"]
    assert len(harvests) == 2000 + 1  # one per plot, plus the negative-quantity fault
    farms = {r["party_id"] for r in source(big, "parties/farms_*.csv")}
    plots_of = defaultdict(int)
    for f in feats:
        plots_of[f["properties"]["farm_id"]] += 1
    assert set(plots_of) == farms
    assert max(plots_of.values()) >= 4 and min(plots_of.values()) == 1
    roles = {r["role"] for r in source(big, "parties/*.csv")}
    assert roles == {"farm", "coop", "processor", "carrier", "warehouse", "retailer"}
    # Nothing is left hanging: every harvest and every intermediate lot goes on to a next step.
    processing = source(big, "processing/*.csv")
    consumed = {lot for r in processing for lot, _ in lot_list(r["inputs"])}
    assert {h["lot_id"] for h in harvests if float(h["quantity_kg"]) > 0} <= consumed
    assert {r["output_lot_id"] for r in processing if r["step"] != "packing"} <= consumed
    assert len(list(telemetry(big))) > 10 * len(source(big, "transport/shipments*.csv"))


def test_big_sources_are_split_into_numbered_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sample, "MAX_ROWS", 50)
    write_sample(tmp_path, plots=sample.MIN_PLOTS)
    for pattern in ("production/production_*.csv", "transport/telemetry_*.jsonl"):
        parts = sorted(tmp_path.glob(pattern))
        assert len(parts) >= 2, pattern
        assert parts[0].name.endswith("_001" + parts[0].suffix)
        sizes = [len(p.read_text(encoding="utf-8").splitlines()) for p in parts]
        header = 1 if pattern.endswith(".csv") else 0
        assert all(n <= 50 + header for n in sizes) and sizes[0] == 50 + header


# --- codes -------------------------------------------------------------------------------------


def test_every_gln_validates(any_season: Path) -> None:
    parties = source(any_season, "parties/*.csv")
    glns = [p["gln"] for p in parties if p["gln"]]
    assert len(glns) >= 10
    for code in glns:
        assert code[:3] in {f"69{d}" for d in range(10)}, code  # GS1 China prefixes 690-699
        Gln.parse(code)
    assert len(set(glns)) == len(glns)
    assert len({p["party_id"] for p in parties}) == len(parties)


def test_every_gtin_validates_except_the_deliberate_one(any_season: Path) -> None:
    products = rows(any_season / "products" / "products.csv")
    lengths = {len(p["gtin"]) for p in products}
    assert {13, 14} <= lengths
    bad = []
    for p in products:
        try:
            Gtin.parse(p["gtin"])
        except ParseError as exc:
            assert "check digit" in str(exc).lower()
            bad.append(p)
    assert [b["name_zh"][:4] for b in bad] == ["五常糙米"]
    good = {gtin14(p["gtin"]) for p in products if p not in bad}
    used = {
        gtin14(r["output_gtin"]) for r in source(any_season, "processing/*.csv") if r["output_gtin"]
    }
    used |= {gtin14(r["gtin"]) for r in source(any_season, "sales/*.csv")}
    assert used <= good
    assert {p["storage"] for p in products} == {"cool", "ambient", "chilled"}
    assert {p["unit"] for p in products} == {"bag", "box"}


# --- plots and harvests ------------------------------------------------------------------------


def test_plots_are_valid_non_overlapping_polygons(any_season: Path) -> None:
    feats = features(any_season)
    geoms = []
    for f in feats:
        props = f["properties"]
        assert re.fullmatch(r"(230184|230124|231283|230113)-\d{3}-\d{4}", props["plot_id"])
        assert props["plot_id"].startswith(props["county_code"])
        geom = shape(f["geometry"])
        assert geom.geom_type == "Polygon" and geom.is_valid, props["plot_id"]
        assert geom.exterior.is_ccw  # RFC 7946 right-hand rule
        for lon, lat in f["geometry"]["coordinates"][0]:
            assert 125 < lon < 130 and 44 < lat < 48
        mu = geodesic_mu(f["geometry"])
        assert 3 < mu < 60, (props["plot_id"], mu)
        assert abs(props["declared_area_mu"] / mu - 1) < 0.04
        assert 3 <= props["soil_organic_matter_pct"] <= 6
        assert 30 <= props["black_soil_depth_cm"] <= 80
        geoms.append(geom)
    assert len({f["properties"]["plot_id"] for f in feats}) == len(feats)
    for path in (any_season / "plots").glob("*.geojson"):
        pairs = re.findall(r"\[(-?[\d.]+), (-?[\d.]+)\]", path.read_text(encoding="utf-8"))
        assert pairs and all(len(n.split(".")[1]) == 7 for pair in pairs for n in pair)
    tree = STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    assert all(a == b for a, b in zip(left, right, strict=True)), "plots overlap or touch"


def test_harvest_yields_and_points(any_season: Path) -> None:
    plots = {f["properties"]["plot_id"]: f for f in features(any_season)}
    crop_of = {pid: f["properties"]["crop"] for pid, f in plots.items()}
    production = source(any_season, "production/production_*.csv")
    harvests = [r for r in production if r["event"] == "harvest" and float(r["quantity_kg"]) > 0]
    assert len(harvests) == len(plots)
    for h in harvests:
        geom = plots[h["plot_id"]]["geometry"]
        lo, hi = YIELDS[crop_of[h["plot_id"]]]
        per_mu = float(h["quantity_kg"]) / geodesic_mu(geom)
        assert lo * 0.99 <= per_mu <= hi * 1.01, (h["record_id"], per_mu)
        inside = shape(geom).contains(Point(float(h["lon"]), float(h["lat"])))
        assert inside == (h["record_id"] != fault_record("outside_plot")), h["record_id"]
        assert re.fullmatch(r"H-2026-\d{6}", h["lot_id"])
        assert datetime.fromisoformat(h["time"][:10]).month in (8, 9, 10)
    assert len({h["lot_id"] for h in harvests}) == len(harvests)
    corn = [h for h in harvests if h["crop"] == "corn"]
    assert all(h["time"][5:7] == "08" for h in corn)
    sowing = [r for r in production if r["event"] == "sowing" and r["time"][:4] == "2026"]
    assert all(r["time"][5:7] == "05" for r in sowing)
    naive = [r for r in production if re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:]+", r["time"])]
    assert 0 < len(naive) < len(production) / 2  # mostly +08:00, some local times


def test_inputs_carry_registration_numbers_reused_across_plots(any_season: Path) -> None:
    inputs = [r for r in source(any_season, "production/production_*.csv") if r["event"] == "input"]
    per_plot = defaultdict(int)
    for r in inputs:
        assert r["input_name"] and r["dose"] and r["dose_unit"]
        per_plot[r["plot_id"]] += 1
    regs = defaultdict(set)
    for r in inputs:
        regs[r["input_reg_no"]].add(r["plot_id"])
    assert any(re.fullmatch(r"PD\d{8}", reg) for reg in regs)
    assert max(len(p) for p in regs.values()) >= 5  # a recall by input reaches several plots
    assert regs[sample.RECALL_REG_NO] == set(sample.RECALL_PLOTS)
    known = {f["properties"]["plot_id"] for f in features(any_season)}
    assert all(1 <= per_plot[p] <= 3 for p in known)


# --- processing --------------------------------------------------------------------------------


def lots_and_processing(outdir: Path) -> tuple[dict[str, int], list[dict[str, str]]]:
    harvests = [
        r
        for r in source(outdir, "production/production_*.csv")
        if r["event"] == "harvest" and float(r["quantity_kg"]) > 0
    ]
    kg = {h["lot_id"]: tenths(h["quantity_kg"]) for h in harvests}
    return kg, source(outdir, "processing/*.csv")


def test_every_output_lot_is_new_and_unique(any_season: Path) -> None:
    harvest_kg, processing = lots_and_processing(any_season)
    outputs = [r["output_lot_id"] for r in processing]
    assert len(set(outputs)) == len(outputs)
    assert not set(outputs) & set(harvest_kg)
    assert len({r["record_id"] for r in processing}) == len(processing)


def test_mass_balance_holds_for_every_non_fault_record(any_season: Path) -> None:
    harvest_kg, processing = lots_and_processing(any_season)
    lot_kg = dict(harvest_kg)
    lot_kg.update({r["output_lot_id"]: tenths(r["output_quantity_kg"]) for r in processing})
    # The pack size is in the product name ("五常大米 5kg 袋装", "... 冷链箱 4kg").
    unit = {
        gtin: tenths(p["name_zh"].split("kg")[0].split()[-1])
        for gtin, p in good_products(any_season).items()
    }
    consumed: dict[str, int] = defaultdict(int)
    splits: dict[str, int] = defaultdict(int)
    over = fault_record("over_output")
    for r in processing:
        inputs = lot_list(r["inputs"])
        total_in = sum(kg for _, kg in inputs)
        out = tenths(r["output_quantity_kg"])
        for lot, kg in inputs:
            assert lot in lot_kg, f"{r['record_id']} consumes unknown lot {lot}"
            consumed[lot] += kg
        ratio = out / total_in
        step = r["step"]
        if step == "drying":
            losses = [v for pair in DRYING_LOSS.values() for v in pair]
            assert 1 - max(losses) - 0.001 <= ratio <= 1 - min(losses), r["record_id"]
            assert total_in == lot_kg[inputs[0][0]]  # the whole harvest is dried
        elif step == "milling" and r["record_id"] == over:
            assert ratio == pytest.approx(OVER_OUTPUT_YIELD, abs=0.001)
        elif step == "milling":
            assert MILLING_YIELD[0] - 0.001 <= ratio <= MILLING_YIELD[1], r["record_id"]
        elif step == "packing":
            assert out == total_in
            units = int(r["output_units"])
            assert units * unit[gtin14(r["output_gtin"])] == out, r["record_id"]
        else:
            assert step in ("blending", "splitting") and out == total_in, r["record_id"]
            if step == "splitting":
                splits[inputs[0][0]] += 1
    for lot, kg in consumed.items():
        assert kg <= lot_kg[lot], f"lot {lot} gives out {kg / 10} kg of {lot_kg[lot] / 10}"
    assert any(n == 2 for n in splits.values())
    blends = [r for r in processing if r["step"] == "blending"]
    assert blends and all(len(lot_list(r["inputs"])) >= 2 for r in blends)
    steps = {r["step"] for r in processing}
    assert steps == {"drying", "milling", "blending", "splitting", "packing"}


def test_over_output_milling_is_the_only_one_above_075(any_season: Path) -> None:
    _, processing = lots_and_processing(any_season)
    above = [
        r["record_id"]
        for r in processing
        if r["step"] == "milling"
        and tenths(r["output_quantity_kg"]) > 0.75 * tenths(r["inputs"].rpartition(":")[2])
    ]
    assert above == [fault_record("over_output")]


# --- transport ---------------------------------------------------------------------------------


def packed_lots(outdir: Path) -> dict[str, dict[str, str]]:
    return {
        r["output_lot_id"]: r for r in source(outdir, "processing/*.csv") if r["step"] == "packing"
    }


def storage_of(outdir: Path) -> dict[str, str]:
    """packed lot -> storage class of its product."""
    storage = {gtin: p["storage"] for gtin, p in good_products(outdir).items()}
    return {lot: storage[gtin14(r["output_gtin"])] for lot, r in packed_lots(outdir).items()}


def test_shipments_carry_packed_lots_within_what_was_packed(any_season: Path) -> None:
    packed = packed_lots(any_season)
    parties = {p["party_id"]: p for p in source(any_season, "parties/*.csv")}
    shipments = source(any_season, "transport/shipments*.csv")
    out_of: dict[tuple[str, str], int] = defaultdict(int)
    for s in shipments:
        assert parties[s["carrier_id"]]["role"] == "carrier"
        assert parties[s["to_party"]]["role"] in ("warehouse", "retailer")
        assert s["device_id"]
        if s["arrived_at"]:
            assert when(s["arrived_at"]) > when(s["departed_at"])
        for lot, kg in lot_list(s["lots"]):
            assert lot in packed, lot
            assert when(s["departed_at"]) > when(packed[lot]["time"])
            out_of[(s["from_party"], lot)] += kg
    for (origin, lot), kg in out_of.items():
        assert kg <= tenths(packed[lot]["output_quantity_kg"]), (origin, lot)
    assert sum(1 for s in shipments if not s["arrived_at"]) == 1  # one still on the road


def test_telemetry_fits_the_storage_class_except_the_faults(any_season: Path) -> None:
    shipments = source(any_season, "transport/shipments*.csv")
    storage = storage_of(any_season)
    by_device = defaultdict(list)
    for s in shipments:
        by_device[s["device_id"]].append(s)
    ranges = {"chilled": (1.0, 4.0), "cool": (5.0, 14.0), "ambient": (5.0, 25.0)}
    seen: dict[str, list[datetime]] = defaultdict(list)
    hot: dict[str, list[datetime]] = defaultdict(list)
    for reading in telemetry(any_season):
        ts = when(reading["ts"])
        owners = [
            s
            for s in by_device[reading["device_id"]]
            if when(s["departed_at"]) <= ts and (not s["arrived_at"] or ts <= when(s["arrived_at"]))
        ]
        assert len(owners) == 1, reading
        s = owners[0]
        kinds = {storage[lot] for lot, _ in lot_list(s["lots"])}
        assert len(kinds) == 1
        lo, hi = ranges[kinds.pop()]
        seen[s["shipment_id"]].append(ts)
        if not lo <= reading["temp_c"] <= hi:
            hot[s["shipment_id"]].append(ts)
            assert 5 <= reading["temp_c"] <= 12
        assert 0 <= reading["humidity_pct"] <= 100
    assert set(hot) == {sample.EXCURSION_SHIPMENT}
    outside = hot[sample.EXCURSION_SHIPMENT]
    assert max(outside) - min(outside) > timedelta(hours=1)
    for sid, stamps in seen.items():
        widest = max((b - a for a, b in pairwise(stamps)), default=timedelta(0))
        if sid == sample.GAP_SHIPMENT:
            assert widest >= timedelta(hours=3)
        else:
            assert widest == timedelta(minutes=15) or len(stamps) == 1, sid
    assert {s["shipment_id"] for s in shipments} == set(seen)


def test_one_carrier_logs_in_utc(season: Path) -> None:
    stamps = [r["ts"] for r in telemetry(season)]
    assert any(t.endswith("Z") for t in stamps) and any(t.endswith("+08:00") for t in stamps)


# --- sales -------------------------------------------------------------------------------------


def test_sales_only_of_received_lots_and_within_units(any_season: Path) -> None:
    packed = packed_lots(any_season)
    unit_kg = {
        lot: tenths(r["output_quantity_kg"]) // int(r["output_units"]) for lot, r in packed.items()
    }
    received: dict[tuple[str, str], int] = defaultdict(int)
    arrival: dict[tuple[str, str], datetime] = {}
    for s in source(any_season, "transport/shipments*.csv"):
        if s["arrived_at"]:
            for lot, kg in lot_list(s["lots"]):
                key = (s["to_party"], lot)
                received[key] += kg // unit_kg[lot]
                arrival[key] = min(arrival.get(key, when(s["arrived_at"])), when(s["arrived_at"]))
    sold: dict[tuple[str, str], int] = defaultdict(int)
    sales = source(any_season, "sales/*.csv")
    for r in sales:
        key = (r["retailer_id"], r["lot_id"])
        assert key in received, f"{r['record_id']}: {key} never arrived there"
        assert when(r["time"]) > arrival[key]
        assert gtin14(r["gtin"]) == gtin14(packed[r["lot_id"]]["output_gtin"])
        assert r["channel"] in ("store", "ecommerce", "wholesale")
        sold[key] += int(r["quantity_units"])
    over = {key[1] for key, units in sold.items() if units > received[key]}
    assert over == {sample.OVERSOLD_LOT}
    oversold = sum(u for key, u in sold.items() if key[1] == sample.OVERSOLD_LOT)
    assert oversold == int(packed[sample.OVERSOLD_LOT]["output_units"]) + 40
    assert len({r["record_id"] for r in sales}) == len(sales)
    assert {r["channel"] for r in sales} == {"store", "ecommerce", "wholesale"}


# --- the deliberate faults ---------------------------------------------------------------------


def test_rejectable_farm_records_are_there(any_season: Path) -> None:
    production = {r["record_id"]: r for r in source(any_season, "production/production_*.csv")}
    bad_time = production[fault_record("bad_time")]["time"]
    with pytest.raises(ValueError):
        datetime.fromisoformat(bad_time)
    negative = production[fault_record("negative_quantity")]
    assert float(negative["quantity_kg"]) < 0
    unknown = production[fault_record("unknown_plot")]
    assert unknown["plot_id"] not in {f["properties"]["plot_id"] for f in features(any_season)}


def test_redelivery_has_one_identical_and_one_conflicting_record(any_season: Path) -> None:
    first = {r["record_id"]: r for r in source(any_season, "production/production_*.csv")}
    resend = rows(any_season / "production" / "resend_2026-10-28.csv")
    by_id = {r["record_id"]: r for r in resend}
    assert by_id[fault_record("duplicate")] == {
        k: v for k, v in first[fault_record("duplicate")].items() if k != "_file"
    }
    conflict, original = by_id[fault_record("conflict")], first[fault_record("conflict")]
    changed = {k for k in conflict if conflict[k] != original[k]}
    assert changed == {"quantity_kg"}


def test_late_sales_wait_for_the_late_packing_file(any_season: Path) -> None:
    late_sales = rows(any_season / "sales" / "late_delivery.csv")
    late_packing = rows(any_season / "processing" / "late_packing.csv")
    on_time = {r["output_lot_id"] for r in source(any_season, "processing/processing_*.csv")}
    lots = {r["lot_id"] for r in late_sales}
    assert lots and lots == {r["output_lot_id"] for r in late_packing}
    assert not lots & on_time
    main_sales = {r["lot_id"] for r in source(any_season, "sales/sales_*.csv")}
    assert not lots & main_sales


def test_encodings_and_header_variations(season: Path) -> None:
    products = (season / "products" / "products.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        products.decode("utf-8")
    assert "五常大米" in products.decode("gb18030")
    partners = (season / "parties" / "partners.csv").read_bytes()
    assert partners.startswith(b"\xef\xbb\xbf")
    assert "冷链" in partners.decode("utf-8-sig")
    header = (season / "sales" / "sales_001.csv").read_text(encoding="utf-8").splitlines()[0]
    cells = header.split(",")
    assert any(c != c.strip() for c in cells)
    assert any(c.strip().isupper() for c in cells)
    assert "remark" in cells


def test_docs_name_every_fault() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for fault in FAULTS:
        assert f"`{fault.kind}`" in text, fault.kind
        if fault.record:
            assert fault.record in text, fault.record
    for name in ("over_output", "oversold", "outside_plot", "excursion", "gap"):
        assert name in text


def test_docs_fault_table_matches_the_default_run(season: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    table = re.findall(r"^\| `(\w+)` \| (\S+) \| (\d+) \| (\S+) \|", text, re.MULTILINE)
    assert {kind for kind, *_ in table} == {f.kind for f in FAULTS}
    for kind, file, line, record in table:
        lines = text_of(season / file).splitlines()
        assert record in lines[int(line) - 1], (kind, file, line, record)
    in_transit = [s for s in source(season, "transport/shipments*.csv") if not s["arrived_at"]]
    assert f"`{in_transit[0]['shipment_id']}` in the default run" in text
