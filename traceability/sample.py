"""Sample season: a realistic Heilongjiang harvest year written in the contract layout.

Three chains, from plot to till, with real county codes:

- Wuchang rice 五常大米 (230184 Wuchang, and 230124 Fangzheng): sowing (transplanting) in May,
  harvest of paddy late September to mid October, then drying, milling, blending, splitting and
  packing into 5 kg / 10 kg bags at the county's rice mills.
- Hailun soybean 海伦大豆 (231283): drying/cleaning, then 1 kg bags and 25 kg sacks.
- Chilled fresh corn 鲜食玉米 (230113 Shuangcheng): harvested in August, packed the same day
  into 4 kg boxes and carried in reefer trucks.

The season also carries a fixed handful of deliberate faults (``FAULTS``; see docs/sample.md)
so that a demo shows rejects, parked records and findings. Rows are streamed to the files as
they are made, so ``plots=100_000`` runs in bounded memory: only the small per-lot facts the
next stage needs (lot id, kg, time) are kept between stages.
"""

from __future__ import annotations

import csv
import heapq
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from stdnum import ean

__all__ = [
    "DRYING_LOSS",
    "FAULTS",
    "MAX_PLOTS",
    "MILLING_YIELD",
    "MIN_PLOTS",
    "OVER_OUTPUT_YIELD",
    "YIELDS",
    "Fault",
    "write_sample",
]

#: Below this the fixed faults do not fit (they need 9 Wuchang plots and one mill of each kind).
MIN_PLOTS = 20
#: Harvest lot ids have six digits and H-2026-900001 is reserved for the negative-quantity fault.
MAX_PLOTS = 500_000

#: Yield of one harvest, kg per mu (1 mu = 666.67 m2) of the plot's true (surveyed) area.
#: Paddy rice (not milled), dry soybean, fresh corn ears with husk.
YIELDS: dict[str, tuple[float, float]] = {
    "rice": (500.0, 650.0),
    "soybean": (150.0, 220.0),
    "corn": (750.0, 950.0),
}
#: Fraction of kg lost in drying (paddy from ~20% to 14.5% moisture; soybean drying + cleaning).
DRYING_LOSS: dict[str, tuple[float, float]] = {"rice": (0.03, 0.08), "soybean": (0.02, 0.05)}
#: White rice out of dried paddy. Anything above 0.75 is not physically plausible.
MILLING_YIELD = (0.65, 0.70)
#: The one milling record that claims far more white rice than the paddy can give.
OVER_OUTPUT_YIELD = 0.93
#: Fresh corn ears that make the grade into boxes (the rest is culled in the field shed).
CORN_PACKED = (0.85, 0.95)

MU_M2 = 2000.0 / 3.0
YEAR = 2026
MAX_ROWS = 100_000  # rows per file before a source is split into the next numbered part

PRODUCTION_HEADER = (
    "record_id", "farm_id", "plot_id", "event", "time", "crop", "variety", "input_name",
    "input_reg_no", "dose", "dose_unit", "lot_id", "quantity_kg", "lon", "lat",
)  # fmt: skip
PROCESSING_HEADER = (
    "record_id", "processor_id", "time", "step", "inputs", "output_lot_id", "output_gtin",
    "output_quantity_kg", "output_units",
)  # fmt: skip
SHIPMENT_HEADER = (
    "shipment_id", "carrier_id", "device_id", "from_party", "to_party", "departed_at",
    "arrived_at", "lots",
)  # fmt: skip
SALES_HEADER = ("record_id", "retailer_id", "time", "lot_id", "gtin", "quantity_units", "channel")
# What a retailer's Excel export really looks like: odd case, stray spaces, an extra column.
SALES_HEADER_AS_SENT = (
    "record_id", " Retailer_ID ", "TIME", "lot_id", "GTIN", "quantity_units", "channel", "remark",
)  # fmt: skip
PARTY_HEADER = ("party_id", "role", "name", "county_code", "gln", "lon", "lat")
CERTIFICATE_HEADER = (
    "certificate_id", "kind", "holder_id", "number", "issuer", "issued_on", "valid_until", "gtin",
    "lot_id", "plot_id", "area", "items",
)  # fmt: skip
PRODUCT_HEADER = ("gtin", "name_zh", "name_en", "category", "storage", "unit")


# --- the deliberate faults -------------------------------------------------------------------


class Fault(NamedTuple):
    kind: str  # short name used in docs/sample.md and the tests
    file: str  # landing-zone path (relative to outdir), or a glob when the part number varies
    record: str  # record id, lot id or shipment id that carries it
    expect: str  # what the pipeline should make of it


BAD_TIME_RECORD = "PR-230184-101-0002-S"
BAD_TIME_TEXT = "2026/05/19 07:30"
NEGATIVE_RECORD = "PR-230184-101-0003-H2"
NEGATIVE_LOT = "H-2026-900001"
UNKNOWN_PLOT_RECORD = "PR-230184-198-0001-I1"
UNKNOWN_PLOT = "230184-198-0001"
OUTSIDE_RECORD = "PR-231283-101-0001-H"
DUPLICATE_RECORD = "PR-230184-101-0004-H"
CONFLICT_RECORD = "PR-230184-101-0005-H"
CONFLICT_EXTRA_KG = 600
OVER_OUTPUT_RECORD = "WC01-MIL-00002"
OVERSOLD_LOT = "P-2026-000001"
OVERSOLD_EXTRA_UNITS = 40
EXCURSION_SHIPMENT = "SH-SC01-00001"
GAP_SHIPMENT = "SH-WC01-00002"
RECALL_REG_NO = "PD20132567"
RECALL_PLOTS = ("230184-101-0006", "230184-101-0007", "230184-101-0008")

CERTIFICATES_FILE = "certificates/certificates.csv"
BAD_KIND_CERTIFICATE = "CERT-BAD-KIND"
BACKDATED_CERTIFICATE = "CERT-BAD-DATES"
UNKNOWN_LOT_CERTIFICATE = "CERT-UNKNOWN-LOT"
UNKNOWN_LOT = "P-2026-999999"
BAD_AREA_CERTIFICATE = "CERT-BAD-AREA"

RESEND_FILE = "production/resend_2026-10-28.csv"
LATE_PROCESSING_FILE = "processing/late_packing.csv"
LATE_SALES_FILE = "sales/late_delivery.csv"
BOM_FILE = "parties/partners.csv"
GB18030_FILE = "products/products.csv"
#: The first processor's prefix is always 6970001; write_masters checks this is still the code
#: the library says is wrong (its check digit is 0).
BAD_GTIN = "6970001001993"

FAULTS: tuple[Fault, ...] = (
    Fault("bad_time", "production/production_001.csv", BAD_TIME_RECORD,
          f"reject: time {BAD_TIME_TEXT!r} is not ISO 8601"),
    Fault("negative_quantity", "production/production_001.csv", NEGATIVE_RECORD,
          f"reject: quantity_kg must not be negative (lot {NEGATIVE_LOT} never exists)"),
    Fault("bad_gtin", GB18030_FILE, BAD_GTIN, "reject: GTIN check digit (the 五常糙米 row)"),
    Fault("unknown_plot", "production/production_001.csv", UNKNOWN_PLOT_RECORD,
          f"unknown plot {UNKNOWN_PLOT}: parked (waiting) for good, or rejected"),
    Fault("outside_plot", "production/production_*.csv", OUTSIDE_RECORD,
          "accepted; geo finding outside_plot (harvest point ~2.3 km east of the plot)"),
    Fault("over_output", "processing/processing_001.csv", OVER_OUTPUT_RECORD,
          f"accepted; finding over_output (white rice {OVER_OUTPUT_YIELD} of paddy > 0.75)"),
    Fault("oversold", "sales/sales_*.csv", OVERSOLD_LOT,
          f"accepted; finding oversold ({OVERSOLD_EXTRA_UNITS} bags more sold than packed)"),
    Fault("excursion", "transport/telemetry_*.jsonl", EXCURSION_SHIPMENT,
          "finding cold-chain excursion: chilled corn outside 0-4 C for ~3 h, peak 11.8 C"),
    Fault("gap", "transport/telemetry_*.jsonl", GAP_SHIPMENT,
          "finding cold-chain gap: no readings for 3 h 15 min"),
    Fault("duplicate", RESEND_FILE, DUPLICATE_RECORD,
          "identical re-delivery: skipped, nothing stored twice, no reject"),
    Fault("conflict", RESEND_FILE, CONFLICT_RECORD,
          f"reject: same record_id, different content (+{CONFLICT_EXTRA_KG} kg)"),
    Fault("late", LATE_SALES_FILE, "",
          f"parked (waiting for its lot) until {LATE_PROCESSING_FILE} arrives, then linked"),
    Fault("bad_kind", CERTIFICATES_FILE, BAD_KIND_CERTIFICATE,
          "reject, field kind: 'halal' is not a certificate kind of the contract"),
    Fault("backdated", CERTIFICATES_FILE, BACKDATED_CERTIFICATE,
          "reject, field valid_until: before issued_on (the dates swapped)"),
    Fault("unknown_lot", CERTIFICATES_FILE, UNKNOWN_LOT_CERTIFICATE,
          f"pledge for lot {UNKNOWN_LOT}: parked (waiting) for good, the lot never arrives"),
    Fault("bad_area", CERTIFICATES_FILE, BAD_AREA_CERTIFICATE,
          "reject, field area: '23018' is not a 6-digit county code"),
)  # fmt: skip


