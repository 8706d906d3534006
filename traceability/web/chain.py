"""The facts of a lot's page (and of its JSON twin), read from the store in one pass.

``lot_facts`` answers for a GTIN and a lot: the product, the plots with their share of the bag
and their soil, a timeline of every step (field work, harvest, processing, shipments with their
cold-chain verdict and temperatures), where the lot was sold, which stages records back, the
open findings about its chain, the recalls that cover it, and a verdict. It is plain data in
both languages; the templates choose one. Nothing in it names a person: parties of role
``farm`` (family farms, named after their head) appear as a family farm and its village.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple

from traceability.checks import STORAGE_RANGE, shipment_findings
from traceability.findings import findings_about
from traceability.lineage import Reader, reading, trace_back
from traceability.recalls import covering
from traceability.web import i18n, places

__all__ = ["STAGES", "WARNING_KINDS", "lot_facts", "product_facts"]

#: The stages the data-completeness mark shows, in chain order.
STAGES = ("plot", "inputs", "harvest", "processing", "transport", "sale")
#: Findings that put a warning on the page of every lot whose chain they touch; the others
#: (a plot's declared area off its measured one, say) are listed but do not make the verdict.
WARNING_KINDS = frozenset(
    {
        "oversold",
        "over_output",
        "certificate_expired",
        "gi_outside_area",
        "over_consumed",
        "yield_over_ceiling",
        "yield_over_county_p99",
        "brand_over_origin",
        "outside_plot",
        "outside_county",
        "overlap",
        "excursion",
        "gap",
        "no_readings",
    }
)
#: Shipments shown one by one before the rest are counted (a blend of 50 harvests can have
#: as many field-to-mill runs; the page stays the same size).
MAX_SHIPMENTS = 12
CHINA = timezone(timedelta(hours=8))
_FIELD_STEPS = ("sowing", "input", "harvest")


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _local(value: Any) -> str | None:
    """A time as shown on the page: ISO 8601 in China's offset, to the minute."""
    when = _utc(value)
    return when.astimezone(CHINA).isoformat(timespec="minutes") if when else None


