"""A synthetic season written straight into a lineage store, for the lineage benchmark.

``heitu sample`` writes files that ``heitu ingest`` loads at a few thousand rows a second:
right for the ingest benchmark, hours for a season of 200,000 plots. This module writes the
rows ingest would have written (same tables, same columns, same shapes: events with source,
record_id, step, local time and offset, payload and content hash; lots with made_at; edges with
``share = kg / all input kg of the child``) directly: ``open_store(url)`` migrates an empty
store, then the rows go in with ``executemany`` (SQLite) or ``COPY`` (PostgreSQL).

The season, per county (``PLOTS_PER_COUNTY`` plots each, up to ``MAX_COUNTIES`` counties):
farms and co-operatives, plots with GeoJSON outlines, sowing / 2-6 inputs / harvest per plot;
rice dried, milled, blended 3-6 milled lots at a time (one blend in six split in two first)
and packed into many packed lots of 5/10/25 kg bags; soybean dried, blended and packed into
1 kg bags or 25 kg sacks; fresh corn boxed the day it is picked. Packed lots travel by truck to
retailers, a quarter of them through a warehouse, and are sold in several till records each.
So a bag has 3-6 plots (corn: one), and a county recall reaches about 15,000 lots.

Deterministic: every county draws from its own ``random.Random(f"{seed}/{county}")``, so a
county's rows do not depend on how many counties come before it. Lot, shipment and sale ids
carry the county code, which keeps them unique without a global counter.

Loading: secondary indexes and (on PostgreSQL) foreign keys are dropped before the load and
re-created from their own definitions afterwards (PostgreSQL re-validates every foreign key),
so the store ends with exactly the migrated schema. The SQLite file is cached under
``bench/out/`` by size, seed, schema revision and ``GEN_VERSION``; a PostgreSQL store is
copied from that file, so both databases hold the same rows.

``python -m bench.generate --plots 300`` builds (or finds) the SQLite store and prints its path
and row counts; ``--pg URL`` also copies it into that (empty) PostgreSQL database.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from stdnum import ean

from traceability.sqlrun import sql_text

#: Bump when the generated rows change shape: it is part of the cache key.
GEN_VERSION = 2
PLOTS_PER_COUNTY = 2000
MAX_COUNTIES = 100
OUT = Path(__file__).resolve().parent / "out"
YEAR = 2026

# Tables in foreign-key order, with the columns this generator writes, in model order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "event": (
        "event_id",
        "source",
        "record_id",
        "kind",
        "step",
        "time",
        "time_offset_min",
        "party_id",
        "lot_id",
        "plot_id",
        "input_reg_no",
        "source_file",
        "line",
        "content_hash",
        "payload",
        "loaded_at",
    ),
    "party": ("party_id", "role", "name", "county_code", "gln", "lon", "lat", "extra", "event_id"),
    "product": ("gtin", "name_zh", "name_en", "category", "storage", "unit", "extra", "event_id"),
    "plot": (
        "id",
        "plot_id",
        "version",
        "valid_from",
        "farm_id",
        "county_code",
        "township",
        "village",
        "crop",
        "declared_area_mu",
        "area_m2",
        "area_mu",
        "soil_organic_matter_pct",
        "black_soil_depth_cm",
        "practices",
        "geometry",
        "min_lon",
        "min_lat",
        "max_lon",
        "max_lat",
        "extra",
        "event_id",
    ),
    "lot": (
        "lot_id",
        "step",
        "plot_id",
        "gtin",
        "quantity_kg",
        "units",
        "made_at",
        "made_by",
        "event_id",
    ),
    # child_*: the child lot's fields, as the triggers of migration 0004 copy them
    "edge": (
        "parent_lot",
        "child_lot",
        "kg",
        "share",
        "event_id",
        "child_gtin",
        "child_units",
        "child_kg",
    ),
    "shipment": (
        "shipment_id",
        "carrier_id",
        "device_id",
        "from_party",
        "to_party",
        "departed_at",
        "arrived_at",
        "event_id",
    ),
    "shipment_lot": ("shipment_id", "lot_id", "kg"),
    "sale": (
        "record_id",
        "retailer_id",
        "time",
        "lot_id",
        "gtin",
        "quantity_units",
        "channel",
        "event_id",
    ),
    # Kept by triggers on sale, shipment_lot and shipment in a live store; the loads below
    # fill it in one pass instead (sql/lot_flow_fill.sql, as migration 0003's backfill).
    "lot_flow": ("lot_id", "party_id", "received_kg", "shipped_kg", "sold_units", "records"),
}
#: The tables whose triggers keep lot_flow (sale, shipment_lot, shipment) and the edges'
#: copies of their child lots (edge, lot).
TRIGGERED = ("sale", "shipment_lot", "shipment", "edge", "lot")
Rows = dict[str, list[tuple[Any, ...]]]


# --- time and text helpers -------------------------------------------------------------------

_BASE = datetime(YEAR, 1, 1)
OFFSET = 480  # every sender here writes +08:00 (Asia/Shanghai)
LOADED_AT = "2026-11-25 04:00:00.000000"  # the night run that loaded the season (UTC)
VALID_FROM = "2026-03-01 00:00:00.000000"


@cache
def _day(d: int) -> str:
    return (_BASE + timedelta(days=d)).strftime("%Y-%m-%d")


def utc_text(local_min: int) -> str:
    """Minutes since 1 Jan local time -> the stored form: naive UTC, as SQLAlchemy writes it."""
    d, r = divmod(local_min - OFFSET, 1440)
    return f"{_day(d)} {r // 60:02d}:{r % 60:02d}:00.000000"


def local_iso(local_min: int) -> str:
    """The same moment as the sender wrote it (and ingest keeps it in the payload)."""
    d, r = divmod(local_min, 1440)
    return f"{_day(d)}T{r // 60:02d}:{r % 60:02d}:00+08:00"


def day_of(month: int, day: int) -> int:
    return (datetime(YEAR, month, day) - _BASE).days


def _hash(rec: dict[str, Any]) -> str:
    """ingest.content_hash: SHA-256 of the record's canonical JSON."""
    data = json.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