# --- places and parties ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _County:
    code: str
    zh: str
    en: str
    lon: float
    lat: float
    crop: str
    share: float  # of all plots
    proc_code: str  # prefix of its processors' short codes (WC01, HL01, ...)
    townships: tuple[str, ...]
    varieties: tuple[str, ...]
    mu: tuple[float, float]  # plot size range
    organic_matter: tuple[float, float]
    soil_depth: tuple[int, int]
    naive_times: bool  # this county's farm app writes local times without an offset


_WUCHANG_TOWNS = (
    "民乐朝鲜族乡", "五常镇", "山河镇", "小山子镇", "安家镇", "杜家镇", "龙凤山镇", "志广乡",
    "卫国乡", "常堡乡", "拉林满族镇", "牛家满族镇", "背荫河镇", "兴隆乡", "向阳镇",
    "营城子满族乡", "沙河子镇", "红旗满族乡", "二河乡",
)  # fmt: skip
_FANGZHENG_TOWNS = (
    "会发镇", "方正镇", "大罗密镇", "天门乡", "松南乡", "德善乡", "宝兴乡", "伊汉通乡",
)  # fmt: skip
_HAILUN_TOWNS = (
    "海北镇", "伦河镇", "共合镇", "海兴镇", "祥富镇", "东风镇", "百祥镇", "向荣镇", "永富镇",
    "长发镇", "联发乡", "前进乡", "共荣乡", "扎音河乡", "爱民乡", "乐业乡", "福民乡", "丰山乡",
    "双录乡", "永和乡", "东林乡", "永安乡",
)  # fmt: skip
_SHUANGCHENG_TOWNS = (
    "周家镇", "东官镇", "韩甸镇", "单城镇", "五家镇", "新兴镇", "兰棱镇", "农丰镇", "杏山镇",
    "西官镇", "联兴镇", "朝阳镇", "万隆乡", "水泉乡", "乐群乡", "团结镇", "金城乡", "青岭乡",
)  # fmt: skip
_VILLAGES = (
    "红光村", "新民村", "胜利村", "永安村", "长山村", "太平村", "双丰村", "前进村", "东兴村",
    "建国村", "富强村", "幸福村", "民主村", "光明村", "友谊村", "团结村",
)  # fmt: skip
_SURNAMES = "张王李刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
_GIVEN = ("国庆", "建华", "玉兰", "春生", "秀英", "立新", "海峰", "德胜", "桂芝", "振江", "凤霞")

COUNTIES: tuple[_County, ...] = (
    _County("230184", "五常市", "Wuchang", 127.40, 44.85, "rice", 0.45, "WC", _WUCHANG_TOWNS,
            ("稻花香2号", "五优稻1号", "松粳16"), (8, 50), (3.0, 5.0), (30, 60), False),
    _County("230124", "方正县", "Fangzheng", 128.93, 45.81, "rice", 0.10, "FZ", _FANGZHENG_TOWNS,
            ("松粳22", "龙稻18", "绥粳18"), (8, 50), (3.0, 4.5), (30, 50), False),
    _County("231283", "海伦市", "Hailun", 126.97, 47.45, "soybean", 0.27, "HL", _HAILUN_TOWNS,
            ("黑河43", "合丰50", "东生1号", "绥农26"), (15, 60), (4.0, 6.0), (40, 80), True),
    _County("230113", "双城区", "Shuangcheng", 126.31, 45.38, "corn", 0.18, "SC",
            _SHUANGCHENG_TOWNS, ("万糯2000", "京科糯2000", "垦粘1号"), (5, 30), (3.0, 4.5),
            (30, 50), False),
)  # fmt: skip

# Name patterns (Chinese, English) and brand names (Chinese, pinyin) of each county's processors.
_PROCESSOR_NAMES = {
    "WC": ("五常市{}米业有限公司", "Wuchang {} Rice Co.",
           (("稻源", "Daoyuan"), ("民乐", "Minle"), ("龙凤山", "Longfengshan"), ("金禾", "Jinhe"),
            ("沃野", "Woye"), ("拉林河", "Lalinhe"), ("香稻", "Xiangdao"))),
    "FZ": ("方正县{}米业有限公司", "Fangzheng {} Rice Co.",
           (("松花", "Songhua"), ("德善", "Deshan"), ("宝兴", "Baoxing"), ("会发", "Huifa"))),
    "HL": ("海伦市{}粮食加工有限公司", "Hailun {} Grain Co.",
           (("黑土", "Heitu"), ("伦河", "Lunhe"), ("北纬", "Beiwei"), ("祥富", "Xiangfu"))),
    "SC": ("哈尔滨{}鲜食玉米加工厂", "Harbin {} Fresh Corn Co.",
           (("双城", "Shuangcheng"), ("兰棱", "Lanling"), ("周家", "Zhoujia"),
            ("韩甸", "Handian"))),
}  # fmt: skip
PLOTS_PER_PROCESSOR = 3000  # a county gets one more mill for each 3000 plots


@dataclass(frozen=True, slots=True)
class _Party:
    party_id: str
    role: str
    name: str
    county_code: str
    gln: str
    lon: float
    lat: float
    code: str = ""  # short code used inside record and shipment ids

    def row(self) -> list[str]:
        return [self.party_id, self.role, self.name, self.county_code, self.gln,
                f"{self.lon:.6f}", f"{self.lat:.6f}"]  # fmt: skip


# (party_id, role, name, county, lon, lat, sales channel)
_PARTNERS = (
    ("CARR-01", "carrier", "黑土冷链物流有限公司", "230103", 126.65, 45.76, ""),
    ("CARR-02", "carrier", "Longjiang Reefer Logistics Co., Ltd.", "230102", 126.60, 45.78, ""),
    ("CARR-03", "carrier", "松花江粮食货运有限公司", "230104", 126.68, 45.74, ""),
    ("WH-HRB-01", "warehouse", "哈尔滨平房冷链物流园 低温粮库", "230108", 126.64, 45.61, ""),
    ("WH-SH-01", "warehouse", "Shanghai Minhang Cold Store 上海闵行冷库", "310112", 121.38,
     31.11, ""),
    ("RET-HRB-01", "retailer", "哈尔滨中央大街生鲜超市", "230102", 126.617, 45.773, "store"),
    ("RET-HRB-02", "retailer", "哈尔滨粮油批发市场 黑土档口", "230103", 126.70, 45.72,
     "wholesale"),
    ("RET-BJ-01", "retailer", "Beijing Chaoyang FreshMart 北京朝阳鲜市", "110105", 116.46, 39.92,
     "store"),
    ("RET-SH-01", "retailer", "上海浦东优选超市", "310115", 121.54, 31.22, "store"),
    ("RET-ECOM-01", "retailer", "黑土优选 Heitu Select (online shop)", "230109", 126.55, 45.80,
     "ecommerce"),
)  # fmt: skip
_CHANNEL = {p[0]: p[6] for p in _PARTNERS if p[6]}
_UTC_CARRIER = "CARR-02"  # its loggers write UTC times ("...Z"), like many imported loggers
_NAIVE_RETAILER = "RET-BJ-01"  # its POS export has local times without an offset
_GTIN14_RETAILER = "RET-ECOM-01"  # its shop system writes every GTIN zero-padded to 14 digits


def _check_digit(body: str) -> str:
    """GS1 mod-10 check digit of a GTIN/GLN body, from python-stdnum (never our own sums)."""
    return ean.calc_check_digit(body)


def _gs1(body: str) -> str:
    return body + _check_digit(body)


def _partner_parties() -> list[_Party]:
    parties = []
    for i, (pid, role, name, county, lon, lat, _) in enumerate(_PARTNERS, start=1):
        code = pid.replace("-", "")
        parties.append(_Party(pid, role, name, county, _gs1(f"6960001{i:05d}"), lon, lat, code))
    return parties


# --- products --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Product:
    gtin: str
    name_zh: str
    name_en: str
    category: str
    storage: str
    unit: str
    unit_tenths: int  # kg per unit, in tenths of a kg

    def row(self) -> list[str]:
        return [self.gtin, self.name_zh, self.name_en, self.category, self.storage, self.unit]


@dataclass(slots=True)
class _Processor:
    party: _Party
    county: _County
    prefix: str  # GS1 company prefix (7 digits, 690-699 is GS1 China)
    brand_zh: str
    brand_en: str
    products: dict[str, _Product] = field(default_factory=dict)


def _gtin13(prefix: str, item: int) -> str:
    return _gs1(f"{prefix}{item:05d}")


def _gtin14(prefix: str, item: int, indicator: int = 1) -> str:
    return _gs1(f"{indicator}{prefix}{item:05d}")


