"""Open rejects as plain dicts: what ``heitu rejects`` prints and operators fix."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from traceability import models as m


def open_rejects(eng: Engine, *, include_resolved: bool = False) -> list[dict[str, Any]]:
    t = m.Reject.__table__
    stmt = select(t).order_by(t.c.source, t.c.file, t.c.line)
    if not include_resolved:
        stmt = stmt.where(t.c.status != "resolved")
    with eng.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        {
            "source": r["source"],
            "file": r["file"],
            "line": r["line"],
            "record": r["record_id"],
            "field": r["field"],
            "reason": r["reason"],
            "status": r["status"],
            "waiting_for": r["waiting_for"],
        }
        for r in rows
    ]