def _gs1(body: str) -> str:
    return body + ean.calc_check_digit(body)


def _kg(tenths: int) -> float:
    return tenths / 10


# --- places, parties, products ---------------------------------------------------------------

_CROPS = ("rice", "soybean", "corn", "rice", "rice", "soybean", "rice", "corn", "soybean", "rice")
_COUNTY_SUFFIXES = (21, 22, 23, 24, 25, 26, 27, 28, 29, 81, 82, 83, 84, 85, 86, 2, 3, 4, 5)
_TOWNS = ("镇", "乡")
_VILLAGES = (
    "红光村",
    "新民村",
    "胜利村",
    "永安村",
    "长山村",
    "太平村",
    "双丰村",
    "前进村",
    "东兴村",
    "建国村",
    "富强村",
    "幸福村",
    "民主村",
    "光明村",
    "友谊村",
    "团结村",
)
_SURNAMES = "张王李刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
_GIVEN = ("国庆", "建华", "玉兰", "春生", "秀英", "立新", "海峰", "德胜", "桂芝", "振江", "凤霞")
_VARIETIES = {
    "rice": ("稻花香2号", "五优稻1号", "松粳16", "龙稻18", "绥粳18"),
    "soybean": ("黑河43", "合丰50", "东生1号", "绥农26"),
    "corn": ("万糯2000", "京科糯2000", "垦粘1号"),
}
_MU = {"rice": (8, 50), "soybean": (15, 60), "corn": (5, 30)}
_YIELD = {"rice": (500, 650), "soybean": (150, 220), "corn": (800, 1100)}  # kg per mu
_SOWING = {"rice": (day_of(5, 12), 20), "soybean": (day_of(5, 5), 16), "corn": (day_of(5, 1), 15)}
_HARVEST = {"rice": (day_of(9, 25), 20), "soybean": (day_of(9, 22), 18), "corn": (day_of(8, 5), 20)}
_INPUTS = {"rice": (6, 14), "soybean": (4, 10), "corn": (3, 8)}
# (name, registration number, dose range, unit): small pools, so an input recall is wide.
_FERTILISERS = {
    "rice": (
        ("水稻专用缓释肥 (N-P-K 18-12-15)", "农肥(2019)准字6217号", (20, 35), "kg/mu"),
        ("有机无机复混肥料", "黑农肥(2021)准字0812号", (25, 40), "kg/mu"),
    ),
    "soybean": (("大豆专用肥 (N-P-K 12-18-15)", "黑农肥(2020)准字1124号", (12, 20), "kg/mu"),),
    "corn": (("玉米控释肥 (N-P-K 26-10-12)", "农肥(2018)准字3309号", (30, 45), "kg/mu"),),
}
_PESTICIDES = {
    "rice": (
        ("三环唑 75%可湿性粉剂", "PD20080123", (20, 30), "g/mu"),
        ("稻瘟灵 40%乳油", "PD20093617", (80, 120), "mL/mu"),
        ("吡虫啉 10%可湿性粉剂", "PD20101578", (10, 20), "g/mu"),
        ("氯虫苯甲酰胺 200g/L悬浮剂", "PD20110596", (5, 10), "mL/mu"),
    ),
    "soybean": (
        ("精喹禾灵 5%乳油", "PD20081834", (50, 80), "mL/mu"),
        ("氟磺胺草醚 250g/L水剂", "PD20120645", (80, 100), "mL/mu"),
        ("多菌灵 50%可湿性粉剂", "PD20085712", (60, 100), "g/mu"),
    ),
    "corn": (
        ("烟嘧磺隆 40g/L悬浮剂", "PD20097345", (50, 75), "mL/mu"),
        ("莠去津 38%悬浮剂", "PD20082233", (150, 200), "mL/mu"),
        ("氯虫苯甲酰胺 200g/L悬浮剂", "PD20110596", (5, 10), "mL/mu"),
    ),
}
# Product lines per crop: (key, name, storage, unit, kg per unit in tenths, GTIN-14 indicator)
_LINES = {
    "rice": (
        ("5kg", "大米 5kg 袋装", "cool", "bag", 50, 0),
        ("10kg", "大米 10kg 袋装", "cool", "bag", 100, 1),
        ("25kg", "大米 25kg 编织袋", "cool", "bag", 250, 1),
    ),
    "soybean": (
        ("1kg", "大豆 1kg", "ambient", "bag", 10, 0),
        ("25kg", "大豆 25kg 编织袋", "ambient", "bag", 250, 1),
    ),
    "corn": (("box", "鲜食糯玉米 12穗 冷链箱 4kg", "chilled", "box", 40, 1),),
}
# A packing run: this many tenths of a kg, give or take (one bag size, one shift).
_RUN_T = {"rice": (20_000, 80_000), "soybean": (15_000, 60_000), "corn": (60_000, 200_000)}
PLOTS_PER_PROCESSOR = 700
_CAPACITY_T = {"chilled": 180_000, "cool": 300_000, "ambient": 300_000}

