"""Plot-to-shelf lineage: trace a bag back to its plots, a plot or lot forward to the shelves.

The walks are recursive SQL in ``sql/`` (a file per query, with a dialect's own copy where
PostgreSQL needs one). Every function takes the store as a SQLAlchemy engine or as a database
URL: with a URL the reads go through the bare driver (traceability.sqlrun) and SQLAlchemy is
never imported, which is what keeps ``heitu trace back`` a fast command. Either way the same
SQL runs the same way, on the driver's cursor, in autocommit.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from traceability import sqlrun
from traceability.errors import LineageCycle, NotFound
from traceability.readers import restore_time

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

#: Longest chain of transformations followed. Real chains are short (harvest -> drying ->
#: milling -> blending -> packing -> splitting is 5 hops); reaching this means a cycle.
MAX_DEPTH = 64


_sql = sqlrun.sql_text


@cache
def query(name: str, dialect: str = "default") -> Any:
    """A query from sql/ as a SQLAlchemy ``text()`` (for callers that hold a SQLAlchemy
    connection, such as the EPCIS export), parsed once."""
    from sqlalchemy import text

    return text(_sql(name, dialect))


def _parse_lot_or_code(lot_or_code: str) -> tuple[str, str | None]:
    """(lot id, GTIN the code names or None) of a lot id or a traceability code."""
    if "://" in lot_or_code or lot_or_code.startswith("/01/"):
        from traceability.codes import parse_code

        try:
            gtin, lot, _ = parse_code(lot_or_code)
        except ValueError as exc:
            raise NotFound(f"{lot_or_code!r} is not a traceability code: {exc}") from None
        return lot, gtin
    return lot_or_code, None


def _check_lot(lot: str, gtin: str | None, row: Any) -> None:
    """NotFound unless ``row`` (the lot's row, or None) exists and has the code's GTIN."""
    if row is None:
        raise NotFound(f"lot {lot!r} is not in the store")
    if gtin is not None and row.gtin != gtin:
        raise NotFound(f"code names GTIN {gtin} but lot {lot!r} was packed as {row.gtin}")


def resolve_lot(conn: Connection, lot_or_code: str) -> str:
    """A lot id, or a traceability code (GS1 Digital Link URI) naming one; NotFound otherwise.
    ``conn`` is a SQLAlchemy connection."""
    from sqlalchemy import text

    lot, gtin = _parse_lot_or_code(lot_or_code)
    row = conn.execute(text("SELECT gtin FROM lot WHERE lot_id = :l"), {"l": lot}).first()
    _check_lot(lot, gtin, row)
    return lot


class Reader:
    """A DB-API connection and its dialect: what the lineage queries run on."""

    def __init__(self, dbapi: Any, dialect: str) -> None:
        self.dbapi = dbapi
        self.dialect = dialect

    def rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        """Rows as named tuples."""
        return sqlrun.rows(self.dbapi, self.dialect, sql, params)

    def tuples(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Rows as the driver's plain tuples (large results)."""
        return sqlrun.tuples(self.dbapi, self.dialect, sql, params)

    def query(self, name: str, params: dict[str, Any]) -> list[Any]:
        """Rows of sql/<name>.sql (or this dialect's copy) as named tuples."""
        return self.rows(_sql(name, self.dialect), params)


@contextmanager
def reading(store: Engine | str | sqlrun.Pool) -> Iterator[Reader]:
    """A connection for lineage reads, in autocommit: a one-statement trace costs one round
    trip instead of three (BEGIN, query, ROLLBACK). Reads see what they would have seen in a
    transaction anyway: PostgreSQL's default READ COMMITTED takes a snapshot per statement,
    and SQLite's driver opens no transaction for a SELECT. ``store`` is an engine (its own
    DB-API connection is used) or a URL (the bare driver: no SQLAlchemy import at all)."""
    if isinstance(store, str):
        with sqlrun.connect(store) as dbapi:
            yield Reader(dbapi, sqlrun.driver_of(store) or "")
        return
    if isinstance(store, sqlrun.Pool):  # the web app's connections, one per thread
        with store.connection() as dbapi:
            yield Reader(dbapi, store.dialect)
        return
    with store.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        yield Reader(conn.connection.driver_connection, store.dialect.name)


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


def _soil(
    reader: Reader, shares: dict[str, float], versions: dict[str, int]
) -> dict[str, Any] | None:
    """Black-soil attributes of a lot: each plot's (at the version valid at harvest) weighted
    by its share of the lot's kg. Plots without a figure leave it out of that average, and
    ``*_coverage`` says which share of the kg the average speaks for."""
    if not shares:
        return None
    sql = (
        "SELECT plot_id, version, soil_organic_matter_pct, black_soil_depth_cm, practices "
        "FROM plot WHERE plot_id IN :plots"
    )
    rows = [
        r
        for r in reader.rows(sql, {"plots": sorted(shares)})
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


def trace_back(
    store: Engine | str, lot_or_code: str, *, with_events: bool = True
) -> dict[str, Any]:
    """Every ancestor lot of a lot (or code), its plots, each plot's share of the lot's kg
    and the path (lot -> ... -> harvest lot) that brought each plot its largest part."""
    lot, gtin = _parse_lot_or_code(lot_or_code)
    with reading(store) as reader:
        rows = reader.query("trace_back", {"lot": lot, "max_depth": MAX_DEPTH})
        _check_lot(lot, gtin, next((r for r in rows if r.lot_id == lot), None))
        if any(r.depth >= MAX_DEPTH for r in rows):
            raise LineageCycle(f"lineage of {lot} is deeper than {MAX_DEPTH} steps or cyclic")
        lots, shares, paths = _shares_and_paths(lot, rows)
        plots = sorted(shares)
        # Per plot, the geometry version valid at the harvest on its main path.
        version_of = {r.lot_id: r.plot_version for r in rows if r.plot_id is not None}
        versions = {p: version_of[paths[p][-1]] for p in plots}
        events: list[dict[str, Any]] = []
        soil: dict[str, Any] | None = None
        if with_events:
            soil = _soil(reader, shares, versions)
            params = {"lots": [lot, *lots], "plots": plots or [""]}
            events = [_event(r) for r in reader.query("lot_events", params)]
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
def recall_sql(kind: str, dialect: str, seed_scope: str | None = None) -> str:
    """sql/recall.sql (or the dialect's copy) with the seed query of ``kind`` in it.

    ``seed_scope``, a SQL condition on ``sp.county_code`` (traceability.access.plot_scope),
    keeps only the seed harvests of plots it admits: a county office's recall by input starts
    from its own plots' harvests, in the query itself."""
    seeds = _sql(f"recall_seeds_{kind}", dialect)
    if seed_scope:
        seeds = (
            f"SELECT s.lot_id, s.gtin, s.units, s.quantity_kg FROM ({seeds}) AS s "
            "WHERE EXISTS (SELECT 1 FROM lot AS sl JOIN plot AS sp ON sp.plot_id = sl.plot_id "
            f"WHERE sl.lot_id = s.lot_id AND {seed_scope})"
        )
    return _sql("recall", dialect).replace("/*SEEDS*/", seeds)


def recall(
    store: Engine | str,
    kind: str,
    key: str,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    seed_scope: tuple[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything made from a plot, farm, county, input (registration number) or lot, where
    it was shipped and sold, and what is still unsold, per retailer.

    ``date_from``/``date_to`` bound the harvests (plot, farm, county) or the input
    applications (input) that start the recall; the window is [from, to)."""
    if kind not in RECALL_KINDS:
        raise ValueError(f"recall by {kind!r}: expected one of {', '.join(RECALL_KINDS)}")
    with reading(store) as reader:
        return _recall(reader, kind, key, date_from, date_to, seed_scope)


def _recall(
    reader: Reader,
    kind: str,
    key: str,
    date_from: datetime | None,
    date_to: datetime | None,
    seed_scope: tuple[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    params = {
        "key": key,
        "date_from": _naive_utc(date_from, _EARLIEST),
        "date_to": _naive_utc(date_to, _LATEST),
        "max_depth": MAX_DEPTH,
    }
    condition = None
    if seed_scope is not None:
        condition, scope_params = seed_scope
        params.update(scope_params)
    with _no_cycle_collection():
        rows = reader.tuples(recall_sql(kind, reader.dialect, condition), params)
        doc = _recall_doc(kind, key, date_from, date_to, rows)
    if not doc["lots"] and not reader.rows(KEY_FOUND[kind], {"key": key}):
        raise NotFound(_KEY_MISSING[kind].format(key=key))
    return doc


#: Whether the store knows a recall's key at all, per kind (each an index lookup): an empty
#: recall must tell "nothing from plot P3 in this window" (an answer) from "no plot P3" (a
#: typing error, or records not loaded yet); a declared recall and the portal's search ask too.
KEY_FOUND = {
    "plot": "SELECT 1 AS found FROM plot WHERE plot_id = :key LIMIT 1",
    "farm": "SELECT 1 AS found FROM plot WHERE farm_id = :key LIMIT 1",
    "county": "SELECT 1 AS found FROM plot WHERE county_code = :key LIMIT 1",
    "input": "SELECT 1 AS found FROM event WHERE input_reg_no = :key LIMIT 1",
    "lot": "SELECT 1 AS found FROM lot WHERE lot_id = :key LIMIT 1",
}
_KEY_MISSING = {
    "plot": "no plot {key!r} in the store",
    "farm": "no plot of farm {key!r} in the store",
    "county": "no plot in county {key!r} in the store",
    "input": "no production record in the store names input {key!r}",
    "lot": "no lot {key!r} in the store",
}


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector off for a block that allocates tens of thousands of objects
    and makes no cycles (a county recall's rows and answer). Each allocation burst otherwise
    sets off collections that walk the whole heap of the process: in a process holding a few
    million objects (a service, the benchmark) that added 70-80 ms to a 115 ms recall.
    Reference counting still frees everything; the collector is back on after the block."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _recall_doc(
    kind: str,
    key: str,
    date_from: datetime | None,
    date_to: datetime | None,
    rows: list[tuple[Any, ...]],
) -> dict[str, Any]:
    """recall()'s answer from the rows of sql/recall.sql: lots, per-party sums (made by the
    database) and the stock held per party and lot. What is left here is rounding, leaving a
    processor's own stock out of "unsold", and sorting, in single passes over the rows."""
    lots_row: tuple[Any, ...] = ("lots", None, "[]", "[]", 0, None)  # the SQL always gives one
    parties: dict[str, tuple[Any, ...]] = {}
    held: list[tuple[Any, ...]] = []
    for row in rows:
        if row[0] == "lots":
            lots_row = row
        elif row[0] == "party":
            parties[row[1]] = row
        else:
            held.append(row)
    _, _, lots_json, packed_json, packed_n, depth, *_ = lots_row
    if depth is not None and depth >= MAX_DEPTH:
        raise LineageCycle(f"descendants of {kind} {key} go deeper than {MAX_DEPTH} steps")
    # the SQL sorts them already: sorted() makes sure at the cost of one linear pass
    lots = sorted(json.loads(lots_json or "[]"))
    packed = sorted(json.loads(packed_json or "[]"))
    packed_units = int(packed_n or 0)
    # a mill's own stock of what it made is not on a shelf
    shelved = sorted((r for r in held if parties[r[1]][2] != "processor"), key=itemgetter(1, 2))
    unsold = []
    held_by: dict[str, list[float]] = {}
    for r in shelved:
        party, n = r[1], r[5]
        u = round(n, 3)
        k = round(n * r[4], 3)
        unsold.append({"party": party, "lot": r[2], "gtin": r[3], "units": u, "kg": k})
        total = held_by.get(party)
        if total is None:
            held_by[party] = [u, k]
        else:
            total[0] += u
            total[1] += k
    out = []
    shipped_kg = 0.0
    sold_units = 0
    for party in sorted(parties):
        _, _, role, name, received_kg, received_units, shipped_on_kg, sold_n, sold_kg = parties[
            party
        ]
        shipped_kg += received_kg  # every line's kg is received by exactly one party
        sold_units += int(sold_n)
        held_units, held_kg = held_by.get(party, (0.0, 0.0))
        out.append(
            {
                "party": party,
                "received_kg": round(received_kg, 3),
                "received_units": round(received_units, 3),
                "shipped_on_kg": round(shipped_on_kg, 3),
                "sold_units": int(sold_n),
                "sold_kg": round(sold_kg, 3),
                "role": role,
                "name": name,
                "unsold_units": round(held_units, 3),
                "unsold_kg": round(held_kg, 3),
            }
        )
    return {
        "query": {
            "kind": kind,
            "key": key,
            "from": date_from.isoformat() if date_from else None,
            "to": date_to.isoformat() if date_to else None,
        },
        "lots": lots,
        "packed_lots": packed,
        "retailers": [p["party"] for p in out if p["role"] == "retailer"],
        "parties": out,
        "unsold": unsold,
        "totals": {
            "lots": len(lots),
            "packed_units": packed_units,
            "sold_units": sold_units,
            "unsold_units": packed_units - sold_units,
            "shipped_kg": round(shipped_kg, 3),
        },
    }


def trace_forward(store: Engine | str, plot_or_lot: str) -> dict[str, Any]:
    """Every lot made from a plot or lot (harvest lots included) and the retailers that
    received or sold any of it: a recall without a window, in the CLI's short form."""
    with reading(store) as reader:
        if reader.rows("SELECT 1 AS found FROM plot WHERE plot_id = :p", {"p": plot_or_lot}):
            kind, key = "plot", plot_or_lot
        else:
            key, gtin = _parse_lot_or_code(plot_or_lot)
            found = reader.rows("SELECT gtin FROM lot WHERE lot_id = :l", {"l": key})
            try:
                _check_lot(key, gtin, found[0] if found else None)
            except NotFound:
                raise NotFound(f"no plot or lot {plot_or_lot!r} in the store") from None
            kind = "lot"
        result = _recall(reader, kind, key, None, None)  # on the same connection
    return {
        "from": plot_or_lot,
        "kind": kind,
        "lots": result["lots"],
        "retailers": result["retailers"],
    }
