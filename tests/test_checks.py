"""Findings: mass balance per transformation, over-consumed and oversold lots, cold chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.season import GTIN_RICE, PROCESSING, SALES, telemetry, write_csv, write_season
from traceability.checks import run_checks
from traceability.pipeline import ingest_dir
from traceability.store import open_store


def _checks(inbox: Path, url: str) -> dict:
    ingest_dir(inbox, url)
    return run_checks(open_store(url))


def test_clean_season_has_no_findings(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    assert _checks(inbox, store_url) == {
        "mass_balance": [],
        "cold_chain": [],
        "geo": [],
        "codes": [],
    }


def test_over_output_milling(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    rows = [list(r) for r in PROCESSING]
    rows[4][7] = "1800"  # M3: 1800 kg white rice from 2000 kg paddy = 0.90 > 0.75
    write_csv(inbox / "processing" / "processing.csv", rows)
    [f] = _checks(inbox, store_url)["mass_balance"]
    assert f["kind"] == "over_output" and f["lot"] == "M3" and f["record"] == "X4"
    assert f["ratio"] == 0.9 and f["max_yield"] == 0.75


def test_over_consumed_and_oversold(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    write_csv(
        inbox / "processing" / "zz_more.csv",
        [
            PROCESSING[0],
            [
                "X8",
                "MILL",
                "2026-10-02T08:00:00+08:00",
                "packing",
                "B1:800",
                "K3",
                GTIN_RICE,
                "800",
                "160",
            ],
        ],
    )
    write_csv(
        inbox / "sales" / "sales.csv",
        [*SALES, ["SA3", "R1", "2026-10-05T10:00:00+08:00", "K1", GTIN_RICE, "190", "store"]],
    )
    found = {(f["kind"], f["lot"]): f for f in _checks(inbox, store_url)["mass_balance"]}
    assert found[("over_consumed", "B1")]["consumed_kg"] == 2300  # 1000 + 500 + 800 of 2000
    assert found[("oversold", "K1")]["sold_units"] == 205
    assert found[("oversold", "K1")]["packed_units"] == 200
    assert len(found) == 2


@pytest.mark.parametrize(
    ("temps", "kinds"),
    [
        ([8.0] * 9, []),
        ([8.0, 16.0, 17.0, 18.0, 17.0, 8.0, 8.0, 8.0, 8.0], ["excursion"]),  # 60 min above 15 C
        ([8.0, 16.0, 17.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0], []),  # 30 min: within tolerance
    ],
)
def test_cold_chain_excursion(
    inbox: Path, sqlite_url: str, temps: list[float], kinds: list[str]
) -> None:
    write_season(inbox)
    (inbox / "transport" / "telemetry.jsonl").write_text(
        "\n".join(json.dumps(r) for r in telemetry(temps=temps))
    )
    found = _checks(inbox, sqlite_url)["cold_chain"]
    assert [f["kind"] for f in found] == kinds
    if kinds:
        assert found[0]["shipment"] == "S1" and found[0]["worst_temp_c"] == 18.0
        assert found[0]["minutes"] == 60


def test_cold_chain_gap(inbox: Path, sqlite_url: str) -> None:
    write_season(inbox)
    readings = telemetry()
    del readings[2:6]  # 08:30 .. 09:15 missing: 75 minutes of silence
    (inbox / "transport" / "telemetry.jsonl").write_text("\n".join(json.dumps(r) for r in readings))
    [gap] = _checks(inbox, sqlite_url)["cold_chain"]
    assert gap["kind"] == "gap" and gap["minutes"] == 75
