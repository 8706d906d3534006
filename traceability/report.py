"""What the store holds, in one dict: the demo's printout and `heitu status`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from traceability.checks import run_checks
from traceability.lineage import trace_back


def counts(eng: Engine) -> dict[str, Any]:
    with eng.connect() as conn:
        per_source = dict(
            conn.execute(
                text("SELECT source, COUNT(*) FROM event GROUP BY source ORDER BY source")
            ).all()
        )
        per_source["telemetry"] = conn.execute(text("SELECT COUNT(*) FROM reading")).scalar()
        rejects = dict(
            conn.execute(text("SELECT status, COUNT(*) FROM reject GROUP BY status")).all()
        )
        tables = {
            t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar()
            for t in ("plot", "lot", "edge", "shipment", "sale", "code", "unit_code")
        }
    return {"records": per_source, "rejects": rejects, "tables": tables}


def example_bag(eng: Engine) -> str | None:
    """A sold, coded lot with the most plots behind it: the most telling one to show."""
    with eng.connect() as conn:
        row = (
            conn.execute(
                text("""
            SELECT c.lot_id FROM code AS c
            JOIN sale AS s ON s.lot_id = c.lot_id
            GROUP BY c.lot_id ORDER BY COUNT(*) DESC, c.lot_id LIMIT 1
        """)
            ).first()
            or conn.execute(text("SELECT lot_id FROM code ORDER BY lot_id")).first()
        )
    return row.lot_id if row else None


def summary(eng: Engine) -> dict[str, Any]:
    out = counts(eng)
    findings = run_checks(eng)
    out["findings"] = {k: len(v) for k, v in findings.items()}
    out["finding_kinds"] = sorted({f["kind"] for v in findings.values() for f in v})
    bag = example_bag(eng)
    if bag:
        trace = trace_back(eng, bag, with_events=False)
        with eng.connect() as conn:
            code = conn.execute(
                text("SELECT uri, png_path FROM code WHERE lot_id = :l"), {"l": bag}
            ).first()
        from traceability.serials import units_of

        units = units_of(eng, bag)
        out["bag"] = {
            "lot": bag,
            "plots": trace["plots"],
            "shares": trace["shares"],
            "lots": trace["lots"],
            "uri": code.uri,
            "png": code.png_path,
            "unit": units[0] if units else None,  # the first bag's own code, when issued
        }
    return out
