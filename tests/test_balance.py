"""Mass balance at scale, hand-checked: lots, processors by month, yields per mu against the
crop's ceiling and the county's 99th percentile, brands against what their county grew."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.season import GTIN_RICE, PROCESSING, PRODUCTS, SALES, SHIPMENTS, write_csv, write_season
from traceability import balance
from traceability.checks import run_checks
from traceability.pipeline import ingest_dir
from traceability.store import open_store

GTIN_HAILUN = "06901234567816"  # valid check digit


def test_lot_balance_and_processor_months(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox, store_url)
    eng = open_store(store_url)
    lots = {r["lot"]: r for r in balance.lot_balance(eng)}
    assert lots["M1"] == {
        "lot": "M1",
        "step": "milling",
        "gtin": None,
        "plot": None,
        "made_by": "MILL",
        "input_kg": 1900.0,
        "output_kg": 1300.0,
        "loss_kg": 600.0,
        "consumed_kg": 1000.0,
        "shipped_kg": 0.0,
        "units": None,
        "sold_units": 0,
        "sold_kg": 0.0,
    }
    assert lots["K1"]["shipped_kg"] == 1000 and lots["K1"]["sold_units"] == 15
    assert lots["K1"]["sold_kg"] == 75
    assert lots["H1"]["input_kg"] is None and lots["H1"]["consumed_kg"] == 1000
    months = {(r["month"], r["step"]): r for r in balance.processor_months(eng)}
    # Milling X3 and X4 on 29 Sep (Asia/Shanghai): 1900 + 2000 kg in, 1300 + 1360 out.
    milling = months[("2026-09", "milling")]
    assert milling["transformations"] == 2 and milling["input_kg"] == 3900
    assert milling["output_kg"] == 2660 and milling["yield"] == pytest.approx(0.6821, abs=1e-4)
    # Packing on 1 Oct 08:00 +08:00 is 1 Oct 00:00 UTC: still October in Harbin.
    assert months[("2026-10", "packing")]["transformations"] == 2


def _many_plots(inbox: Path, yields: list[float]) -> None:
    """A county of len(yields) identical plots, harvested at the given kg per mu."""
    from tests.season import PARTIES, plots_geojson

    plots = [(f"Q{i:02d}", "F1", 127.0 + 0.003 * i, 45.0) for i in range(len(yields))]
    (inbox / "plots").mkdir(parents=True)
    (inbox / "plots" / "q.geojson").write_text(json.dumps(plots_geojson(plots)))
    write_csv(inbox / "parties" / "p.csv", PARTIES)
    rows = [["record_id", "farm_id", "plot_id", "event", "time", "lot_id", "quantity_kg"]]
    from geo import geometry_area_m2

    area_mu = geometry_area_m2(plots_geojson(plots)["features"][0]["geometry"]) / 666.67
    for i, kg_per_mu in enumerate(yields):
        rows.append(
            [
                f"R{i}",
                "F1",
                f"Q{i:02d}",
                "harvest",
                "2026-09-25T10:00:00+08:00",
                f"HQ{i}",
                f"{kg_per_mu * area_mu:.3f}",
            ]
        )
    write_csv(inbox / "production" / "h.csv", rows)


def test_yield_over_ceiling_and_county_p99(inbox: Path, sqlite_url: str) -> None:
    # 39 plots at 500 kg/mu and one at 900: p99 of the 40 = 500 + 0.61 x 400 = 744 kg/mu,
    # and 900 > 744 x 1.10; 900 also breaks the rice ceiling of 800 kg/mu.
    _many_plots(inbox, [500.0] * 39 + [900.0])
    ingest_dir(inbox)
    found = [f for f in run_checks(open_store())["mass_balance"] if f["kind"].startswith("yield")]
    kinds = sorted((f["kind"], f["plot"]) for f in found)
    assert kinds == [("yield_over_ceiling", "Q39"), ("yield_over_county_p99", "Q39")]
    ceiling = next(f for f in found if f["kind"] == "yield_over_ceiling")
    assert ceiling["kg_per_mu"] == pytest.approx(900, abs=0.01) and ceiling["crop"] == "rice"


def test_yield_p99_needs_enough_plots(inbox: Path, sqlite_url: str) -> None:
    _many_plots(inbox, [500.0] * 10 + [790.0])  # too few plots for a percentile
    ingest_dir(inbox)
    assert not [
        f for f in run_checks(open_store())["mass_balance"] if f["kind"].startswith("yield")
    ]


def test_brand_sold_beyond_what_its_county_grew(inbox: Path, store_url: str) -> None:
    write_season(inbox)  # Wuchang plots only
    header = PRODUCTS[0]
    write_csv(
        inbox / "products" / "products.csv",
        [*PRODUCTS, [GTIN_HAILUN, "海伦大米 5kg", "Hailun rice 5 kg", "rice", "cool", "bag"]],
    )
    assert header[0] == "gtin"
    write_csv(
        inbox / "processing" / "processing.csv",
        [
            *PROCESSING,
            [
                "X9",
                "MILL",
                "2026-10-01T10:00:00+08:00",
                "packing",
                "B1:200",
                "K9",
                GTIN_HAILUN,
                "200",
                "40",
            ],
        ],
    )
    write_csv(
        inbox / "transport" / "shipments.csv",
        [
            *SHIPMENTS,
            [
                "S9",
                "CAR",
                "",
                "MILL",
                "R1",
                "2026-10-02T08:00:00+08:00",
                "2026-10-02T10:00:00+08:00",
                "K9:200",
            ],
        ],
    )
    write_csv(
        inbox / "sales" / "sales.csv",
        [*SALES, ["SA9", "R1", "2026-10-03T11:00:00+08:00", "K9", GTIN_HAILUN, "10", "store"]],
    )
    ingest_dir(inbox, store_url)
    eng = open_store(store_url)
    view = {b["county"]: b for b in balance.brand_view(eng)}
    assert view["230184"]["gtins"] == [GTIN_RICE] and view["230184"]["sold_kg"] == 75
    assert view["230184"]["county_harvested_kg"] == 6000
    assert view["230184"]["max_product_kg"] == 4500  # white rice <= 0.75 of paddy
    [finding] = [f for f in run_checks(eng)["mass_balance"] if f["kind"] == "brand_over_origin"]
    assert finding["county"] == "231283" and finding["sold_kg"] == 50
    assert finding["county_harvested_kg"] == 0 and finding["gtins"] == [GTIN_HAILUN]


@pytest.mark.parametrize(
    ("name_zh", "name_en", "extra", "county"),
    [
        ("五常大米 5kg 袋装 (五常市稻源米业)", None, {}, "230184"),
        ("鲜食糯玉米 (哈尔滨双城鲜食玉米加工厂)", None, {}, None),  # a factory, not a claim
        (None, "Wuchang rice", {}, "230184"),
        ("大米", None, {"origin_county": "231283"}, "231283"),
        ("东北大米", None, "{}", None),
    ],
)
def test_claimed_county(name_zh, name_en, extra, county) -> None:  # type: ignore[no-untyped-def]
    assert balance.claimed_county(name_zh, name_en, extra) == county
