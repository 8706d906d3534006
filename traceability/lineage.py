"""Plot-to-shelf lineage: trace a bag back to its plots, a plot or lot forward to the shelves.

The walks are recursive SQL in ``sql/`` (the same text on SQLite and PostgreSQL). This module
stays light (no pandas, no geopandas) so ``heitu trace`` starts fast.
"""

from __future__ import annotations

import re
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
def query(name: str) -> Any:
    """A query from sql/ by file name, parsed once. Comments are dropped first: ``:name`` in
    a comment would otherwise count as a bind parameter."""
    sql = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    return text(re.sub(r"--[^\n]*", "", sql))


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


def trace_back(eng: Engine, lot_or_code: str, *, with_events: bool = True) -> dict[str, Any]:
    """Every ancestor lot of a lot (or code), its plots and each plot's share of the kg."""
    with eng.connect() as conn:
        lot = resolve_lot(conn, lot_or_code)
        rows = conn.execute(query("trace_back"), {"lot": lot, "max_depth": MAX_DEPTH}).all()
        if any(r.max_depth >= MAX_DEPTH for r in rows):
            raise LineageCycle(f"lineage of {lot} is deeper than {MAX_DEPTH} steps or cyclic")
        shares: dict[str, float] = {}
        for r in rows:
            if r.plot_id is not None:
                shares[r.plot_id] = shares.get(r.plot_id, 0.0) + r.share
        lots = sorted(r.lot_id for r in rows if r.lot_id != lot)
        plots = sorted(shares)
        events: list[dict[str, Any]] = []
        if with_events:
            stmt = query("lot_events").bindparams(
                bindparam("lots", expanding=True), bindparam("plots", expanding=True)
            )
            events = [
                _event(r)
                for r in conn.execute(stmt, {"lots": [lot, *lots], "plots": plots or [""]})
            ]
    return {
        "lot": lot,
        "plots": plots,
        "lots": lots,
        "shares": {p: round(shares[p], 6) for p in plots},
        "events": events,
    }


def trace_forward(eng: Engine, plot_or_lot: str) -> dict[str, Any]:
    """Every lot made from a plot or lot (harvest lots included) and the retailers reached."""
    with eng.connect() as conn:
        is_plot = conn.execute(
            text("SELECT 1 FROM plot WHERE plot_id = :p"), {"p": plot_or_lot}
        ).first()
        if is_plot:
            params = {"plot": plot_or_lot, "lot": None}
        else:
            try:
                lot = resolve_lot(conn, plot_or_lot)
            except NotFound:
                raise NotFound(f"no plot or lot {plot_or_lot!r} in the store") from None
            params = {"plot": None, "lot": lot}
        rows = conn.execute(query("trace_forward"), {**params, "max_depth": MAX_DEPTH}).all()
    if any(r.kind == "lot" and r.depth is not None and r.depth >= MAX_DEPTH for r in rows):
        raise LineageCycle(f"descendants of {plot_or_lot} go deeper than {MAX_DEPTH} steps")
    return {
        "from": plot_or_lot,
        "kind": "plot" if is_plot else "lot",
        "lots": sorted(r.id for r in rows if r.kind == "lot"),
        "retailers": sorted(r.id for r in rows if r.kind == "retailer"),
    }
