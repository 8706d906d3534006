"""Bad input that used to cost good rows: one broken record (a cell over the size limit, a NUL
byte, a quote that is never closed, a line of bytes that are not text, a number or time the
store cannot hold) is rejected with its line, field and reason, and every other record of the
file loads through the real ingest into a real store, with its own line number."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from landing import decode
from tests.season import GTIN_RICE, write_season
from traceability.errors import UnreadableFile
from traceability.pipeline import ingest_dir
from traceability.readers import MAX_FIELD, read_csv
from traceability.rejects import open_rejects
from traceability.store import open_store

SALES = "record_id,retailer_id,time,lot_id,gtin,quantity_units,channel,note"
BIG = 1_048_576


def sale(record: str, note: str = "", *, units: str = "1", time: str = "") -> str:
    time = time or "2026-10-05T10:00:00+08:00"
    return f"{record},R1,{time},K1,{GTIN_RICE},{units},store,{note}"


def ingest_sales(inbox: Path, body: str | bytes) -> tuple[dict, list[dict]]:
    """The season plus ``sales/zz.csv`` holding ``body``: the file's report and its rejects."""
    write_season(inbox)
    path = inbox / "sales" / "zz.csv"
    if isinstance(body, str):
        body = body.encode("utf-8")
    path.write_bytes(body)
    result = ingest_dir(inbox)
    assert result["unreadable"] == []
    [report] = [f for f in result["sources"]["sales"]["files"] if f["file"] == "sales/zz.csv"]
    rejects = [r for r in open_rejects(open_store()) if r["file"] == "sales/zz.csv"]
    return report, rejects


def loaded_lines(source_file: str) -> dict[str, int]:
    """record id -> line of the events loaded from ``source_file``."""
    with open_store().connect() as conn:
        rows = conn.execute(
            text("SELECT record_id, line FROM event WHERE source_file = :f"), {"f": source_file}
        ).all()
    return {r.record_id: r.line for r in rows}


def stored_raw(source_file: str) -> str:
    with open_store().connect() as conn:
        raw = conn.execute(
            text("SELECT raw FROM reject WHERE file = :f"), {"f": source_file}
        ).scalar_one()
    return raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)


def test_field_over_the_limit_in_the_middle(inbox: Path, sqlite_url: str) -> None:
    body = "\n".join([SALES, sale("A"), sale("BIG", "x" * BIG), sale("C"), ""])
    report, [r] = ingest_sales(inbox, body)
    assert (r["line"], r["field"], r["record"]) == (3, "note", "BIG")
    assert r["reason"] == "field too long: 1,048,576 characters, the limit is 131,072"
    assert (report["loaded"], report["rejected"]) == (2, 1)
    assert loaded_lines("sales/zz.csv") == {"A": 2, "C": 4}
    assert len(stored_raw("sales/zz.csv")) < 1000  # the giant cell is not stored


def test_quoted_field_over_the_limit_spanning_lines(inbox: Path, sqlite_url: str) -> None:
    """A quoted cell with line breaks in it: the record keeps its first line's number and the
    records after it keep theirs."""
    giant = "\n".join(["y" * 200_000] * 3)  # 600,002 characters on 3 lines
    body = "\n".join([SALES, sale("A"), sale("BIG", f'"{giant}"'), sale("C"), sale("D"), ""])
    report, [r] = ingest_sales(inbox, body)
    assert report["rejected"] == 1
    assert (r["line"], r["field"]) == (3, "note")
    assert r["reason"] == "field too long: 600,002 characters, the limit is 131,072"
    assert loaded_lines("sales/zz.csv") == {"A": 2, "C": 6, "D": 7}


def test_nul_byte_in_one_row(inbox: Path, store_url: str) -> None:
    """PostgreSQL text cannot hold a NUL: before, one party name with a NUL stopped the whole
    ingest there. Now the row is rejected (on both stores) and its neighbours load."""
    write_season(inbox)
    (inbox / "parties" / "zz.csv").write_bytes(
        b"party_id,role,name\nNF1,farm,good one\nNF2,farm,bad\x00name\nNF3,farm,good two\n"
    )
    result = ingest_dir(inbox)
    [report] = [f for f in result["sources"]["parties"]["files"] if f["file"] == "parties/zz.csv"]
    assert (report["loaded"], report["rejected"]) == (2, 1)
    [r] = [r for r in open_rejects(open_store()) if r["file"] == "parties/zz.csv"]
    assert (r["line"], r["field"], r["record"]) == (2 + 1, "name", "NF2")
    assert r["reason"] == "name contains a NUL byte (0x00), which is not text"
    with open_store().connect() as conn:
        names = conn.execute(
            text("SELECT name FROM party WHERE party_id IN ('NF1', 'NF2', 'NF3') ORDER BY 1")
        ).scalars()
        assert list(names) == ["good one", "good two"]


