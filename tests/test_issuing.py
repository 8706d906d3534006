"""Issued codes: one per packed lot with a GTIN, stable across runs, QR decodes to the URI."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from pyzbar.pyzbar import decode
from sqlalchemy import text

from tests.season import write_season
from traceability.issuing import issue_codes
from traceability.pipeline import ingest_dir
from traceability.store import open_store


def test_codes_for_packed_lots(inbox: Path, sqlite_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HEITU_RESOLVER", "trace.wuchang.example.cn")
    write_season(inbox)
    ingest_dir(inbox)
    eng = open_store()
    result = issue_codes(eng)
    assert result["issued"] == 2
    uris = {c["lot"]: c["uri"] for c in result["codes"]}
    assert uris == {
        "K1": "https://trace.wuchang.example.cn/01/06901234567892/10/K1",
        "K2": "https://trace.wuchang.example.cn/01/06901234567892/10/K2",
    }
    for c in result["codes"]:
        [symbol] = decode(Image.open(c["png"]))
        assert symbol.data.decode() == c["uri"]
    # Idempotent: a printed code never changes, even if the resolver setting does.
    monkeypatch.setenv("HEITU_RESOLVER", "elsewhere.example")
    again = issue_codes(eng)
    assert again["issued"] == 0 and again["total"] == 2
    assert {c["lot"]: c["uri"] for c in again["codes"]} == uris
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM code")).scalar() == 2
