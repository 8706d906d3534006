"""Loading records into the store: the same code for the CLI, the DAGs and the retry of parked ones.

Rules (docs/ingest.md has the full list):
- a record breaking a field rule is rejected for good (status ``rejected``);
- a record naming a party, product, plot or lot the store does not know yet is parked
  (status ``waiting``) and retried on every later ingest; it loads once its key arrives;
- the same record again (same source key, same content hash) changes nothing;
- the same key with other content is rejected as a conflicting re-delivery, except a shipment
  whose only change is filling in ``arrived_at``: that completes the shipment.
Each file is one transaction: a crash half-way leaves nothing of it, and the re-run redoes it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select, text, update

from traceability import models as m
from traceability.errors import UnreadableFile
from traceability.prepare import Prepared, prepare
from traceability.readers import FieldError, Row
from traceability.sources import SOURCES, Source
from traceability.store import touch
from traceability.writes import (
    FileReport,
    Item,
    JSONText,
    RejectRow,
    any_of,
    conflict_reason,
    content_hash,
    insert_rows,
    reject_row,
    save_rejects,
    settle_rejects,
)

TABLES = {
    "event": m.Event.__table__,
    "party": m.Party.__table__,
    "product": m.Product.__table__,
    "plot": m.Plot.__table__,
    "lot": m.Lot.__table__,
    "edge": m.Edge.__table__,
    "shipment": m.Shipment.__table__,
    "shipment_lot": m.ShipmentLot.__table__,
    "reading": m.Reading.__table__,
    "sale": m.Sale.__table__,
    "certificate": m.Certificate.__table__,
}
# Insert order that respects foreign keys.
INSERT_ORDER = (
    "event",
    "party",
    "product",
    "plot",
    "lot",
    "edge",
    "shipment",
    "shipment_lot",
    "reading",
    "sale",
    "certificate",
)
DEFAULT_STEP = {
    "parties": "registering",
    "products": "registering",
    "plots": "registering",
    "shipments": "shipping",
    "sales": "selling",
    "certificates": "certifying",
}


def label(path: Path) -> str:
    """How a file is named in the store: its landing-zone folder and name (files get archived)."""
    return f"{path.parent.name}/{path.name}"


@dataclass
class Loader:
    """What a batch of records needs from the store, and what it will write to it."""

    conn: Connection
    now: datetime
    known: dict[str, dict[str, Any]] = field(default_factory=lambda: defaultdict(dict))
    absent: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    pending: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    staged: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    made: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    # about the record being applied (sources read these)
    file: str = ""
    line: int = 0
    content_hash: str = ""
    event_fields: dict[str, Any] = field(default_factory=dict)

    # -- what exists ---------------------------------------------------------------------------
    def prefetch(self, needs: dict[str, set[str]]) -> None:
        """Look up every key a batch names, one query per kind (the plot's newest version
        wins; a lot comes whole, its ``made_at`` an aware UTC time as the model reads it)."""
        queries = {
            "party": "SELECT party_id, role FROM party WHERE {}",
            "product": "SELECT gtin, storage FROM product WHERE {}",
            "plot": "SELECT plot_id, farm_id FROM plot WHERE {} ORDER BY version",
            "lot": "SELECT * FROM lot WHERE {}",
        }
        column = {"party": "party_id", "product": "gtin", "plot": "plot_id", "lot": "lot_id"}
        for kind, keys in needs.items():
            todo = [k for k in keys if k not in self.known[kind] and k not in self.absent[kind]]
            if not todo:
                continue
            where, params = any_of(self.conn, column[kind], todo)
            rows = self.conn.execute(text(queries[kind].format(where)), params)
            if kind == "lot":
                names = list(rows.keys())
                found = {}
                for values in rows.tuples():
                    lot = dict(zip(names, values, strict=True))
                    lot["made_at"] = _UTC_TIME.process_result_value(lot["made_at"], None)
                    found[lot["lot_id"]] = lot
            else:
                found = dict(rows.tuples().all())
            self.known[kind].update(found)
            self.absent[kind].update(set(todo) - set(found))

    def exists(self, kind: str, key: str) -> bool:
        if key in self.known[kind]:
            return True
        if key not in self.absent[kind]:
            self.prefetch({kind: {key}})
        return key in self.known[kind]

    def prefetch_made(self, table: str, column: str, keys: list[str]) -> None:
        """Which of these ids ``table`` already holds, and the event that made each."""
        found = self.made.setdefault((table, column), {})
        if not keys:
            return
        where, params = any_of(self.conn, column, set(keys))
        rows = self.conn.execute(
            text(f"SELECT {column}, event_id FROM {table} WHERE {where}"), params
        )
        found.update(dict(rows.tuples().all()))

    def made_by(self, table: str, column: str, key: str) -> str | None:
        """The event that made ``key`` in ``table`` before this batch (None: not made)."""
        found = self.made.get((table, column))
        if found is None:  # not prefetched (a caller outside process()): look it up alone
            self.prefetch_made(table, column, [key])
            found = self.made[(table, column)]
        return found.get(key)

    def lot(self, lot_id: str) -> dict[str, Any]:
        self.exists("lot", lot_id)
        return self.known["lot"][lot_id]

    # -- rules shared by sources ------------------------------------------------------------------
    def new_lot(self, lot_id: str, field_name: str, **cols: Any) -> None:
        if self.exists("lot", lot_id):
            made = self.known["lot"][lot_id]["event_id"]
            raise FieldError(field_name, f"lot {lot_id} was already made by {made}")
        row = {"lot_id": lot_id, **cols}
        self.add("lot", row)
        self.known["lot"][lot_id] = row
        self.absent["lot"].discard(lot_id)

    def check_made_before(self, lot_id: str, when: datetime | None, field_name: str) -> None:
        made = self.lot(lot_id)["made_at"]
        if isinstance(made, datetime) and made.tzinfo is None:
            made = made.replace(tzinfo=UTC)
        if when is not None and made is not None and when < made:
            made = made.astimezone(when.tzinfo)  # both times in the sender's offset
            raise FieldError(
                field_name,
                f"lot {lot_id} is used at {when.isoformat()} before it was made "
                f"at {made.isoformat()}",
            )

    # -- writing ----------------------------------------------------------------------------------
    def add(self, table: str, row: dict[str, Any]) -> None:
        self.staged.append((table, row))

    def commit_record(self) -> None:
        for table, row in self.staged:
            self.pending[table].append(row)
        self.staged.clear()

    def drop_record(self) -> None:
        # A record that failed part-way must leave no trace in the caches either.
        for table, row in self.staged:
            if table == "lot":
                self.known["lot"].pop(row["lot_id"], None)
        self.staged.clear()

    def flush(self) -> None:
        """Write the decided records' rows."""
        write_rows(self.conn, self.pending)
        self.pending.clear()


