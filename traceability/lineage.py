"""Plot-to-shelf lineage: trace a bag back to its plots, a plot or lot forward to the shelves.

The walks are recursive SQL in ``sql/`` (the same text on SQLite and PostgreSQL). This module
stays light (no pandas, no geopandas) so ``heitu trace`` starts fast.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text

from traceability.config import SQL_DIR
from traceability.errors import HeituError, NotFound
from traceability.readers import restore_time

#: Longest chain of transformations followed. Real chains are short (harvest -> drying ->
#: milling -> blending -> packing -> splitting is 5 hops); reaching this means a cycle.
MAX_DEPTH = 64


class LineageCycle(HeituError):
    pass


@cache
def _sql(name: str, dialect: str) -> str:
    """Text of sql/<name>.<dialect>.sql when a dialect needs its own, else sql/<name>.sql.
    Comments are dropped: ``:name`` in a comment would count as a bind parameter."""
    path = SQL_DIR / f"{name}.{dialect}.sql"
    if not path.exists():
        path = SQL_DIR / f"{name}.sql"
    return re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))


@cache
def query(name: str, dialect: str = "default") -> Any:
    """A query from sql/ by file name (and dialect), parsed once."""
    return text(_sql(name, dialect))


def resolve_lot(conn: Connection, lot_or_code: str) -> str:
    """A lot id, or a traceability code (GS1 Digital Link URI) naming one; NotFound otherwise."""
    lot = lot_or_code
    gtin = None
    if "://" in lot_or_code or lot_or_code.startswith("/01/"):
        from traceability.codes import parse_code

        try:
            gtin, lot, _ = parse_code(lot_or_code)
        except ValueError as exc:
            raise NotFound(f"{lot_or_code!r} is not a traceability code: {exc}") from None
    row = conn.execute(text("SELECT gtin FROM lot WHERE lot_id = :l"), {"l": lot}).first()
    if row is None:
        raise NotFound(f"lot {lot!r} is not in the store")
    if gtin is not None and row.gtin != gtin:
        raise NotFound(f"code names GTIN {gtin} but lot {lot!r} was packed as {row.gtin}")
    return lot


def _event(r: Any) -> dict[str, Any]:
    return {
        "event_id": r.event_id,
        "source": r.source,
        "record_id": r.record_id,
        "step": r.step,
        "time": restore_time(_aware(r.time), r.time_offset_min),
        "party": r.party_id,
        "lot": r.lot_id,
        "plot": r.plot_id,
        "input_reg_no": r.input_reg_no,
        "file": r.source_file,
        "line": r.line,
    }


def _aware(value: Any) -> Any:
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _shares_and_paths(
    lot: str, rows: list[Any]
) -> tuple[list[str], dict[str, float], dict[str, list[str]]]:
    """One pass over the ancestry in depth order (rows come sorted by their longest distance
    from ``lot``, so every child is done before its parents): each lot's share of ``lot``'s
    kg, and for each plot the path that brought it the largest part."""
    parents: dict[str, list[tuple[str, float]]] = {}
    plot_of: dict[str, str] = {}
    order: list[str] = []
    for r in rows:
        if r.lot_id not in parents:
            parents[r.lot_id] = []
            order.append(r.lot_id)
            if r.plot_id is not None:
                plot_of[r.lot_id] = r.plot_id
        if r.parent_lot is not None:
            parents[r.lot_id].append((r.parent_lot, r.share))
    share = {lot: 1.0}
    best = {lot: 1.0}  # the largest single-path share, for the path shown
    via: dict[str, str] = {}
    for child in order:
        for parent, s in parents[child]:
            share[parent] = share.get(parent, 0.0) + share[child] * s
            if best[child] * s > best.get(parent, -1.0):
                best[parent] = best[child] * s
                via[parent] = child
    shares: dict[str, float] = {}
    paths: dict[str, list[str]] = {}
    top: dict[str, float] = {}
    for harvest, plot in plot_of.items():
        shares[plot] = shares.get(plot, 0.0) + share.get(harvest, 0.0)
        if best.get(harvest, 0.0) > top.get(plot, -1.0):
            top[plot] = best[harvest]
            path = [harvest]
            while path[-1] in via:
                path.append(via[path[-1]])
            paths[plot] = path[::-1]
    return sorted(x for x in order if x != lot), shares, paths


def _versions_at_harvest(conn: Connection, harvested: dict[str, Any]) -> dict[str, int]:
    """Per plot, the version of its geometry valid when its harvest in the trace was made:
    the newest one whose valid_from is not after the harvest (else the first)."""
    if not harvested:
        return {}
    stmt = text(
        "SELECT plot_id, version, valid_from FROM plot WHERE plot_id IN :plots "
        "ORDER BY plot_id, version"
    ).bindparams(bindparam("plots", expanding=True))
    out: dict[str, int] = {}
    for r in conn.execute(stmt, {"plots": sorted(harvested)}):
        at = _aware(harvested[r.plot_id])
        if r.plot_id not in out or (at is not None and _aware(r.valid_from) <= at):
            out[r.plot_id] = r.version
    return out


def _soil(
    conn: Connection, shares: dict[str, float], versions: dict[str, int]
) -> dict[str, Any] | None:
    """Black-soil attributes of a lot: each plot's (at the version valid at harvest) weighted
    by its share of the lot's kg. Plots without a figure leave it out of that average, and
    ``*_coverage`` says which share of the kg the average speaks for."""
    if not shares:
        return None
    stmt = text(
        "SELECT plot_id, version, soil_organic_matter_pct, black_soil_depth_cm, practices "
        "FROM plot WHERE plot_id IN :plots"
    ).bindparams(bindparam("plots", expanding=True))
    rows = [
        r
        for r in conn.execute(stmt, {"plots": sorted(shares)})
        if r.version == versions.get(r.plot_id)
    ]
    out: dict[str, Any] = {}
    for field in ("soil_organic_matter_pct", "black_soil_depth_cm"):
        known = [
            (shares[r.plot_id], getattr(r, field)) for r in rows if getattr(r, field) is not None
        ]
        weight = sum(w for w, _ in known)
        out[field] = round(sum(w * v for w, v in known) / weight, 3) if weight else None
        out[f"{field}_coverage"] = round(weight, 6)
    practices: dict[str, float] = {}
    for r in rows:
        for practice in filter(None, (r.practices or "").split(";")):
            practices[practice] = practices.get(practice, 0.0) + shares[r.plot_id]
    out["practices"] = {k: round(v, 6) for k, v in sorted(practices.items())}
    return out


def trace_back(eng: Engine, lot_or_code: str, *, with_events: bool = True) -> dict[str, Any]:
    """Every ancestor lot of a lot (or code), its plots, each plot's share of the lot's kg
    and the path (lot -> ... -> harvest lot) that brought each plot its largest part."""
    with eng.connect() as conn:
        lot = resolve_lot(conn, lot_or_code)
        rows = conn.execute(query("trace_back"), {"lot": lot, "max_depth": MAX_DEPTH}).all()
        if any(r.depth >= MAX_DEPTH for r in rows):
            raise LineageCycle(f"lineage of {lot} is deeper than {MAX_DEPTH} steps or cyclic")
        lots, shares, paths = _shares_and_paths(lot, rows)
        plots = sorted(shares)
        made = {r.lot_id: r.made_at for r in rows}
        versions = _versions_at_harvest(conn, {p: made[paths[p][-1]] for p in plots})
        events: list[dict[str, Any]] = []
        soil: dict[str, Any] | None = None
        if with_events:
            soil = _soil(conn, shares, versions)
            stmt = query("lot_events").bindparams(
                bindparam("lots", expanding=True), bindparam("plots", expanding=True)
            )
            params = {"lots": [lot, *lots], "plots": plots or [""]}
            events = [_event(r) for r in conn.execute(stmt, params)]
    return {
        "lot": lot,
        "plots": plots,
        "lots": lots,
        "shares": {p: round(shares[p], 6) for p in plots},
        "paths": {p: paths[p] for p in plots},
        "plot_versions": versions,
        "soil": soil,
        "events": events,
    }


RECALL_KINDS = ("plot", "farm", "county", "input", "lot")
#: Far ends of the date window when none is given (stored times are naive UTC).
_EARLIEST = datetime(1900, 1, 1)
_LATEST = datetime(9999, 1, 1)


def _naive_utc(value: datetime | None, default: datetime) -> datetime:
    if value is None:
        return default
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


@cache
def _recall_sql(kind: str, dialect: str) -> Any:
    seeds = _sql(f"recall_seeds_{kind}", dialect)
    return text(_sql("recall", dialect).replace("/*SEEDS*/", seeds))


def _unit_kg(lot: dict[str, Any]) -> float | None:
    return lot["kg"] / lot["units"] if lot.get("units") else None


def recall(
    eng: Engine,
    kind: str,
    key: str,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> dict[str, Any]:
    """Everything made from a plot, farm, county, input (registration number) or lot, where
    it was shipped and sold, and what is still unsold, per retailer.

    ``date_from``/``date_to`` bound the harvests (plot, farm, county) or the input
    applications (input) that start the recall; the window is [from, to)."""
    if kind not in RECALL_KINDS:
        raise ValueError(f"recall by {kind!r}: expected one of {', '.join(RECALL_KINDS)}")
    params = {
        "key": key,
        "date_from": _naive_utc(date_from, _EARLIEST),
        "date_to": _naive_utc(date_to, _LATEST),
        "max_depth": MAX_DEPTH,
    }
    with eng.connect() as conn:
        rows = conn.execute(_recall_sql(kind, eng.dialect.name), params).all()
    lots: dict[str, dict[str, Any]] = {}
    shipped: list[Any] = []
    sold: list[Any] = []
    for r in rows:
        if r.kind == "lot":
            if r.depth >= MAX_DEPTH:
                raise LineageCycle(f"descendants of {kind} {key} go deeper than {MAX_DEPTH} steps")
            lots[r.lot_id] = {"lot": r.lot_id, "gtin": r.gtin, "kg": r.kg, "units": r.units}
        elif r.kind == "shipped":
            shipped.append(r)
        else:
            sold.append(r)
    per: dict[str, dict[str, Any]] = {}
    # Stock in units per (party, lot): received - shipped on - sold. A warehouse that passed
    # everything on holds nothing; a retailer holds what it received and did not sell.
    stock: dict[tuple[str, str], float] = {}

    def entry(party: str) -> dict[str, Any]:
        return per.setdefault(
            party,
            {
                "party": party,
                "received_kg": 0.0,
                "received_units": 0.0,
                "shipped_on_kg": 0.0,
                "sold_units": 0,
                "sold_kg": 0.0,
            },
        )

    for r in shipped:
        unit = _unit_kg(lots[r.lot_id])
        units = r.kg / unit if unit else 0.0
        e = entry(r.party)
        e["received_kg"] += r.kg
        e["received_units"] += units
        stock[(r.party, r.lot_id)] = stock.get((r.party, r.lot_id), 0.0) + units
        if r.from_party is not None:
            entry(r.from_party)["shipped_on_kg"] += r.kg
            sender = (r.from_party, r.lot_id)
            stock[sender] = stock.get(sender, 0.0) - units
    for r in sold:
        unit = _unit_kg(lots[r.lot_id]) or 0.0
        e = entry(r.party)
        e["sold_units"] += int(r.units)
        e["sold_kg"] += r.units * unit
        stock[(r.party, r.lot_id)] = stock.get((r.party, r.lot_id), 0.0) - int(r.units)
    with eng.connect() as conn:
        roles = _roles(conn, sorted(per))
    unsold = [
        {
            "party": party,
            "lot": lot,
            "gtin": lots[lot]["gtin"],
            "units": round(units, 3),
            "kg": round(units * (_unit_kg(lots[lot]) or 0.0), 3),
        }
        for (party, lot), units in sorted(stock.items())
        if units > 1e-9 and roles.get(party, {}).get("role") != "processor"
    ]
    parties = []
    for party, e in sorted(per.items()):
        e.update(role=roles.get(party, {}).get("role"), name=roles.get(party, {}).get("name"))
        e["unsold_units"] = round(sum(u["units"] for u in unsold if u["party"] == party), 3)
        e["unsold_kg"] = round(sum(u["kg"] for u in unsold if u["party"] == party), 3)
        for k in ("received_kg", "received_units", "shipped_on_kg", "sold_kg"):
            e[k] = round(e[k], 3)
        parties.append(e)
    packed_units = sum(v["units"] or 0 for v in lots.values() if v["gtin"])
    sold_units = sum(int(r.units) for r in sold)
    return {
        "query": {
            "kind": kind,
            "key": key,
            "from": date_from.isoformat() if date_from else None,
            "to": date_to.isoformat() if date_to else None,
        },
        "lots": sorted(lots),
        "packed_lots": sorted(k for k, v in lots.items() if v["gtin"]),
        "retailers": sorted(p["party"] for p in parties if p["role"] == "retailer"),
        "parties": parties,
        "unsold": unsold,
        "totals": {
            "lots": len(lots),
            "packed_units": packed_units,
            "sold_units": sold_units,
            "unsold_units": packed_units - sold_units,
            "shipped_kg": round(sum(r.kg for r in shipped), 3),
        },
    }


def _roles(conn: Connection, parties: list[str]) -> dict[str, dict[str, Any]]:
    if not parties:
        return {}
    stmt = text("SELECT party_id, role, name FROM party WHERE party_id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    return {
        r.party_id: {"role": r.role, "name": r.name} for r in conn.execute(stmt, {"ids": parties})
    }


def trace_forward(eng: Engine, plot_or_lot: str) -> dict[str, Any]:
    """Every lot made from a plot or lot (harvest lots included) and the retailers that
    received or sold any of it: a recall without a window, in the CLI's short form."""
    with eng.connect() as conn:
        is_plot = conn.execute(
            text("SELECT 1 FROM plot WHERE plot_id = :p"), {"p": plot_or_lot}
        ).first()
        if is_plot:
            kind, key = "plot", plot_or_lot
        else:
            try:
                kind, key = "lot", resolve_lot(conn, plot_or_lot)
            except NotFound:
                raise NotFound(f"no plot or lot {plot_or_lot!r} in the store") from None
    result = recall(eng, kind, key)
    return {
        "from": plot_or_lot,
        "kind": kind,
        "lots": result["lots"],
        "retailers": result["retailers"],
    }
