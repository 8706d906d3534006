"""The recall spreadsheet: one sortable row per event that touched the recalled lots.

In the spirit of the FSMA 204 "24-hour" sortable spreadsheet: every critical tracking event
(growing, harvesting, transformation, shipping, receiving, selling) with its key data elements
(what, how much, where, when, who, lot, reference document) on sheet ``events``, the still
unsold stock per party and lot on sheet ``unsold stock``, and the recall's query and totals on
sheet ``about`` (not above the table: a title block would break sorting and filtering).

Times: Excel cannot store a time zone, so ``time`` is the sender's local wall-clock time as a
real (naive) datetime, ``utc_offset`` says which offset that is, and ``time_utc`` sorts across
offsets. The store is read in chunks of lot ids (``IN`` lists), never one query per lot, so a
county-wide recall of thousands of lots costs a few dozen queries.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, bindparam, text

from traceability.sqlrun import chunks

__all__ = ["EVENT_COLUMNS", "STOCK_COLUMNS", "sheet_rows", "stock_path", "write_recall_sheet"]

#: Ids per ``IN`` list: below SQLite's old 999-variable limit, small enough for any planner.
CHUNK = 900

#: (column, meaning) of sheet ``events``, in sheet order.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    (
        "cte",
        "critical tracking event: growing, harvesting, transformation, shipping, "
        "receiving, selling",
    ),
    (
        "step",
        "the store's step: sowing, input, harvest, drying, milling, blending, packing, "
        "shipping, receiving, selling",
    ),
    ("time", "local time at the sender (Excel datetime, no zone)"),
    ("utc_offset", "offset of that local time, e.g. UTC+08:00"),
    ("time_utc", "the same instant in UTC (Excel datetime): sort on this across offsets"),
    ("lot", "traceability lot code (our lot id); for growing, the harvest lot it went into"),
    ("code", "GS1 Digital Link URI of the lot, when a code was issued"),
    ("gtin", "GTIN-14 of a packed lot"),
    ("product", "product name (zh / en) from the GTIN, else the crop and step"),
    ("quantity_kg", "kg of the lot made, shipped or sold"),
    ("units", "sellable units (packed lots only)"),
    ("unit", "unit of measure of units: bag, box, kg"),
    ("party", "who, and where: the party id (farm, processor, sender, recipient, retailer)"),
    ("party_name", "the party's name"),
    ("gln", "the party's GLN, when known"),
    ("county", "county code of the plot (growing, harvesting) or of the party"),
    ("plot", "plot id (growing, harvesting)"),
    ("ship_from", "shipping / receiving: sending party"),
    ("ship_to", "shipping / receiving: receiving party"),
    ("carrier", "shipping / receiving: carrier party"),
    ("input_lots", "transformation: input lots and kg, LOT:KG;LOT:KG"),
    (
        "detail",
        "growing: variety or input, registration number, dose; selling: channel; "
        "shipping: logger device",
    ),
    ("reference_type", "reference document: the source (production, processing, shipments, sales)"),
    ("reference_number", "reference document number: the record id (shipment id)"),
    ("source_file", "the delivered file the record came from"),
    ("line", "line of the record in that file"),
)

#: (column, meaning) of sheet ``unsold stock``.
STOCK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("party", "party holding the stock (retailer, warehouse, ...)"),
    ("party_name", "the party's name"),
    ("role", "the party's role"),
    ("county", "the party's county code"),
    ("lot", "traceability lot code"),
    ("gtin", "GTIN-14"),
    ("product", "product name (zh / en)"),
    ("code", "GS1 Digital Link URI, when issued"),
    ("units", "units received and neither shipped on nor sold"),
    ("unit", "unit of measure"),
    ("kg", "the same in kg"),
)

#: Order of events that share a time.
CTE_ORDER = ("growing", "harvesting", "transformation", "shipping", "receiving", "selling")
_EARLY = datetime(1900, 1, 1)


# --- reading the store -------------------------------------------------------------------

_LOTS = """
SELECT l.lot_id, l.step, l.plot_id, l.gtin, l.quantity_kg, l.units, l.made_by,
       e.time, e.time_offset_min, e.source, e.record_id, e.source_file, e.line,
       CASE WHEN l.plot_id IS NOT NULL THEN e.payload END AS payload
