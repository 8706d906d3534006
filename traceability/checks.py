"""Findings a bureau acts on: mass balance, cold chain, geo, codes (``heitu check``).

A finding is a result, not an error: each is a dict with a ``kind`` and the id of the lot,
shipment, plot or record it is about, plus the numbers that make it a finding.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from traceability.lineage import query

#: Largest output/input kg ratio a step can honestly have. Drying only loses water, milling
#: white rice from paddy yields about 0.60-0.72 (GUIDE.md), packing/blending/splitting move
#: kg without making any. Override per step with HEITU_YIELD_<STEP>.
STEP_MAX_YIELD: dict[str, float] = {
    "drying": 1.0,
    "milling": 0.75,
    "packing": 1.0,
    "blending": 1.0,
    "splitting": 1.0,
}
#: Weighing noise allowed before a finding (kg), so 1000.2 kg out of 1000 kg is not fraud.
KG_SLACK = 0.5

#: Storage classes (GUIDE.md): allowed truck temperature range in C.
STORAGE_RANGE: dict[str, tuple[float, float]] = {
    "cool": (-30.0, 15.0),
    "chilled": (0.0, 4.0),
    "frozen": (-60.0, -18.0),
}
#: Time outside the range tolerated before it is an excursion; longer silences are gaps.
EXCURSION_TOLERANCE = timedelta(minutes=30)
GAP_TOLERANCE = timedelta(minutes=30)


def max_yield(step: str) -> float:
    import os

    raw = os.environ.get(f"HEITU_YIELD_{step.upper()}")
    return float(raw) if raw else STEP_MAX_YIELD.get(step, 1.0)


def mass_balance(eng: Engine) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = []
    with eng.connect() as conn:
        for r in conn.execute(query("mass_balance_transformations")):
            limit = max_yield(r.step)
            if r.output_kg > r.input_kg * limit + KG_SLACK:
                findings.append(
                    {
                        "kind": "over_output",
                        "lot": r.lot_id,
                        "record": r.record_id,
                        "step": r.step,
                        "input_kg": round(r.input_kg, 3),
                        "output_kg": round(r.output_kg, 3),
                        "max_yield": limit,
                        "ratio": round(r.output_kg / r.input_kg, 4),
                        "file": r.source_file,
                        "line": r.line,
                    }
                )
        for r in conn.execute(query("mass_balance_lots")):
            if r.consumed_kg is not None and r.consumed_kg > r.quantity_kg + KG_SLACK:
                findings.append(
                    {
                        "kind": "over_consumed",
                        "lot": r.lot_id,
                        "quantity_kg": round(r.quantity_kg, 3),
                        "consumed_kg": round(r.consumed_kg, 3),
                    }
                )
            if r.sold_units is not None and r.units is not None and r.sold_units > r.units:
                findings.append(
                    {
                        "kind": "oversold",
                        "lot": r.lot_id,
                        "gtin": r.gtin,
                        "packed_units": r.units,
                        "sold_units": int(r.sold_units),
                    }
                )
    return sorted(findings, key=lambda f: (f["kind"], f["lot"]))


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def cold_chain(eng: Engine) -> list[dict[str, Any]]:
    """Excursions (outside the storage class longer than tolerated) and gaps per shipment."""
    findings: list[dict[str, Any]] = []
    with eng.connect() as conn:
        ships = conn.execute(
            text("""
            SELECT s.shipment_id, s.device_id, s.departed_at, s.arrived_at,
                   MAX(CASE p.storage WHEN 'frozen' THEN 4 WHEN 'chilled' THEN 3
                                      WHEN 'cool' THEN 2 ELSE 1 END) AS strictest
            FROM shipment AS s
            JOIN shipment_lot AS sl ON sl.shipment_id = s.shipment_id
            JOIN lot AS l ON l.lot_id = sl.lot_id
            JOIN product AS p ON p.gtin = l.gtin
            WHERE s.device_id IS NOT NULL
            GROUP BY s.shipment_id, s.device_id, s.departed_at, s.arrived_at
        """)
        ).all()
        classes = {2: "cool", 3: "chilled", 4: "frozen"}
        for s in ships:
            storage = classes.get(s.strictest)
            if storage is None:
                continue
            lo, hi = STORAGE_RANGE[storage]
            start = _utc(s.departed_at)
            end = _utc(s.arrived_at) if s.arrived_at else None
            params = {
                "d": s.device_id,
                "a": start.replace(tzinfo=None),
                "b": (end or datetime.now(UTC)).replace(tzinfo=None),
            }
            readings = conn.execute(
                text(
                    "SELECT ts, temp_c FROM reading WHERE device_id = :d "
                    "AND ts >= :a AND ts <= :b ORDER BY ts"
                ),
                params,
            ).all()
            findings += shipment_findings(s.shipment_id, storage, lo, hi, start, end, readings)
    return findings


def shipment_findings(
    shipment: str,
    storage: str,
    lo: float,
    hi: float,
    start: datetime,
    end: datetime | None,
    readings: list[Any],
) -> list[dict[str, Any]]:
    """Gaps and excursions of one shipment from its readings (``ts``, ``temp_c``, in time
    order); ``no_readings`` when there are none. Also what a lot's page shows per shipment."""
    out: list[dict[str, Any]] = []
    if not readings:
        return [{"kind": "no_readings", "shipment": shipment, "storage": storage}]
    times = [_utc(r.ts) for r in readings]
    edges = [start, *times, *([end] if end else [])]
    for a, b in itertools.pairwise(edges):
        if b - a > GAP_TOLERANCE:
            out.append(
                {
                    "kind": "gap",
                    "shipment": shipment,
                    "from": a.isoformat(),
                    "to": b.isoformat(),
                    "minutes": round((b - a).total_seconds() / 60),
                }
            )
    run: list[tuple[datetime, float]] = []  # consecutive readings outside the class
    for t, r in zip(times, readings, strict=True):
        if not lo <= r.temp_c <= hi:
            run.append((t, r.temp_c))
            continue
        if run:
            out += _excursion(shipment, storage, lo, hi, run, t)
            run = []
    if run:
        out += _excursion(shipment, storage, lo, hi, run, run[-1][0])
    return out


