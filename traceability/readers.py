"""Contract readers: bytes in a landing-zone file -> rows of plain strings with line numbers.

Only the shape of the file is checked here (encoding, header, JSON lines); each field is
checked by the source's rules in ``sources.py``, so every broken rule becomes a reject that
names the file, line and field. A file that cannot be read at all raises ``UnreadableFile``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from landing import UnreadableFile, decode
from traceability.contract import FieldError, Row

SHANGHAI = ZoneInfo("Asia/Shanghai")


def normalise_header(name: str) -> str:
    """Column names are case-insensitive and may carry surrounding whitespace."""
    return name.strip().lower()


def read_csv(path: Path, required: tuple[str, ...]) -> Iterator[Row]:
    """Rows of a contract CSV; line numbers count the header as line 1, as editors do."""
    text, _ = decode(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFile(path, "file is empty (no header row)") from None
    except csv.Error as exc:
        raise UnreadableFile(path, f"header row: {exc}") from exc
    names = [normalise_header(h) for h in header]
    dupes = sorted({n for n in names if names.count(n) > 1 and n})
    if dupes:
        raise UnreadableFile(path, f"column(s) {', '.join(dupes)} appear more than once")
    missing = [c for c in required if c not in names]
    if missing:
        raise UnreadableFile(
            path,
            f"missing column(s) {', '.join(missing)}; header is {', '.join(names)}",
        )
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UnreadableFile(path, f"line {start}: {exc}") from exc
        line = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue  # blank lines are not records
        problem = None
        if len(cells) != len(names):
            problem = f"row has {len(cells)} cells, the header has {len(names)}"
        fields = {n: (cells[i].strip() if i < len(cells) else "") for i, n in enumerate(names)}
        yield Row(start, fields, problem)


def read_jsonl(path: Path) -> Iterator[Row]:
    """Lines of a JSON-lines file; a line that is not a JSON object is a row problem.

    Strings stay strings and JSON numbers stay numbers (``text_field`` and the number rules
    read both); anything else (true, lists, objects) becomes its JSON text, so a rule reports
    it as written."""
    text, _ = decode(path)
    names: dict[str, str] = {}  # raw key -> normalised header, once per file
    for n, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            yield jsonl_row(n, raw, names)


def jsonl_row(n: int, raw: str, names: dict[str, str]) -> Row:
    """One non-blank line of a JSON-lines file as a row (``names`` caches header names)."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return Row(n, {}, f"line is not JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(obj, dict):
        return Row(n, {}, "line is not a JSON object")
    fields: dict[str, Any] = {}
    for k, v in obj.items():
        key = names.get(k)
        if key is None:
            key = names[k] = normalise_header(k)
        t = type(v)
        if t is str or t is float or t is int:
            fields[key] = v
        else:
            fields[key] = "" if v is None else json.dumps(v)
    return Row(n, fields)


def json_number(value: Any) -> float | None:
    """A JSON number kept by ``read_jsonl`` as a float (None for text and anything else): the
    same float its text would parse to, without the round trip through text."""
    t = type(value)
    if t is float:
        return value
    if t is int and -(2**53) <= value <= 2**53:
        return float(value)
    return None


def as_text(value: Any) -> str:
    """A field as the text the sender wrote: JSON numbers (kept as numbers by ``read_jsonl``)
    in their JSON form, as they would have been in a CSV."""
    return value if type(value) is str else json.dumps(value)


# --- field rules -----------------------------------------------------------------------------

_OFFSET_RE = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def parse_time(value: str, field: str) -> tuple[datetime, int]:
    """ISO 8601 -> (aware datetime, offset in minutes). Naive times are Asia/Shanghai."""
    if type(value) is not str:
        value = as_text(value)
    if not value:
        raise FieldError(field, "time is missing")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(
            field, f"time {value!r} is not ISO 8601 (e.g. 2026-10-03T08:15:00+08:00)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=SHANGHAI)
    offset = dt.utcoffset() or timedelta(0)
    return dt, int(offset.total_seconds() // 60)


def stored_utc_iso(value: datetime | str | None) -> str | None:
    """A time as the store keeps it (naive UTC; text when the bare SQLite driver reads it),
    in ISO 8601 with its +00:00, to the second: how the commands and APIs print it."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


def restore_time(utc: datetime | None, offset_min: int | None) -> str | None:
    """The stored UTC time shown in the sender's own offset, ISO 8601."""
    if utc is None:
        return None
    tz = timezone(timedelta(minutes=offset_min or 0))
    return utc.astimezone(tz).isoformat()


def text_field(fields: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = fields.get(name, "")
    value = (value if type(value) is str else as_text(value)).strip()
    if not value:
        if required:
            raise FieldError(name, f"{name} is missing")
        return None
    return value


def number(
    fields: dict[str, str], name: str, *, required: bool = False, positive: bool = False
) -> float | None:
    value = json_number(fields.get(name))
    if value is not None:
        if (math.isfinite(value) and value > 0) or (value == 0 and not positive):
            return value  # the usual case: no text to format
        raw = as_text(fields[name])
    else:
        raw = text_field(fields, name, required=required)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise FieldError(name, f"{name} {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise FieldError(name, f"{name} {raw!r} is not a finite number")
    if value < 0:
        raise FieldError(name, f"{name} must not be negative, got {raw}")
    if positive and value == 0:
        raise FieldError(name, f"{name} must be greater than 0, got {raw}")
    return value


def whole_number(fields: dict[str, str], name: str, *, required: bool = False) -> int | None:
    value = number(fields, name, required=required)
    if value is None:
        return None
    if value != int(value):
        raise FieldError(name, f"{name} {as_text(fields[name])!r} is not a whole number")
    return int(value)


def choice(fields: dict[str, str], name: str, allowed: tuple[str, ...], *, required: bool) -> str:
    value = (text_field(fields, name, required=required) or "").lower()
    if value and value not in allowed:
        raise FieldError(name, f"{name} {value!r} is not one of {', '.join(allowed)}")
    return value


def county_code(fields: dict[str, str], name: str = "county_code", *, required: bool = False):
    value = text_field(fields, name, required=required)
    if value is not None and not re.fullmatch(r"\d{6}", value):
        raise FieldError(name, f"{name} {value!r} is not a 6-digit administrative division code")
    return value


def lot_list(fields: dict[str, str], name: str) -> list[tuple[str, float]]:
    """``lot:kg;lot:kg`` -> [(lot, kg)]. A lot id may itself contain ':' (split on the last)."""
    raw = text_field(fields, name, required=True) or ""
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for part in (p.strip() for p in raw.split(";")):
        if not part:
            continue
        lot, sep, kg_text = part.rpartition(":")
        lot = lot.strip()
        if not sep or not lot:
            raise FieldError(name, f"{name} entry {part!r} is not lot_id:kg")
        try:
            kg = float(kg_text)
        except ValueError:
            raise FieldError(
                name, f"{name} entry {part!r}: kg {kg_text!r} is not a number"
            ) from None
        if not math.isfinite(kg) or kg <= 0:
            raise FieldError(name, f"{name} entry {part!r}: kg must be greater than 0")
        if lot in seen:
            raise FieldError(name, f"{name} lists lot {lot} more than once")
        seen.add(lot)
        out.append((lot, kg))
    if not out:
        raise FieldError(name, f"{name} is empty")
    return out


def extras(fields: dict[str, str], known: tuple[str, ...]) -> dict[str, Any]:
    """Columns beyond the contract are kept, not rejected."""
    return {
        k: v if type(v) is str else as_text(v)
        for k, v in fields.items()
        if k not in known and k and v != ""
    }