FROM lot AS l JOIN event AS e ON e.event_id = l.event_id
WHERE l.lot_id IN :ids
"""
_EDGES = "SELECT child_lot, parent_lot, kg FROM edge WHERE child_lot IN :ids"
# Field work of a harvest lot: the plot's production events after its previous harvest and
# no later than this one (last season's spraying is not this lot's history).
_FIELD_WORK = """
SELECT h.lot_id AS harvest_lot, ev.step, ev.time, ev.time_offset_min, ev.party_id,
       ev.plot_id, ev.source, ev.record_id, ev.source_file, ev.line, ev.payload
FROM lot AS h
JOIN event AS ev ON ev.plot_id = h.plot_id AND ev.source = 'production'
                AND ev.step <> 'harvest' AND ev.time <= h.made_at
WHERE h.lot_id IN :ids AND h.plot_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM lot AS prev
                  WHERE prev.plot_id = h.plot_id AND prev.made_at < h.made_at
                    AND prev.made_at >= ev.time)
"""
_SHIPMENT_LINES = """
SELECT sl.shipment_id, sl.lot_id, sl.kg, s.carrier_id, s.device_id, s.from_party,
       s.to_party, s.departed_at, s.arrived_at, s.event_id, e.time_offset_min, e.source,
       e.source_file, e.line
FROM shipment_lot AS sl
JOIN shipment AS s ON s.shipment_id = sl.shipment_id
JOIN event AS e ON e.event_id = s.event_id
WHERE sl.lot_id IN :ids
"""
_PAYLOADS = "SELECT event_id, payload FROM event WHERE event_id IN :ids"
_SALES = """
SELECT s.record_id, s.retailer_id, s.time, s.lot_id, s.quantity_units, s.channel,
       e.time_offset_min, e.source, e.source_file, e.line