def _excursion(
    shipment: str,
    storage: str,
    lo: float,
    hi: float,
    run: list[tuple[datetime, float]],
    back_in_range: datetime,
) -> list[dict[str, Any]]:
    """One excursion finding when a run outside the class lasted longer than tolerated."""
    start = run[0][0]
    if back_in_range - start <= EXCURSION_TOLERANCE:
        return []
    temps = [temp for _, temp in run]
    worst = max(temps) if max(temps) > hi else min(temps)
    return [
        {
            "kind": "excursion",
            "shipment": shipment,
            "storage": storage,
            "from": start.isoformat(),
            "to": back_in_range.isoformat(),
            "minutes": round((back_in_range - start).total_seconds() / 60),
            "worst_temp_c": worst,
            "allowed_c": [lo, hi],
        }
    ]


def geo_checks(eng: Engine) -> list[dict[str, Any]]:
    """Harvest GPS points outside their plot (with a 30 m tolerance), then the plots' own
    findings: overlap, area_mismatch, outside_county (geo/checks.py, docs/plots.md)."""
    return harvest_point_checks(eng) + plot_checks(eng)


def plot_checks(eng: Engine) -> list[dict[str, Any]]:
    """Geo findings over the newest version of every plot."""
    with eng.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.plot_id, p.geometry, p.declared_area_mu, p.area_mu, p.county_code "
                "FROM plot AS p WHERE p.version = "
                "(SELECT MAX(q.version) FROM plot AS q WHERE q.plot_id = p.plot_id) "
                "ORDER BY p.plot_id"
            )
        ).all()
    if not rows:
        return []
    from geo.checks import plot_findings

    return plot_findings([tuple(r) for r in rows])


def harvest_point_checks(eng: Engine) -> list[dict[str, Any]]:
    """Harvest GPS points outside their plot (with a 30 m tolerance)."""
    import json

    findings: list[dict[str, Any]] = []
    with eng.connect() as conn:
        rows = conn.execute(query("harvest_points")).all()
    todo = []
    for r in rows:
        payload = r.payload if isinstance(r.payload, dict) else json.loads(r.payload)
        if payload.get("lon") is not None:
            todo.append((r, payload["lon"], payload["lat"]))
    if not todo:
        return findings
    # One vectorised match for every point (geo/match.py; bench/geo.py measures it), one
    # geometry per plot version, each point against the version valid at its harvest.
    import numpy as np

    from geo.match import match_points

    slot: dict[tuple[Any, Any], int] = {}
    geometries: list[dict[str, Any]] = []
    claimed = np.empty(len(todo), dtype=np.int64)
    for i, (r, _, _) in enumerate(todo):
        key = (r.plot_id, r.version)
        if key not in slot:
            slot[key] = len(geometries)
            geometries.append(json.loads(r.geometry))
        claimed[i] = slot[key]
    res = match_points(
        geometries,
        np.arange(len(geometries)),
        np.array([t[1] for t in todo], dtype=np.float64),
        np.array([t[2] for t in todo], dtype=np.float64),
        claimed=claimed,
        tolerance_m=30.0,
    )
    for i in np.flatnonzero(~res.matched):
        r, lon, lat = todo[i]
        findings.append(
            {
                "kind": "outside_plot",
                "record": r.record_id,
                "plot": r.plot_id,
                "plot_version": r.version,
                "lot": r.lot_id,
                "lon": lon,
                "lat": lat,
                "distance_m": round(float(res.distance_m[i]), 1),
            }
        )
    return findings


