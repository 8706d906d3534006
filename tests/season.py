"""A tiny, hand-checkable season in the contract layout, for tests that need exact answers.

Plots P1, P2 (farm F1) and P3 (farm F2) in Wuchang. Harvests:
  H1 1000 kg from P1, H2 3000 kg from P2, H3 2000 kg from P3.
  D1 = drying H1 (1000) -> 950;  D2 = drying H2 (3000) -> 2850
  M1 = milling D1 950 + D2 950 -> 1300  (so M1 is half D1, half D2 by kg)
  M3 = milling H3 2000 -> 1360
  B1 = blending M1 1000 + M3 1000 -> 2000
  K1 = packing B1 1000 -> 1000 kg, 200 bags of 5 kg, GTIN 06901234567892
  K2 = packing B1 500 -> 500 kg, 100 bags (the same blend split into a second packing)
Shares of K1: M1 half (D1 half = P1 0.25, D2 half = P2 0.25), M3 half = P3 0.5.
Shipment S1 carries K1 from the mill to retailer R1 (chilled? no: rice is 'cool'); sales at R1.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from traceability.ingest import INSERT_ORDER

GTIN_RICE = "06901234567892"  # valid GS1 check digit
GTIN_CORN = "6901234567809"  # GTIN-13, valid check digit

PARTIES = [
    ["party_id", "role", "name", "county_code", "gln", "lon", "lat"],
    ["F1", "farm", "五常市民乐乡合作社", "230184", "", "127.15", "44.93"],
    ["F2", "farm", "Li Family Farm", "230184", "", "127.16", "44.94"],
    ["MILL", "processor", "五常米业", "230184", "6901234000009", "127.17", "44.92"],
    ["CAR", "carrier", "龙江冷链", "230102", "", "126.63", "45.75"],
    ["R1", "retailer", "哈尔滨超市", "230103", "", "126.65", "45.76"],
    ["R2", "retailer", "Beijing Shop", "110105", "", "116.46", "39.92"],
]
PRODUCTS = [
    ["gtin", "name_zh", "name_en", "category", "storage", "unit"],
    [GTIN_RICE, "五常大米 5kg", "Wuchang rice 5 kg", "rice", "cool", "bag"],
    [GTIN_CORN, "鲜食玉米", "Fresh corn", "corn", "chilled", "box"],
]
PRODUCTION = [
    [
        "record_id",
        "farm_id",
        "plot_id",
        "event",
        "time",
        "crop",
        "variety",
        "input_name",
        "input_reg_no",
        "dose",
        "dose_unit",
        "lot_id",
        "quantity_kg",
        "lon",
        "lat",
    ],
    [
        "PR1",
        "F1",
        "P1",
        "sowing",
        "2026-05-10T08:00:00+08:00",
        "rice",
        "稻花香2号",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ],
    [
        "PR2",
        "F1",
        "P1",
        "input",
        "2026-06-20T09:00:00",
        "rice",
        "",
        "吡虫啉",
        "PD20080123",
        "30",
        "g/mu",
        "",
        "",
        "",
        "",
    ],
    [
        "PR3",
        "F1",
        "P1",
        "harvest",
        "2026-09-25T10:00:00+08:00",
        "rice",
        "",
        "",
        "",
        "",
        "",
        "H1",
        "1000",
        "127.1505",
        "44.9305",
    ],
    [
        "PR4",
        "F1",
        "P2",
        "harvest",
        "2026-09-26T10:00:00+08:00",
        "rice",
        "",
        "",
        "",
        "",
        "",
        "H2",
        "3000",
        "",
        "",
    ],
    [
        "PR5",
        "F2",
        "P3",
        "harvest",
        "2026-09-27T10:00:00+08:00",
        "rice",
        "",
        "",
        "",
        "",
        "",
        "H3",
        "2000",
        "",
        "",
    ],
]
PROCESSING = [
    [
        "record_id",
        "processor_id",
        "time",
        "step",
        "inputs",
        "output_lot_id",
        "output_gtin",
        "output_quantity_kg",
        "output_units",
    ],
    ["X1", "MILL", "2026-09-28T08:00:00+08:00", "drying", "H1:1000", "D1", "", "950", ""],
    ["X2", "MILL", "2026-09-28T09:00:00+08:00", "drying", "H2:3000", "D2", "", "2850", ""],
    ["X3", "MILL", "2026-09-29T08:00:00+08:00", "milling", "D1:950;D2:950", "M1", "", "1300", ""],
    ["X4", "MILL", "2026-09-29T09:00:00+08:00", "milling", "H3:2000", "M3", "", "1360", ""],
    [
        "X5",
        "MILL",
        "2026-09-30T08:00:00+08:00",
        "blending",
        "M1:1000;M3:1000",
        "B1",
        "",
        "2000",
        "",
    ],
    [
        "X6",
        "MILL",
        "2026-10-01T08:00:00+08:00",
        "packing",
        "B1:1000",
        "K1",
        GTIN_RICE,
        "1000",
        "200",
    ],
    ["X7", "MILL", "2026-10-01T09:00:00+08:00", "packing", "B1:500", "K2", GTIN_RICE, "500", "100"],
]
SHIPMENTS = [
    [
        "shipment_id",
        "carrier_id",
        "device_id",
        "from_party",
        "to_party",
        "departed_at",
        "arrived_at",
        "lots",
    ],
    [
        "S1",
        "CAR",
        "DEV1",
        "MILL",
        "R1",
        "2026-10-02T08:00:00+08:00",
        "2026-10-02T10:00:00+08:00",
        "K1:1000",
    ],
]
SALES = [
    ["record_id", "retailer_id", "time", "lot_id", "gtin", "quantity_units", "channel"],
    ["SA1", "R1", "2026-10-03T10:00:00+08:00", "K1", GTIN_RICE, "10", "store"],
    ["SA2", "R1", "2026-10-04T10:00:00+08:00", "K1", GTIN_RICE, "5", "ecommerce"],
]


def square(lon: float, lat: float, d: float = 0.002) -> dict:
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def plots_geojson(plots: list[tuple[str, str, float, float]] | None = None) -> dict:
    plots = plots or [
        ("P1", "F1", 127.150, 44.930),
        ("P2", "F1", 127.153, 44.930),
        ("P3", "F2", 127.156, 44.930),
    ]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "plot_id": pid,
                    "farm_id": farm,
                    "county_code": "230184",
                    "crop": "rice",
                    "declared_area_mu": 55,
                },
                "geometry": square(lon, lat),
            }
            for pid, farm, lon, lat in plots
        ],
    }


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def telemetry(device: str = "DEV1", temps: list[float] | None = None) -> list[dict]:
    temps = temps or [8.0, 9.0, 10.0, 9.5, 9.0, 8.5, 8.0, 8.0, 9.0]
    return [
        {
            "device_id": device,
            "ts": f"2026-10-02T{8 + i // 4:02d}:{(i % 4) * 15:02d}:00+08:00",
            "temp_c": t,
            "humidity_pct": 60,
        }
        for i, t in enumerate(temps)
    ]


def write_season(inbox: Path, *, sales: bool = True) -> Path:
    """The whole tiny season in ``inbox``; returns it."""
    (inbox / "plots").mkdir(parents=True, exist_ok=True)
    (inbox / "plots" / "wuchang.geojson").write_text(json.dumps(plots_geojson()))
    write_csv(inbox / "parties" / "parties.csv", PARTIES)
    write_csv(inbox / "products" / "products.csv", PRODUCTS)
    write_csv(inbox / "production" / "production.csv", PRODUCTION)
    write_csv(inbox / "processing" / "processing.csv", PROCESSING)
    write_csv(inbox / "transport" / "shipments.csv", SHIPMENTS)
    (inbox / "transport" / "telemetry.jsonl").write_text(
        "\n".join(json.dumps(r) for r in telemetry()) + "\n"
    )
    if sales:
        write_csv(inbox / "sales" / "sales.csv", SALES)
    return inbox


#: Every table a load writes to, for before/after comparisons.
TABLES = (*INSERT_ORDER, "reject")


def production_row(**fields: str) -> list[str]:
    """A production.csv row in PRODUCTION's column order; unnamed columns stay empty."""
    return [fields.get(column, "") for column in PRODUCTION[0]]


def table_counts(url: str | None = None) -> dict[str, int]:
    """Rows per table of the store (HEITU_DB_URL unless ``url``)."""
    from sqlalchemy import text

    from traceability.store import open_store

    with open_store(url).connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in TABLES}