def _processor_products(proc: _Processor) -> dict[str, _Product]:
    """Each processor packs under its own company prefix: GTIN-13 for consumer bags,
    GTIN-14 for the larger trade units."""
    p, zh, en = proc.prefix, proc.brand_zh, proc.brand_en
    crop = proc.county.crop
    if crop == "rice":
        town_zh, town_en = proc.county.zh.rstrip("市县"), proc.county.en
        return {
            "5kg": _Product(_gtin13(p, 101), f"{town_zh}大米 5kg 袋装 ({zh})",
                            f"{town_en} rice, 5 kg bag ({en})", "rice", "cool", "bag", 50),
            "10kg": _Product(_gtin14(p, 102), f"{town_zh}大米 10kg 袋装 ({zh})",
                             f"{town_en} rice, 10 kg bag ({en})", "rice", "cool", "bag", 100),
        }  # fmt: skip
    if crop == "soybean":
        return {
            "1kg": _Product(_gtin13(p, 201), f"海伦大豆 1kg ({zh})",
                            f"Hailun soybean, 1 kg bag ({en})", "soybean", "ambient", "bag", 10),
            "25kg": _Product(_gtin14(p, 202), f"海伦大豆 25kg 编织袋 ({zh})",
                             f"Hailun soybean, 25 kg sack ({en})", "soybean", "ambient", "bag",
                             250),
        }  # fmt: skip
    return {
        "box": _Product(_gtin14(p, 301), f"鲜食糯玉米 12穗 冷链箱 4kg ({zh})",
                        f"Chilled fresh waxy corn, box of 12 ears, 4 kg ({en})", "corn",
                        "chilled", "box", 40),
    }  # fmt: skip


def _bad_gtin(prefix: str) -> str:
    """A GTIN-13 whose last digit is deliberately not the check digit the library computes."""
    good = _gtin13(prefix, 199)
    return good[:-1] + str((int(good[-1]) + 3) % 10)


