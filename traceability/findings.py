"""The checks' findings kept in the store (table ``finding``), so that a page or an API can
say which open findings concern a lot's chain without running every check.

``save_findings`` replaces the stored set with one run's (``heitu check``, the checks DAG): a
finding that no longer holds disappears with the next run. ``findings_about`` answers "what
does the store hold against these lots, shipments and plots".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["findings_about", "save_findings"]

#: Findings that name a second plot or a set of GTINs in their detail, not in the key columns:
#: few rows, read whole and filtered in Python.
_WIDE_KINDS = ("overlap", "brand_over_origin")


def _row(check: str, f: dict[str, Any], now: datetime) -> dict[str, Any]:
    county = f.get("county_code") or f.get("county")
    return {
        "check_name": check,
        "kind": str(f.get("kind", "")),
        "lot_id": f.get("lot"),
        "shipment_id": f.get("shipment"),
        "plot_id": f.get("plot"),
        "county_code": str(county) if county else None,
        "detail": f,
        "found_at": now,
    }


#: Fields that name what a finding is about; the numbers beside them (minutes of an excursion
#: still in progress, kg sold so far) may change between runs without making it a new finding.
_IDENTITY = ("kind", "lot", "shipment", "plot", "other_plot", "record", "county", "crop",
             "year", "from")  # fmt: skip
#: Ids of new findings an operator sees per kind (in the checks DAG's asset event).
EXAMPLES = 5


def identity(finding: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(str(finding.get(k)) for k in _IDENTITY)


def finding_id(finding: dict[str, Any]) -> str:
    """The id a person would look up: the lot, shipment, plot, record or county."""
    for key in ("lot", "shipment", "plot", "record", "county"):
        if finding.get(key):
            return str(finding[key])
    return str(finding.get("kind"))


def save_findings(eng: Engine, doc: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Store one checks run's findings in place of the last run's. Returns what changed:
    ``{"total", "new": {kind: n}, "new_ids": {kind: [first ids]}, "gone": {kind: n}}``."""
    from sqlalchemy import delete, insert, select

    from traceability.models import Finding
    from traceability.store import touch

    now = datetime.now(UTC)
    rows = [_row(check, f, now) for check, found in doc.items() for f in found]
    # JSON detail through json.dumps(default=str): findings carry datetimes and numpy floats
    for r in rows:
        r["detail"] = json.loads(json.dumps(r["detail"], default=str))
    with eng.begin() as conn:
        before = {
            identity(d if isinstance(d, dict) else json.loads(d))
            for (d,) in conn.execute(select(Finding.detail))
        }
        conn.execute(delete(Finding))
        if rows:
            conn.execute(insert(Finding), rows)
    touch(eng)
    now_ids = {identity(r["detail"]) for r in rows}
    new: dict[str, int] = {}
    new_ids: dict[str, list[str]] = {}
    for r in rows:
        if identity(r["detail"]) not in before:
            kind = r["kind"]
            new[kind] = new.get(kind, 0) + 1
            ids = new_ids.setdefault(kind, [])
            if len(ids) < EXAMPLES:
                ids.append(finding_id(r["detail"]))
    gone: dict[str, int] = {}
    for ident in before - now_ids:
        gone[ident[0]] = gone.get(ident[0], 0) + 1
    return {
        "total": len(rows),
        "new": dict(sorted(new.items())),
        "new_ids": dict(sorted(new_ids.items())),
        "gone": dict(sorted(gone.items())),
    }


def findings_about(
    reader: Any,
    *,
    lots: Iterable[str] = (),
    shipments: Iterable[str] = (),
    plots: Iterable[str] = (),
    gtin: str | None = None,
) -> list[dict[str, Any]]:
    """The stored findings about any of ``lots``, ``shipments`` or ``plots`` (an overlap naming
    one of the plots on either side, a brand finding naming ``gtin``), as the checks wrote
    them plus ``check``. ``reader`` is a lineage ``Reader`` (bare driver connection)."""
    lots, shipments, plots = sorted(set(lots)), sorted(set(shipments)), sorted(set(plots))
    sql = (
        "SELECT check_name, kind, detail FROM finding WHERE lot_id IN :lots "
        "OR shipment_id IN :shipments OR plot_id IN :plots OR kind IN :wide ORDER BY id"
    )
    params = {
        "lots": lots or [""],
        "shipments": shipments or [""],
        "plots": plots or [""],
        "wide": list(_WIDE_KINDS),
    }
    wanted_plots = set(plots)
    out = []
    for r in reader.rows(sql, params):
        detail = r.detail if isinstance(r.detail, dict) else json.loads(r.detail)
        if (
            r.kind == "overlap"
            and not {detail.get("plot"), detail.get("other_plot")} & wanted_plots
        ):
            continue
        if r.kind == "brand_over_origin" and gtin not in (detail.get("gtins") or []):
            continue
        out.append({"check": r.check_name, **detail})
    return out