def _payload(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return json.loads(value) if value else {}


def _place(code: str | None) -> dict[str, Any] | None:
    """A county code as a place: code, Chinese and English name, and its city."""
    if not code:
        return None
    zh = places.county_name(code)
    city = places.city_name(code)
    return {
        "code": code,
        "zh": zh or code,
        "en": places.place_name(zh, "en") if zh else code,
        "city_zh": city or (zh or code),
        "city_en": places.place_name(city, "en") if city else (zh or code),
    }


def _party(p: Any, village: str | None = None) -> dict[str, Any]:
    """A party as the page may show it. A family farm is not shown by name (it is its head's
    name), nor by id; a co-op, mill, carrier or shop is a company and is."""
    if p is None:
        return {"role": None, "name": None, "place": None}
    if p.role == "farm":
        return {"role": "farm", "name": None, "village": village, "place": _place(p.county_code)}
    return {"role": p.role, "name": p.name, "id": p.party_id, "place": _place(p.county_code)}


def product_facts(reader: Reader, gtin: str) -> dict[str, Any] | None:
    """The GTIN-level facts: the product and what the store holds of it; None if unknown."""
    rows = reader.rows(
        "SELECT gtin, name_zh, name_en, category, storage, unit FROM product WHERE gtin = :g",
        {"g": gtin},
    )
    if not rows:
        return None
    p = rows[0]
    lots = reader.rows(
        "SELECT COUNT(*) AS n, MIN(made_at) AS first, MAX(made_at) AS last, "
        "SUM(units) AS units FROM lot WHERE gtin = :g",
        {"g": gtin},
    )[0]
    return {
        "gtin": p.gtin,
        "name_zh": p.name_zh,
        "name_en": p.name_en,
        "category": p.category,
        "storage": p.storage,
        "unit": p.unit,
        "lots_on_record": int(lots.n or 0),
        "units_on_record": int(lots.units or 0),
        "first_packed": _local(lots.first),
        "last_packed": _local(lots.last),
    }


def lot_facts(
    store: Any, gtin: str, lot: str, product: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Everything the page of ``lot`` under ``gtin`` shows, or None when the store has no
    packed lot ``lot`` of that GTIN (the caller walks up to the product). ``store`` is a URL
    (bare driver), an engine or a pool, as for traceability.lineage; ``product`` is the
    GTIN's ``product_facts`` when the caller has read them already."""
    with reading(store) as reader:
        row = reader.rows(
            "SELECT lot_id, step, gtin, quantity_kg, units, made_at, made_by FROM lot "
            "WHERE lot_id = :l",
            {"l": lot},
        )
        if not row or row[0].gtin != gtin:
            return None
        me = row[0]
        if product is None:
            product = product_facts(reader, gtin)
        trace = trace_back(store, lot)
        return _facts(reader, me, product, trace)


def _facts(
    reader: Reader, me: Any, product: dict[str, Any] | None, trace: dict[str, Any]
) -> dict[str, Any]:
    lot = me.lot_id
    chain = [lot, *trace["lots"]]
    shares: dict[str, float] = trace["shares"]
    versions: dict[str, int] = trace["plot_versions"]
    events: list[dict[str, Any]] = trace["events"]

    lots = {
        r.lot_id: r
        for r in reader.rows(
            "SELECT lot_id, step, gtin, plot_id, quantity_kg, units, made_at, made_by "
            "FROM lot WHERE lot_id IN :lots",
            {"lots": chain},
        )
    }
    plot_rows = [
        r
        for r in reader.rows(
            "SELECT plot_id, version, farm_id, county_code, township, village, crop, area_mu, "
            "geometry FROM plot WHERE plot_id IN :plots",
            {"plots": sorted(shares) or [""]},
        )
        if versions.get(r.plot_id) == r.version
    ]
    ships = reader.rows(
        "SELECT s.shipment_id, s.carrier_id, s.device_id, s.from_party, s.to_party, "
        "s.departed_at, s.arrived_at, sl.lot_id, sl.kg FROM shipment_lot AS sl "
        "JOIN shipment AS s ON s.shipment_id = sl.shipment_id WHERE sl.lot_id IN :lots "
        "ORDER BY s.departed_at, s.shipment_id",
        {"lots": chain},
    )
    sales = reader.rows(
        "SELECT retailer_id, channel, COUNT(*) AS records, SUM(quantity_units) AS units, "
        "MIN(time) AS first, MAX(time) AS last FROM sale WHERE lot_id = :l "
        "GROUP BY retailer_id, channel",
        {"l": lot},
    )
    party_ids = {r.farm_id for r in plot_rows} | {e["party"] for e in events if e["party"]}
    party_ids |= {r.made_by for r in lots.values()}
    party_ids |= {x for s in ships for x in (s.carrier_id, s.from_party, s.to_party)}
    party_ids |= {s.retailer_id for s in sales}
    parties = {
        p.party_id: p
        for p in reader.rows(
            "SELECT party_id, role, name, county_code FROM party WHERE party_id IN :ids",
            {"ids": sorted(party_ids) or [""]},
        )
    }
    field_ids = [e["event_id"] for e in events if e["step"] in _FIELD_STEPS]
    payloads = {
        r.event_id: _payload(r.payload)
        for r in reader.rows(
            "SELECT event_id, payload FROM event WHERE event_id IN :ids",
            {"ids": field_ids or [""]},
        )
    }
    storages = {
        r.gtin: r.storage
        for r in reader.rows(
            "SELECT gtin, storage FROM product WHERE gtin IN :g",
            {"g": sorted({r.gtin for r in lots.values() if r.gtin}) or [""]},
        )
    }

    origin = _origin(plot_rows, shares, parties, trace.get("soil"))
    shipments = _shipments(reader, ships, lots, storages, parties)
    sold = _sales(sales, parties)
    timeline = _timeline(events, payloads, lots, lot, parties, plot_rows, shipments)
    inputs = sorted({e["input_reg_no"] for e in events if e["input_reg_no"]})
    counties = sorted({r.county_code for r in plot_rows})
    found = findings_about(
        reader,
        lots=chain,
        shipments={s.shipment_id for s in ships},
        plots=shares,
        gtin=me.gtin,
    )
    recalls = covering(reader, lots=chain, plots=shares, counties=counties, inputs=inputs)
    completeness = {
        "plot": bool(plot_rows),
        "inputs": any(e["step"] == "input" for e in events),
        "harvest": any(r.step == "harvest" for r in lots.values()),
        "processing": len(chain) > 1,
        "transport": bool(ships),
        "sale": bool(sales),
    }
    verdict = _verdict(origin, found, recalls, completeness)
    certificates = _certificates(reader, lot, me.gtin, me.made_at)
    return {
        "lot": {
            "id": lot,
            "gtin": me.gtin,
            "step": me.step,
            "kg": round(me.quantity_kg, 3),
            "units": me.units,
            "packed_at": _local(me.made_at),
            "packed_by": _party(parties.get(me.made_by)),
        },
        "product": product,
        "verdict": verdict,
        "certificates": certificates,
        "completeness": completeness,
        "origin": origin,
        "timeline": timeline,
        "shipments": shipments,
        "sales": sold,
        "findings": found,
        "recalls": recalls,
        "ancestor_lots": len(chain) - 1,
    }


def _certificates(reader: Reader, lot: str, gtin: str, made_at: Any) -> list[dict[str, Any]]:
    """The certificates the lot carries that were valid when it was packed: its own
    conformity pledges (whenever issued: a pledge goes with the lot when it is sold), and the
    certificates of its product (GTIN) issued by then and not expired. Plot certificates are
    not shown: one certified plot of a blend does not make the bag organic."""
    packed = _utc(made_at)
    packed_on = packed.astimezone(CHINA).date().isoformat() if packed else None
    rows = reader.rows(
        "SELECT certificate_id, kind, number, issuer, issued_on, valid_until, area, items "
        "FROM certificate WHERE (lot_id = :l AND kind = 'conformity_pledge') "
        "OR (gtin = :g AND kind <> 'conformity_pledge') ORDER BY kind, certificate_id",
        {"l": lot, "g": gtin},
    )
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        issued, until = _day(r.issued_on), _day(r.valid_until)
        if packed_on and until and until < packed_on:
            continue
        if packed_on and r.kind != "conformity_pledge" and issued > packed_on:
            continue
        out.setdefault(
            r.certificate_id,
            {
                "id": r.certificate_id,
                "kind": r.kind,
                "kind_name": {lang: i18n.STRINGS[lang][f"cert_{r.kind}"] for lang in i18n.LANGS},
                "number": r.number,
                "issuer": r.issuer,
                "issued_on": issued,
                "valid_until": until,
                "area": r.area.split(";") if r.area else [],
                "items": r.items.split(";") if r.items else [],
            },
        )
    return list(out.values())


def _day(value: Any) -> str | None:
    """A stored date as ISO text (the bare SQLite driver gives text, psycopg a date)."""
    if value is None or isinstance(value, str):
        return value
    return str(value.isoformat())


def _origin(
    plot_rows: list[Any],
    shares: dict[str, float],
    parties: dict[str, Any],
    soil: dict[str, Any] | None,
) -> dict[str, Any]:
    plots = []
    by_county: dict[str, float] = defaultdict(float)
    for r in sorted(plot_rows, key=lambda r: (-shares.get(r.plot_id, 0.0), r.plot_id)):
        share = shares.get(r.plot_id, 0.0)
        by_county[r.county_code] += share
        plots.append(
            {
                "plot": r.plot_id,
                "share": round(share, 6),
                "county": _place(r.county_code),
                "township": r.township,
                "village": r.village,
                "crop": r.crop,
                "area_mu": round(r.area_mu, 2) if r.area_mu is not None else None,
                "farmed_by": _party(parties.get(r.farm_id), r.village),
                "geometry": json.loads(r.geometry) if isinstance(r.geometry, str) else r.geometry,
            }
        )
    counties = [
        {**(_place(code) or {}), "share": round(share, 6)}
        for code, share in sorted(by_county.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {
        "plots": plots,
        "counties": counties,
        "area_mu": round(sum(p["area_mu"] or 0.0 for p in plots), 2),
        "soil": soil,
    }


def _shipments(
    reader: Reader,
    ships: list[Any],
    lots: dict[str, Any],
    storages: dict[str, str],
    parties: dict[str, Any],
) -> list[dict[str, Any]]:
    """Each shipment of the lot or its ancestors with its cold-chain verdict: the strictest
    storage class of the lots it carried of this chain, the readings of its logger between
    departure and arrival, and what the checks call a gap or an excursion in them."""
    merged: dict[str, dict[str, Any]] = {}
    for s in ships:
        lot = lots.get(s.lot_id)
        storage = storages.get(lot.gtin, "ambient") if lot and lot.gtin else "ambient"
        entry = merged.get(s.shipment_id)
        if entry is None:
            entry = merged[s.shipment_id] = {"row": s, "lots": [], "kg": 0.0, "storage": storage}
        entry["lots"].append(s.lot_id)
        entry["kg"] += s.kg
        if _strictness(storage) > _strictness(entry["storage"]):
            entry["storage"] = storage
    out = []
    for sid, entry in merged.items():
        s = entry["row"]
        start, end = _utc(s.departed_at), _utc(s.arrived_at)
        readings: list[Any] = []
        if s.device_id and start:
            readings = reader.rows(
                "SELECT ts, temp_c FROM reading WHERE device_id = :d AND ts >= :a AND ts <= :b "
                "ORDER BY ts",
                {
                    "d": s.device_id,
                    "a": start.replace(tzinfo=None),
                    "b": (end or datetime.now(UTC)).replace(tzinfo=None),
                },
            )
        series = [(_utc(r.ts), float(r.temp_c)) for r in readings]
        storage = entry["storage"]
        cold = _cold_chain(sid, storage, start, end, series, bool(s.device_id))
        carrier = parties.get(s.carrier_id)
        out.append(
            {
                "shipment": sid,
                "carrier": _party(carrier),
                "from": _party(parties.get(s.from_party)),
                "to": _party(parties.get(s.to_party)),
                "departed_at": _local(start),
                "arrived_at": _local(end),
                "lots": sorted(entry["lots"]),
                "kg": round(entry["kg"], 3),
                "storage": storage,
                "cold_chain": cold,
                "readings": [[_local(t), temp] for t, temp in series],
            }
        )
    return out


class _Reading(NamedTuple):
    """A logger reading in the form the checks read it (traceability.checks)."""

    ts: datetime
    temp_c: float


def _strictness(storage: str) -> int:
    return {"frozen": 4, "chilled": 3, "cool": 2}.get(storage, 1)


def _cold_chain(
    shipment: str,
    storage: str,
    start: datetime | None,
    end: datetime | None,
    series: list[tuple[Any, float]],
    has_logger: bool,
) -> dict[str, Any]:
    """in_range / excursion (minutes, peak) / gap (minutes) / no_telemetry, or not_required
    for ambient goods; the same rules as the checks (traceability.checks)."""
    temps = [t for _, t in series]
    base: dict[str, Any] = {
        "readings": len(series),
        "min_c": min(temps) if temps else None,
        "max_c": max(temps) if temps else None,
        "allowed_c": list(STORAGE_RANGE[storage]) if storage in STORAGE_RANGE else None,
    }
    if storage not in STORAGE_RANGE:
        return {"status": "not_required", **base}
    if not series or start is None:
        return {"status": "no_telemetry", "logger": has_logger, **base}

    lo, hi = STORAGE_RANGE[storage]
    readings = [_Reading(t, v) for t, v in series]
    found = shipment_findings(shipment, storage, lo, hi, start, end, readings)
    excursions = [f for f in found if f["kind"] == "excursion"]
    gaps = [f for f in found if f["kind"] == "gap"]
    if excursions:
        worst = max(excursions, key=lambda f: abs(f["worst_temp_c"] - (lo + hi) / 2))
        return {
            "status": "excursion",
            "minutes": sum(f["minutes"] for f in excursions),
            "peak_c": worst["worst_temp_c"],
            "gap_minutes": sum(f["minutes"] for f in gaps),
            **base,
        }
    if gaps:
        return {"status": "gap", "minutes": sum(f["minutes"] for f in gaps), **base}
    return {"status": "in_range", **base}


def _sales(sales: list[Any], parties: dict[str, Any]) -> list[dict[str, Any]]:
    """Where the lot was sold: per city and channel, the shops and units (no shop is a
    person, but cities and channels are what a consumer asks about)."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for s in sales:
        p = parties.get(s.retailer_id)
        place = _place(p.county_code if p else None)
        key = (place["city_zh"] if place else "", s.channel)
        g = groups.setdefault(
            key,
            {
                "city_zh": place["city_zh"] if place else None,
                "city_en": place["city_en"] if place else None,
                "channel": s.channel,
                "retailers": set(),
                "records": 0,
                "units": 0,
                "first": None,
                "last": None,
            },
        )
        g["retailers"].add(s.retailer_id)
        g["records"] += int(s.records)
        g["units"] += int(s.units or 0)
        first, last = _local(s.first), _local(s.last)
        g["first"] = min(filter(None, (g["first"], first)), default=None)
        g["last"] = max(filter(None, (g["last"], last)), default=None)
    out = []
    for key in sorted(groups):
        g = groups[key]
        g["retailers"] = len(g["retailers"])
        out.append(g)
    return out


def _timeline(
    events: list[dict[str, Any]],
    payloads: dict[str, dict[str, Any]],
    lots: dict[str, Any],
    lot: str,
    parties: dict[str, Any],
    plot_rows: list[Any],
    shipments: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every step, grouped so that a blend of many harvests reads as a few lines: field work
    by step (and input product), processing by step and mill, each shipment on its own."""
    village = {r.plot_id: r.village for r in plot_rows}
    county = {r.plot_id: r.county_code for r in plot_rows}
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(key: tuple[Any, ...], when: Any, base: dict[str, Any]) -> dict[str, Any]:
        g = groups.get(key)
        t = _local(when)
        if g is None:
            g = groups[key] = {**base, "from": t, "to": t, "count": 0}
        g["count"] += 1
        if t and (g["from"] is None or t < g["from"]):
            g["from"] = t
        if t and (g["to"] is None or t > g["to"]):
            g["to"] = t
        return g

    for e in events:
        if e["step"] not in ("sowing", "input") or not e["plot"]:
            continue
        data = payloads.get(e["event_id"], {})
        key: tuple[Any, ...] = (e["step"], e["input_reg_no"] or "", data.get("input_name") or "")
        g = add(
            key,
            e["time"],
            {
                "step": e["step"],
                "input_name": data.get("input_name"),
                "input_reg_no": e["input_reg_no"],
                "varieties": [],
                "plots": set(),
                "places": set(),
            },
        )
        g["plots"].add(e["plot"])
        g["places"].add((county.get(e["plot"]), village.get(e["plot"])))
        if data.get("variety") and data["variety"] not in g["varieties"]:
            g["varieties"].append(data["variety"])
        if data.get("dose") is not None:
            g["dose"] = f"{data['dose']} {data.get('dose_unit') or ''}".strip()
    for r in lots.values():
        if r.step == "harvest":
            g = add(
                ("harvest",),
                r.made_at,
                {"step": "harvest", "kg": 0.0, "plots": set(), "places": set()},
            )
            g["kg"] = round(g["kg"] + r.quantity_kg, 3)
            if r.plot_id:
                g["plots"].add(r.plot_id)
                g["places"].add((county.get(r.plot_id), village.get(r.plot_id)))
        else:
            g = add(
                ("processing", r.step, r.made_by),
                r.made_at,
                {
                    "step": r.step,
                    "party": _party(parties.get(r.made_by)),
                    "kg": 0.0,
                    "this_lot": False,
                },
            )
            g["kg"] = round(g["kg"] + r.quantity_kg, 3)
            g["this_lot"] = g["this_lot"] or r.lot_id == lot
    out = []
    for g in groups.values():
        if "plots" in g:
            g["plots"] = len(g["plots"])
            g["places"] = [
                {"county": _place(c), "village": v} for c, v in sorted(g["places"], key=str)
            ][:6]
        out.append(g)
    for s in shipments[:MAX_SHIPMENTS]:
        out.append(
            {
                "step": "shipping",
                "from": s["departed_at"],
                "to": s["arrived_at"],
                "count": 1,
                "shipment": s["shipment"],
                "carrier": s["carrier"],
                "origin": s["from"],
                "destination": s["to"],
                "cold_chain": s["cold_chain"]["status"],
            }
        )
    if len(shipments) > MAX_SHIPMENTS:
        rest = shipments[MAX_SHIPMENTS:]
        out.append(
            {
                "step": "shipping",
                "from": min(filter(None, (s["departed_at"] for s in rest)), default=None),
                "to": max(filter(None, (s["arrived_at"] for s in rest)), default=None),
                "count": len(rest),
                "more": True,
            }
        )
    order = {"sowing": 0, "input": 1, "harvest": 2, "shipping": 4}
    out.sort(key=lambda g: (g["from"] or "", order.get(g["step"], 3)))
    return out


def _verdict(
    origin: dict[str, Any],
    found: list[dict[str, Any]],
    recalls: list[dict[str, Any]],
    completeness: dict[str, bool],
) -> dict[str, Any]:
    """One line a consumer can act on: recalled, a warning, incomplete records, or traced."""
    warnings = sorted({f["kind"] for f in found if f["kind"] in WARNING_KINDS})
    missing = [s for s in STAGES if not completeness[s]]
    base = {
        "plots": len(origin["plots"]),
        "counties": origin["counties"],
        "warnings": warnings,
        "missing": missing,
    }
    if recalls:
        first = recalls[0]
        return {
            "status": "recalled",
            "reason": first["reason"],
            "since": first["declared_at"],
            **base,
        }
    if warnings:
        return {"status": "warning", **base}
    if not completeness["plot"] or not completeness["harvest"]:
        return {"status": "incomplete", **base}
    return {"status": "traced", **base}
