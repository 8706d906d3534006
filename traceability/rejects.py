"""Open rejects as plain dicts: what ``heitu rejects`` prints and operators fix."""

from __future__ import annotations

from datetime import datetime
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


def rejects_in(
    eng: Engine, files: list[str], since: datetime, limit: int = 1000
) -> list[dict[str, Any]]:
    """The open rejects (rejected or waiting) of ``files`` (store labels, ``folder/name``)
    seen at or after ``since``: what one load made of them, first by file and line."""
    if not files:
        return []
    t = m.Reject.__table__
    stmt = (
        select(t)
        .where(t.c.file.in_(files), t.c.last_seen >= since, t.c.status != "resolved")
        .order_by(t.c.file, t.c.line, t.c.id)
        .limit(limit)
    )
    with eng.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        {
            "file": r["file"],
            "line": r["line"],
            "record": r["record_id"],
            "field": r["field"],
            "reason": r["reason"],
            "status": r["status"],
        }
        for r in rows
    ]
