"""Mass balance at scale: per lot, per processor and month, per plot against yield ceilings,
and per brand against what its county grew. ``heitu balance`` prints the reports;
``heitu check`` carries the findings (``yield_over_ceiling``, ``yield_over_county_p99``,
``brand_over_origin``) beside ``over_output`` and ``oversold``.

Far more "Wuchang rice" is sold than Wuchang grows: these are the sums that show it.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from typing import Any

from sqlalchemy import Engine

from traceability.lineage import query

#: Harvest ceilings in kg per mu (1 mu = 666.67 m2), per crop, as harvested. No honest plot
#: in Heilongjiang reaches them: single-season japonica paddy there yields about 500-650
#: kg/mu, soybean 150-220, fresh corn ears 800-1,100 (docs/balance.md has the figures and
#: where they come from). Override with HEITU_YIELD_CEILING_<CROP>.
YIELD_CEILING_KG_PER_MU: dict[str, float] = {"rice": 800.0, "soybean": 300.0, "corn": 1000.0}

#: Crop names as partners write them -> the crop of the ceilings table.
CROP_NAMES: dict[str, str] = {
    "rice": "rice",
    "paddy": "rice",
    "水稻": "rice",
    "稻谷": "rice",
    "大米": "rice",
    "soybean": "soybean",
    "soy": "soybean",
    "soya": "soybean",
    "大豆": "soybean",
    "corn": "corn",
    "maize": "corn",
    "玉米": "corn",
    "fresh corn": "corn",
    "鲜食玉米": "corn",
}

#: Most product kg one kg of harvest can become, per crop: white rice is at most 0.75 of
#: dry paddy (milling, checks.STEP_MAX_YIELD); soybeans and fresh corn are packed as grown.
PRODUCT_PER_HARVEST_KG: dict[str, float] = {"rice": 0.75, "soybean": 1.0, "corn": 1.0}

#: A plot is an outlier when its kg/mu is above its county's 99th percentile (same crop and
#: year) by more than this margin, among at least COUNTY_MIN_PLOTS plots.
P99_MARGIN = 0.10
COUNTY_MIN_PLOTS = 30

#: Place names that brand a product (a geographical-indication name leads the product name:
#: 五常大米, 方正大米, 海伦大豆) -> county code. A product can also state its claim outright
#: with an ``origin_county`` column in products.csv, which wins.
BRAND_COUNTIES: dict[str, str] = {
    "五常": "230184",
    "wuchang": "230184",
    "方正": "230124",
    "fangzheng": "230124",
    "海伦": "231283",
    "hailun": "231283",
    "双城": "230113",
    "shuangcheng": "230113",
    "庆安": "231224",
    "qing'an": "231224",
    "qingan": "231224",
    "响水": "231084",
    "xiangshui": "231084",
}


def crop_of(name: str | None) -> str | None:
    if not name:
        return None
    return CROP_NAMES.get(name.strip().lower())


def yield_ceiling(crop: str) -> float | None:
    raw = os.environ.get(f"HEITU_YIELD_CEILING_{crop.upper()}")
    return float(raw) if raw else YIELD_CEILING_KG_PER_MU.get(crop)


def _rows(eng: Engine, name: str) -> list[Any]:
    with eng.connect() as conn:
        return conn.execute(query(name, eng.dialect.name)).all()


def lot_balance(eng: Engine) -> list[dict[str, Any]]:
    """Per lot: kg in, kg made, losses, kg taken by children and shipped, units sold."""
    out = []
    for r in _rows(eng, "balance_lots"):
        unit_kg = r.output_kg / r.units if r.units else None
        out.append(
            {
                "lot": r.lot_id,
                "step": r.step,
                "gtin": r.gtin,
                "plot": r.plot_id,
                "made_by": r.made_by,
                "input_kg": _r(r.input_kg),
                "output_kg": _r(r.output_kg),
                "loss_kg": _r(r.input_kg - r.output_kg) if r.input_kg is not None else None,
                "consumed_kg": _r(r.consumed_kg or 0.0),
                "shipped_kg": _r(r.shipped_kg or 0.0),
                "units": r.units,
                "sold_units": int(r.sold_units or 0),
                "sold_kg": _r((r.sold_units or 0) * unit_kg) if unit_kg else 0.0,
            }
        )
    return out


def processor_months(eng: Engine) -> list[dict[str, Any]]:
    """Per processor, month (Asia/Shanghai) and step: count, kg in, kg out, yield."""
    return [
        {
            "processor": r.processor,
            "month": r.month,
            "step": r.step,
            "transformations": r.transformations,
            "input_kg": _r(r.input_kg),
            "output_kg": _r(r.output_kg),
            "yield": round(r.output_kg / r.input_kg, 4) if r.input_kg else None,
        }
        for r in _rows(eng, "balance_processors")
    ]


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (the same rule as numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def plot_yields(eng: Engine) -> list[dict[str, Any]]:
    """Harvested kg per mu per plot and year, with the crop's ceiling and the county's p99."""
    rows = []
    for r in _rows(eng, "plot_yields"):
        if not r.area_mu:
            continue
        crop = crop_of(r.crop)
        rows.append(
            {
                "plot": r.plot_id,
                "county": r.county_code,
                "crop": crop or r.crop,
                "year": r.year,
                "area_mu": _r(r.area_mu),
                "harvested_kg": _r(r.harvested_kg),
                "kg_per_mu": _r(r.harvested_kg / r.area_mu),
                "ceiling_kg_per_mu": yield_ceiling(crop) if crop else None,
            }
        )
    groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for y in rows:
        groups[(y["county"], y["crop"], y["year"])].append(y["kg_per_mu"])
    for y in rows:
        values = groups[(y["county"], y["crop"], y["year"])]
        y["county_plots"] = len(values)
        y["county_p99_kg_per_mu"] = (
            _r(_percentile(values, 0.99)) if len(values) >= COUNTY_MIN_PLOTS else None
        )
    return rows


def yield_findings(eng: Engine) -> list[dict[str, Any]]:
    findings = []
    margin = float(os.environ.get("HEITU_P99_MARGIN", P99_MARGIN))
    for y in plot_yields(eng):
        base = {
            "plot": y["plot"],
            "county": y["county"],
            "crop": y["crop"],
            "year": y["year"],
            "area_mu": y["area_mu"],
            "harvested_kg": y["harvested_kg"],
            "kg_per_mu": y["kg_per_mu"],
        }
        if y["ceiling_kg_per_mu"] and y["kg_per_mu"] > y["ceiling_kg_per_mu"]:
            findings.append(
                {"kind": "yield_over_ceiling", **base, "ceiling_kg_per_mu": y["ceiling_kg_per_mu"]}
            )
        p99 = y["county_p99_kg_per_mu"]
        if p99 and y["kg_per_mu"] > p99 * (1 + margin):
            findings.append(
                {
                    "kind": "yield_over_county_p99",
                    **base,
                    "county_p99_kg_per_mu": p99,
                    "county_plots": y["county_plots"],
                    "margin": margin,
                }
            )
    return findings


def claimed_county(name_zh: str | None, name_en: str | None, extra: Any) -> str | None:
    """The county a product's brand claims: an ``origin_county`` column, else the place name
    that leads its Chinese or English name (五常大米 -> 230184). Company names in brackets
    do not count: a Shuangcheng factory may pack any corn."""
    if isinstance(extra, str):
        extra = json.loads(extra or "{}")
    if extra and str(extra.get("origin_county", "")).strip():
        return str(extra["origin_county"]).strip()
    for name in (name_zh, name_en):
        head = (name or "").split("(")[0].split("（")[0].strip().lower()
        for place, code in BRAND_COUNTIES.items():
            if head.startswith(place):
                return code
    return None


def brand_view(eng: Engine) -> list[dict[str, Any]]:
    """Per GTIN that claims a county: kg sold against the most its county's harvests of the
    crop could have made (harvested kg x PRODUCT_PER_HARVEST_KG)."""
    harvest: dict[tuple[str, str | None], float] = defaultdict(float)
    for r in _rows(eng, "county_harvest"):
        harvest[(r.county_code, crop_of(r.crop) or r.crop)] += r.harvested_kg or 0.0
    claims: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in _rows(eng, "brand_sales"):
        county = claimed_county(r.name_zh, r.name_en, r.extra)
        if county:
            crop = crop_of(r.category) or _crop_from_name(r.name_zh, r.name_en)
            claims[(county, crop or "")].append(r)
    out = []
    for (county, crop), sales in sorted(claims.items()):
        sold_kg = sum(s.sold_kg or 0.0 for s in sales)
        grown = harvest.get((county, crop), 0.0)
        possible = grown * PRODUCT_PER_HARVEST_KG.get(crop, 1.0)
        out.append(
            {
                "county": county,
                "crop": crop or None,
                "gtins": sorted(s.gtin for s in sales),
                "sold_kg": _r(sold_kg),
                "county_harvested_kg": _r(grown),
                "max_product_kg": _r(possible),
                "ratio": round(sold_kg / possible, 4) if possible else None,
            }
        )
    return out


def _crop_from_name(name_zh: str | None, name_en: str | None) -> str | None:
    text = f"{name_zh or ''} {name_en or ''}".lower()
    for word, crop in CROP_NAMES.items():
        if word in text:
            return crop
    return None


def brand_findings(eng: Engine) -> list[dict[str, Any]]:
    return [
        {"kind": "brand_over_origin", **b}
        for b in brand_view(eng)
        if b["max_product_kg"] is not None and b["sold_kg"] > b["max_product_kg"] + 0.5
    ]


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)
