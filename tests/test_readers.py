"""Contract readers: encodings, headers, extra columns, times, unreadable files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from landing import decode
from tests.season import PARTIES, write_csv, write_season
from traceability.access import AccessError, check_office
from traceability.errors import UnreadableFile
from traceability.pipeline import ingest_dir
from traceability.readers import (
    FieldError,
    county_code,
    is_county_code,
    parse_time,
    read_csv,
)
from traceability.store import open_store


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_encodings_detected(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "p.csv", PARTIES, encoding=encoding)
    text_, found = decode(path)
    assert "五常米业" in text_
    assert found == encoding
    rows = list(read_csv(path, ("party_id",)))
    assert rows[0].fields["name"] == "五常市民乐乡合作社"
    assert "party_id" in rows[0].fields  # no BOM glued to the first header


def test_gbk_written_by_excel_reads_as_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("party_id,name\nF1,黑龙江省海伦市\n".encode("gbk"))
    [row] = list(read_csv(path, ("party_id",)))
    assert row.fields["name"] == "黑龙江省海伦市"


def test_headers_case_and_space_insensitive_extra_columns_kept(
    inbox: Path, sqlite_url: str
) -> None:
    write_season(inbox)
    rows = [
        [" Party_ID ", "ROLE", "Name ", "county_code", "gln", "lon", "lat", "Remark"],
        ["F9", "farm", "新农场", "230184", "", "127.1", "44.9", "有机认证"],
    ]
    write_csv(inbox / "parties" / "more.csv", rows)
    ingest_dir(inbox)
    with open_store().connect() as conn:
        extra = conn.execute(text("SELECT extra FROM party WHERE party_id = 'F9'")).scalar()
    assert (json.loads(extra) if isinstance(extra, str) else extra) == {"remark": "有机认证"}


def test_naive_time_is_shanghai() -> None:
    dt, offset = parse_time("2026-10-03 08:15:00", "time")
    assert offset == 480
    assert dt.astimezone(UTC) == datetime(2026, 10, 3, 0, 15, tzinfo=UTC)
    dt, offset = parse_time("2026-10-03T08:15:00Z", "time")
    assert offset == 0
    with pytest.raises(FieldError) as err:
        parse_time("3 Oct 2026", "departed_at")
    assert err.value.field == "departed_at"


def test_offset_kept_in_store(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    ingest_dir(inbox)
    with open_store().connect() as conn:
        row = conn.execute(
            text("SELECT time, time_offset_min FROM event WHERE record_id = 'PR2'")
        ).one()
    assert row.time_offset_min == 480  # PR2's time was naive: read as Asia/Shanghai
    assert str(row.time).startswith("2026-06-20 01:00:00")


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b"", "empty"),
        (b"\xff\xfe\xff\xfe", "neither UTF-8 nor GB18030"),
        (b"record_id,retailer_id\nA,R1\n", "missing column(s) time, lot_id"),
        (b"record_id,record_id,time\n", "more than once"),
    ],
)
def test_unreadable_file_names_file_and_cause(tmp_path: Path, content: bytes, cause: str) -> None:
    path = tmp_path / "sales.csv"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as err:
        list(read_csv(path, ("record_id", "retailer_id", "time", "lot_id")))
    assert str(path) in str(err.value)
    assert cause in str(err.value)


def test_unreadable_file_does_not_stop_the_rest(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    (inbox / "sales" / "broken.csv").write_bytes(b"\xff\xfe\xff\xfe")
    result = ingest_dir(inbox)
    [u] = result["unreadable"]
    assert "broken.csv" in u["file"] and "neither UTF-8 nor GB18030" in u["error"]
    assert result["sources"]["sales"]["loaded"] == 2  # sales.csv beside it still loads


@pytest.mark.parametrize("code", ["２３０１８４", "٢٣٠١٨٤", "23018", "2301845", "23018a", ""])
def test_county_code_is_six_ascii_digits(code: str) -> None:
    """One rule for every county code (readers, EPCIS, CLI, web, offices): full-width digits
    from a Chinese input method match ``\\d`` but never a stored code, so they are refused."""
    assert is_county_code("230184")
    assert not is_county_code(code)
    if code:
        with pytest.raises(FieldError, match="not a 6-digit administrative division code"):
            county_code({"county_code": code})
        with pytest.raises(AccessError):
            check_office("county", [code])