def _make_processors(counts: dict[str, int]) -> list[_Processor]:
    out: list[_Processor] = []
    for county in COUNTIES:
        pattern, pattern_en, brands = _PROCESSOR_NAMES[county.proc_code]
        n = max(1, math.ceil(counts[county.code] / PLOTS_PER_PROCESSOR))
        for k in range(n):
            # Past the list, brands repeat with a number: 稻源2, Daoyuan 2.
            again = str(k // len(brands) + 1) if k >= len(brands) else ""
            brand_zh, brand_en = brands[k % len(brands)]
            name = pattern.format(brand_zh + again)
            name_en = pattern_en.format(f"{brand_en} {again}".strip())
            code = f"{county.proc_code}{k + 1:02d}"
            prefix = f"697{len(out) + 1:04d}"
            lon = county.lon + 0.02 + 0.05 * (k % 5)
            lat = county.lat - 0.01 - 0.04 * (k // 5)
            party = _Party(f"PROC-{code}", "processor", name, county.code,
                           _gs1(f"{prefix}00001"), lon, lat, code)  # fmt: skip
            proc = _Processor(party, county, prefix, name, name_en)
            proc.products = _processor_products(proc)
            out.append(proc)
    return out


# --- output files ----------------------------------------------------------------------------


class _CsvParts:
    """Rows of one source, written as they come, split into numbered files of MAX_ROWS rows.

    ``numbered=False`` writes exactly one file of that name, whatever its length.
    """

    def __init__(
        self,
        folder: Path,
        stem: str,
        header: Sequence[str],
        *,
        numbered: bool = True,
        encoding: str = "utf-8",
        excel: bool = False,
    ) -> None:
        self.folder, self.stem, self.header = folder, stem, list(header)
        self.numbered, self.encoding, self.max_rows = numbered, encoding, MAX_ROWS
        self.lineterminator = "\r\n" if excel else "\n"  # Excel writes CRLF
        self.paths: list[Path] = []
        self._file: Any = None
        self._writer: Any = None
        self._rows = 0

    def _open(self) -> None:
        if self._file is not None:
            self._file.close()
        name = f"{self.stem}_{len(self.paths) + 1:03d}.csv" if self.numbered else f"{self.stem}.csv"
        path = self.folder / name
        self._file = path.open("w", encoding=self.encoding, newline="")
        self._writer = csv.writer(self._file, lineterminator=self.lineterminator)
        self._writer.writerow(self.header)
        self.paths.append(path)
        self._rows = 0

    def writerow(self, row: Sequence[str]) -> None:
        if self._writer is None or (self.numbered and self._rows >= self.max_rows):
            self._open()
        self._writer.writerow(row)
        self._rows += 1

    def close(self) -> list[Path]:
        if self._writer is None:
            self._open()  # an empty source still gets its header, so the layout is complete
        self._file.close()
        return self.paths


class _LineParts:
    """JSON lines split into numbered files, like _CsvParts."""

    def __init__(self, folder: Path, stem: str) -> None:
        self.folder, self.stem, self.max_rows = folder, stem, MAX_ROWS
        self.paths: list[Path] = []
        self._file: Any = None
        self._rows = 0

    def write(self, line: str) -> None:
        if self._file is None or self._rows >= self.max_rows:
            if self._file is not None:
                self._file.close()
            path = self.folder / f"{self.stem}_{len(self.paths) + 1:03d}.jsonl"
            self._file = path.open("w", encoding="utf-8", newline="\n")
            self.paths.append(path)
            self._rows = 0
        self._file.write(line)
        self._rows += 1

    def close(self) -> list[Path]:
        if self._file is None:
            self.write("")  # empty file; the layout stays complete
            self._rows = 0
        self._file.close()
        return self.paths


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=False)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        if self._bar is not None:
            self._bar.stop()

    def task(self, name: str, total: int) -> Any:
        return None if self._bar is None else self._bar.add_task(name, total=total)

    def advance(self, task: Any, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(task, n)


# --- small value helpers ---------------------------------------------------------------------


def _kg(tenths: int) -> str:
    """Kilograms are carried as integer tenths, so every mass balance adds up exactly."""
    return f"{tenths // 10}.{tenths % 10}"


def _iso(t: datetime, style: str = "offset") -> str:
    """ISO 8601 in one of the forms partners send: +08:00, naive local, or UTC with Z."""
    if style == "naive":
        return t.isoformat()
    if style == "utc":
        return (t - timedelta(hours=8)).isoformat() + "Z"
    return t.isoformat() + "+08:00"


def _day_time(rng: random.Random, start: datetime, days: int, hours: tuple[int, int]) -> datetime:
    """A working-hours moment within ``days`` days of ``start`` (naive local time)."""
    day = start + timedelta(days=rng.randrange(days))
    return day.replace(hour=rng.randrange(*hours), minute=rng.randrange(60))


def _after(rng: random.Random, t: datetime, lo_h: float, hi_h: float) -> datetime:
    return t + timedelta(minutes=round(rng.uniform(lo_h, hi_h) * 60))


def _m_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and latitude on WGS 84 at this latitude."""
    phi = math.radians(lat)
    m_lat = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    m_lon = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi) + 0.118 * math.cos(5 * phi)
    return m_lon, m_lat


def _km(a: _Party, b: _Party) -> float:
    """Great-circle distance in km (haversine)."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _split_units(rng: random.Random, total: int, parts: int) -> list[int]:
    """total split into at most ``parts`` positive whole numbers."""
    parts = max(1, min(parts, total))
    cuts = sorted(rng.sample(range(1, total), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in pairwise(bounds)]


# --- plots -----------------------------------------------------------------------------------

CELL_W, CELL_H = 330.0, 270.0  # metres; one plot per grid cell, so plots never overlap
MARGIN = 12.0  # field margin kept free inside each cell (ditches, lanes)
TOWNSHIP_GAP = 1500.0  # metres between the blocks of two townships


@dataclass(slots=True)
class _Plot:
    plot_id: str
    county: _County
    township_code: str
    township: str
    ring: list[tuple[float, float]]  # lon/lat, counter-clockwise, closed
    area_m2: float  # true area of the ring as written (7 decimals)

    @property
    def mu(self) -> float:
        return self.area_m2 / MU_M2

    def centroid(self) -> tuple[float, float]:
        pts = self.ring[:-1]
        return sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)

    def point_inside(self, rng: random.Random) -> tuple[float, float]:
        """Bilinear point of the convex quadrilateral, away from its edges."""
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = self.ring[:4]
        u, v = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
        a, b, c, d = (1 - u) * (1 - v), u * (1 - v), u * v, (1 - u) * v
        return a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3


def _ring_area_m2(ring: Sequence[tuple[float, float]]) -> float:
    """Shoelace area of a small lon/lat ring, scaled by metres per degree at its latitude."""
    lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    m_lon, m_lat = _m_per_degree(lat)
    s = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairwise(ring))
    return abs(s) / 2 * m_lon * m_lat


def _quad(rng: random.Random, x0: float, y0: float, mu: float) -> list[tuple[float, float]]:
    """A slightly irregular, convex quadrilateral of about ``mu`` inside the cell at x0, y0."""
    area = mu * MU_M2
    max_w, max_h = CELL_W - 2 * MARGIN, CELL_H - 2 * MARGIN
    w = min(math.sqrt(area * rng.uniform(1.0, 2.8)), max_w)
    h = area / w
    if h > max_h:
        h = max_h
        w = min(area / h, max_w)
    ox = x0 + MARGIN + rng.uniform(0, max_w - w)
    oy = y0 + MARGIN + rng.uniform(0, max_h - h)
    # Corners move inward only, by at most 6 % of a side: the shape stays convex and in its cell.
    jx, jy = 0.06 * w, 0.06 * h
    return [
        (ox + rng.uniform(0, jx), oy + rng.uniform(0, jy)),
        (ox + w - rng.uniform(0, jx), oy + rng.uniform(0, jy)),
        (ox + w - rng.uniform(0, jx), oy + h - rng.uniform(0, jy)),
        (ox + rng.uniform(0, jx), oy + h - rng.uniform(0, jy)),
    ]


def _county_plots(county: _County, n: int, rng: random.Random) -> Iterator[_Plot]:
    """n plots, grouped by township; each township is a square block of grid cells."""
    names = county.townships
    per_town = min(9999, max(8, math.ceil(n / len(names))))
    towns = math.ceil(n / per_town)
    side = math.ceil(math.sqrt(per_town))
    pitch_x, pitch_y = side * CELL_W + TOWNSHIP_GAP, side * CELL_H + TOWNSHIP_GAP
    cols = math.ceil(math.sqrt(towns))
    rows = math.ceil(towns / cols)
    m_lon, m_lat = _m_per_degree(county.lat)
    for idx in range(n):
        t, j = divmod(idx, per_town)
        bx = (t % cols) * pitch_x - cols * pitch_x / 2
        by = (t // cols) * pitch_y - rows * pitch_y / 2
        x0, y0 = bx + (j % side) * CELL_W, by + (j // side) * CELL_H
        corners = _quad(rng, x0, y0, rng.uniform(*county.mu))
        ring = [
            (round(county.lon + x / m_lon, 7), round(county.lat + y / m_lat, 7)) for x, y in corners
        ]
        ring.append(ring[0])
        town = names[t % len(names)] + (str(t // len(names) + 1) if t >= len(names) else "")
        code = f"{101 + t:03d}"
        yield _Plot(f"{county.code}-{code}-{j + 1:04d}", county, code, town, ring,
                    _ring_area_m2(ring))  # fmt: skip


def _feature(plot: _Plot, farm_id: str, village: str, rng: random.Random) -> str:
    county = plot.county
    practices = {
        "rice": ("straw_return", "organic_fertiliser", "rice_duck", "deep_ploughing"),
        "soybean": ("rotation", "straw_return", "no_till", "cover_crop"),
        "corn": ("straw_return", "rotation", "no_till"),
    }[county.crop]
    chosen = [p for p in practices if rng.random() < 0.5] or [practices[0]]
    props = {
        "plot_id": plot.plot_id,
        "farm_id": farm_id,
        "county_code": county.code,
        "township": plot.township,
        "village": village,
        "crop": county.crop,
        # Contracted area: the surveyed area give or take what a tape measure and rounding do.
        "declared_area_mu": round(plot.mu * rng.uniform(0.97, 1.03), 1),
        "soil_organic_matter_pct": round(rng.uniform(*county.organic_matter), 2),
        "black_soil_depth_cm": rng.randint(*county.soil_depth),
        "practices": ";".join(chosen),
    }
    coords = ", ".join(f"[{lon:.7f}, {lat:.7f}]" for lon, lat in plot.ring)
    return (
        '{"type": "Feature", "properties": ' + json.dumps(props, ensure_ascii=False)
        + ', "geometry": {"type": "Polygon", "coordinates": [[' + coords + "]]}}"
    )  # fmt: skip


# --- farms -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Farm:
    party: _Party
    village: str
    plots_left: int


def _new_farm(plot: _Plot, seq: int, coop_seq: int, rng: random.Random) -> _Farm:
    """A family farm with 1-3 plots, or (one in eight) a co-operative with 4-10."""
    county = plot.county
    village = rng.choice(_VILLAGES)
    lon, lat = plot.centroid()
    lon, lat = lon + rng.uniform(-0.003, 0.003), lat + rng.uniform(-0.002, 0.002)
    crop_zh = {"rice": "水稻", "soybean": "大豆", "corn": "鲜食玉米"}[county.crop]
    if rng.random() < 0.125:
        name = f"{county.zh}{plot.township}{village}{crop_zh}种植专业合作社"
        gln = _gs1(f"698{coop_seq:09d}")
        party = _Party(f"COOP-{county.code}-{seq:05d}", "coop", name, county.code, gln, lon, lat)
        return _Farm(party, village, rng.randint(4, 10))
    name = f"{county.zh}{rng.choice(_SURNAMES)}{rng.choice(_GIVEN)}家庭农场"
    party = _Party(f"FARM-{county.code}-{seq:05d}", "farm", name, county.code, "", lon, lat)
    return _Farm(party, village, rng.randint(1, 3))


# --- production ------------------------------------------------------------------------------

# (name, registration number, dose range, dose unit). A small pool, so that a recall by input
# reaches many plots; PD20110596 is used on both rice and corn.
_FERTILISERS = {
    "rice": (("水稻专用缓释肥 (N-P-K 18-12-15)", "农肥(2019)准字6217号", (20, 35), "kg/mu"),
             ("有机无机复混肥料", "黑农肥(2021)准字0812号", (25, 40), "kg/mu")),
    "soybean": (("大豆专用肥 (N-P-K 12-18-15)", "黑农肥(2020)准字1124号", (12, 20), "kg/mu"),),
    "corn": (("玉米控释肥 (N-P-K 26-10-12)", "农肥(2018)准字3309号", (30, 45), "kg/mu"),),
}  # fmt: skip
_PESTICIDES = {
    "rice": (("三环唑 75%可湿性粉剂", "PD20080123", (20, 30), "g/mu"),
             ("稻瘟灵 40%乳油", "PD20093617", (80, 120), "mL/mu"),
             ("吡虫啉 10%可湿性粉剂", "PD20101578", (10, 20), "g/mu"),
             ("氯虫苯甲酰胺 200g/L悬浮剂", "PD20110596", (5, 10), "mL/mu")),
    "soybean": (("精喹禾灵 5%乳油", "PD20081834", (50, 80), "mL/mu"),
                ("氟磺胺草醚 250g/L水剂", "PD20120645", (80, 100), "mL/mu"),
                ("多菌灵 50%可湿性粉剂", "PD20085712", (60, 100), "g/mu")),
    "corn": (("烟嘧磺隆 40g/L悬浮剂", "PD20097345", (50, 75), "mL/mu"),
             ("莠去津 38%悬浮剂", "PD20082233", (150, 200), "mL/mu"),
             ("氯虫苯甲酰胺 200g/L悬浮剂", "PD20110596", (5, 10), "mL/mu")),
}  # fmt: skip
_RECALL_INPUT = ("毒死蜱 40%乳油", RECALL_REG_NO, (60, 80), "mL/mu")

# (first day, days in the window) for sowing/transplanting and harvest, by crop.
_SOWING = {"rice": (datetime(YEAR, 5, 12), 20), "soybean": (datetime(YEAR, 5, 5), 16),
           "corn": (datetime(YEAR, 5, 1), 15)}  # fmt: skip
_HARVEST = {"rice": (datetime(YEAR, 9, 25), 20), "soybean": (datetime(YEAR, 9, 22), 18),
            "corn": (datetime(YEAR, 8, 5), 20)}  # fmt: skip


class _Lot(NamedTuple):
    lot_id: str
    tenths: int
    time: datetime


def _production_rows(
    plot: _Plot, farm: _Farm, lot: _Lot, variety: str, rng: random.Random
) -> list[list[str]]:
    """Sowing, 1-2 inputs (3 on the recall plots), harvest: the farm app's rows for one plot."""
    county, crop, pid = plot.county, plot.county.crop, plot.plot_id
    fid = farm.party.party_id
    style = "naive" if county.naive_times else "offset"
    sown = _day_time(rng, *_SOWING[crop], (5, 17))
    rec = f"PR-{pid}"
    sow_time = BAD_TIME_TEXT if f"{rec}-S" == BAD_TIME_RECORD else _iso(sown, style)
    rows = [[f"{rec}-S", fid, pid, "sowing", sow_time, crop, variety, *[""] * 8]]
    inputs = [(rng.choice(_FERTILISERS[crop]), rng.randint(-3, 10))]
    if rng.random() < 0.55:
        inputs.append((rng.choice(_PESTICIDES[crop]), rng.randint(30, 70)))
    if pid in RECALL_PLOTS:
        inputs.append((_RECALL_INPUT, rng.randint(45, 60)))
    for k, ((name, reg, dose, unit), days) in enumerate(inputs, start=1):
        when = _day_time(rng, sown + timedelta(days=days), 1, (5, 18))
        rows.append([f"{rec}-I{k}", fid, pid, "input", _iso(when, style), crop, "", name, reg,
                     f"{rng.uniform(*dose):.1f}", unit, "", "", "", ""])  # fmt: skip
    lon, lat = plot.point_inside(rng)
    if f"{rec}-H" == OUTSIDE_RECORD:
        lon += 0.03  # about 2.3 km east: the harvester's GPS puts it on somebody else's land
    rows.append([f"{rec}-H", fid, pid, "harvest", _iso(lot.time, style), crop, variety, "", "",
                 "", "", lot.lot_id, _kg(lot.tenths), f"{lon:.6f}", f"{lat:.6f}"])  # fmt: skip
    return rows


def _fault_production_rows(plot: _Plot, farm: _Farm, lot: _Lot) -> list[list[str]]:
    """Extra farm-app rows that must be rejected, hung on fixed Wuchang plots."""
    rows = []
    fid, crop = farm.party.party_id, plot.county.crop
    when = _iso(lot.time + timedelta(hours=2))
    if f"PR-{plot.plot_id}-H2" == NEGATIVE_RECORD:
        # A second harvest typed with a minus sign; it must not create lot NEGATIVE_LOT.
        rows.append([NEGATIVE_RECORD, fid, plot.plot_id, "harvest", when, crop, "", "", "", "",
                     "", NEGATIVE_LOT, "-1250.0", "", ""])  # fmt: skip
    if plot.plot_id == "230184-101-0001":
        # A plot number mistyped into a township that does not exist.
        name, reg, _, unit = _FERTILISERS[crop][0]
        rows.append([UNKNOWN_PLOT_RECORD, fid, UNKNOWN_PLOT, "input",
                     _iso(datetime(YEAR, 5, 20, 9, 30)), crop, "", name, reg, "30.0", unit, "",
                     "", "", ""])  # fmt: skip
    return rows


# --- processing ------------------------------------------------------------------------------

_STEP_CODE = {"drying": "DRY", "milling": "MIL", "blending": "BLD", "splitting": "SPL",
              "packing": "PAK"}  # fmt: skip
_LOT_PREFIX = {"drying": "D", "milling": "M", "blending": "B", "splitting": "S", "packing": "P"}


@dataclass(slots=True)
class _Packed:
    lot: _Lot
    product: _Product
    units: int
    proc: _Processor
    route: tuple[str, str] | None = None  # forced (final destination, via warehouse or "")
    protected: bool = False  # carries a fault: never the in-transit shipment
    late: bool = False  # its packing record sits in LATE_PROCESSING_FILE


class _Processing:
    """Writes processing rows; numbers lots globally and record ids per processor and step."""

    def __init__(self, main: _CsvParts, late: _CsvParts, rng: random.Random) -> None:
        self.main, self.late, self.rng = main, late, rng
        self._lot_seq: dict[str, int] = {}
        self._rec_seq: dict[tuple[str, str], int] = {}

    def emit(
        self,
        proc: _Processor,
        step: str,
        time: datetime,
        inputs: Sequence[tuple[str, int]],
        out_tenths: int,
        product: _Product | None = None,
        *,
        late: bool = False,
    ) -> _Lot:
        prefix = _LOT_PREFIX[step]
        n = self._lot_seq[prefix] = self._lot_seq.get(prefix, 0) + 1
        lot = _Lot(f"{prefix}-{YEAR}-{n:06d}", out_tenths, time)
        key = (proc.party.code, step)
        r = self._rec_seq[key] = self._rec_seq.get(key, 0) + 1
        units = str(out_tenths // product.unit_tenths) if product else ""
        row = [
            f"{proc.party.code}-{_STEP_CODE[step]}-{r:05d}", proc.party.party_id, _iso(time),
            step, ";".join(f"{lot_id}:{_kg(kg)}" for lot_id, kg in inputs), lot.lot_id,
            product.gtin if product else "", _kg(out_tenths), units,
        ]  # fmt: skip
        (self.late if late else self.main).writerow(row)
        return lot

    def dry(self, proc: _Processor, harvest: _Lot) -> _Lot:
        loss = self.rng.uniform(*DRYING_LOSS[proc.county.crop])
        when = _after(self.rng, harvest.time, 20, 96)
        out = math.floor(harvest.tenths * (1 - loss))
        return self.emit(proc, "drying", when, [(harvest.lot_id, harvest.tenths)], out)

    def mill(self, proc: _Processor, dried: _Lot, *, over: bool = False) -> _Lot:
        ratio = OVER_OUTPUT_YIELD if over else self.rng.uniform(*MILLING_YIELD)
        when = _after(self.rng, dried.time, 48, 600)
        out = math.floor(dried.tenths * ratio)
        return self.emit(proc, "milling", when, [(dried.lot_id, dried.tenths)], out)

    def blend(self, proc: _Processor, lots: Sequence[_Lot]) -> _Lot:
        when = _after(self.rng, max(lot.time for lot in lots), 10, 30)
        inputs = [(lot.lot_id, lot.tenths) for lot in lots]
        return self.emit(proc, "blending", when, inputs, sum(lot.tenths for lot in lots))

    def split(self, proc: _Processor, lot: _Lot) -> tuple[_Lot, _Lot]:
        """Two rows that share one input lot: the contract's 'split'."""
        first = round(lot.tenths * self.rng.uniform(0.4, 0.6))
        when = _after(self.rng, lot.time, 6, 30)
        a = self.emit(proc, "splitting", when, [(lot.lot_id, first)], first)
        b = self.emit(proc, "splitting", when, [(lot.lot_id, lot.tenths - first)],
                      lot.tenths - first)  # fmt: skip
        return a, b

    def pack(
        self, proc: _Processor, lot: _Lot, product: _Product, *, share: int | None = None,
        late: bool = False,
    ) -> _Packed | None:  # fmt: skip
        """Whole units only: the remainder below one bag stays in the source lot."""
        available = lot.tenths if share is None else share
        units = available // product.unit_tenths
        if units == 0:
            return None
        lo, hi = (2, 8) if product.storage == "chilled" else (4, 60)
        when = _after(self.rng, lot.time, lo, hi)
        used = units * product.unit_tenths
        packed = self.emit(proc, "packing", when, [(lot.lot_id, used)], used, product, late=late)
        return _Packed(packed, product, units, proc, late=late)


def _rice_plan(n: int, forced: bool, rng: random.Random) -> list[tuple[str, list[int]]]:
    """What happens to each milled lot of a mill: pack, split, blend, or late packing.

    The first Wuchang mill has a fixed opening so that the fault ids never move: lot 1 packed
    (the oversold lot), lot 2 packed (the over-output milling), lot 3 split, lots 4-6 blended,
    and its last lot packed in the late file.
    """
    plan: list[tuple[str, list[int]]] = []
    start, stop = 0, n
    if forced:
        plan = [("pack", [0]), ("pack", [1]), ("split", [2]), ("blend", [3, 4, 5])]
        start, stop = 6, n - 1
    i = start
    while i < stop:
        r = rng.random()
        left = stop - i
        if r < 0.12 and left >= 2:
            k = min(rng.randint(2, 4), left)
            plan.append(("blend", list(range(i, i + k))))
            i += k
            continue
        plan.append(("split" if r < 0.22 else "pack", [i]))
        i += 1
    if forced:
        plan.append(("late", [n - 1]))
    return plan


def _process_rice(
    proc: _Processor, harvests: list[_Lot], work: _Processing, forced: bool
) -> list[_Packed]:
    rng = work.rng
    dried = [work.dry(proc, h) for h in harvests]
    milled = [work.mill(proc, d, over=forced and i == 1) for i, d in enumerate(dried)]
    bag5, bag10 = proc.products["5kg"], proc.products["10kg"]
    packed: list[_Packed | None] = []
    for action, idx in _rice_plan(len(milled), forced, rng):
        lots = [milled[i] for i in idx]
        if action == "split":
            a, b = work.split(proc, lots[0])
            packed += [work.pack(proc, a, bag5), work.pack(proc, b, bag10)]
        elif action == "blend":
            packed.append(work.pack(proc, work.blend(proc, lots), rng.choice((bag5, bag10))))
        elif action == "late":
            packed.append(work.pack(proc, lots[0], bag5, late=True))
        else:
            packed.append(work.pack(proc, lots[0], rng.choice((bag5, bag5, bag10))))
    out = [p for p in packed if p is not None]
    if forced:
        # First packed lot: the oversold one, to Harbin; second: the over-output rice, to
        # Shanghai (a long trip, for the telemetry gap); the late lot goes to the online shop.
        out[0].route, out[0].protected = ("RET-HRB-01", ""), True
        out[1].route, out[1].protected = ("RET-SH-01", ""), True
        out[-1].route, out[-1].protected = ("RET-ECOM-01", ""), True
    return out


def _process_soybean(proc: _Processor, harvests: list[_Lot], work: _Processing) -> list[_Packed]:
    rng = work.rng
    bag, sack = proc.products["1kg"], proc.products["25kg"]
    packed: list[_Packed | None] = []
    for h in harvests:
        dried = work.dry(proc, h)
        r = rng.random()
        if r < 0.6:
            packed.append(work.pack(proc, dried, sack))
        elif r < 0.85:
            packed.append(work.pack(proc, dried, bag))
        else:
            # Two packing rows share one dried lot: most into sacks, the rest into 1 kg bags.
            to_sacks = round(dried.tenths * rng.uniform(0.6, 0.8))
            packed.append(work.pack(proc, dried, sack, share=to_sacks))
            packed.append(work.pack(proc, dried, bag, share=dried.tenths - to_sacks))
    return [p for p in packed if p is not None]


def _process_corn(
    proc: _Processor, harvests: list[_Lot], work: _Processing, forced: bool
) -> list[_Packed]:
    """Fresh corn is graded and boxed straight from the field, no other step."""
    box = proc.products["box"]
    packed = []
    for h in harvests:
        share = math.floor(h.tenths * work.rng.uniform(*CORN_PACKED))
        p = work.pack(proc, h, box, share=share)
        if p is not None:
            packed.append(p)
    if forced:
        packed[0].route, packed[0].protected = ("RET-BJ-01", ""), True  # the excursion truck
    return packed


# --- transport -------------------------------------------------------------------------------

_CAPACITY_T = {"chilled": 18_0000, "cool": 30_0000, "ambient": 30_0000}  # tenths of kg
_STORAGE_RANGE = {"chilled": (1.0, 4.0), "cool": (5.0, 14.0), "ambient": (5.0, 25.0)}
_HUMIDITY = {"chilled": (85, 95), "cool": (55, 70), "ambient": (35, 65)}


class _Load(NamedTuple):
    packed: _Packed
    units: int
    final: str  # party id of the retailer the units are for


@dataclass(slots=True)
class _Shipment:
    shipment_id: str
    origin: _Party
    dest: _Party
    storage: str
    carrier: str
    departed: datetime
    planned_arrival: datetime
    loads: list[_Load]
    arrived: datetime | None = None
    device: str = ""
    fault: str = ""

    @property
    def protected(self) -> bool:
        return bool(self.fault) or any(ld.packed.protected for ld in self.loads)


def _route(p: _Packed, rng: random.Random) -> tuple[str, str]:
    """(final retailer, warehouse on the way or ""): where a packed lot is sold."""
    if p.route is not None:
        return p.route
    crop = p.proc.county.crop
    if crop == "soybean":
        if p.product.unit_tenths >= 250:  # 25 kg sacks go to the grain wholesale market
            return "RET-HRB-02", ("WH-HRB-01" if rng.random() < 0.2 else "")
        dest = rng.choices(("RET-HRB-01", "RET-BJ-01", "RET-SH-01", "RET-ECOM-01"), (3, 1, 1, 2))
        return dest[0], ""
    if crop == "corn":
        dest = rng.choices(("RET-HRB-01", "RET-BJ-01", "RET-ECOM-01"), (3, 2, 2))[0]
        return dest, ("WH-HRB-01" if rng.random() < 0.25 else "")
    dest = rng.choices(("RET-HRB-01", "RET-BJ-01", "RET-SH-01", "RET-ECOM-01"), (3, 2, 2, 2))[0]
    if rng.random() < 0.3:
        return dest, ("WH-SH-01" if dest == "RET-SH-01" else "WH-HRB-01")
    return dest, ""


def _trip_hours(a: _Party, b: _Party) -> float:
    """Road km ~ 1.25 x great circle at 65 km/h, a rest hour every 8 hours, loading."""
    drive = _km(a, b) * 1.25 / 65.0
    return 0.75 + drive + math.floor(drive / 8)


class _Fleet:
    """Shipment ids per origin, carriers by storage class."""

    def __init__(self, parties: dict[str, _Party], rng: random.Random) -> None:
        self.parties, self.rng = parties, rng
        self._seq: dict[str, int] = {}

    def carrier(self, storage: str) -> str:
        if storage == "chilled":
            return "CARR-01"
        if storage == "ambient":
            return "CARR-03"
        return self.rng.choice(("CARR-01", "CARR-02"))

    def truck(
        self, origin: _Party, dest_id: str, loads: list[_Load], ready: datetime, storage: str
    ) -> _Shipment:
        n = self._seq[origin.code] = self._seq.get(origin.code, 0) + 1
        dest = self.parties[dest_id]
        lo, hi = (2, 8) if storage == "chilled" else (6, 72)
        departed = _after(self.rng, ready, lo, hi)
        arrival = departed + timedelta(minutes=round(_trip_hours(origin, dest) * 60))
        return _Shipment(f"SH-{origin.code}-{n:05d}", origin, dest, storage,
                         self.carrier(storage), departed, arrival, loads)  # fmt: skip

    def load(
        self, origin: _Party, dest_id: str, loads: list[_Load], storage: str,
        ready: dict[str, datetime], *, full_only: bool = False,
    ) -> tuple[list[_Shipment], list[_Load]]:  # fmt: skip
        """Trucks out of a list of loads (a big lot is spread over several trucks), and what is
        left for the next truck when ``full_only`` (a part-filled truck does not leave yet)."""
        cap = _CAPACITY_T[storage]
        trucks: list[_Shipment] = []
        current: list[_Load] = []
        room = cap
        for ld in loads:
            units, per = ld.units, ld.packed.product.unit_tenths
            while units:
                take = min(units, room // per)
                if take == 0:
                    trucks.append(self._go(origin, dest_id, current, storage, ready))
                    current, room = [], cap
                    continue
                current.append(_Load(ld.packed, take, ld.final))
                units -= take
                room -= take * per
        if current and not full_only:
            trucks.append(self._go(origin, dest_id, current, storage, ready))
            current = []
        return trucks, current

    def _go(
        self, origin: _Party, dest_id: str, loads: list[_Load], storage: str,
        ready: dict[str, datetime],
    ) -> _Shipment:  # fmt: skip
        when = max(ready[ld.packed.lot.lot_id] for ld in loads)
        return self.truck(origin, dest_id, loads, when, storage)


def _first_leg(packed: list[_Packed], fleet: _Fleet, rng: random.Random) -> list[_Shipment]:
    """Processor -> retailer or warehouse. Lots wait at the mill until a truck for their next
    stop is full; forced (fault) lots and chilled corn go at once, alone."""
    ready = {p.lot.lot_id: p.lot.time for p in packed}
    out: list[_Shipment] = []
    pending: dict[tuple[str, str], list[_Load]] = {}
    for p in packed:
        final, via = _route(p, rng)
        hop = via or final
        origin = p.proc.party
        load = _Load(p, p.units, final)
        if p.route is not None or p.product.storage == "chilled":
            out += fleet.load(origin, hop, [load], p.product.storage, ready)[0]
            continue
        key = (origin.party_id, hop)
        queue = pending.setdefault(key, [])
        queue.append(load)
        if sum(ld.units * ld.packed.product.unit_tenths for ld in queue) >= _CAPACITY_T["cool"]:
            trucks, pending[key] = fleet.load(origin, hop, queue, p.product.storage, ready,
                                              full_only=True)  # fmt: skip
            out += trucks
    for (_, hop), queue in pending.items():
        if queue:
            first = queue[0].packed
            out += fleet.load(first.proc.party, hop, queue, first.product.storage, ready)[0]
    return out


def _second_leg(first: list[_Shipment], fleet: _Fleet) -> list[_Shipment]:
    """Warehouse -> retailer, for loads that stopped at a warehouse."""
    waiting: dict[tuple[str, str, str], list[_Load]] = {}
    ready: dict[str, datetime] = {}
    for s in sorted(first, key=lambda s: (s.planned_arrival, s.shipment_id)):
        if s.dest.role != "warehouse":
            continue
        for ld in s.loads:
            key = (s.dest.party_id, ld.final, s.storage)
            waiting.setdefault(key, []).append(ld)
            lot = ld.packed.lot.lot_id
            ready[lot] = max(ready.get(lot, s.planned_arrival), s.planned_arrival)
    out: list[_Shipment] = []
    for (wh, final, storage), loads in waiting.items():
        if storage == "chilled":  # out of the cold store the next morning, one lot per truck
            for ld in loads:
                out += fleet.load(fleet.parties[wh], final, [ld], storage, ready)[0]
        else:
            out += fleet.load(fleet.parties[wh], final, loads, storage, ready)[0]
    return out


def _assign_devices(shipments: list[_Shipment]) -> None:
    """Each carrier's trucks carry a logger; a logger does one trip at a time."""
    free: dict[str, list[tuple[datetime, str]]] = {}
    made: dict[str, int] = {}
    for s in shipments:  # in departure order
        heap = free.setdefault(s.carrier, [])
        end = s.arrived or s.planned_arrival
        if heap and heap[0][0] <= s.departed:
            _, device = heapq.heappop(heap)
        else:
            made[s.carrier] = made.get(s.carrier, 0) + 1
            device = f"TL-{s.carrier[-2:]}-{made[s.carrier]:04d}"
        s.device = device
        heapq.heappush(heap, (end + timedelta(hours=1), device))


def _readings(s: _Shipment, rng: random.Random, until: datetime) -> Iterator[str]:
    """The logger's lines every 15 minutes from departure to ``until``."""
    lo, hi = _STORAGE_RANGE[s.storage]
    hum_lo, hum_hi = _HUMIDITY[s.storage]
    temp = rng.uniform(lo + 0.3 * (hi - lo), hi - 0.3 * (hi - lo))
    start = s.departed.replace(second=0) + timedelta(minutes=15 - s.departed.minute % 15)
    total = max((s.planned_arrival - s.departed).total_seconds(), 1.0)
    steps = int((until - start).total_seconds() // 900) + 1
    style = "utc" if s.carrier == _UTC_CARRIER else "offset"
    dev = s.device
    a, b = s.origin, s.dest
    excursion = {}
    if s.fault == "excursion":
        k0 = steps * 2 // 5  # mid-trip: the reefer unit fails, then is restarted
        ramp = (5.8, 7.6, 9.2, 10.1, 10.9, 11.6, 11.8, 11.2, 10.4, 9.3, 7.9, 5.4)
        excursion = {k0 + i: t for i, t in enumerate(ramp)}
    gap = range(steps // 2, steps // 2 + 12) if s.fault == "gap" else range(0)
    # The hot loop of a large season (millions of lines): plain float arithmetic, one
    # datetime step, and rng.random() instead of the slower uniform/randint wrappers.
    quarter = timedelta(minutes=15)
    shift = timedelta(hours=-8 if style == "utc" else 0)
    suffix = "Z" if style == "utc" else "+08:00"
    f0 = (start - s.departed).total_seconds() / total
    df = 900.0 / total
    d_lon, d_lat = b.lon - a.lon, b.lat - a.lat
    hum_span = hum_hi - hum_lo + 1
    rand, gauss = rng.random, rng.gauss
    ts = start + shift
    for k in range(steps):
        temp = min(hi - 0.2, max(lo + 0.2, temp + gauss(0, 0.25)))
        if k in gap:
            ts += quarter
            continue  # the logger lost power for three hours
        shown = excursion.get(k, temp)
        f = min(1.0, f0 + k * df)
        lon = a.lon + d_lon * f + (rand() - 0.5) * 0.004
        lat = a.lat + d_lat * f + (rand() - 0.5) * 0.004
        yield (
            f'{{"device_id": "{dev}", "ts": "{ts.isoformat()}{suffix}", "temp_c": {shown:.1f}, '
            f'"humidity_pct": {hum_lo + int(rand() * hum_span)}, "lon": {lon:.6f}, '
            f'"lat": {lat:.6f}}}\n'
        )
        ts += quarter


def _shipment_row(s: _Shipment) -> list[str]:
    lots: dict[str, int] = {}
    for ld in s.loads:  # a lot spread over two queues of one truck is listed once
        lots[ld.packed.lot.lot_id] = lots.get(ld.packed.lot.lot_id, 0) + (
            ld.units * ld.packed.product.unit_tenths
        )
    return [s.shipment_id, s.carrier, s.device, s.origin.party_id, s.dest.party_id,
            _iso(s.departed), _iso(s.arrived) if s.arrived else "",
            ";".join(f"{lot}:{_kg(t)}" for lot, t in lots.items())]  # fmt: skip


# --- sales -----------------------------------------------------------------------------------

_REMARKS = ("", "", "", "", "促销", "会员日", "团购", "补货")


class _Receipt(NamedTuple):
    retailer: str
    packed: _Packed
    units: int
    arrived: datetime


def _sales_rows(rc: _Receipt, seq: dict[str, int], rng: random.Random) -> Iterator[list[str]]:
    """A retailer's daily sales of one received consignment: 1-4 rows, most of it sold."""
    p, ret = rc.packed, rc.retailer
    chilled = p.product.storage == "chilled"
    oversold = p.lot.lot_id == OVERSOLD_LOT
    sold = rc.units if oversold else max(1, round(rc.units * rng.uniform(0.6, 1.0)))
    parts = _split_units(rng, sold, rng.randint(1, 4))
    if oversold:
        parts.append(OVERSOLD_EXTRA_UNITS)  # more bags sold than were ever packed
    style = "naive" if ret == _NAIVE_RETAILER else "offset"
    gtin = p.product.gtin.zfill(14) if ret == _GTIN14_RETAILER else p.product.gtin
    days = 4 if chilled else 40
    times = sorted(_day_time(rng, rc.arrived + timedelta(days=1), days, (9, 21)) for _ in parts)
    if oversold:  # the extra sale comes last, after the lot is already sold out
        times[-1] = times[-2] + timedelta(days=1, hours=1)
    for units, when in zip(parts, times, strict=True):
        seq[ret] = seq.get(ret, 0) + 1
        yield [f"SL-{ret.removeprefix('RET-').replace('-', '')}-{seq[ret]:06d}", ret,
               _iso(when, style), p.lot.lot_id, gtin, str(units), _CHANNEL[ret],
               rng.choice(_REMARKS)]  # fmt: skip


# --- the season ------------------------------------------------------------------------------


def _plot_counts(plots: int) -> dict[str, int]:
    """Plots per county by share, largest remainder so they add up to ``plots``."""
    raw = {c.code: plots * c.share for c in COUNTIES}
    counts = {k: math.floor(v) for k, v in raw.items()}
    rest = plots - sum(counts.values())
    for k in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[:rest]:
        counts[k] += 1
    return counts


class _Season:
    """State carried between stages: only what the next stage needs, kept small."""

    def __init__(self, outdir: Path, plots: int, seed: int, bar: _Progress) -> None:
        self.outdir, self.plots, self.bar = outdir, plots, bar
        self.rng = random.Random(seed)
        self.counts = _plot_counts(plots)
        self.processors = _make_processors(self.counts)
        self.partners = _partner_parties()
        self.parties = {p.party_id: p for p in self.partners}
        self.parties.update({p.party.party_id: p.party for p in self.processors})
        self.harvests: dict[str, list[_Lot]] = {p.party.code: [] for p in self.processors}
        #: The first plots of each county and their farms (where certified plots are chosen).
        self.first_plots: dict[str, list[tuple[str, str]]] = {c.code: [] for c in COUNTIES}
        self.paths: list[Path] = []

    def dir(self, name: str) -> Path:
        path = self.outdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- master data
    def write_masters(self) -> None:
        partners = _CsvParts(self.dir("parties"), "partners", PARTY_HEADER, numbered=False,
                             encoding="utf-8-sig", excel=True)  # fmt: skip
        for party in self.partners + [p.party for p in self.processors]:
            partners.writerow(party.row())
        products = _CsvParts(self.dir("products"), "products", PRODUCT_HEADER, numbered=False,
                             encoding="gb18030", excel=True)  # fmt: skip
        for proc in self.processors:
            for product in proc.products.values():
                products.writerow(product.row())
        wc01 = self.processors[0]
        if _bad_gtin(wc01.prefix) != BAD_GTIN:  # FAULTS and docs/sample.md name this GTIN
            raise RuntimeError(f"bad GTIN moved: {_bad_gtin(wc01.prefix)} != {BAD_GTIN}")
        products.writerow([BAD_GTIN, f"五常糙米 2.5kg ({wc01.brand_zh})",
                           "Wuchang brown rice, 2.5 kg", "rice", "cool", "bag"])  # fmt: skip
        self.paths += partners.close() + products.close()

    # -- plots, farms and the farm records
    def write_fields(self) -> None:
        farms = _CsvParts(self.dir("parties"), "farms", PARTY_HEADER)
        production = _CsvParts(self.dir("production"), "production", PRODUCTION_HEADER)
        resend: list[list[str]] = []
        task = self.bar.task("plots and farm records", self.plots)
        harvest_seq = 0
        coop_seq = 0
        for county in COUNTIES:
            n = self.counts[county.code]
            procs = [p for p in self.processors if p.county is county]
            per_proc = math.ceil(n / len(procs))
            path = self.dir("plots") / f"{county.code}_{county.en.lower()}.geojson"
            with path.open("w", encoding="utf-8", newline="\n") as geo:
                geo.write('{"type": "FeatureCollection", "features": [\n')
                farm: _Farm | None = None
                farm_seq = 0
                town = ""
                for idx, plot in enumerate(_county_plots(county, n, self.rng)):
                    if farm is None or farm.plots_left == 0 or plot.township_code != town:
                        farm_seq += 1
                        farm = _new_farm(plot, farm_seq, coop_seq + 1, self.rng)
                        coop_seq += farm.party.role == "coop"
                        town = plot.township_code
                        farms.writerow(farm.party.row())
                    farm.plots_left -= 1
                    if len(self.first_plots[county.code]) < 12:
                        self.first_plots[county.code].append((plot.plot_id, farm.party.party_id))
                    geo.write(
                        (",\n" if idx else "")
                        + _feature(plot, farm.party.party_id, farm.village, self.rng)
                    )
                    harvest_seq += 1
                    lot = self._harvest(plot, harvest_seq)
                    self.harvests[procs[idx // per_proc].party.code].append(lot)
                    variety = self.rng.choice(county.varieties)
                    for row in _production_rows(plot, farm, lot, variety, self.rng):
                        production.writerow(row)
                        if row[0] in (DUPLICATE_RECORD, CONFLICT_RECORD):
                            resend.append(row)
                    for row in _fault_production_rows(plot, farm, lot):
                        production.writerow(row)
                    if harvest_seq % 1000 == 0:
                        self.bar.advance(task, 1000)
                geo.write("\n]}\n")
            self.paths.append(path)
        self.bar.advance(task, harvest_seq % 1000)
        self.paths += farms.close() + production.close()
        self._write_resend(resend)

    def _harvest(self, plot: _Plot, seq: int) -> _Lot:
        crop = plot.county.crop
        kg = plot.mu * self.rng.uniform(*YIELDS[crop])
        when = _day_time(self.rng, *_HARVEST[crop], (6, 18))
        return _Lot(f"H-{YEAR}-{seq:06d}", math.floor(kg * 10), when)

    def _write_resend(self, rows: list[list[str]]) -> None:
        """The co-op's app re-sends two harvest records a week later: one unchanged, one with
        a corrected weight that conflicts with what was already delivered."""
        folder = self.dir("production")
        resend = _CsvParts(folder, Path(RESEND_FILE).stem, PRODUCTION_HEADER, numbered=False)
        for row in rows:
            if row[0] == CONFLICT_RECORD:
                row = list(row)
                row[12] = _kg(round(float(row[12]) * 10) + CONFLICT_EXTRA_KG * 10)
            resend.writerow(row)
        self.paths += resend.close()

    # -- mills and packers
    def write_processing(self) -> list[_Packed]:
        main = _CsvParts(self.dir("processing"), "processing", PROCESSING_HEADER)
        late = _CsvParts(self.dir("processing"), Path(LATE_PROCESSING_FILE).stem,
                         PROCESSING_HEADER, numbered=False)  # fmt: skip
        work = _Processing(main, late, self.rng)
        task = self.bar.task("processing", len(self.processors))
        packed: list[_Packed] = []
        firsts = {c.proc_code: True for c in COUNTIES}
        for proc in self.processors:
            lots = self.harvests.pop(proc.party.code)
            crop = proc.county.crop
            # Only the first Wuchang mill and the first corn packer carry the fixed faults.
            forced = firsts.pop(proc.county.proc_code, False) and proc.county.proc_code in (
                "WC", "SC",
            )  # fmt: skip
            if crop == "rice":
                packed += _process_rice(proc, lots, work, forced)
            elif crop == "soybean":
                packed += _process_soybean(proc, lots, work)
            else:
                packed += _process_corn(proc, lots, work, forced)
            self.bar.advance(task)
        self.paths += main.close() + late.close()
        return packed

    # -- trucks and loggers
    def write_transport(self, packed: list[_Packed]) -> list[_Receipt]:
        fleet = _Fleet(self.parties, self.rng)
        first = _first_leg(packed, fleet, self.rng)
        shipments = first + _second_leg(first, fleet)
        shipments.sort(key=lambda s: (s.departed, s.shipment_id))
        for s in shipments:
            if s.shipment_id == EXCURSION_SHIPMENT:
                s.fault = "excursion"
            elif s.shipment_id == GAP_SHIPMENT:
                s.fault = "gap"
            s.arrived = s.planned_arrival
        # The latest truck to a retailer is still on the road when the files are cut.
        in_transit = next(s for s in reversed(shipments)
                          if s.dest.role == "retailer" and not s.protected)  # fmt: skip
        in_transit.arrived = None
        _assign_devices(shipments)
        rows = _CsvParts(self.dir("transport"), "shipments", SHIPMENT_HEADER)
        lines = _LineParts(self.dir("transport"), "telemetry")
        task = self.bar.task("shipments and telemetry", len(shipments))
        receipts: list[_Receipt] = []
        for s in shipments:
            rows.writerow(_shipment_row(s))
            until = s.arrived or s.departed + (s.planned_arrival - s.departed) * 0.6
            for line in _readings(s, self.rng, until):
                lines.write(line)
            if s.arrived and s.dest.role == "retailer":
                receipts += [_Receipt(s.dest.party_id, ld.packed, ld.units, s.arrived)
                             for ld in s.loads]  # fmt: skip
            self.bar.advance(task)
        self.paths += rows.close() + lines.close()
        return receipts

    # -- tills
    def write_sales(self, receipts: list[_Receipt]) -> None:
        main = _CsvParts(self.dir("sales"), "sales", SALES_HEADER_AS_SENT)
        late = _CsvParts(self.dir("sales"), Path(LATE_SALES_FILE).stem, SALES_HEADER,
                         numbered=False)  # fmt: skip
        task = self.bar.task("sales", len(receipts))
        seq: dict[str, int] = {}
        for rc in receipts:
            for row in _sales_rows(rc, seq, self.rng):
                if rc.packed.late:
                    late.writerow(row[:7])
                else:
                    main.writerow(row)
            self.bar.advance(task)
        self.paths += main.close() + late.close()

    # -- certificates
    def write_certificates(self, packed: list[_Packed]) -> None:
        """Certificates of every kind, no random draws (the season's stream stays as it was):
        a conformity pledge for the first two packed lots of each processor, issued the day
        each was packed; a geographical indication per rice and soybean county for its first
        processor's consumer bag; a green-food certificate of the first farm's plots in
        Hailun (one row per plot); an organic certificate of the first corn packer's box.
        Then the faults: a kind the contract does not have, swapped dates, a pledge for a lot
        that never arrives, a GI with a 5-digit county code."""
        rows: list[list[str]] = []
        pledged: dict[str, int] = {}
        for p in packed:
            code = p.proc.party.code
            if p.late or pledged.get(code, 0) >= 2:
                continue
            pledged[code] = pledged.get(code, 0) + 1
            day = p.lot.time.date()
            until = (day + timedelta(days=180)).isoformat() if pledged[code] == 1 else ""
            number = f"{p.proc.county.code}{day:%Y%m%d}{pledged[code]:04d}"
            rows.append([f"HG-{code}-{pledged[code]:03d}", "conformity_pledge",
                         p.proc.party.party_id, number, "", day.isoformat(), until, "",
                         p.lot.lot_id, "", "", _PLEDGE_ITEMS])  # fmt: skip
        firsts: dict[str, _Processor] = {}
        for proc in self.processors:
            firsts.setdefault(proc.county.code, proc)
        for county_code, (gi_id, number, name) in _GEOGRAPHICAL_INDICATIONS.items():
            proc = firsts[county_code]
            product = next(iter(proc.products.values()))
            rows.append([gi_id, "geographical_indication", proc.party.party_id, number,
                         f"国家知识产权局 ({name})", "2024-01-01", "", product.gtin, "", "",
                         county_code, ""])  # fmt: skip
        hailun = self.first_plots["231283"]
        farms = [farm for _, farm in hailun]  # the first farm with several plots, if any
        farm = next((f for f in farms if farms.count(f) > 1), farms[0])
        for plot_id, holder in hailun:
            if holder == farm:
                rows.append(["LB-2026-HL-0001", "green_food", farm, "LB-15-26010230001A",
                             "中国绿色食品发展中心", f"{YEAR}-03-01", f"{YEAR + 2}-02-28", "", "",
                             plot_id, "", ""])  # fmt: skip
        corn = firsts["230113"]
        rows.append(["OR-2026-SC-0001", "organic", corn.party.party_id, "1110OP2600123",
                     "中绿华夏有机产品认证中心", f"{YEAR}-01-15", f"{YEAR + 1}-01-14",
                     corn.products["box"].gtin, "", "", "", ""])  # fmt: skip
        wc = firsts["230184"]
        rows += [
            [BAD_KIND_CERTIFICATE, "halal", wc.party.party_id, "HL-0001", "某清真认证机构",
             f"{YEAR}-05-01", "", wc.products["5kg"].gtin, "", "", "", ""],
            [BACKDATED_CERTIFICATE, "organic", corn.party.party_id, "1110OP2600124",
             "中绿华夏有机产品认证中心", f"{YEAR}-06-01", f"{YEAR}-05-31",
             corn.products["box"].gtin, "", "", "", ""],
            [UNKNOWN_LOT_CERTIFICATE, "conformity_pledge", wc.party.party_id, "HG-UNKNOWN",
             "", f"{YEAR}-10-20", "", "", UNKNOWN_LOT, "", "", _PLEDGE_ITEMS],
            [BAD_AREA_CERTIFICATE, "geographical_indication", wc.party.party_id, "AGI-BAD",
             "国家知识产权局", "2024-01-01", "", "", "", "", "230184;23018", ""],
        ]  # fmt: skip
        out = _CsvParts(self.dir("certificates"), Path(CERTIFICATES_FILE).stem,
                        CERTIFICATE_HEADER, numbered=False)  # fmt: skip
        for row in rows:
            out.writerow(row)
        self.paths += out.close()


#: What a conformity pledge (承诺达标合格证) pledges, as the national template words it.
_PLEDGE_ITEMS = "不使用禁用农药兽药、停用兽药和非法添加物;常规农药兽药残留不超标;对承诺的真实性负责"
#: County -> (certificate id, registration number, name) of its geographical indication.
_GEOGRAPHICAL_INDICATIONS = {
    "230184": ("GI-WUCHANG-RICE", "AGI00067", "五常大米"),
    "231283": ("GI-HAILUN-SOYBEAN", "AGI02415", "海伦大豆"),
}


def write_sample(
    outdir: Path, plots: int = 60, seed: int = 2026, progress: bool = False
) -> list[Path]:
    """Write a sample season in the landing-zone layout under ``outdir``; return its files.

    Deterministic for a given ``seed`` and ``plots``. Files of the same names are overwritten;
    other files under ``outdir`` are left alone. ``progress`` shows a bar on stderr.
    """
    if not MIN_PLOTS <= plots <= MAX_PLOTS:
        raise ValueError(f"plots must be between {MIN_PLOTS} and {MAX_PLOTS}, got {plots}")
    outdir = Path(outdir)
    with _Progress(progress) as bar:
        season = _Season(outdir, plots, seed, bar)
        season.write_masters()
        season.write_fields()
        packed = season.write_processing()
        receipts = season.write_transport(packed)
        season.write_sales(receipts)
        season.write_certificates(packed)
    return sorted(season.paths)
