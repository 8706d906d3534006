"""What every load writes, whichever path reads the file: the record's content hash, the
report per file, rejects (made, saved, settled) and bulk inserts in the store's own form.

``ingest.py`` (row by row, through ``Source.parse``/``apply``) and ``columns.py`` (telemetry,
as columns) both write through these, so a reject or a stored row reads the same from either.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Table, bindparam, insert, select, update

from traceability import models as m
from traceability.contract import MAX_ID, Parsed, Row
from traceability.readers import FieldError, as_text
from traceability.sqlrun import chunks as _chunks

#: The canonical JSON of a record (sorted keys, no spaces), made once: ``json.dumps`` with these
#: options builds a new encoder on every call, a third of the hashing time.
canonical_json = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
).encode


def any_of(
    conn: Connection, expr: str, keys: Iterable[str], name: str = "keys"
) -> tuple[str, dict]:
    """``expr`` is one of ``keys``, as one bound parameter whatever their number: a JSON array
    read by ``json_each`` on SQLite, an array on PostgreSQL. One query per batch instead of one
    per 500 keys through SQLAlchemy's expanding IN."""
    if conn.dialect.name == "postgresql":
        return f"{expr} = ANY(:{name})", {name: list(keys)}
    return f"{expr} IN (SELECT value FROM json_each(:{name}))", {name: json.dumps(list(keys))}


def content_hash(obj: Any) -> str:
    """SHA-256 of the record's canonical JSON: what makes a re-delivery "the same record"."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


class JSONText(str):
    """JSON already serialised: ``insert_rows`` stores it as it is in a JSON column."""

    __slots__ = ()


def raw_fields(fields: dict[str, Any]) -> dict[str, str]:
    """A read row's fields as text, as a reject keeps them (JSON lines keep numbers typed)."""
    if all(type(v) is str for v in fields.values()):
        return fields
    return {k: as_text(v) for k, v in fields.items()}


@dataclass
class Item:
    """A row to load: read from a file now, or a parked record being retried."""

    file: str
    row: Row