def code_checks(eng: Engine) -> list[dict[str, Any]]:
    """Packed lots that cannot carry a traceability code, and the copies the scan log shows
    (traceability/scans.py: codes never issued, one bag scanned far apart within a day, more
    bags of a lot scanned than it had, scans far from every shop it went to or after a
    recall)."""
    from traceability.gs1 import check_lot
    from traceability.scans import findings as scan_findings

    findings = []
    with eng.connect() as conn:
        for r in conn.execute(text("SELECT lot_id, gtin FROM lot WHERE gtin IS NOT NULL")):
            reason = check_lot(r.lot_id)
            if reason:
                findings.append({"kind": "lot_not_encodable", "lot": r.lot_id, "reason": reason})
    return findings + scan_findings(eng)


def certificate_checks(eng: Engine) -> list[dict[str, Any]]:
    """What the certificates a lot carries say against the store (sql/certificate_expired,
    gi_outside_area, pledge_not_renewed; one statement each, whatever the number of lots):

    - ``certificate_expired``: the lot was packed (made) after its own pledge, or a
      certificate of its GTIN, had expired, and no renewal of the same kind covered that day;
    - ``gi_outside_area``: the lot's GTIN is labelled with a geographical indication, yet some
      plots it comes from (traced back) lie outside the GI's counties;
    - ``pledge_not_renewed``: a lot made from inputs has no conformity pledge of its own while
      a parent has one (the parent's pledge does not carry over to a mixed or repacked lot).
    """
    findings: list[dict[str, Any]] = []
    with eng.connect() as conn:
        dialect = conn.dialect.name
        for r in conn.execute(query("certificate_expired", dialect)):
            findings.append(
                {
                    "kind": "certificate_expired",
                    "lot": r.lot_id,
                    "gtin": r.gtin,
                    "certificate": r.certificate_id,
                    "certificate_kind": r.kind,
                    "number": r.number,
                    "valid_until": _day(r.valid_until),
                    "packed_on": _day(r.made_on),
                }
            )
        outside: dict[tuple[str, str], dict[str, Any]] = {}
        for r in conn.execute(query("gi_outside_area", dialect)):
            f = outside.setdefault(
                (r.lot_id, r.certificate_id),
                {
                    "kind": "gi_outside_area",
                    "lot": r.lot_id,
                    "gtin": r.gtin,
                    "certificate": r.certificate_id,
                    "number": r.number,
                    "area": r.area.split(";"),
                    "plots_outside": [],
                },
            )
            f["plots_outside"].append({"plot": r.plot_id, "county_code": r.county_code})
        findings += outside.values()
        parents: dict[str, dict[str, Any]] = {}
        for r in conn.execute(query("pledge_not_renewed", dialect)):
            f = parents.setdefault(
                r.lot_id, {"kind": "pledge_not_renewed", "lot": r.lot_id, "parent_pledges": []}
            )
            f["parent_pledges"].append(
                {"lot": r.parent_lot, "certificate": r.certificate_id, "number": r.number}
            )
        findings += parents.values()
    return findings


def _day(value: Any) -> str:
    """A date as ISO text, whether the driver gives a date (PostgreSQL) or text (SQLite)."""
    return value if isinstance(value, str) else value.isoformat()


def run_checks(eng: Engine) -> dict[str, list[dict[str, Any]]]:
    from traceability.balance import brand_findings, yield_findings

    return {
        "mass_balance": mass_balance(eng) + yield_findings(eng) + brand_findings(eng),
        "cold_chain": cold_chain(eng),
        "geo": geo_checks(eng),
        "codes": code_checks(eng) + certificate_checks(eng),
    }