def write_rows(conn: Connection, pending: dict[str, list[dict[str, Any]]]) -> None:
    """Insert decided records' rows, table by table in foreign-key order."""
    for table in INSERT_ORDER:
        rows = pending.get(table)
        if not rows:
            continue
        if table in FLOW_ORDER:
            # Each sale and shipment line updates rows of lot_flow through a trigger, which
            # locks them: two files loading at once lock them in lot order, so they mostly
            # wait for each other instead of deadlocking (PostgreSQL breaks what is left,
            # and the task's retry loads it again).
            rows.sort(key=FLOW_ORDER[table])
        insert_rows(conn, TABLES[table], rows)


FLOW_ORDER: dict[str, Any] = {
    "sale": lambda r: (r["lot_id"], r["retailer_id"]),
    "shipment_lot": lambda r: (r["lot_id"], r["shipment_id"]),
}


#: Reads a lot's ``made_at`` (raw SQL) as the model does: an aware UTC time.
_UTC_TIME = m.UTCDateTime()


def _existing(conn: Connection, src: Source, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Records of this source already loaded: key -> {hash, file, line, payload}."""
    out: dict[str, dict[str, Any]] = {}
    if not src.records_events:  # readings: parked ones retried here (the file path is columns)
        from traceability.columns import stored_readings

        return {
            key: {"hash": h, "file": f, "line": line}
            for key, (h, f, line) in stored_readings(conn, keys).items()
        }
    if getattr(src, "versioned", False):
        return _existing_versions(conn, src, keys)
    # The stored record itself is read only where a rule compares it (a shipment completed).
    payload = ", payload" if src.compares_prior else ""
    where, params = any_of(conn, "record_id", keys)
    rows = conn.execute(
        text(
            f"SELECT record_id, content_hash, source_file, line{payload} FROM event "
            f"WHERE source = :source AND {where}"
        ),
        {**params, "source": src.name},
    )
    for r in rows:
        prior = r.payload if src.compares_prior else None
        out[r.record_id] = {
            "hash": r.content_hash,
            "file": r.source_file,
            "line": r.line,
            "payload": json.loads(prior) if isinstance(prior, str) else prior,
        }
    return out


def _existing_versions(conn: Connection, src: Source, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Versioned records (plots): key -> the newest version's hash, every version's hash and
    the number of versions. Each version is an event ``{key}#v{n}`` (v1 is just ``{key}``)
    whose ``plot_id`` column holds the key."""
    out: dict[str, dict[str, Any]] = {}
    # One query whatever the number of keys, by the plot_id index (an IN list per 500 keys
    # let PostgreSQL, before its first ANALYZE of a new store, scan every plot event per list).
    where, params = any_of(conn, "plot_id", keys)
    rows = conn.execute(
        text(
            "SELECT plot_id, record_id, content_hash, source_file, line FROM event "
            f"WHERE {where} AND source = :source ORDER BY loaded_at, record_id"
        ),
        {**params, "source": src.name},
    )
    for r in rows:
        v = out.setdefault(r.plot_id, {"hashes": set(), "versions": 0})
        v.update(hash=r.content_hash, file=r.source_file, line=r.line, payload=None)
        v["hashes"].add(r.content_hash)
        v["versions"] += 1
    return out


def process(
    conn: Connection, src: Source, rows: list[Prepared], now: datetime
) -> tuple[dict[str, FileReport], set[str]]:
    """Load a batch of one source's rows, prepared (traceability/prepare.py); returns counts
    per file and the lot ids touched. Every key the batch names is looked up first; records are
    then decided in line order, and their rows written at the end."""
    reports: dict[str, FileReport] = {}
    rejects: list[RejectRow] = []
    rejects_by_key: dict[str, list[int]] = {}  # record key -> its rejects in this batch
    loaded_keys: list[str] = []
    lots: set[str] = set()
    load = Loader(conn, now)

    def report(file: str) -> FileReport:
        rep = reports.get(file)
        if rep is None:
            rep = reports[file] = FileReport(file)
        return rep

    def reject(
        item: Item, key: str | None, fld: str | None, reason: str, *, wait: str = ""
    ) -> None:
        r = reject_row(src, item, key, fld, reason, wait=wait)
        rejects_by_key.setdefault(r.record_id or "", []).append(len(rejects))
        rejects.append(r)
        if wait:
            report(item.file).parked += 1
        else:
            report(item.file).rejected += 1

    parsed: list[Prepared] = []
    for row in rows:
        report(row.item.file)
        if row.parsed is None:
            reject(row.item, None, row.field, row.reason or "")
        else:
            parsed.append(row)

    existing = _existing(conn, src, [r.parsed.key for r in parsed])  # type: ignore[union-attr]
    # Only records that may load need their keys looked up: a copy already stored is not.
    needs: dict[str, set[str]] = defaultdict(set)
    fresh: list[str] = []
    for r in parsed:
        p = r.parsed
        assert p is not None
        prior = existing.get(p.key)
        if prior is not None and (prior["hash"] == r.hash or r.hash in prior.get("hashes", ())):
            continue
        fresh.append(p.key)
        for kind, key in (*p.requires, *p.creates):
            needs[kind].add(key)
    load.prefetch(needs)
    if src.made_in:
        load.prefetch_made(*src.made_in, fresh)
    versioned = getattr(src, "versioned", False)
    completed: list[dict[str, Any]] = []
    same_copies: list[tuple[str, dict[str, Any]]] = []  # (key, read fields) of stored copies

    for item, p, _, _, canon, h in parsed:
        assert p is not None
        prior = existing.get(p.key)
        record_id = p.key
        if prior is not None and versioned and h not in prior["hashes"]:
            # Same plot, other geometry or attributes: a new version, the old ones kept.
            p.record["version"] = prior["versions"] + 1
            record_id = f"{p.key}#v{p.record['version']}"
            prior = None
        if prior is not None:
            if prior["hash"] == h or h in prior.get("hashes", ()):
                report(item.file).unchanged += 1
                # e.g. a parked copy of a record that another delivery loaded meanwhile
                same_copies.append((p.key, item.row.fields))
                continue
            if src.compares_prior and src.completes(p.record, prior["payload"]):
                report(item.file).unchanged += 1  # the in-transit copy, arriving late
                same_copies.append((p.key, item.row.fields))
                continue
            if src.compares_prior and src.completes(prior["payload"], p.record):
                completed.append({"key": p.key, "record": p.record, "hash": h, "item": item})
                existing[p.key] = {**prior, "hash": h, "payload": p.record}
                report(item.file).loaded += 1
                lots.update(lot for lot, _ in p.record["lots"])
                continue
            reject(
                item,
                p.key,
                None,
                conflict_reason(src.name, p.key, prior["file"], prior["line"]),
            )
            continue
        missing = [f"{kind} {key}" for kind, key in p.requires if not load.exists(kind, key)]
        if missing:
            reject(item, p.key, None, f"waiting for {', '.join(missing)}", wait=", ".join(missing))
            continue
        load.file, load.line, load.content_hash = item.file, item.row.line, h
        load.event_fields = {}
        event_id = f"{src.name}/{record_id}"
        try:
            touched = src.apply(load, p, event_id)
        except FieldError as exc:
            load.drop_record()
            reject(item, p.key, exc.field, exc.reason)
            continue
        if src.records_events:
            rec = p.record
            ev = {
                "event_id": event_id,
                "source": src.name,
                "record_id": record_id,
                "kind": src.event_kind,
                "step": rec.get("event") or rec.get("step") or DEFAULT_STEP.get(src.name, src.name),
                "time": p.time,
                "time_offset_min": p.offset,
                "party_id": rec.get("farm_id") or rec.get("processor_id") or rec.get("party_id"),
                "lot_id": None,
                "plot_id": None,
                "input_reg_no": None,
                "source_file": item.file,
                "line": item.row.line,
                "content_hash": h,
                "payload": JSONText(canon),  # the canonical JSON just hashed, not made again
                "loaded_at": now,
            }
            ev.update(load.event_fields)
            load.staged.insert(0, ("event", ev))
        load.commit_record()
        if versioned:
            seen = existing.setdefault(p.key, {"hashes": set(), "versions": 0})
            seen["hashes"].add(h)
            seen["versions"] = p.record.get("version", 1)
            seen.update(hash=h, file=item.file, line=item.row.line, payload=None)
        else:
            existing[p.key] = {
                "hash": h,
                "file": item.file,
                "line": item.row.line,
                "payload": p.record,
            }
        report(item.file).loaded += 1
        loaded_keys.append(p.key)
        lots.update(touched)
        for i in rejects_by_key.get(p.key, ()):  # an earlier bad copy is superseded
            if rejects[i].record_key == p.key:
                rejects[i].status = "resolved"
    load.flush()
    for c in completed:
        _complete_shipment(conn, c, now)
    settle_rejects(conn, src.name, loaded_keys, same_copies, now)
    save_rejects(conn, rejects, now)
    return reports, lots


def _complete_shipment(conn: Connection, c: dict[str, Any], now: datetime) -> None:
    rec = c["record"]
    arrived = datetime.fromisoformat(rec["arrived_at"])
    conn.execute(
        update(m.Shipment.__table__)
        .where(m.Shipment.shipment_id == c["key"])
        .values(arrived_at=arrived)
    )
    conn.execute(
        update(m.Event.__table__)
        .where(m.Event.source == "shipments", m.Event.record_id == c["key"])
        .values(content_hash=c["hash"], payload=rec)
    )


# --- entry points ------------------------------------------------------------------------------


def now_utc() -> datetime:
    return datetime.now(UTC)


def ingest_file(
    eng: Engine, src: Source, path: Path, now: datetime | None = None
) -> tuple[FileReport, set[str]]:
    """Load one file in one transaction. Raises UnreadableFile when it can't be read at all."""
    now = now or now_utc()
    name = label(path)
    if src.loads_files:  # a source that loads a whole file set-wise (telemetry)
        with eng.begin() as conn:
            report, lots = src.load_file(conn, path, name, now), set()
    else:
        # The whole file is read first: an unreadable one loads nothing.
        rows = prepare(src, [Item(name, r) for r in src.rows(path)])
        with eng.begin() as conn:
            reports, lots = process(conn, src, rows, now)
        report = reports.get(name, FileReport(name))
    if report.loaded or lots:
        touch(eng)  # cached pages built before this load are now out of date
    return report, lots


def retry_waiting(eng: Engine, now: datetime | None = None) -> dict[str, Any]:
    """Retry every waiting record of every source, in dependency order, until none loads."""
    now = now or now_utc()
    total_loaded = 0
    by_source: dict[str, int] = {}
    while True:
        loaded_this_pass = 0
        for name, src in SOURCES.items():
            t = m.Reject.__table__
            with eng.begin() as conn:
                waiting = conn.execute(
                    select(t.c.file, t.c.line, t.c.raw)
                    .where(t.c.source == name, t.c.status == "waiting")
                    .order_by(t.c.id)
                ).all()
                if not waiting:
                    continue
                items = [Item(w.file, Row(w.line, w.raw)) for w in waiting]
                reports, _ = process(conn, src, prepare(src, items), now)
            if any(r.loaded for r in reports.values()):
                touch(eng)
            n = sum(r.loaded + r.unchanged for r in reports.values())
            by_source[name] = by_source.get(name, 0) + n
            loaded_this_pass += n
        total_loaded += loaded_this_pass
        if not loaded_this_pass:
            break
    with eng.connect() as conn:
        t = m.Reject.__table__
        still = conn.execute(select(t.c.id).where(t.c.status == "waiting")).all()
    return {
        "loaded": total_loaded,
        "waiting": len(still),
        "by_source": {k: v for k, v in by_source.items() if v},
    }


__all__ = ["UnreadableFile", "content_hash", "ingest_file", "process", "retry_waiting"]