# (party_id, role, name, county, lon, lat, channel)
_PARTNERS = (
    ("CARR-01", "carrier", "黑土冷链物流有限公司", "230103", 126.65, 45.76, ""),
    ("CARR-02", "carrier", "Longjiang Reefer Logistics Co., Ltd.", "230102", 126.60, 45.78, ""),
    ("CARR-03", "carrier", "松花江粮食货运有限公司", "230104", 126.68, 45.74, ""),
    ("WH-HRB-01", "warehouse", "哈尔滨平房冷链物流园 低温粮库", "230108", 126.64, 45.61, ""),
    ("WH-HRB-02", "warehouse", "哈尔滨松北粮食物流中心", "230109", 126.52, 45.82, ""),
    ("WH-BJ-01", "warehouse", "北京顺义冷链仓", "110113", 116.65, 40.13, ""),
    (
        "WH-SH-01",
        "warehouse",
        "Shanghai Minhang Cold Store 上海闵行冷库",
        "310112",
        121.38,
        31.11,
        "",
    ),
    ("WH-GZ-01", "warehouse", "广州白云粮油仓", "440111", 113.27, 23.16, ""),
)
_CITIES = (
    ("HRB", "哈尔滨", "230102", 126.62, 45.76, 8),
    ("BJ", "北京", "110105", 116.46, 39.92, 8),
    ("SH", "上海", "310115", 121.54, 31.22, 8),
    ("GZ", "广州", "440106", 113.36, 23.12, 5),
    ("SZ", "深圳", "440305", 113.93, 22.53, 4),
    ("CD", "成都", "510107", 104.06, 30.64, 3),
    ("ECOM", "黑土优选", "230109", 126.55, 45.80, 3),
)
_WAREHOUSE_FOR = {
    "HRB": "WH-HRB-01",
    "BJ": "WH-BJ-01",
    "SH": "WH-SH-01",
    "GZ": "WH-GZ-01",
    "SZ": "WH-GZ-01",
    "CD": "WH-HRB-02",
    "ECOM": "WH-HRB-02",
}


class Retailer(NamedTuple):
    party_id: str
    city: str
    channel: str
    code: str


def retailers() -> list[Retailer]:
    out = []
    for city, _, _, _, _, n in _CITIES:
        for k in range(1, n + 1):
            channel = "ecommerce" if city == "ECOM" else ("wholesale" if k == n else "store")
            out.append(Retailer(f"RET-{city}-{k:02d}", city, channel, f"{city}{k:02d}"))
    return out


class County(NamedTuple):
    index: int
    code: str
    crop: str
    plots: int
    lon: float
    lat: float


