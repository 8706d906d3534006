"""Open data (公共数据开放): anonymised county aggregates per season and crop.

One row per county, season (the harvest's year, Asia/Shanghai) and crop: the plots harvested,
their area in mu, the kg harvested, the bags packed and sold from that harvest (a blend's bags
counted by each plot's share of the bag), and the findings about those plots and lots by kind.
A row built from fewer than ``MIN_FARMS`` farms is **suppressed**: its figures are published
as empty, so no farm can be read off a small cell. ``publish`` writes the table as CSV and
JSON with a data dictionary; the ``heitu_open_data`` DAG does it daily and the web app serves
the files at ``/open/``.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from traceability.lineage import reading, trace_back

__all__ = ["DICTIONARY", "MIN_FARMS", "aggregates", "publish"]

MIN_FARMS = 5
CHINA = timezone(timedelta(hours=8))
FILES = ("county_season_crop.csv", "county_season_crop.json", "dictionary.json")

#: The published columns: name, type, unit, Chinese and English descriptions.
DICTIONARY: list[dict[str, str]] = [
    {"name": "county_code", "type": "string", "unit": "", "zh": "县级行政区划代码",
     "en": "county-level administrative division code"},
    {"name": "county", "type": "string", "unit": "", "zh": "县名", "en": "county name"},
    {"name": "season", "type": "integer", "unit": "year", "zh": "收获年份（北京时间）",
     "en": "year of the harvest (Asia/Shanghai)"},
    {"name": "crop", "type": "string", "unit": "", "zh": "作物", "en": "crop"},
    {"name": "suppressed", "type": "boolean", "unit": "",
     "zh": f"少于 {MIN_FARMS} 个农户，数据不予公开",
     "en": f"built from fewer than {MIN_FARMS} farms: figures withheld"},
    {"name": "plots", "type": "integer", "unit": "", "zh": "收获地块数",
     "en": "plots harvested"},
    {"name": "area_mu", "type": "number", "unit": "mu", "zh": "收获地块面积（亩）",
     "en": "area of the plots harvested, mu (1 mu = 666.67 m2)"},
    {"name": "harvest_kg", "type": "number", "unit": "kg", "zh": "收获量（公斤）",
     "en": "harvested, kg"},
    {"name": "packed_units", "type": "number", "unit": "unit",
     "zh": "由该收获包装的销售单元数（按份额计）",
     "en": "sellable units packed from this harvest (blends by share)"},
    {"name": "sold_units", "type": "number", "unit": "unit",
     "zh": "已售销售单元数（按份额计）", "en": "units sold (blends by share)"},
    {"name": "findings", "type": "object", "unit": "count",
     "zh": "相关监管发现数，按类型", "en": "findings about these plots and lots, by kind"},
]  # fmt: skip
COLUMNS = [d["name"] for d in DICTIONARY]


def _year(value: Any) -> int:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.astimezone(CHINA).year)


def aggregates(store: Any) -> list[dict[str, Any]]:
    """The open table, suppression applied. ``store``: a URL or an engine."""
    from traceability.web.places import county_name

    with reading(store) as r:
        harvests = r.rows(
            "SELECT h.lot_id, h.plot_id, h.quantity_kg, h.made_at, p.county_code, p.crop, "
            "p.farm_id, p.area_mu FROM lot AS h JOIN plot AS p ON p.plot_id = h.plot_id "
            "AND p.version = (SELECT MAX(q.version) FROM plot AS q WHERE q.plot_id = p.plot_id) "
            "WHERE h.step = 'harvest'",
            {},
        )
        packed = r.rows(
            "SELECT l.lot_id, l.units, COALESCE(s.sold, 0) AS sold FROM lot AS l "
            "LEFT JOIN (SELECT lot_id, SUM(quantity_units) AS sold FROM sale GROUP BY lot_id) "
            "AS s ON s.lot_id = l.lot_id WHERE l.gtin IS NOT NULL AND l.units IS NOT NULL",
            {},
        )
        found = r.rows("SELECT kind, lot_id, shipment_id, plot_id FROM finding", {})
        carried = r.rows(
            "SELECT shipment_id, lot_id FROM shipment_lot WHERE shipment_id IN :s",
            {"s": sorted({f.shipment_id for f in found if f.shipment_id}) or [""]},
        )
    cell_of_harvest: dict[str, tuple[str, int, str]] = {}
    cells: dict[tuple[str, int, str], dict[str, Any]] = {}
    plot_cell: dict[str, tuple[str, int, str]] = {}
    for h in harvests:
        key = (h.county_code, _year(h.made_at), h.crop or "")
        cell_of_harvest[h.lot_id] = key
        plot_cell[h.plot_id] = key
        c = cells.setdefault(key, {"plots": {}, "farms": set(), "harvest_kg": 0.0,
                                   "packed_units": 0.0, "sold_units": 0.0,
                                   "findings": defaultdict(int)})  # fmt: skip
        c["plots"][h.plot_id] = h.area_mu or 0.0
        c["farms"].add(h.farm_id)
        c["harvest_kg"] += h.quantity_kg
    # packed and sold units, and findings about lots, go to the cells of the harvests each
    # lot came from, by each harvest's share of it
    shares_of: dict[str, dict[tuple[str, int, str], float]] = {}

    def shares(lot: str) -> dict[tuple[str, int, str], float]:
        if lot not in shares_of:
            out: dict[tuple[str, int, str], float] = defaultdict(float)
            try:
                doc = trace_back(store, lot, with_events=False)
            except Exception:  # a lot whose records are not all in the store yet
                doc = {"shares": {}, "paths": {}}
            for plot, share in doc["shares"].items():
                harvest = doc["paths"].get(plot, [None])[-1]
                key = cell_of_harvest.get(harvest) or plot_cell.get(plot)
                if key is not None:
                    out[key] += share
            shares_of[lot] = dict(out)
        return shares_of[lot]

    for p in packed:
        for key, share in shares(p.lot_id).items():
            cells[key]["packed_units"] += (p.units or 0) * share
            cells[key]["sold_units"] += float(p.sold or 0) * share
    lots_of_shipment: dict[str, list[str]] = defaultdict(list)
    for c in carried:
        lots_of_shipment[c.shipment_id].append(c.lot_id)
    for f in found:
        keys: set[tuple[str, int, str]] = set()
        if f.plot_id and f.plot_id in plot_cell:
            keys.add(plot_cell[f.plot_id])
        for lot in ([f.lot_id] if f.lot_id else []) + lots_of_shipment.get(f.shipment_id, []):
            keys |= set(shares(lot))
        for key in keys:
            cells[key]["findings"][f.kind] += 1
    rows = []
    for (county, season, crop), c in sorted(cells.items()):
        row: dict[str, Any] = {
            "county_code": county,
            "county": county_name(county) or "",
            "season": season,
            "crop": crop,
            "suppressed": len(c["farms"]) < MIN_FARMS,
        }
        if row["suppressed"]:
            row.update(dict.fromkeys(COLUMNS[5:]))
        else:
            row.update(
                plots=len(c["plots"]),
                area_mu=round(sum(c["plots"].values()), 2),
                harvest_kg=round(c["harvest_kg"], 1),
                packed_units=round(c["packed_units"], 1),
                sold_units=round(c["sold_units"], 1),
                findings=dict(sorted(c["findings"].items())),
            )
        rows.append(row)
    return rows


def publish(store: Any, out: Path, now: datetime | None = None) -> dict[str, Any]:
    """Write the open table (CSV with BOM for Excel, JSON) and its data dictionary into
    ``out``, each replaced whole; returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    rows = aggregates(store)
    made = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    docs = {
        "county_season_crop.json": json.dumps(
            {"generated_at": made, "min_farms": MIN_FARMS, "rows": rows},
            ensure_ascii=False,
            indent=1,
        ),
        "dictionary.json": json.dumps(
            {"table": "county_season_crop", "min_farms": MIN_FARMS, "columns": DICTIONARY},
            ensure_ascii=False,
            indent=1,
        ),
    }
    for name, text in docs.items():
        tmp = out / (name + ".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(out / name)
    tmp = out / "county_season_crop.csv.tmp"
    with tmp.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for row in rows:
            w.writerow(
                [
                    json.dumps(row[c], ensure_ascii=False, sort_keys=True)
                    if isinstance(row[c], dict)
                    else ("" if row[c] is None else row[c])
                    for c in COLUMNS
                ]
            )
    tmp.replace(out / "county_season_crop.csv")
    return {
        "dir": str(out),
        "files": [str(out / n) for n in FILES],
        "rows": len(rows),
        "suppressed": sum(1 for r in rows if r["suppressed"]),
        "generated_at": made,
    }
