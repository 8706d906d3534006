"""Declared recalls (``heitu recall declare`` / ``lift``): what a bureau has called back, by
lot, input (registration number), plot or county.

A recall is stored as its scope and key, not as a list of lots: whether it covers a lot is
decided when the lot's page is built, from the lot's chain (the lot and its ancestors, their
plots, the plots' counties, the inputs applied on them). So a lot whose records arrive after
the declaration is covered too, and lifting it switches every page back at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from traceability.errors import HeituError, NotFound
from traceability.lineage import KEY_FOUND
from traceability.readers import stored_utc_iso as _iso

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["SCOPES", "covering", "declare", "lift", "list_recalls"]

SCOPES = ("lot", "input", "plot", "county")
MAX_REASON = 2000


def _doc(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "scope": r.scope,
        "key": r.key,
        "reason": r.reason,
        "declared_at": _iso(r.declared_at),
        "lifted_at": _iso(r.lifted_at),
        "active": r.lifted_at is None,
    }


def declare(eng: Engine, scope: str, key: str, reason: str) -> dict[str, Any]:
    """Store a recall; NotFound when the store knows no such lot, input, plot or county."""
    from sqlalchemy import insert, select, text

    from traceability.models import RecallNotice
    from traceability.store import touch

    if scope not in SCOPES:
        raise ValueError(f"recall scope {scope!r}: expected one of {', '.join(SCOPES)}")
    reason = reason.strip()
    if not reason:
        raise ValueError("a recall needs a reason (--reason), shown to consumers")
    if len(reason) > MAX_REASON:
        raise ValueError(f"--reason is {len(reason)} characters; at most {MAX_REASON}")
    now = datetime.now(UTC).replace(microsecond=0)
    with eng.begin() as conn:
        # the key must name something the store knows: a recall of a typo would cover nothing
        if conn.execute(text(KEY_FOUND[scope]), {"key": key}).first() is None:
            raise NotFound(f"no {scope} {key!r} in the store: nothing to recall")
        rid = conn.execute(
            insert(RecallNotice)
            .values(scope=scope, key=key, reason=reason, declared_at=now, lifted_at=None)
            .returning(RecallNotice.id)
        ).scalar_one()
        row = conn.execute(select(RecallNotice).where(RecallNotice.id == rid)).one()
    touch(eng)
    return _doc(row)


def lift(eng: Engine, recall_id: int) -> dict[str, Any]:
    """Lift a declared recall; NotFound when there is none with that id, an error when it
    was lifted already."""
    from sqlalchemy import select, update

    from traceability.models import RecallNotice
    from traceability.store import touch

    now = datetime.now(UTC).replace(microsecond=0)
    with eng.begin() as conn:
        row = conn.execute(select(RecallNotice).where(RecallNotice.id == recall_id)).first()
        if row is None:
            raise NotFound(f"no recall {recall_id} in the store")
        if row.lifted_at is not None:
            raise HeituError(f"recall {recall_id} was lifted already, at {_iso(row.lifted_at)}")
        conn.execute(update(RecallNotice).where(RecallNotice.id == recall_id).values(lifted_at=now))
        row = conn.execute(select(RecallNotice).where(RecallNotice.id == recall_id)).one()
    touch(eng)
    return _doc(row)


def list_recalls(eng: Engine, *, include_lifted: bool = False) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from traceability.models import RecallNotice

    q = select(RecallNotice).order_by(RecallNotice.id)
    if not include_lifted:
        q = q.where(RecallNotice.lifted_at.is_(None))
    with eng.connect() as conn:
        return [_doc(r) for r in conn.execute(q)]


def covering(
    reader: Any,
    *,
    lots: Iterable[str],
    plots: Iterable[str],
    counties: Iterable[str],
    inputs: Iterable[str],
) -> list[dict[str, Any]]:
    """The active recalls whose scope is one of a lot's chain: ``lots`` (the lot and its
    ancestors), their ``plots``, the plots' ``counties`` and the ``inputs`` applied on them.
    ``reader`` is a lineage ``Reader`` (bare driver connection)."""
    keys = {"lot": set(lots), "plot": set(plots), "county": set(counties), "input": set(inputs)}
    rows = reader.rows(
        "SELECT id, scope, key, reason, declared_at, lifted_at FROM recall_notice "
        "WHERE lifted_at IS NULL ORDER BY id",
        {},
    )
    return [_doc(r) for r in rows if r.key in keys.get(r.scope, ())]
