"""Truck logger readings read as columns: two thirds of a season's rows, loaded set-wise.

``Telemetry.load_file`` (sources.py) calls :func:`load_readings`. The file is read by
pyarrow's JSON reader into typed columns, and every rule of ``Telemetry.parse`` is one mask
over a whole column. A line that any mask refuses (or that pyarrow could not type) goes
through the row path's own ``parse`` instead, so its reject reads exactly as before and an
odd-but-valid line (a naive time, a numeric string) still loads. The rows of both kinds are
then decided together in line order: a re-delivered reading is found by one query per
device, inserted rows go in with one ``executemany`` (SQLite) or ``COPY`` (PostgreSQL).

What is stored is what the row path stores, bit for bit: the same content hash (the canonical
JSON is assembled from the columns), the same UTC time text, the same line numbers;
tests/test_ingest_paths.py loads seasons both ways and compares every table.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from landing import decode_lines
from traceability import models as m
from traceability.readers import FieldError, jsonl_lines, jsonl_row, jsonl_rows
from traceability.writes import (
    FileReport,
    Item,
    RejectRow,
    check_id_lengths,
    conflict_reason,
    content_hash,
    insert_tuples,
    reject_row,
    save_rejects,
    settle_rejects,
)

if TYPE_CHECKING:
    from traceability.sources import Telemetry

#: A time whose ISO text ``datetime.isoformat`` gives back unchanged (offset up to +-14:59).
_CANONICAL_TS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-](0\d|1[0-4]):[0-5]\d$"
_NAIVE_TS = r"^((199[2-9]|20\d\d)-\d\d-\d\dT\d\d:\d\d:\d\d)$"
#: Device ids the canonical JSON can hold without escapes (no quote, backslash or control).
_PLAIN_TEXT = r'^[^"\\\x00-\x1f]+$'


def _read_columns(text_: str, lines: int) -> dict[str, list[Any]] | None:
    """The file's six contract fields as Python lists, one per line, or None when pyarrow
    cannot read the file as uniform JSON lines (a bad line, an unknown or oddly cased key,
    a number given as text, blank lines): then every line takes the row path."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    schema = pa.schema(
        [
            ("device_id", pa.string()),
            ("ts", pa.string()),
            ("temp_c", pa.float64()),
            ("humidity_pct", pa.float64()),
            ("lon", pa.float64()),
            ("lat", pa.float64()),
        ]
    )
    try:
        table = pj.read_json(
            io.BytesIO(text_.encode()),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="error"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != lines:  # blank lines: line numbers would shift
        return None

    dev = table["device_id"]
    # The time as the row rules keep it (``datetime.isoformat`` of the parsed time): "Z" is
    # written +00:00, and a time without offset is Asia/Shanghai's, +08:00 since 1992.
    ts = pc.replace_substring_regex(table["ts"], r"Z$", "+00:00")
    ts = pc.replace_substring_regex(ts, _NAIVE_TS, r"\1+08:00")
    temp = table["temp_c"]
    hum = table["humidity_pct"]
    lon = table["lon"]
    lat = table["lat"]
    utc = pc.strptime(ts, format="%Y-%m-%dT%H:%M:%S%z", unit="s", error_is_null=True)
    ok = pc.and_kleene(
        pc.match_substring_regex(dev, _PLAIN_TEXT),
        # the key device@UTC time (26 characters more) must fit the store's ids
        pc.less_equal(pc.utf8_length(dev), m.ID.length - 26),
    )
    ok = pc.and_kleene(ok, pc.equal(pc.utf8_trim_whitespace(dev), dev))
    ok = pc.and_kleene(ok, pc.match_substring_regex(ts, _CANONICAL_TS))
    ok = pc.and_kleene(ok, pc.is_valid(utc))
    ok = pc.and_kleene(ok, pc.and_kleene(pc.greater_equal(temp, -60), pc.less_equal(temp, 80)))
    hum_ok = pc.or_kleene(
        pc.is_null(hum), pc.and_kleene(pc.is_finite(hum), pc.greater_equal(hum, 0))
    )
    ok = pc.and_kleene(ok, hum_ok)
    both_or_none = pc.equal(pc.is_null(lon), pc.is_null(lat))
    lon_ok = pc.or_kleene(pc.is_null(lon), pc.and_kleene(pc.greater_equal(lon, -180),
                                                         pc.less_equal(lon, 180)))  # fmt: skip
    lat_ok = pc.or_kleene(pc.is_null(lat), pc.and_kleene(pc.greater_equal(lat, -90),
                                                         pc.less_equal(lat, 90)))  # fmt: skip
    ok = pc.and_kleene(ok, pc.and_kleene(both_or_none, pc.and_kleene(lon_ok, lat_ok)))
    ok = pc.fill_null(ok, False)
    # offset minutes from the text: sign, hours, minutes at fixed places of the canonical form
    sign = pc.if_else(pc.equal(pc.utf8_slice_codeunits(ts, 19, 20), "-"), -1, 1)
    safe = pc.if_else(ok, ts, "0000-00-00T00:00:00+00:00")
    hh = pc.cast(pc.utf8_slice_codeunits(safe, 20, 22), pa.int64())
    mm = pc.cast(pc.utf8_slice_codeunits(safe, 23, 25), pa.int64())
    offset = pc.multiply(sign, pc.add(pc.multiply(hh, 60), mm))
    return {
        "ok": ok.to_pylist(),
        "device_id": dev.to_pylist(),
        "ts": ts.to_pylist(),
        # "YYYY-MM-DD HH:MM:SS" in UTC: the text SQLite keeps (with .000000) and the key's time
        "utc": pc.cast(pc.cast(utc, pa.timestamp("s")), pa.string()).to_pylist(),
        "offset": offset.to_pylist(),
        "temp_c": temp.to_pylist(),
        "humidity_pct": hum.to_pylist(),
        "lon": lon.to_pylist(),
        "lat": lat.to_pylist(),
    }


#: The reading's columns, in the order the loaders below give their values.
COLUMNS = ("device_id", "ts", "ts_offset_min", "temp_c", "humidity_pct", "lon", "lat",
           "source_file", "line", "content_hash")  # fmt: skip


def load_readings(
    conn: Connection, src: Telemetry, path: Path, file: str, now: datetime
) -> FileReport:
    """Load one telemetry file in the caller's transaction; the row path's rules, set-wise."""

    text_, _, bad_lines = decode_lines(path)
    physical = jsonl_lines(text_)
    lines = physical if isinstance(physical, list) else list(physical)
    # pyarrow reads the file only when its lines are the plain ones and all of them are text
    plain = isinstance(physical, list) and not bad_lines
    cols = _read_columns(text_, len(lines)) if plain else None
    report = FileReport(file)
    rejects: list[RejectRow] = []
    # (line, key, hash, the reading's stored values but file/line/hash) of valid lines
    good: list[tuple[int, str, str, tuple[Any, ...]]] = []
    if cols is not None:
        ok = cols["ok"]
        sha = hashlib.sha256
        sqlite = conn.dialect.name == "sqlite"
        # Each number as the canonical JSON writes it (float.__repr__, or null), a column at once
        hum_j = ["null" if v is None else repr(v) for v in cols["humidity_pct"]]
        lon_j = ["null" if v is None else repr(v) for v in cols["lon"]]
        lat_j = ["null" if v is None else repr(v) for v in cols["lat"]]
        rows = zip(
            ok, cols["device_id"], cols["ts"], cols["utc"], cols["offset"], cols["temp_c"],
            cols["humidity_pct"], cols["lon"], cols["lat"], hum_j, lon_j, lat_j, strict=True,
        )  # fmt: skip
        for i, (good_row, dev, ts, utc, off, temp, hum, lon, lat, hj, loj, laj) in enumerate(rows):
            if not good_row:
                continue
            canon = (
                f'{{"device_id":"{dev}","extra":{{}},"humidity_pct":{hj},'
                f'"lat":{laj},"lon":{loj},"temp_c":{temp!r},"ts":"{ts}"}}'
            )
            key = f"{dev}@{utc[:10]}T{utc[11:]}+00:00"
            stored = (dev, f"{utc}.000000" if sqlite else utc, off, temp, hum, lon, lat)
            good.append((i + 1, key, sha(canon.encode()).hexdigest(), stored))
        slow = [i + 1 for i in range(len(ok)) if not ok[i]]
    else:
        slow = list(range(1, len(lines) + 1))
    if slow:
        ts_bind = m.Reading.__table__.c.ts.type._cached_bind_processor(conn.dialect)
        for row in jsonl_rows(((n, lines[n - 1]) for n in slow), bad_lines):
            try:
                if row.problem:
                    raise FieldError(row.problem_field, row.problem)
                p = src.parse(row.fields)
                check_id_lengths(src, p)
            except FieldError as exc:
                rejects.append(reject_row(src, Item(file, row), None, exc.field, exc.reason))
                report.rejected += 1
                continue
            r = p.record
            values = (r["device_id"], ts_bind(p.time) if ts_bind else p.time, p.offset,
                      r["temp_c"], r["humidity_pct"], r["lon"], r["lat"])  # fmt: skip
            good.append((row.line, p.key, content_hash(r), values))
        good.sort(key=lambda g: g[0])
    existing = stored_readings(conn, [g[1] for g in good])
    loaded: list[tuple[Any, ...]] = []
    loaded_keys: list[str] = []
    for line, key, h, values in good:
        prior = existing.get(key)
        if prior is None:
            existing[key] = (h, file, line)
            loaded.append((*values, file, line, h))
            loaded_keys.append(key)
            report.loaded += 1
        elif prior[0] == h:
            report.unchanged += 1  # (readings never wait, so no parked copy to settle)
        else:
            row = jsonl_row(line, lines[line - 1], {})
            reason = conflict_reason(src.name, key, prior[1], prior[2])
            rejects.append(reject_row(src, Item(file, row), key, None, reason))
            report.rejected += 1
    insert_tuples(conn, m.Reading.__table__, COLUMNS, loaded)
    settle_rejects(conn, src.name, loaded_keys, [], now)
    save_rejects(conn, rejects, now)
    return report


def stored_readings(conn: Connection, keys: Iterable[str]) -> dict[str, tuple[str, str, int]]:
    """Readings already stored under these keys (device@UTC time): key -> (hash, file, line).
    One query per device over the file's time span."""
    spans: dict[str, list[str]] = {}
    for k in keys:
        dev, _, ts = k.rpartition("@")
        span = spans.get(dev)
        if span is None:
            spans[dev] = [ts, ts]
        elif ts < span[0]:
            span[0] = ts
        elif ts > span[1]:
            span[1] = ts
    t = m.Reading.__table__
    bind = t.c.ts.type._cached_bind_processor(conn.dialect)
    out: dict[str, tuple[str, str, int]] = {}
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    sql = (
        f"SELECT ts, content_hash, source_file, line FROM reading "
        f"WHERE device_id = {mark} AND ts >= {mark} AND ts <= {mark}"
    )
    utc_time = m.UTCDateTime()
    cur = conn.connection.cursor()  # plain tuples: a re-delivered file reads back every reading
    try:
        for dev, (lo, hi) in spans.items():
            lo_v, hi_v = (datetime.fromisoformat(x) for x in (lo, hi))
            if bind:
                lo_v, hi_v = bind(lo_v), bind(hi_v)
            cur.execute(sql, (dev, lo_v, hi_v))
            for ts, h, f, line in cur.fetchall():
                if isinstance(ts, str) and len(ts) == 26 and ts.endswith(".000000"):
                    iso = f"{ts[:10]}T{ts[11:19]}+00:00"  # SQLite's text, whole seconds
                else:
                    iso = utc_time.process_result_value(ts, None).isoformat()
                out[f"{dev}@{iso}"] = (h, f, line)
    finally:
        cur.close()
    return out