FROM sale AS s JOIN event AS e ON e.event_id = s.event_id
WHERE s.lot_id IN :ids
"""
_PARTIES = "SELECT party_id, name, role, county_code, gln FROM party WHERE party_id IN :ids"
_PRODUCTS = "SELECT gtin, name_zh, name_en, unit FROM product WHERE gtin IN :ids"
_CODES = "SELECT lot_id, uri FROM code WHERE lot_id IN :ids"
_PLOTS = "SELECT plot_id, county_code, version FROM plot WHERE plot_id IN :ids"


@cache
def _stmt(sql: str) -> Any:
    return text(sql).bindparams(bindparam("ids", expanding=True))


def _select(conn: Connection, sql: str, ids: Iterable[str | None]) -> list[Any]:
    keys = sorted({i for i in ids if i is not None})
    rows: list[Any] = []
    for chunk in chunks(keys, CHUNK):
        rows += conn.execute(_stmt(sql), {"ids": chunk}).all()
    return rows


def _json(value: Any) -> dict[str, Any]:
    """A JSON column read through text(): a str on SQLite, already decoded on PostgreSQL."""
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        return dict(json.loads(value))
    return dict(value)


def _utc(value: Any) -> datetime | None:
    """A stored time (naive UTC; text on SQLite) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _offset_of(iso: Any) -> int | None:
    try:
        off = datetime.fromisoformat(iso).utcoffset()
    except (TypeError, ValueError):
        return None
    return None if off is None else int(off.total_seconds() // 60)


def _when(utc: datetime | None, offset_min: int | None) -> dict[str, Any]:
    """time (local, naive), utc_offset and time_utc (naive) of one stored time."""
    if utc is None:
        return {"time": None, "utc_offset": None, "time_utc": None}
    off = offset_min or 0
    local = utc.astimezone(timezone(timedelta(minutes=off)))
    sign = "-" if off < 0 else "+"
    return {
        "time": local.replace(tzinfo=None),
        "utc_offset": f"UTC{sign}{abs(off) // 60:02d}:{abs(off) % 60:02d}",
        "time_utc": utc.replace(tzinfo=None),
    }


def _num(value: float | int | None) -> float | int | None:
    """Rounded to grams / thousandths of a unit; whole numbers as int (200, not 200.0)."""
    if value is None:
        return None
    r = round(float(value), 3)
    return int(r) if r.is_integer() else r


def _gather(conn: Connection, doc: dict[str, Any]) -> dict[str, Any]:
    """Everything the two sheets need, read in chunked IN lists."""
    lot_ids = list(doc["lots"])
    lots = {r.lot_id: r for r in _select(conn, _LOTS, lot_ids)}
    edges: dict[str, list[Any]] = {}
    for r in _select(conn, _EDGES, lot_ids):
        edges.setdefault(r.child_lot, []).append(r)
    harvests = [k for k, r in lots.items() if r.plot_id is not None]
    field = _select(conn, _FIELD_WORK, harvests)
    ships = _select(conn, _SHIPMENT_LINES, lot_ids)
    arrived = {r.event_id for r in ships if r.arrived_at is not None}
    payloads = {r.event_id: _json(r.payload) for r in _select(conn, _PAYLOADS, arrived)}
    sales = _select(conn, _SALES, lot_ids)
    party_ids = {r.made_by for r in lots.values()} | {r.party_id for r in field}
    party_ids |= {p for r in ships for p in (r.from_party, r.to_party, r.carrier_id)}
    party_ids |= {r.retailer_id for r in sales} | {u["party"] for u in doc["unsold"]}
    parties = {r.party_id: r for r in _select(conn, _PARTIES, party_ids)}
    gtins = {r.gtin for r in lots.values()} | {u["gtin"] for u in doc["unsold"]}
    products = {r.gtin: r for r in _select(conn, _PRODUCTS, gtins)}
    codes = {r.lot_id: r.uri for r in _select(conn, _CODES, lot_ids)}
    plot_county: dict[str, str] = {}
    for r in sorted(
        _select(conn, _PLOTS, {r.plot_id for r in lots.values()}), key=lambda r: r.version
    ):
        plot_county[r.plot_id] = r.county_code  # the latest version wins
    return {
        "lots": lots,
        "edges": edges,
        "field": field,
        "ships": ships,
        "payloads": payloads,
        "sales": sales,
        "parties": parties,
        "products": products,
        "codes": codes,
        "plot_county": plot_county,
        "crops": _crops(lots, edges),
    }


def _crops(lots: dict[str, Any], edges: dict[str, list[Any]]) -> dict[str, str]:
    """Crop of each lot: the harvest's own, carried through transformations to outputs
    (inputs outside the recall are not looked up)."""
    crops: dict[str, set[str]] = {}
    for lot_id, r in lots.items():
        crop = _json(r.payload).get("crop") if r.plot_id is not None else None
        if crop:
            crops[lot_id] = {crop}
    made = sorted(
        (k for k, r in lots.items() if r.plot_id is None),
        key=lambda k: (_utc(lots[k].time) or _EARLY.replace(tzinfo=UTC), k),
    )
    changed = True
    passes = 0
    while changed and passes < 64:  # inputs come before outputs, so one pass is the rule
        changed, passes = False, passes + 1
        for lot_id in made:
            found = set().union(*(crops.get(e.parent_lot, set()) for e in edges.get(lot_id, [])))
            if found - crops.get(lot_id, set()):
                crops[lot_id] = crops.get(lot_id, set()) | found
                changed = True
    return {k: "+".join(sorted(v)) for k, v in crops.items()}


# --- rows --------------------------------------------------------------------------------


def _product(g: dict[str, Any], lot_id: str, gtin: str | None, step: str | None) -> str | None:
    p = g["products"].get(gtin) if gtin else None
    if p is not None:
        return " / ".join(n for n in (p.name_zh, p.name_en) if n) or gtin
    crop = g["crops"].get(lot_id)
    if step in (None, "harvest"):
        return crop
    return f"{crop} ({step})" if crop else f"{step} output"


def _party(g: dict[str, Any], party_id: str | None) -> dict[str, Any]:
    p = g["parties"].get(party_id)
    return {
        "party": party_id,
        "party_name": p.name if p else None,
        "gln": p.gln if p else None,
        "county": p.county_code if p else None,
    }


def _ref(source: str, record: str, file: str, line: int) -> dict[str, Any]:
    return {"reference_type": source, "reference_number": record, "source_file": file, "line": line}


def _lot_fields(g: dict[str, Any], lot_id: str) -> dict[str, Any]:
    lot = g["lots"].get(lot_id)
    gtin = lot.gtin if lot else None
    product = g["products"].get(gtin) if gtin else None
    return {
        "lot": lot_id,
        "code": g["codes"].get(lot_id),
        "gtin": gtin,
        "product": _product(g, lot_id, gtin, lot.step if lot else None),
        "unit": product.unit if product else None,
    }


def _unit_kg(lot: Any) -> float | None:
    return lot.quantity_kg / lot.units if lot is not None and lot.units else None


def _detail(step: str, payload: dict[str, Any]) -> str | None:
    if step == "input":
        dose = " ".join(
            str(_num(payload["dose"]) if k == "dose" else payload[k])
            for k in ("dose", "dose_unit")
            if payload.get(k) is not None
        )
        parts = (payload.get("input_name"), payload.get("input_reg_no"), dose)
        return " ".join(p for p in parts if p) or None
    return payload.get("variety") or None


def _event_rows(g: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for lot_id, r in g["lots"].items():
        base = {**_lot_fields(g, lot_id), **_when(_utc(r.time), r.time_offset_min)}
        ref = _ref(r.source, r.record_id, r.source_file, r.line)
        if r.plot_id is not None:
            county = g["plot_county"].get(r.plot_id)
            who = _party(g, r.made_by)
            rows.append(
                {
                    **base,
                    **who,
                    **ref,
                    "cte": "harvesting",
                    "step": r.step,
                    "quantity_kg": _num(r.quantity_kg),
                    "plot": r.plot_id,
                    "county": county or who["county"],
                }
            )
        else:
            inputs = ";".join(
                f"{e.parent_lot}:{_num(e.kg)}"
                for e in sorted(g["edges"].get(lot_id, []), key=lambda e: e.parent_lot)
            )
            rows.append(
                {
                    **base,
                    **_party(g, r.made_by),
                    **ref,
                    "cte": "transformation",
                    "step": r.step,
                    "quantity_kg": _num(r.quantity_kg),
                    "units": _num(r.units),
                    "input_lots": inputs or None,
                }
            )
    for f in g["field"]:
        payload = _json(f.payload)
        who = _party(g, f.party_id)
        rows.append(
            {
                **_when(_utc(f.time), f.time_offset_min),
                **who,
                **_ref(f.source, f.record_id, f.source_file, f.line),
                "cte": "growing",
                "step": f.step,
                "lot": f.harvest_lot,
                "product": payload.get("crop"),
                "plot": f.plot_id,
                "county": g["plot_county"].get(f.plot_id) or who["county"],
                "detail": _detail(f.step, payload),
            }
        )
    for s in g["ships"]:
        unit = _unit_kg(g["lots"].get(s.lot_id))
        common = {
            **_lot_fields(g, s.lot_id),
            **_ref(s.source, s.shipment_id, s.source_file, s.line),
            "quantity_kg": _num(s.kg),
            "units": _num(s.kg / unit) if unit else None,
            "ship_from": s.from_party,
            "ship_to": s.to_party,
            "carrier": s.carrier_id,
            "detail": f"device {s.device_id}" if s.device_id else None,
        }
        rows.append(
            {
                **common,
                **_party(g, s.from_party),
                **_when(_utc(s.departed_at), s.time_offset_min),
                "cte": "shipping",
                "step": "shipping",
            }
        )
        if s.arrived_at is not None:
            arrival_offset = _offset_of(g["payloads"].get(s.event_id, {}).get("arrived_at"))
            offset = s.time_offset_min if arrival_offset is None else arrival_offset
            rows.append(
                {
                    **common,
                    **_party(g, s.to_party),
                    **_when(_utc(s.arrived_at), offset),
                    "cte": "receiving",
                    "step": "receiving",
                }
            )
    for s in g["sales"]:
        unit = _unit_kg(g["lots"].get(s.lot_id))
        rows.append(
            {
                **_lot_fields(g, s.lot_id),
                **_party(g, s.retailer_id),
                **_when(_utc(s.time), s.time_offset_min),
                **_ref(s.source, s.record_id, s.source_file, s.line),
                "cte": "selling",
                "step": "selling",
                "quantity_kg": _num(s.quantity_units * unit) if unit else None,
                "units": _num(s.quantity_units),
                "detail": s.channel,
            }
        )
    names = [c for c, _ in EVENT_COLUMNS]
    rows = [{c: row.get(c) for c in names} for row in rows]
    rows.sort(
        key=lambda r: (
            r["time_utc"] or _EARLY,
            CTE_ORDER.index(r["cte"]),
            r["lot"] or "",
            r["reference_number"] or "",
            r["party"] or "",
        )
    )
    return rows


def _stock_rows(g: dict[str, Any], doc: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for u in doc["unsold"]:
        p = g["parties"].get(u["party"])
        product = g["products"].get(u["gtin"]) if u["gtin"] else None
        rows.append(
            {
                "party": u["party"],
                "party_name": p.name if p else None,
                "role": p.role if p else None,
                "county": p.county_code if p else None,
                "lot": u["lot"],
                "gtin": u["gtin"],
                "product": _product(g, u["lot"], u["gtin"], None),
                "code": g["codes"].get(u["lot"]),
                "units": _num(u["units"]),
                "unit": product.unit if product else None,
                "kg": _num(u["kg"]),
            }
        )
    return rows


def sheet_rows(
    eng: Engine, doc: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events rows, unsold stock rows) of a recall (``lineage.recall``'s document), as dicts
    keyed by ``EVENT_COLUMNS`` / ``STOCK_COLUMNS``; times as naive datetimes (see module doc)."""
    with eng.connect() as conn:
        g = _gather(conn, doc)
    return _event_rows(g), _stock_rows(g, doc)


# --- writing -----------------------------------------------------------------------------

#: ``on_progress(stage, done, total)``: what write_recall_sheet is doing, for a progress bar
#: (a county's sheet is some 120,000 rows: tens of seconds). ``total`` 0 when unknown.
OnProgress = Callable[[str, int, int], None]
EVERY = 2000  # rows between two calls while writing


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


def _counted(rows: Sequence[Any], stage: str, on_progress: OnProgress) -> Iterator[Any]:
    """``rows`` one by one, telling ``on_progress`` every EVERY rows and at the end."""
    total = len(rows)
    for i, r in enumerate(rows):
        if i % EVERY == 0:
            on_progress(stage, i, total)
        yield r
    on_progress(stage, total, total)


def _about(doc: dict[str, Any], n_events: int, n_stock: int) -> list[tuple[str, Any]]:
    from traceability.readers import SHANGHAI

    # Plain text whatever the document holds: a cell takes no tuples or lists.
    q = {k: None if v is None else str(v) for k, v in doc["query"].items()}
    t = doc["totals"]
    rows: list[tuple[str, Any]] = [
        ("recall", f"{q['kind']} {q['key']}"),
        ("kind", q["kind"]),
        ("key", q["key"]),
        ("from", q.get("from")),
        ("to", q.get("to")),
        ("generated_at", datetime.now(SHANGHAI).isoformat(timespec="seconds")),
        *((k, t[k]) for k in ("lots", "packed_units", "sold_units", "unsold_units", "shipped_kg")),
        ("event_rows", n_events),
        ("stock_rows", n_stock),
    ]
    return rows


def _width(value: Any) -> int:
    if isinstance(value, datetime):
        return 19
    s = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in s)  # CJK takes two columns


def _write_xlsx(
    path: Path,
    events: list[dict[str, Any]],
    stock: list[dict[str, Any]],
    about: list[tuple[str, Any]],
    on_progress: OnProgress = _no_progress,
) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    bold = Font(bold=True)

    def cell(ws: Any, value: Any) -> Any:
        if isinstance(value, datetime):
            c = WriteOnlyCell(ws, value)
            c.number_format = "yyyy-mm-dd hh:mm:ss"
            return c
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
            if value.startswith("="):  # a supplier's text, never a formula
                c = WriteOnlyCell(ws, value)
                c.data_type = "s"
                return c
        return value

    def table(title: str, columns: Sequence[str], rows: list[Any], *, filtered: bool) -> None:
        ws = wb.create_sheet(title)
        sample = rows[:2000]
        for i, name in enumerate(columns, 1):
            width = max([_width(name), *(_width(r[i - 1]) for r in sample)])
            ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 60)
        ws.freeze_panes = "A2"
        if filtered:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
        header = []
        for name in columns:
            c = WriteOnlyCell(ws, name)
            c.font = bold
            header.append(c)
        ws.append(header)
        for r in _counted(rows, f"writing {title}", on_progress):
            ws.append([cell(ws, v) for v in r])

    for title, spec, rows in (
        ("events", EVENT_COLUMNS, events),
        ("unsold stock", STOCK_COLUMNS, stock),
    ):
        names = [c for c, _ in spec]
        table(title, names, [[r[c] for c in names] for r in rows], filtered=True)
    legend = [
        (f"{sheet}.{c}", meaning)
        for sheet, spec in (("events", EVENT_COLUMNS), ("unsold stock", STOCK_COLUMNS))
        for c, meaning in spec
    ]
    table("about", ["field", "value"], [list(r) for r in [*about, *legend]], filtered=False)
    on_progress("saving the workbook", 0, 0)
    wb.save(path)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")  # Excel reads "2026-10-02 10:00:00" as a datetime
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # opened in Excel, a supplier's text must not become a formula
    return value


def _write_csv(
    path: Path,
    columns: Sequence[tuple[str, str]],
    rows: list[dict[str, Any]],
    on_progress: OnProgress = _no_progress,
) -> None:
    names = [c for c, _ in columns]
    # UTF-8 with BOM: without it, Excel on a Chinese Windows reads the file as GBK.
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        w.writerows(
            [_csv_value(r[c]) for c in names]
            for r in _counted(rows, f"writing {path.name}", on_progress)
        )


def stock_path(path: Path) -> Path:
    """Where ``--csv F`` puts the stock: ``recall.csv`` -> ``recall_stock.csv``."""
    return path.with_name(f"{path.stem}_stock{path.suffix}")


def write_recall_sheet(
    eng: Engine,
    doc: dict[str, Any],
    path: Path,
    fmt: Literal["xlsx", "csv"],
    on_progress: OnProgress = _no_progress,
) -> list[Path]:
    """Write the recall spreadsheet of ``doc`` (``lineage.recall``'s document) to ``path``.

    ``xlsx``: one workbook with sheets ``events``, ``unsold stock`` and ``about``.
    ``csv``: ``path`` holds the events, ``<stem>_stock<suffix>`` the unsold stock (UTF-8
    with BOM). Returns the files written, absolute."""
    if fmt not in ("xlsx", "csv"):
        raise ValueError(f"recall sheet format {fmt!r}: expected xlsx or csv")
    on_progress(f"reading the events of {len(doc['lots']):,} lots", 0, 0)
    events, stock = sheet_rows(eng, doc)
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        _write_xlsx(path, events, stock, _about(doc, len(events), len(stock)), on_progress)
        return [path]
    _write_csv(path, EVENT_COLUMNS, events, on_progress)
    _write_csv(stock_path(path), STOCK_COLUMNS, stock, on_progress)
    return [path, stock_path(path)]