def test_very_long_line_of_many_cells(inbox: Path, sqlite_url: str) -> None:
    """A line of 400,001 small cells: rejected for its cell count; its cells are not stored."""
    body = "\n".join([SALES, sale("A"), sale("LONG", ",".join(["z"] * 400_000)), sale("C"), ""])
    report, [r] = ingest_sales(inbox, body)
    assert report["rejected"] == 1
    assert (r["line"], r["field"], r["record"]) == (3, None, "LONG")
    assert r["reason"] == "row has 400007 cells, the header has 8"
    assert loaded_lines("sales/zz.csv") == {"A": 2, "C": 4}
    assert len(stored_raw("sales/zz.csv")) < 1000


def test_unterminated_quote_on_the_last_record(inbox: Path, sqlite_url: str) -> None:
    """Before, the csv module returned the open cell silently and the record loaded."""
    body = "\n".join([SALES, sale("A"), sale("B"), sale("LAST", '"no closing quote')]) + "\n"
    report, [r] = ingest_sales(inbox, body)
    assert report["rejected"] == 1
    assert (r["line"], r["field"], r["record"]) == (4, "note", "LAST")
    assert r["reason"] == (
        "unterminated quote: the quoted cell opened on line 4 is never closed "
        "(it would run to the end of the file)"
    )
    assert loaded_lines("sales/zz.csv") == {"A": 2, "B": 3}


def test_unterminated_quote_in_the_middle(inbox: Path, sqlite_url: str) -> None:
    """A stray quote used to swallow every line after it into one cell (or, past the size
    limit, fail the file). Its record is rejected; the lines after it are records again."""
    rows = [sale("A"), sale("STRAY", '"5 inch'), *(sale(f"S{i}") for i in range(4, 20_004))]
    report, [r] = ingest_sales(inbox, "\n".join([SALES, *rows, ""]))
    assert report["rejected"] == 1
    assert (r["line"], r["field"], r["record"]) == (3, "note", "STRAY")
    assert "the quoted cell opened on line 3 is never closed" in r["reason"]
    lines = loaded_lines("sales/zz.csv")
    assert len(lines) == 20_001
    assert (lines["A"], lines["S4"], lines["S20003"]) == (2, 4, 20_003)


def test_stray_quote_closed_by_a_later_cell(inbox: Path, sqlite_url: str) -> None:
    """A stray quote that pairs with the opening quote of a later cell (that quote is then
    followed by more text): the stray's record is rejected, the records in between load."""
    body = "\n".join([SALES, sale("A"), sale("STRAY", '"oops'), sale("C"), sale("D", '"ok"'), ""])
    report, [r] = ingest_sales(inbox, body)
    assert report["rejected"] == 1
    assert (r["line"], r["field"]) == (3, "note")
    assert r["reason"] == (
        "unterminated quote: the quoted cell opened on line 3 is not closed: the quote on "
        "line 5 that would close it is followed by more text"
    )
    assert loaded_lines("sales/zz.csv") == {"A": 2, "C": 4, "D": 5}


def test_one_line_of_bytes_that_are_not_utf8(inbox: Path, sqlite_url: str) -> None:
    """Before, the whole file was decoded as GB18030: every Chinese note became mojibake."""
    body = "\n".join([SALES, sale("A", "五常大米"), sale("BAD", "坏"), sale("C", "稻花香"), ""])
    data = body.encode("utf-8").replace("坏".encode(), b"\xff\xfe")
    report, [r] = ingest_sales(inbox, data)
    assert report["rejected"] == 1
    assert (r["line"], r["field"], r["record"]) == (3, None, "BAD")
    assert r["reason"] == "line 3 is not valid UTF-8 (byte 0xff at position 60)"
    assert loaded_lines("sales/zz.csv") == {"A": 2, "C": 4}
    with open_store().connect() as conn:
        payloads = conn.execute(
            text("SELECT payload FROM event WHERE source_file = 'sales/zz.csv'")
        ).scalars()
        notes = {str(p) for p in payloads}
    assert any("五常大米" in p or "\\u4e94" in p for p in notes)  # UTF-8 kept, no mojibake


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        (
            {"units": "3000000000"},
            "quantity_units",
            "quantity_units '3000000000' is too large, the most is 2,147,483,647",
        ),
        ({"units": "1e300"}, "quantity_units", "is too large"),
        (
            {"time": "9999-12-31T23:00:00-08:00"},
            "time",
            "time '9999-12-31T23:00:00-08:00' is out of range",
        ),
    ],
)
def test_values_the_store_cannot_hold(
    inbox: Path, store_url: str, changes: dict[str, str], field: str, reason: str
) -> None:
    """Before, these stopped the whole ingest (integer out of range, date overflow)."""
    body = "\n".join([SALES, sale("A"), sale("BAD", **changes), sale("C"), ""])
    report, [r] = ingest_sales(inbox, body)
    assert report["rejected"] == 1
    assert (r["line"], r["field"], r["record"]) == (3, field, "BAD")
    assert reason in r["reason"]
    assert loaded_lines("sales/zz.csv") == {"A": 2, "C": 4}


