"""Consumers' reports from a lot's page ("这袋米可能是假的 / something is wrong").

No login and no personal data: a category, a short text, the code that was scanned, the time.
The page limits how often one client may report (traceability/web); this module checks the
fields and stores them. ``heitu reports`` lists them; the bureau's queue builds on them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from traceability.readers import stored_utc_iso as _iso

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["CATEGORIES", "MAX_TEXT", "add_report", "list_reports"]

#: What a consumer can say is wrong (the page shows them in Chinese and English).
CATEGORIES = ("fake", "quality", "label", "other")
MAX_TEXT = 500


def _doc(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "lot": r.lot_id,
        "gtin": r.gtin,
        "serial": r.serial,
        "known_lot": bool(r.known_lot),
        "category": r.category,
        "text": r.text,
        "time": _iso(r.created_at),
        "status": r.status,
        "assignee": getattr(r, "assignee", None),
    }


def check_report(category: str, text: str) -> str | None:
    """None when a report's fields are acceptable, else the reason (shown on the page)."""
    if category not in CATEGORIES:
        return f"category {category!r}: expected one of {', '.join(CATEGORIES)}"
    if len(text) > MAX_TEXT:
        return f"text is {len(text)} characters; at most {MAX_TEXT}"
    return None


def add_report(
    eng: Engine,
    *,
    gtin: str,
    lot: str | None,
    serial: str | None,
    known_lot: bool,
    category: str,
    text: str,
) -> dict[str, Any]:
    """Store one report; ValueError with the reason when a field is not acceptable."""
    from sqlalchemy import insert, select

    from traceability.models import ConsumerReport

    text = " ".join(text.split())  # one line, no control characters kept
    reason = check_report(category, text)
    if reason:
        raise ValueError(reason)
    with eng.begin() as conn:
        rid = conn.execute(
            insert(ConsumerReport)
            .values(
                gtin=gtin,
                lot_id=lot,
                serial=serial,
                known_lot=known_lot,
                category=category,
                text=text,
                created_at=datetime.now(UTC).replace(microsecond=0),
                status="new",
            )
            .returning(ConsumerReport.id)
        ).scalar_one()
        row = conn.execute(select(ConsumerReport).where(ConsumerReport.id == rid)).one()
    return _doc(row)


def list_reports(eng: Engine, *, status: str | None = None) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from traceability.models import ConsumerReport

    q = select(ConsumerReport).order_by(ConsumerReport.id)
    if status:
        q = q.where(ConsumerReport.status == status)
    with eng.connect() as conn:
        return [_doc(r) for r in conn.execute(q)]


#: The queue's states and the moves between them (a closed report may be reopened).
STATUSES = ("new", "investigating", "closed")
MOVES = {
    "new": {"investigating", "closed"},
    "investigating": {"closed"},
    "closed": {"investigating"},
}
MAX_NOTE = 2000


def update_report(
    eng: Engine,
    report_id: int,
    who: str,
    *,
    status: str | None = None,
    assignee: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Change a report's status and/or assignee (with a note); the change is kept in
    ``report_event``. LookupError when there is no such report, ValueError for a move the
    queue does not allow."""
    from sqlalchemy import insert, select, update

    from traceability.models import ConsumerReport, ReportEvent

    note = (note or "").strip() or None
    if note and len(note) > MAX_NOTE:
        raise ValueError(f"note is {len(note)} characters; at most {MAX_NOTE}")
    with eng.begin() as conn:
        row = conn.execute(select(ConsumerReport).where(ConsumerReport.id == report_id)).first()
        if row is None:
            raise LookupError(f"no report {report_id}")
        new_status = status or row.status
        if new_status not in STATUSES:
            raise ValueError(f"status {new_status!r}: expected one of {', '.join(STATUSES)}")
        if new_status != row.status and new_status not in MOVES[row.status]:
            raise ValueError(f"a {row.status} report cannot become {new_status}")
        new_assignee = row.assignee if assignee is None else (assignee.strip() or None)
        if (new_status, new_assignee) == (row.status, row.assignee) and not note:
            raise ValueError("nothing to change")
        conn.execute(
            update(ConsumerReport)
            .where(ConsumerReport.id == report_id)
            .values(status=new_status, assignee=new_assignee)
        )
        conn.execute(
            insert(ReportEvent).values(
                report_id=report_id,
                at=datetime.now(UTC).replace(microsecond=0),
                who=who,
                status=new_status,
                assignee=new_assignee,
                note=note,
            )
        )
        row = conn.execute(select(ConsumerReport).where(ConsumerReport.id == report_id)).one()
    return _doc(row)


def report_history(eng: Engine, report_id: int) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from traceability.models import ReportEvent

    with eng.connect() as conn:
        rows = conn.execute(
            select(ReportEvent).where(ReportEvent.report_id == report_id).order_by(ReportEvent.id)
        )
        return [
            {"at": _iso(r.at), "who": r.who, "status": r.status, "assignee": r.assignee,
             "note": r.note}
            for r in rows
        ]  # fmt: skip