def counties(plots: int) -> list[County]:
    """~PLOTS_PER_COUNTY plots per county, at most MAX_COUNTIES (and 3 for a tiny season, so
    each crop is there)."""
    if plots < 1:
        raise ValueError("plots must be at least 1")
    n = min(MAX_COUNTIES, max(plots // PLOTS_PER_COUNTY, min(3, max(1, plots // 50))))
    codes = [f"23{p:02d}{c:02d}" for c in _COUNTY_SUFFIXES for p in range(1, 13)]
    out = []
    for i in range(n):
        size = plots // n + (1 if i < plots % n else 0)
        lon, lat = 124.0 + (i % 10) * 1.0, 44.5 + (i // 10) * 0.7
        out.append(County(i, codes[i], _CROPS[i % len(_CROPS)], size, lon, lat))
    return out


# --- one county ------------------------------------------------------------------------------


class _Sources:
    """Event rows, one per accepted record, numbered per landing-zone file."""

    def __init__(self, county: str, rows: Rows) -> None:
        self.county, self.rows = county, rows
        self.lines: dict[str, int] = {}

    def event(
        self,
        source: str,
        record_id: str,
        kind: str,
        step: str,
        rec: dict[str, Any],
        local_min: int | None,
        party: str | None,
        lot: str | None = None,
        plot: str | None = None,
        reg_no: str | None = None,
        folder: str | None = None,
    ) -> str:
        name = f"{folder or source}/{source}_{self.county}.csv"
        line = self.lines[name] = self.lines.get(name, 1) + 1
        event_id = f"{source}/{record_id}"
        self.rows["event"].append(
            (
                event_id,
                source,
                record_id,
                kind,
                step,
                None if local_min is None else utc_text(local_min),
                None if local_min is None else OFFSET,
                party,
                lot,
                plot,
                reg_no,
                name,
                line,
                _hash(rec),
                json.dumps(rec),
                LOADED_AT,
            )
        )
        return event_id


def _party(
    src: _Sources,
    pid: str,
    role: str,
    name: str,
    county: str,
    gln: str | None,
    lon: float,
    lat: float,
    folder: str = "parties",
) -> None:
    rec = {
        "party_id": pid,
        "role": role,
        "name": name,
        "county_code": county,
        "gln": gln,
        "lon": lon,
        "lat": lat,
        "extra": {},
    }
    ev = src.event("parties", pid, "master", "registering", rec, None, pid, folder=folder)
    src.rows["party"].append((pid, role, name, county, gln, lon, lat, "{}", ev))


def global_rows() -> Rows:
    """Carriers, warehouses and retailers: parties shared by every county."""
    rows: Rows = {t: [] for t in COLUMNS}
    src = _Sources("partners", rows)
    for i, (pid, role, name, county, lon, lat, _) in enumerate(_PARTNERS, start=1):
        _party(src, pid, role, name, county, _gs1(f"6960001{i:05d}"), lon, lat)
    cities = {c[0]: c for c in _CITIES}
    for i, r in enumerate(retailers(), start=len(_PARTNERS) + 1):
        _, city_zh, county, lon, lat, _ = cities[r.city]
        kind = {"store": "生鲜超市", "wholesale": "粮油批发市场 黑土档口", "ecommerce": "网店"}
        name = f"{city_zh}{kind[r.channel]} {r.code}"
        _party(
            src,
            r.party_id,
            "retailer",
            name,
            county,
            _gs1(f"6960001{i:05d}"),
            round(lon + 0.01 * i % 0.1, 6),
            round(lat, 6),
        )
    return rows


class _Product(NamedTuple):
    gtin: str
    storage: str
    unit_t: int


class _Load(NamedTuple):
    lot: str
    units: int
    product: _Product
    final: str  # the retailer the units are for
    ready: int  # when they can leave (local minutes)


class _Lot(NamedTuple):
    lot_id: str
    tenths: int
    t: int  # local minutes since 1 Jan


class _Gen:
    """Rows of one county: masters, field records, processing, transport, sales."""

    def __init__(self, c: County, seed: int) -> None:
        self.c = c
        self.rng = random.Random(f"{seed}/{c.code}")
        self.rows: Rows = {t: [] for t in COLUMNS}
        self.src = _Sources(c.code, self.rows)
        self.seq: dict[str, int] = {}
        self.retailers = retailers()
        self.by_party = {ret.party_id: ret for ret in self.retailers}

    def next_id(self, prefix: str) -> str:
        n = self.seq[prefix] = self.seq.get(prefix, 0) + 1
        return f"{prefix}-{self.c.code}-{n:06d}"

    def minute(self, start_day: int, days: int, hours: tuple[int, int]) -> int:
        r = self.rng
        return (start_day + r.randrange(days)) * 1440 + r.randrange(*hours) * 60 + r.randrange(60)

    def after(self, t: int, lo_h: float, hi_h: float) -> int:
        return t + round(self.rng.uniform(lo_h, hi_h) * 60)

    # -- masters and fields
    def processors(self) -> list[tuple[str, dict[str, _Product]]]:
        c, src = self.c, self.src
        out = []
        for k in range(max(1, math.ceil(c.plots / PLOTS_PER_PROCESSOR))):
            pid = f"PROC-{c.code}-{k + 1:02d}"
            prefix = f"69{c.index + 100:03d}{k + 1:02d}"  # 7-digit GS1 company prefix
            name = f"{c.code} 第{k + 1}{'米业' if c.crop == 'rice' else '粮食加工'}有限公司"
            _party(
                src,
                pid,
                "processor",
                name,
                c.code,
                _gs1(f"{prefix}00001"),
                round(c.lon + 0.05 * k, 6),
                round(c.lat - 0.03 * k, 6),
            )
            products = {}
            for item, (key, label, storage, unit, unit_t, ind) in enumerate(_LINES[c.crop]):
                body = f"{ind}{prefix}{101 + item:05d}"
                gtin = _gs1(body).zfill(14)
                rec = {
                    "gtin": gtin,
                    "name_zh": f"{label} ({name})",
                    "name_en": f"{c.crop} {key} ({pid})",
                    "category": c.crop,
                    "storage": storage,
                    "unit": unit,
                    "extra": {},
                }
                ev = src.event("products", gtin, "master", "registering", rec, None, None)
                self.rows["product"].append(
                    (gtin, rec["name_zh"], rec["name_en"], c.crop, storage, unit, "{}", ev)
                )
                products[key] = _Product(gtin, storage, unit_t)
            out.append((pid, products))
        return out

    def fields(self) -> list[_Lot]:
        """Plots, farms, field records; returns the harvest lots in plot order."""
        c, r, src, rows = self.c, self.rng, self.src, self.rows
        crop = c.crop
        harvests = []
        farm = ""
        left = 0
        town = 0
        m_lat = 111_000.0
        m_lon = 111_320.0 * math.cos(math.radians(c.lat))
        side = 10  # plots per row of a township block
        for j in range(c.plots):
            t_idx, k = divmod(j, 100)  # 100 plots per township
            if left == 0 or t_idx != town:
                town = t_idx
                coop = r.random() < 0.125
                left = r.randint(4, 10) if coop else r.randint(1, 3)
                n = self.seq["farm"] = self.seq.get("farm", 0) + 1
                farm = f"{'COOP' if coop else 'FARM'}-{c.code}-{n:05d}"
                village = r.choice(_VILLAGES)
                name = (
                    f"{c.code}{village}专业合作社"
                    if coop
                    else f"{c.code}{r.choice(_SURNAMES)}{r.choice(_GIVEN)}家庭农场"
                )
                gln = _gs1(f"698{c.index:03d}{n:06d}") if coop else None
                _party(
                    src,
                    farm,
                    "coop" if coop else "farm",
                    name,
                    c.code,
                    gln,
                    round(c.lon + t_idx * 0.05, 6),
                    round(c.lat + k * 0.001, 6),
                )
            left -= 1
            plot_id = f"{c.code}-{101 + t_idx:03d}-{k + 1:04d}"
            mu = r.uniform(*_MU[crop])
            w = min(300.0, math.sqrt(mu * 666.667 * r.uniform(1.0, 2.5)))
            h = mu * 666.667 / w
            x0 = (t_idx % 8) * 4000.0 + (k % side) * 330.0
            y0 = (t_idx // 8) * 3500.0 + (k // side) * 270.0
            lon0, lat0 = c.lon + x0 / m_lon, c.lat + y0 / m_lat
            lon1, lat1 = round(lon0 + w / m_lon, 7), round(lat0 + h / m_lat, 7)
            lon0, lat0 = round(lon0, 7), round(lat0, 7)
            ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
            geometry = {"type": "Polygon", "coordinates": [ring]}
            area = w * h
            props = {
                "plot_id": plot_id,
                "farm_id": farm,
                "county_code": c.code,
                "township": f"第{t_idx + 1}{_TOWNS[t_idx % 2]}",
                "village": village,
                "crop": crop,
                "declared_area_mu": round(mu * r.uniform(0.97, 1.03), 1),
                "soil_organic_matter_pct": round(r.uniform(3.0, 5.5), 2),
                "black_soil_depth_cm": float(r.randint(30, 80)),
                "practices": r.choice(
                    (
                        "straw_return",
                        "rotation;no_till",
                        "deep_ploughing",
                        "straw_return;organic_fertiliser",
                    )
                ),
                "extra": {},
                "geometry": geometry,
                "min_lon": lon0,
                "min_lat": lat0,
                "max_lon": lon1,
                "max_lat": lat1,
                "area_m2": area,
                "area_mu": area / 666.667,
            }
            ev = src.event(
                "plots", plot_id, "master", "registering", props, None, farm, folder="plots"
            )
            rows["plot"].append(
                (
                    None,
                    plot_id,
                    1,
                    VALID_FROM,
                    farm,
                    c.code,
                    props["township"],
                    village,
                    crop,
                    props["declared_area_mu"],
                    area,
                    area / 666.667,
                    props["soil_organic_matter_pct"],
                    props["black_soil_depth_cm"],
                    props["practices"],
                    json.dumps(geometry, separators=(",", ":")),
                    lon0,
                    lat0,
                    lon1,
                    lat1,
                    "{}",
                    ev,
                )
            )
            harvests.append(
                self.field_work(plot_id, farm, mu, (lon0 + lon1) / 2, (lat0 + lat1) / 2)
            )
        return harvests

    def field_work(self, plot: str, farm: str, mu: float, lon: float, lat: float) -> _Lot:
        crop, r, src = self.c.crop, self.rng, self.src
        variety = r.choice(_VARIETIES[crop])
        rec_id = f"PR-{plot}"
        base = {"farm_id": farm, "plot_id": plot, "crop": crop}
        sown = self.minute(*_SOWING[crop], (5, 17))
        rec = {
            "record_id": f"{rec_id}-S",
            **base,
            "event": "sowing",
            "time": local_iso(sown),
            "variety": variety,
            "lon": None,
            "lat": None,
            "extra": {},
        }
        src.event("production", rec["record_id"], "object", "sowing", rec, sown, farm, None, plot)
        t = sown
        pool = _FERTILISERS[crop] + _PESTICIDES[crop]
        for k in range(1, r.randint(*_INPUTS[crop]) + 1):
            name, reg, dose, unit = _FERTILISERS[crop][0] if k == 1 else r.choice(pool)
            t = self.after(t, 24 * 5, 24 * 25)
            rec = {
                "record_id": f"{rec_id}-I{k}",
                **base,
                "event": "input",
                "time": local_iso(t),
                "variety": None,
                "lon": None,
                "lat": None,
                "extra": {},
                "input_name": name,
                "input_reg_no": reg,
                "dose": round(r.uniform(*dose), 1),
                "dose_unit": unit,
            }
            src.event(
                "production", rec["record_id"], "object", "input", rec, t, farm, None, plot, reg
            )
        when = self.minute(*_HARVEST[crop], (6, 18))
        tenths = math.floor(mu * r.uniform(*_YIELD[crop]) * 10)
        lot = self.next_id("H")
        rec = {
            "record_id": f"{rec_id}-H",
            **base,
            "event": "harvest",
            "time": local_iso(when),
            "variety": variety,
            "lon": round(lon, 6),
            "lat": round(lat, 6),
            "extra": {},
            "lot_id": lot,
            "quantity_kg": _kg(tenths),
        }
        ev = src.event(
            "production", rec["record_id"], "object", "harvest", rec, when, farm, lot, plot
        )
        self.rows["lot"].append(
            (lot, "harvest", plot, None, _kg(tenths), None, utc_text(when), farm, ev)
        )
        return _Lot(lot, tenths, when)

    # -- processing
    def emit(
        self,
        proc: str,
        step: str,
        t: int,
        inputs: list[tuple[str, int]],
        out_t: int,
        product: _Product | None = None,
    ) -> _Lot:
        lot = self.next_id(step[0].upper())
        n = self.seq[proc + step] = self.seq.get(proc + step, 0) + 1
        record = f"{proc.removeprefix('PROC-')}-{step[:3].upper()}-{n:06d}"
        units = out_t // product.unit_t if product else None
        gtin = product.gtin if product else None
        rec = {
            "record_id": record,
            "processor_id": proc,
            "time": local_iso(t),
            "step": step,
            "inputs": [[i, _kg(kg)] for i, kg in inputs],
            "output_lot_id": lot,
            "output_gtin": gtin,
            "output_quantity_kg": _kg(out_t),
            "output_units": units,
            "extra": {},
        }
        ev = self.src.event("processing", record, "transformation", step, rec, t, proc, lot)
        self.rows["lot"].append((lot, step, None, gtin, _kg(out_t), units, utc_text(t), proc, ev))
        total = sum(kg for _, kg in inputs)
        edge = self.rows["edge"]
        for parent, kg in inputs:
            edge.append((parent, lot, _kg(kg), _kg(kg) / _kg(total), ev, gtin, units, _kg(out_t)))
        return _Lot(lot, out_t, t)

    def pack(
        self, proc: str, src: _Lot, products: dict[str, _Product], weights: tuple[int, ...]
    ) -> list[tuple[_Lot, _Product]]:
        """Packing runs from one lot until less than a bag is left; each run its own lot."""
        r = self.rng
        lo, hi = _RUN_T[self.c.crop]
        left, t = src.tenths, self.after(src.t, 4, 48)
        lines = list(products.values())
        out = []
        while True:
            p = r.choices(lines, weights)[0]
            most = left // p.unit_t
            if most == 0:
                break
            units = max(1, r.randint(lo, hi) // p.unit_t)
            if most - units < units // 3:
                units = most
            used = units * p.unit_t
            left -= used
            out.append((self.emit(proc, "packing", t, [(src.lot_id, used)], used, p), p))
            t = self.after(t, 2, 14)
            if units == most and left < min(q.unit_t for q in lines):
                break
        return out

    def processing(
        self, harvests: list[_Lot], procs: list[tuple[str, dict[str, _Product]]]
    ) -> list[tuple[str, _Lot, _Product]]:
        r, crop = self.rng, self.c.crop
        packed: list[tuple[str, _Lot, _Product]] = []
        per = math.ceil(len(harvests) / len(procs))
        for k, (proc, products) in enumerate(procs):
            mine = sorted(harvests[k * per : (k + 1) * per], key=lambda h: h.t)
            if crop == "corn":  # graded and boxed the day it is picked: one plot per box
                for h in mine:
                    graded = _Lot(h.lot_id, math.floor(h.tenths * r.uniform(0.85, 0.95)), h.t)
                    packed += [(proc, lot, p) for lot, p in self.pack(proc, graded, products, (1,))]
                continue
            ready = []
            for h in mine:
                loss = r.uniform(0.03, 0.08) if crop == "rice" else r.uniform(0.02, 0.05)
                lot = self.emit(
                    proc,
                    "drying",
                    self.after(h.t, 20, 96),
                    [(h.lot_id, h.tenths)],
                    math.floor(h.tenths * (1 - loss)),
                )
                if crop == "rice":
                    lot = self.emit(
                        proc,
                        "milling",
                        self.after(lot.t, 48, 600),
                        [(lot.lot_id, lot.tenths)],
                        math.floor(lot.tenths * r.uniform(0.65, 0.70)),
                    )
                ready.append(lot)
            ready.sort(key=lambda x: x.t)
            weights = (5, 3, 1) if crop == "rice" else (2, 3)
            i = 0
            while i < len(ready):
                group = ready[i : i + r.randint(3, 6)]
                i += len(group)
                if len(group) == 1:
                    lot = group[0]
                else:
                    lot = self.emit(
                        proc,
                        "blending",
                        self.after(max(g.t for g in group), 10, 30),
                        [(g.lot_id, g.tenths) for g in group],
                        sum(g.tenths for g in group),
                    )
                parts = [lot]
                if r.random() < 1 / 6:  # split in two first (two packing lines, two days)
                    first = round(lot.tenths * r.uniform(0.4, 0.6))
                    t = self.after(lot.t, 6, 30)
                    parts = [
                        self.emit(proc, "splitting", t, [(lot.lot_id, first)], first),
                        self.emit(
                            proc,
                            "splitting",
                            t,
                            [(lot.lot_id, lot.tenths - first)],
                            lot.tenths - first,
                        ),
                    ]
                for part in parts:
                    packed += [(proc, pl, p) for pl, p in self.pack(proc, part, products, weights)]
        return packed

    # -- trucks and tills
    def trucks(self, loads: list[_Load], storage: str) -> list[list[_Load]]:
        """Loads into truckloads of at most the truck's capacity; a big lot takes two trucks."""
        cap = _CAPACITY_T[storage]
        out: list[list[_Load]] = []
        cur: list[_Load] = []
        room = cap
        for ld in loads:
            units = ld.units
            while units:
                take = min(units, room // ld.product.unit_t)
                if take == 0:
                    out.append(cur)
                    cur, room = [], cap
                    continue
                cur.append(ld._replace(units=take))
                units -= take
                room -= take * ld.product.unit_t
        if cur:
            out.append(cur)
        return out

    def truck(self, origin: str, dest: str, storage: str, loads: list[_Load]) -> int:
        """One shipment record; returns its arrival (local minutes)."""
        r = self.rng
        sid = self.next_id(f"SH-{origin.removeprefix('PROC-').removeprefix('WH-')}")
        carrier = (
            "CARR-01"
            if storage == "chilled"
            else "CARR-03"
            if storage == "ambient"
            else r.choice(("CARR-01", "CARR-02"))
        )
        dep = self.after(max(ld.ready for ld in loads), 2 if storage == "chilled" else 6, 48)
        arr = self.after(dep, 3, 40)
        kg: dict[str, int] = {}
        for ld in loads:  # a lot in two places of one truck is one line
            kg[ld.lot] = kg.get(ld.lot, 0) + ld.units * ld.product.unit_t
        device = f"TL-{carrier[-2:]}-{self.c.code}-{r.randrange(1, 60):02d}"
        rec = {
            "shipment_id": sid,
            "carrier_id": carrier,
            "device_id": device,
            "from_party": origin,
            "to_party": dest,
            "departed_at": local_iso(dep),
            "arrived_at": local_iso(arr),
            "lots": [[lot, _kg(t)] for lot, t in kg.items()],
            "extra": {},
        }
        ev = self.src.event(
            "shipments", sid, "object", "shipping", rec, dep, origin, folder="transport"
        )
        self.rows["shipment"].append(
            (sid, carrier, device, origin, dest, utc_text(dep), utc_text(arr), ev)
        )
        self.rows["shipment_lot"] += [(sid, lot, _kg(t)) for lot, t in kg.items()]
        return arr

    def transport(self, packed: list[tuple[str, _Lot, _Product]]) -> None:
        """Each packed lot goes to one or two retailers, a quarter of the loads through a
        warehouse. Loads wait at the mill for a full truck per next stop; fresh corn leaves
        at once. Then the tills: each receipt is sold in daily records."""
        r = self.rng
        queues: dict[tuple[str, str, str], list[_Load]] = {}
        at_warehouse: dict[tuple[str, str, str], list[_Load]] = {}
        receipts: list[tuple[_Load, int]] = []

        def send(origin: str, hop: str, storage: str, loads: list[_Load]) -> None:
            arr = self.truck(origin, hop, storage, loads)
            for ld in loads:
                if hop == ld.final:
                    receipts.append((ld, arr))
                else:
                    at_warehouse.setdefault((hop, ld.final, storage), []).append(
                        ld._replace(ready=arr)
                    )

        for proc, lot, p in packed:
            units = lot.tenths // p.unit_t
            finals = r.sample(self.retailers, 2 if units >= 4 and r.random() < 0.3 else 1)
            parts = [units] if len(finals) == 1 else [units // 2, units - units // 2]
            for ret, n in zip(finals, parts, strict=True):
                hop = _WAREHOUSE_FOR[ret.city] if r.random() < 0.25 else ret.party_id
                load = _Load(lot.lot_id, n, p, ret.party_id, lot.t)
                if p.storage == "chilled":
                    for tl in self.trucks([load], p.storage):
                        send(proc, hop, p.storage, tl)
                    continue
                q = queues.setdefault((proc, hop, p.storage), [])
                q.append(load)
                if sum(ld.units * ld.product.unit_t for ld in q) >= _CAPACITY_T[p.storage]:
                    *full, rest = self.trucks(q, p.storage)
                    for tl in full:
                        send(proc, hop, p.storage, tl)
                    q[:] = rest
        for (proc, hop, storage), q in queues.items():
            for tl in self.trucks(q, storage):
                send(proc, hop, storage, tl)
        for (wh, final, storage), loads in at_warehouse.items():
            loads.sort(key=lambda ld: ld.ready)
            for tl in self.trucks(loads, storage):
                send(wh, final, storage, tl)
        for ld, arrived in receipts:
            self.sales(ld, arrived)

    def sales(self, ld: _Load, arrived: int) -> None:
        """A retailer sells most of a receipt, in one till record a day for 3-20 days."""
        r, src = self.rng, self.src
        ret = self.by_party[ld.final]
        sold = max(1, round(ld.units * r.uniform(0.6, 1.0)))
        k = min(sold, r.randint(3, 20))
        cuts = sorted(r.sample(range(1, sold), k - 1)) if k > 1 else []
        window = 4 if ld.product.storage == "chilled" else 40
        first = arrived // 1440 + 1
        days = sorted(r.sample(range(first, first + max(window, k)), k))
        gtin = ld.product.gtin
        for a, b, day in zip([0, *cuts], [*cuts, sold], days, strict=True):
            n = self.seq[ret.code] = self.seq.get(ret.code, 0) + 1
            rid = f"SL-{ret.code}-{self.c.code}-{n:06d}"
            t = day * 1440 + r.randrange(9 * 60, 21 * 60)
            rec = {
                "record_id": rid,
                "retailer_id": ret.party_id,
                "time": local_iso(t),
                "lot_id": ld.lot,
                "gtin": gtin,
                "quantity_units": b - a,
                "channel": ret.channel,
                "extra": {},
            }
            ev = src.event("sales", rid, "object", "selling", rec, t, ret.party_id, ld.lot)
            self.rows["sale"].append(
                (rid, ret.party_id, utc_text(t), ld.lot, gtin, b - a, ret.channel, ev)
            )

    def run(self) -> Rows:
        procs = self.processors()
        harvests = self.fields()
        packed = self.processing(harvests, procs)
        self.transport(packed)
        return self.rows


def county_rows(c: County, seed: int) -> Rows:
    return _Gen(c, seed).run()


def _county_job(args: tuple[County, int]) -> tuple[str, Rows]:
    return args[0].code, county_rows(*args)


def season(plots: int, seed: int, workers: int = 1) -> Iterator[tuple[str, Rows]]:
    """(label, rows) for the shared parties, then for each county in order; ``workers``
    processes make the counties' rows (the same rows whatever their number)."""
    yield "partners", global_rows()
    jobs = [(c, seed) for c in counties(plots)]
    if workers <= 1 or len(jobs) < 4:
        yield from map(_county_job, jobs)
        return
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_county_job, jobs)


def default_workers(plots: int) -> int:
    """Both cores for a big season (the loader mostly waits on them); one for a small one."""
    if "HEITU_BENCH_WORKERS" in os.environ:
        return int(os.environ["HEITU_BENCH_WORKERS"])
    return min(2, os.cpu_count() or 1) if plots >= 10 * PLOTS_PER_COUNTY else 1


# --- writing a store -------------------------------------------------------------------------


def schema_revision() -> str:
    """Newest migration id and a digest of the migration files: a store cached under an
    older schema (even one edited in place) is never reused."""
    from traceability.store import MIGRATIONS, _head_revision

    digest = hashlib.sha256()
    for f in sorted((MIGRATIONS / "versions").glob("*.py")):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return f"{_head_revision()}-{digest.hexdigest()[:8]}"


def _check_columns(conn: Any, dialect: str) -> None:
    """The generator's columns must be the store's, in order: a schema change fails here."""
    for table, cols in COLUMNS.items():
        if dialect == "sqlite":
            have = tuple(r[1] for r in conn.execute(f"PRAGMA table_info({table})"))
        else:
            have = tuple(
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "AND table_schema = current_schema() ORDER BY ordinal_position",
                    (table,),
                )
            )
        if have != cols:
            raise RuntimeError(f"bench generator is out of date for table {table}: {have}")


def cache_path(plots: int, seed: int, out: Path = OUT) -> Path:
    return out / f"season-{plots}-s{seed}-r{schema_revision()}-g{GEN_VERSION}.db"


def build_sqlite(
    path: Path, plots: int, seed: int, log: Callable[[str], None] = print
) -> dict[str, int]:
    """Write the season into a new SQLite store at ``path``; return rows per table."""
    from traceability.store import open_store, reset_engines

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    open_store(f"sqlite:///{tmp}")  # the real migrations make the schema
    reset_engines()
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    _check_columns(conn, "sqlite")
    indexes = [
        r[0]
        for r in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
    ]
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall():
        conn.execute(f'DROP INDEX "{name}"')
    # The triggers that keep lot_flow would cost an upsert per sale and two per shipment line:
    # off during the load, and lot_flow filled in one pass at the end.
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    inserts = {
        t: f"INSERT INTO {t} ({', '.join(c)}) VALUES ({', '.join('?' * len(c))})"
        for t, c in COLUMNS.items()
    }
    counts = dict.fromkeys(COLUMNS, 0)
    plot_id = 0
    start = time.perf_counter()
    for done, (_, rows) in enumerate(season(plots, seed, default_workers(plots)), start=1):
        ids = range(plot_id + 1, plot_id + 1 + len(rows["plot"]))
        rows["plot"] = [(i, *r[1:]) for i, r in zip(ids, rows["plot"], strict=True)]
        plot_id += len(rows["plot"])
        conn.execute("BEGIN")
        for table, data in rows.items():
            conn.executemany(inserts[table], data)
            counts[table] += len(data)
        conn.execute("COMMIT")
        if done % 10 == 0:
            log(
                f"  {counts['plot']:,} plots, {counts['event']:,} events, "
                f"{counts['edge']:,} edges ({time.perf_counter() - start:.0f} s)"
            )
    log(f"  re-creating {len(indexes)} indexes, lot_flow and {len(triggers)} triggers")
    for sql in indexes:
        conn.execute(sql)
    conn.execute(sql_text("lot_flow_fill", "sqlite"))
    counts["lot_flow"] = conn.execute("SELECT COUNT(*) FROM lot_flow").fetchone()[0]
    for _, sql in triggers:
        conn.execute(sql)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    tmp.rename(path)
    return counts


def sqlite_store(
    plots: int, seed: int, *, fresh: bool = False, out: Path = OUT,
    log: Callable[[str], None] = print,
) -> tuple[Path, float | None]:  # fmt: skip
    """The cached SQLite store for (plots, seed), built when missing or ``fresh``; returns
    its path and the build time (None when it came from the cache). A JSON file beside it
    keeps how it was built (``build_info``)."""
    import resource

    path = cache_path(plots, seed, out)
    if path.exists() and not fresh:
        return path, None
    path.unlink(missing_ok=True)
    log(f"generating {plots:,} plots (seed {seed}) -> {path}")
    start = time.perf_counter()
    counts = build_sqlite(path, plots, seed, log)
    took = time.perf_counter() - start
    info = {
        "seconds": round(took, 1),
        "workers": default_workers(plots),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "workers_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "rows": counts,
    }
    path.with_suffix(".json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return path, took


def build_info(path: Path) -> dict[str, Any]:
    """How a cached store was built: seconds, workers, peak RSS, rows (empty when unknown)."""
    try:
        return json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def row_counts(conn: Any) -> dict[str, int]:
    return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in COLUMNS}


def copy_to_postgres(
    sqlite_path: Path, url: str, log: Callable[[str], None] = print
) -> dict[str, int]:
    """Load the rows of a generated SQLite store into an empty PostgreSQL database at ``url``
    (SQLAlchemy URL). The real migrations make the schema; then constraints and secondary
    indexes are dropped, every table is COPYed, and all of them are re-made from their own
    definitions (primary and unique keys, indexes, then foreign keys, which PostgreSQL
    re-validates), and VACUUM ANALYZE leaves the store as autovacuum would."""
    import psycopg

    from traceability.store import open_store, reset_engines

    open_store(url)
    reset_engines()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    counts = {}
    tables = tuple(COLUMNS)
    with psycopg.connect(dsn, autocommit=True) as pg:
        _check_columns(pg, "postgresql")
        constraints = pg.execute(
            "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype IN ('p', 'u', 'f') "
            "AND (conrelid::regclass::text = ANY(%s) "
            # a table left empty (certificates) may still point at one of them: its foreign
            # keys go and come back with theirs
            "OR (contype = 'f' AND confrelid::regclass::text = ANY(%s))) "
            "ORDER BY contype = 'f' DESC",
            (list(tables), list(tables)),
        ).fetchall()
        indexes = pg.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes AS i "
            "WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conname = i.indexname)",
            (list(tables),),
        ).fetchall()
        for table, name, _, _ in constraints:  # foreign keys first
            pg.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            pg.execute(f'DROP INDEX "{name}"')
        # lot_flow and the edges' copies of their child lots come from the SQLite store; the
        # triggers would make them again row by row.
        for table in TRIGGERED:
            pg.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for table, cols in COLUMNS.items():
            start = time.perf_counter()
            n = 0
            names = ", ".join(cols)
            with pg.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as cp:
                for row in src.execute(f"SELECT {names} FROM {table}"):
                    cp.write_row(row)
                    n += 1
            counts[table] = n
            log(f"  COPY {table}: {n:,} rows ({time.perf_counter() - start:.0f} s)")
        for table in TRIGGERED:
            pg.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        pg.execute(
            "SELECT setval(pg_get_serial_sequence('plot', 'id'), "
            "(SELECT COALESCE(MAX(id), 1) FROM plot))"
        )
        start = time.perf_counter()
        keys = [c for c in constraints if c[2] != "f"]
        fks = [c for c in constraints if c[2] == "f"]
        for table, name, _, definition in keys:
            pg.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _, sql in indexes:
            pg.execute(sql)
        for table, name, _, definition in fks:
            pg.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        log(f"  keys, indexes and foreign keys ({time.perf_counter() - start:.0f} s)")
        start = time.perf_counter()
        pg.execute("VACUUM ANALYZE")
        log(f"  VACUUM ANALYZE ({time.perf_counter() - start:.0f} s)")
    src.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.generate", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--plots", type=int, default=int(os.environ.get("HEITU_BENCH_PLOTS", 300)))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("HEITU_BENCH_SEED", 2026)))
    ap.add_argument("--fresh", action="store_true", help="rebuild even when cached")
    ap.add_argument("--pg", metavar="URL", help="also copy into this empty PostgreSQL database")
    args = ap.parse_args(argv)
    path, took = sqlite_store(args.plots, args.seed, fresh=args.fresh)
    conn = sqlite3.connect(path)
    print(path, "(cached)" if took is None else f"({took:.0f} s)")
    print(json.dumps(row_counts(conn)))
    conn.close()
    if args.pg:
        copy_to_postgres(path, args.pg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
