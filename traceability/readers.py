"""Contract readers: bytes in a landing-zone file -> rows of plain strings with line numbers.

Only the shape of the file is checked here (encoding, header, JSON lines); each field is
checked by the source's rules in ``sources.py``, so every broken rule becomes a reject that
names the file, line and field. A file that cannot be read at all raises ``UnreadableFile``.
One bad record never costs the good ones: a cell that is too long, a NUL byte, a quote that
is never closed or a line of bytes that are not text rejects that record and the rest loads.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from landing import UnreadableFile, decode_lines
from traceability.contract import FieldError, Row

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Longest cell (CSV) or JSON line accepted, in characters: the csv module's own default limit,
#: kept on purpose. The longest legitimate cell is a lot list (``lot:kg;...``, some 20
#: characters an entry: thousands of lots); anything longer is a broken record, most often a
#: stray quote that swallowed the lines after it. Such a record is rejected and its giant
#: cell is never stored (the reject keeps only its first characters).
MAX_FIELD = 131_072
#: Characters of an over-long or broken cell kept in the reject's raw record.
KEPT_OF_BAD_CELL = 100
#: Longest column name a reject's ``field`` can hold (``reject.field`` is VARCHAR(60)).
MAX_FIELD_NAME = 60

#: Largest whole number (units) accepted: the store keeps them in 32-bit INTEGER columns.
MAX_WHOLE = 2_147_483_647

_EOL = re.compile(r"\r\n|\r|\n")  # physical line breaks, as csv and StringIO(newline="") see
_UNQUOTED = re.compile(r"[^,\r\n]*")
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")  # JSON escapes of NUL or surrogates
_OTHER_BREAKS = re.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")  # str.splitlines' extra ones
_NOT_TEXT = re.compile(r"[\x00\ud800-\udfff]")  # NUL and unpaired surrogates: no store holds them


def normalise_header(name: str) -> str:
    """Column names are case-insensitive and may carry surrounding whitespace."""
    return name.strip().lower()


# --- CSV ---------------------------------------------------------------------------------------


class _Scan(NamedTuple):
    """One record read by the slow path (``_scan_record``)."""

    cells: list[str]
    problem: str | None
    column: int | None  # index of the cell the problem is in
    resume: int  # offset where the next record starts
    lines: int  # physical lines from the record's start to ``resume``


def _line_end(text: str, pos: int) -> int:
    m = _EOL.search(text, pos)
    return m.end() if m else len(text)


def _scan_record(text: str, pos: int, start: int) -> _Scan:
    """Read the record at ``text[pos:]`` (which starts on line ``start``) the way the csv module
    does (non-strict: text after a closing quote is kept, a quote inside a cell is a quote), but
    without its field limit, and tell what is wrong with it. Only used once the csv module
    raised, so a clean file never comes here.

    A quote that is never closed, or whose "closing" quote on a later line is followed by more
    text (the next cell's opening quote: a stray quote paired with it), ends the record at the
    end of the line the quote opened on; the lines after it are read as records again.
    """
    begin = pos
    n = len(text)
    cells: list[str] = []
    problem: str | None = None
    column: int | None = None
    while True:
        if pos < n and text[pos] == '"':
            opened = pos
            parts: list[str] = []
            k = pos + 1
            while True:
                j = text.find('"', k)
                if j == -1:
                    return _stray_quote(text, begin, opened, start, cells, None)
                parts.append(text[k:j])
                if j + 1 < n and text[j + 1] == '"':
                    parts.append('"')
                    k = j + 2
                    continue
                break
            m = _UNQUOTED.match(text, j + 1)
            if m.end() > j + 1 and _EOL.search(text, opened, j):
                return _stray_quote(text, begin, opened, start, cells, j)
            value = "".join(parts) + m.group()
            pos = m.end()
        else:
            m = _UNQUOTED.match(text, pos)
            value = m.group()
            pos = m.end()
        if len(value) > MAX_FIELD and problem is None:
            problem = f"field too long: {len(value):,} characters, the limit is {MAX_FIELD:,}"
            column = len(cells)
        cells.append(value if len(value) <= MAX_FIELD else value[:KEPT_OF_BAD_CELL] + "…")
        if pos < n and text[pos] == ",":
            pos += 1
            continue
        end = _line_end(text, pos) if pos < n else n
        lines = len(_EOL.findall(text, begin, end))
        if end == n and (end == begin or text[end - 1] not in "\r\n"):
            lines += 1  # the last line of a file without a final line break
        return _Scan(cells, problem, column, end, lines)


def _stray_quote(
    text: str, begin: int, opened: int, start: int, cells: list[str], closed_at: int | None
) -> _Scan:
    opened_line = start + len(_EOL.findall(text, begin, opened))
    resume = _line_end(text, opened)
    if closed_at is None:
        why = "is never closed (it would run to the end of the file)"
    else:
        closed_line = start + len(_EOL.findall(text, begin, closed_at))
        why = (
            f"is not closed: the quote on line {closed_line} that would close it is "
            "followed by more text"
        )
    rest = text[opened + 1 : min(resume, opened + 1 + KEPT_OF_BAD_CELL)].rstrip("\r\n")
    return _Scan(
        [*cells, rest],
        f"unterminated quote: the quoted cell opened on line {opened_line} {why}",
        len(cells),
        resume,
        opened_line - start + 1,
    )


def _skip_lines(buf: io.StringIO, offset: int, count: int) -> int:
    """Offset of the line ``count`` physical lines after ``offset`` (as csv counts lines)."""
    buf.seek(offset)
    for _ in range(count):
        buf.readline()
    return buf.tell()


def _clean(value: str) -> str:
    """A cell as a reject may keep it: no NUL (nor lone surrogate), no giant text."""
    if len(value) > MAX_FIELD:
        value = value[:KEPT_OF_BAD_CELL] + "…"
    return _NOT_TEXT.sub("\ufffd", value)


def _column(names: list[str], i: int | None) -> str | None:
    if i is None or i >= len(names) or not names[i]:
        return None
    return names[i][:MAX_FIELD_NAME]


def read_csv(path: Path, required: tuple[str, ...]) -> Iterator[Row]:
    """Rows of a contract CSV; line numbers count the header as line 1, as editors do, and a
    record spanning several lines (a quoted line break) has the number of its first line.

    The clean path is the csv module over the decoded text. When it raises (a cell longer than
    ``MAX_FIELD``, a quote that is not closed) the record it was reading is read again by
    ``_scan_record``, rejected if it is broken, and the csv module goes on after it.
    """
    text, _, bad_lines = decode_lines(path)
    if 1 in bad_lines:
        raise UnreadableFile(path, f"header row: {bad_lines[1]}")
    has_nul = "\x00" in text
    check_len = csv.field_size_limit() > MAX_FIELD  # someone raised the csv module's limit
    buf = io.StringIO(text, newline="")
    reader = csv.reader(buf, strict=True)
    base = 0  # lines before the current reader's first line
    base_offset = 0  # where the current reader started

    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFile(path, "file is empty (no header row)") from None
    except csv.Error:
        scan = _scan_record(text, 0, 1)
        if scan.problem:
            raise UnreadableFile(path, f"header row: {scan.problem}") from None
        header = scan.cells
        base = scan.lines
        base_offset = scan.resume
        buf.seek(base_offset)
        reader = csv.reader(buf, strict=True)
    if has_nul and any("\x00" in h for h in header):
        raise UnreadableFile(path, "header row: a column name contains a NUL byte (0x00)")
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
    width = len(names)
    careful = bool(bad_lines) or has_nul or check_len  # else only the cell count is checked
    line = base + reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            offset = _skip_lines(buf, base_offset, start - 1 - base)
            scan = _scan_record(text, offset, start)
            line = base = start - 1 + scan.lines
            base_offset = scan.resume
            buf.seek(base_offset)
            reader = csv.reader(buf, strict=True)
            cells = scan.cells
            if scan.problem:
                yield _rejected(start, cells, names, scan.problem, scan.column)
                continue
        else:
            line = base + reader.line_num
        if not cells or (not cells[0].strip() and all(not c.strip() for c in cells)):
            continue  # blank lines are not records
        if careful or len(cells) != width:
            problem, column = _row_problem(cells, names, start, line, bad_lines, check_len)
            if problem:
                yield _rejected(start, cells, names, problem, column)
                continue
        yield Row(start, dict(zip(names, map(str.strip, cells), strict=False)))  # same length


def _row_problem(
    cells: list[str],
    names: list[str],
    start: int,
    end: int,
    bad_lines: dict[int, str],
    check_len: bool,
) -> tuple[str | None, int | None]:
    """What is wrong with a record on lines ``start``..``end`` that the csv module read:
    a line that is not text, a NUL, a cell over the limit, a wrong number of cells."""
    for n in range(start, end + 1) if bad_lines else ():
        if n in bad_lines:
            return bad_lines[n], None
    for i, c in enumerate(cells):
        if "\x00" in c:
            where = _column(names, i) or f"cell {i + 1}"
            return f"{where} contains a NUL byte (0x00), which is not text", i
        if check_len and len(c) > MAX_FIELD:
            return f"field too long: {len(c):,} characters, the limit is {MAX_FIELD:,}", i
    if len(cells) != len(names):
        return f"row has {len(cells)} cells, the header has {len(names)}", None
    return None, None


def _rejected(
    start: int, cells: list[str], names: list[str], problem: str, column: int | None
) -> Row:
    """A rejected record: its cells under the header's names, cleaned to be storable."""
    fields = {n: (_clean(cells[i].strip()) if i < len(cells) else "") for i, n in enumerate(names)}
    return Row(start, fields, problem, _column(names, column))


def read_jsonl(path: Path) -> Iterator[Row]:
    """Lines of a JSON-lines file; a line that is not a JSON object is a row problem, and so
    is a line that is not text, longer than ``MAX_FIELD`` or holding a NUL or an unpaired
    surrogate (``\\u0000``, ``\\ud800``), which no store can keep. Lines are the physical lines
    (``\\n``, ``\\r\\n`` or ``\\r``), as in CSV files and editors.

    Strings stay strings and JSON numbers stay numbers (``text_field`` and the number rules
    read both); anything else (true, lists, objects) becomes its JSON text, so a rule reports
    it as written."""
    text, _, bad_lines = decode_lines(path)
    return jsonl_rows(enumerate(jsonl_lines(text), start=1), bad_lines)


def jsonl_rows(numbered: Iterable[tuple[int, str]], bad_lines: dict[int, str]) -> Iterator[Row]:
    """Rows of (line number, line) pairs of a JSON-lines file, blank lines skipped; a line
    ``decode_lines`` found not to be text is that line's problem."""
    names: dict[str, str] = {}  # raw key -> normalised header, once per file
    for n, raw in numbered:
        if not raw.strip():
            continue
        bad = bad_lines.get(n)
        yield Row(n, {}, bad) if bad else jsonl_row(n, raw, names)


def jsonl_lines(text: str) -> list[str] | io.StringIO:
    """The physical lines of a JSON-lines text. str.splitlines also breaks at \\v, \\f,
    \\x1c-\\x1e, \\x85, U+2028 and U+2029, which may sit inside a JSON string: only the
    slower line reader counts lines right then."""
    return io.StringIO(text, newline="") if _OTHER_BREAKS.search(text) else text.splitlines()


def jsonl_row(n: int, raw: str, names: dict[str, str]) -> Row:
    """One non-blank line of a JSON-lines file as a row (``names`` caches header names)."""
    if len(raw) > MAX_FIELD:
        size = len(raw.rstrip("\r\n"))
        return Row(n, {}, f"line too long: {size:,} characters, the limit is {MAX_FIELD:,}")
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return Row(n, {}, f"line is not JSON: {exc.msg} at column {exc.colno}")
    except RecursionError:
        return Row(n, {}, "line is not JSON that can be read: nested too deeply")
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
    # Only the escapes \u0000 and \ud800-\udfff bring a NUL or a lone surrogate in.
    if "\\u" in raw and _RISKY_ESCAPE.search(raw):
        bad = next(
            (
                k
                for k, v in fields.items()
                if _NOT_TEXT.search(k) or (type(v) is str and _NOT_TEXT.search(v))
            ),
            None,
        )
        if bad is not None:
            name = _clean(bad)[:MAX_FIELD_NAME] or None
            return Row(
                n, {}, f"{name or 'a key'} holds a NUL or an unpaired surrogate: not text", name
            )
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
    if dt.year in (1, 9999):  # the UTC time may fall outside what datetime can hold
        try:
            dt.astimezone(UTC)
        except OverflowError:
            raise FieldError(field, f"time {value!r} is out of range") from None
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


def iso_date(fields: dict[str, Any], name: str, *, required: bool = False) -> date | None:
    """An ISO 8601 calendar date (``2026-09-01``): certificates are issued and valid by day."""
    raw = text_field(fields, name, required=required)
    if raw is None:
        return None
    try:  # the extended form only: 20260901 or a time of day is not what the contract says
        if len(raw) == 10 and raw[4] == raw[7] == "-":
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise FieldError(name, f"{name} {raw!r} is not an ISO 8601 date (e.g. 2026-09-01)")


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
    if value > MAX_WHOLE:
        raise FieldError(
            name, f"{name} {as_text(fields[name])!r} is too large, the most is {MAX_WHOLE:,}"
        )
    return int(value)


def choice(fields: dict[str, str], name: str, allowed: tuple[str, ...], *, required: bool) -> str:
    value = (text_field(fields, name, required=required) or "").lower()
    if value and value not in allowed:
        raise FieldError(name, f"{name} {value!r} is not one of {', '.join(allowed)}")
    return value


def is_division_code(value: str, digits: int | None = None) -> bool:
    """An administrative division code (GB/T 2260: 2 digits a province, 4 a city, 6 a county),
    in ASCII digits, ``digits`` long when given. Not ``\\d`` nor ``str.isdigit`` alone: those
    also take full-width ２３０１８４ (what a Chinese input method types) and other scripts'
    digits, which would never match a stored code."""
    return value.isascii() and value.isdigit() and (digits is None or len(value) == digits)


def is_county_code(value: str) -> bool:
    """The one county-code rule: six ASCII digits (230184 is Wuchang)."""
    return is_division_code(value, 6)


def county_code(fields: dict[str, str], name: str = "county_code", *, required: bool = False):
    value = text_field(fields, name, required=required)
    if value is not None and not is_county_code(value):
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


def extras(fields: dict[str, str], known: tuple[str, ...] | frozenset[str]) -> dict[str, Any]:
    """Columns beyond the contract are kept, not rejected."""
    contract = known if type(known) is frozenset else _column_set(known)  # type: ignore[arg-type]
    if contract.issuperset(fields):  # the usual row: nothing beyond the contract
        return {}
    return {
        k: v if type(v) is str else as_text(v)
        for k, v in fields.items()
        if k not in contract and k and v != ""
    }


@lru_cache(maxsize=64)
def _column_set(columns: tuple[str, ...]) -> frozenset[str]:
    return frozenset(columns)