def reading(minute: int, note: str = "") -> str:
    """A telemetry line; non-ASCII text written as is (``\\u`` escapes only for controls)."""
    line = {"device_id": "DEV1", "ts": f"2026-10-03T08:{minute:02d}:00+08:00", "temp_c": 4}
    return json.dumps({**line, "note": note}, ensure_ascii=False)


def test_jsonl_bad_lines_cost_only_themselves(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    lines = [
        reading(0, "a\u2028b"),  # a line separator inside a string: still one line
        reading(1, "x" * BIG),  # line 2: too long
        reading(2, "a\u0000b"),  # line 3: written as \u0000
        reading(3, "?").replace('"?"', '"\\ud800"'),  # line 4: a lone surrogate
        "[" * 100_000,  # line 5: nested too deeply for the json module
        reading(5, "坏"),  # line 6: bytes that are not UTF-8 (below)
        reading(6, "稻花香"),
    ]
    data = ("\n".join(lines) + "\n").encode().replace("坏".encode(), b"\xff\xfe")
    (inbox / "transport" / "telemetry_zz.jsonl").write_bytes(data)
    result = ingest_dir(inbox)
    assert result["unreadable"] == []
    name = "transport/telemetry_zz.jsonl"
    at = lines[5].index("坏") + 1  # the line is ASCII before it: characters = bytes
    [report] = [f for f in result["sources"]["transport"]["files"] if f["file"] == name]
    assert (report["loaded"], report["rejected"]) == (2, 5)
    rejects = {
        r["line"]: (r["field"], r["reason"])
        for r in open_rejects(open_store())
        if r["file"] == name
    }
    assert rejects == {
        2: (None, f"line too long: {len(lines[1]):,} characters, the limit is 131,072"),
        3: ("note", "note holds a NUL or an unpaired surrogate: not text"),
        4: ("note", "note holds a NUL or an unpaired surrogate: not text"),
        5: (None, "line is not JSON that can be read: nested too deeply"),
        6: (None, f"line 6 is not valid UTF-8 (byte 0xff at position {at})"),
    }
    with open_store().connect() as conn:
        lines_loaded = conn.execute(
            text("SELECT line FROM reading WHERE source_file = :f ORDER BY line"), {"f": name}
        ).scalars()
        assert list(lines_loaded) == [1, 7]


def test_clean_file_and_limit_at_the_edge(tmp_path: Path) -> None:
    """A cell of exactly MAX_FIELD characters and multi-line cells read as before."""
    path = tmp_path / "p.csv"
    path.write_text(f'a,b\r\n1,"x\r\ny"\r\n2,{"z" * MAX_FIELD}\r\n3,"q""q"\r\n', newline="")
    rows = list(read_csv(path, ("a",)))
    assert [(r.line, r.problem) for r in rows] == [(2, None), (4, None), (5, None)]
    assert rows[0].fields["b"] == "x\r\ny" and rows[2].fields["b"] == 'q"q'
    assert len(rows[1].fields["b"]) == MAX_FIELD


def test_gb18030_file_with_one_line_that_is_not(tmp_path: Path) -> None:
    """Before, a GB18030 file with one line of bytes that are not GB18030 was unreadable."""
    path = tmp_path / "p.csv"
    text_ = "party_id,name\nF1,五常市\nF2,坏\nF3,黑龙江省\n"
    path.write_bytes(text_.encode("gb18030").replace("坏".encode("gb18030"), b"\xff\xff"))
    rows = list(read_csv(path, ("party_id",)))
    assert [(r.line, r.fields["name"], r.problem) for r in rows] == [
        (2, "五常市", None),
        (3, "\ufffd\ufffd", "line 3 is not valid GB18030 (byte 0xff at position 4)"),
        (4, "黑龙江省", None),
    ]


def test_document_with_a_line_that_is_not_utf8_is_unreadable(tmp_path: Path) -> None:
    """A GeoJSON or EPCIS document has no rows to reject: instead of being read as GB18030
    mojibake, a UTF-8 document with a broken line is unreadable, naming the line."""
    path = tmp_path / "plots.geojson"
    lines = ['{"type": "FeatureCollection",', '"name": "五常市",', '"x": "坏",', '"features": []}']
    path.write_bytes("\n".join(lines).encode().replace("坏".encode(), b"\xc3("))
    with pytest.raises(
        UnreadableFile, match=r"line 3 is not valid UTF-8 \(byte 0xc3 at position 7\)"
    ):
        decode(path)


def test_limit_holds_when_the_csv_module_limit_was_raised(tmp_path: Path) -> None:
    """Another library in the process may raise the csv module's (global) limit: the reader's
    own limit still rejects the giant cell."""
    path = tmp_path / "p.csv"
    path.write_text(f"a,b\n1,{'z' * (MAX_FIELD + 1)}\n2,ok\n")
    old = csv.field_size_limit(10 * MAX_FIELD)
    try:
        rows = list(read_csv(path, ("a",)))
    finally:
        csv.field_size_limit(old)
    assert [(r.line, r.problem_field, r.problem) for r in rows] == [
        (2, "b", "field too long: 131,073 characters, the limit is 131,072"),
        (3, None, None),
    ]
    assert len(rows[0].fields["b"]) < 200
