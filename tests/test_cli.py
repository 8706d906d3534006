"""The heitu command as bureaus script it: one JSON document on stdout, exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.season import write_season
from traceability.cli import main


def heitu(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEITU_HOME": str(home)}
    env.pop("HEITU_DB_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "traceability.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_ingest_trace_check_json(inbox: Path, home: Path) -> None:
    write_season(inbox)
    r = heitu("ingest", str(inbox), "--json", home=home)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # exactly one JSON document, nothing else on stdout
    assert doc["sources"]["processing"]["loaded"] == 7

    r = heitu("trace", "back", "K1", "--json", home=home)
    back = json.loads(r.stdout)
    assert back["plots"] == ["P1", "P2", "P3"] and set(back) >= {"lot", "lots", "events", "shares"}

    r = heitu("trace", "forward", "P1", "--json", home=home)
    assert json.loads(r.stdout)["retailers"] == ["R1"]

    r = heitu("check", "--json", home=home)
    assert set(json.loads(r.stdout)) == {"mass_balance", "cold_chain", "geo", "codes"}

    r = heitu("rejects", "--json", home=home)
    assert r.returncode == 0 and json.loads(r.stdout) == []


def test_unreadable_file_exit_1_after_loading_the_rest(inbox: Path, home: Path) -> None:
    write_season(inbox)
    (inbox / "sales" / "broken.csv").write_text("record_id\nX\n")
    r = heitu("ingest", str(inbox), "--json", home=home)
    assert r.returncode == 1
    assert "sales/broken.csv" in r.stderr and "missing column(s)" in r.stderr
    assert "Traceback" not in r.stderr
    assert json.loads(r.stdout)["sources"]["sales"]["loaded"] == 2


def test_unknown_lot_exit_1_with_message(inbox: Path, home: Path) -> None:
    r = heitu("trace", "back", "NOPE", "--json", home=home)
    assert r.returncode == 1
    assert "lot 'NOPE' is not in the store" in r.stderr
    assert "error" in json.loads(r.stdout)


def test_store_unreachable_exit_1(home: Path) -> None:
    env_url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    r = subprocess.run(
        [sys.executable, "-m", "traceability.cli", "rejects", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HEITU_HOME": str(home), "HEITU_DB_URL": env_url},
    )
    assert r.returncode == 1 and "unreachable" in r.stderr and "Traceback" not in r.stderr


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["trace", "sideways", "K1"])
    assert exc.value.code == 2


def test_code_writes_png_and_prints_uri(inbox: Path, home: Path) -> None:
    write_season(inbox)
    heitu("ingest", str(inbox), home=home)
    r = heitu("code", "K1", "--json", home=home)
    doc = json.loads(r.stdout)
    assert doc["uri"] == "https://id.heitu.cn/01/06901234567892/10/K1"
    assert Path(doc["png"]).is_file()
    r = heitu("code", "B1", home=home)  # a blend has no GTIN: no code, a clear message
    assert r.returncode == 1 and "not packed with a GTIN" in r.stderr


def test_two_processes_open_an_empty_postgresql_store_at_once(pg_database: str) -> None:
    """A new deployment starts several DAGs at once: both migrate, neither fails."""
    from sqlalchemy import create_engine, text

    eng = create_engine(pg_database)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    env = {**os.environ, "HEITU_DB_URL": pg_database}
    cmd = [sys.executable, "-m", "traceability.cli", "rejects", "--json"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in results]
    assert all(json.loads(out) == [] for out, _ in results)