@dataclass
class FileReport:
    file: str
    loaded: int = 0
    unchanged: int = 0
    parked: int = 0
    rejected: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts keyed by column name) in bulk. Values go through the columns' own
    SQLAlchemy bind processors (UTC times, JSON), so the stored values are those a Core
    ``insert()`` writes, without its per-row statement machinery."""
    if not rows:
        return
    names = set().union(*rows)
    cols = [c for c in table.columns if c.name in names]
    dialect = conn.dialect
    data_cols = []
    for c in cols:
        values = [r.get(c.name) for r in rows]
        proc = c.type._cached_bind_processor(dialect)
        if dialect.name == "sqlite" and isinstance(c.type, m.UTCDateTime):
            proc = _sqlite_utc_text  # what the type's processors make, in one C call
        if proc is not None and isinstance(c.type, JSON):
            proc = _keeping_made_json(proc)
        if proc is not None and values.count(values[0]) == len(values):
            values = [proc(values[0])] * len(values)  # one value for all (loaded_at): once
        elif proc is not None:
            values = [proc(v) for v in values]
        data_cols.append(values)
    insert_tuples(conn, table, [c.name for c in cols], list(zip(*data_cols, strict=True)))


def _keeping_made_json(proc: Any) -> Any:
    """A JSON column's processor that stores JSON made already (an event's canonical payload,
    ``JSONText``) as it is instead of encoding it again."""

    def process(value: Any) -> Any:
        return str(value) if type(value) is JSONText else proc(value)

    return process


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """An aware time as ``UTCDateTime`` stores it on SQLite: naive UTC text with microseconds."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; readers must attach an offset")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def insert_tuples(
    conn: Connection, table: Table, names: Sequence[str], data: list[tuple[Any, ...]]
) -> None:
    """Insert rows of values already in the store's form on the transaction's own DB-API
    connection: ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""
    if not data:
        return
    col_list = ", ".join(names)
    cur = conn.connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            with cur.copy(f"COPY {table.name} ({col_list}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(names))
            cur.executemany(f"INSERT INTO {table.name} ({col_list}) VALUES ({marks})", data)
    finally:
        cur.close()


@dataclass
class RejectRow:
    source: str
    record_key: str
    raw_hash: str
    file: str
    line: int
    record_id: str | None
    field: str | None
    reason: str
    status: str  # waiting | rejected
    waiting_for: str | None
    raw: dict[str, Any]


def reject_row(
    src: Any, item: Item, key: str | None, fld: str | None, reason: str, *, wait: str = ""
) -> RejectRow:
    """The reject of one row: rejected for good, or parked (``wait`` names what it waits for)."""
    raw = raw_fields(item.row.fields)
    rid = key or src.raw_key(raw)
    if rid and len(rid) > MAX_ID:
        rid = rid[:MAX_ID]
    return RejectRow(
        source=src.name,
        record_key=rid or f"{item.file}:{item.row.line}",
        raw_hash=content_hash(raw),
        file=item.file,
        line=item.row.line,
        record_id=rid,
        field=fld,
        reason=reason,
        status="waiting" if wait else "rejected",
        waiting_for=wait or None,
        raw=raw,
    )


def conflict_reason(source: str, key: str, file: str, line: int) -> str:
    """Why a record is refused when its key was stored from another delivery with other
    content (both load paths word it alike)."""
    return (
        f"conflicting re-delivery: {source} record {key} was already loaded from "
        f"{file} line {line} with different content"
    )


def check_id_lengths(src: Any, p: Parsed) -> None:
    """Every id a record names fits the store (a too-long one it needs or makes is named
    before its own key)."""
    longest = len(p.key)
    for _, k in p.requires:
        if len(k) > longest:
            longest = len(k)
    for _, k in p.creates:
        if len(k) > longest:
            longest = len(k)
    if longest <= MAX_ID:
        return
    too_long = [key for _, key in (*p.requires, *p.creates) if len(key) > MAX_ID]
    if len(p.key) > MAX_ID or too_long:
        bad = (too_long or [p.key])[0]
        raise FieldError(src.id_column, f"id {bad[:40]}... is longer than {MAX_ID} characters")


def settle_rejects(
    conn: Connection,
    source: str,
    loaded: list[str],
    copies: list[tuple[str, dict[str, Any]]],
    now: datetime,
) -> None:
    """Open rejects that a load settles: every older copy of a newly loaded record (parked,
    or rejected and since corrected), and parked copies identical to a loaded record. A
    conflicting re-delivery stays open: re-sending the original does not settle it."""
    t = m.Reject.__table__
    done = {"status": "resolved", "resolved_at": now}
    if not loaded and not copies:
        return
    # The source's open rejects are few (a season loads hundreds of thousands of records and
    # rejects a handful): read their keys once instead of updating by every loaded key.
    open_keys = set(
        conn.execute(
            select(t.c.record_key).where(t.c.source == source, t.c.status != "resolved")
        ).scalars()
    )
    if not open_keys:
        return
    for chunk in _chunks(sorted(open_keys.intersection(loaded))):
        conn.execute(
            update(t)
            .where(t.c.source == source, t.c.record_key.in_(chunk), t.c.status != "resolved")
            .values(done)
        )
    # Parked copies identical to a loaded record: few or none, so look before updating; a
    # copy's raw hash is made only when its key has a parked record to compare with.
    wanted = {(k, content_hash(raw_fields(f))) for k, f in copies if k in open_keys}
    settled: list[int] = []
    for chunk in _chunks(sorted({key for key, _ in copies} & open_keys)):
        rows = conn.execute(
            select(t.c.id, t.c.record_key, t.c.content_hash).where(
                t.c.source == source, t.c.status == "waiting", t.c.record_key.in_(chunk)
            )
        )
        settled += [r.id for r in rows if (r.record_key, r.content_hash) in wanted]
    for chunk in _chunks(settled):
        conn.execute(update(t).where(t.c.id.in_(chunk)).values(done))


def save_rejects(conn: Connection, rejects: list[RejectRow], now: datetime) -> None:
    """Upsert by (source, record_key, content_hash): a re-delivered bad record is one row."""
    if not rejects:
        return
    t = m.Reject.__table__
    by_id: dict[tuple[str, str], RejectRow] = {}
    for r in rejects:
        by_id[(r.record_key, r.raw_hash)] = r  # last one in a batch wins
    found: dict[tuple[str, str], tuple[int, str]] = {}
    keys = sorted({k for k, _ in by_id})
    for chunk in _chunks(keys):
        for row in conn.execute(
            select(t.c.id, t.c.record_key, t.c.content_hash, t.c.status).where(
                t.c.source == rejects[0].source, t.c.record_key.in_(chunk)
            )
        ):
            found[(row.record_key, row.content_hash)] = (row.id, row.status)
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    changed_seen: list[dict[str, Any]] = []
    for ident, r in by_id.items():
        values = {
            "file": r.file,
            "line": r.line,
            "record_id": r.record_id,
            "field": r.field,
            "reason": r.reason,
            "status": r.status,
            "waiting_for": r.waiting_for,
            "last_seen": now,
            "resolved_at": now if r.status == "resolved" else None,
        }
        if ident in found:
            rid, status = found[ident]
            if status == "resolved":  # settled before: seeing the same copy again keeps it so
                changed_seen.append({"rid": rid, "last_seen": now})
                continue
            changed.append({"rid": rid, **values})
        else:
            new.append(
                {
                    **values,
                    "source": r.source,
                    "record_key": r.record_key,
                    "content_hash": r.raw_hash,
                    "raw": r.raw,
                    "first_seen": now,
                }
            )
    for chunk in _chunks(new, 5000):
        conn.execute(insert(t), chunk)
    if changed:
        cols = (
            "file",
            "line",
            "record_id",
            "field",
            "reason",
            "status",
            "waiting_for",
            "last_seen",
            "resolved_at",
        )
        stmt = update(t).where(t.c.id == bindparam("rid")).values({c: bindparam(c) for c in cols})
        conn.execute(stmt, changed)
    if changed_seen:
        stmt = update(t).where(t.c.id == bindparam("rid")).values(last_seen=bindparam("last_seen"))
        conn.execute(stmt, changed_seen)
