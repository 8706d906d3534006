"""The bare-driver path of the lineage reads (traceability.sqlrun): the same answers as through
SQLAlchemy on SQLite and PostgreSQL, ``heitu trace`` without importing SQLAlchemy when the
store is ready, and the full path when it is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.season import write_season
from traceability import sqlrun
from traceability.errors import NotFound
from traceability.lineage import recall, trace_back, trace_forward
from traceability.pipeline import ingest_dir
from traceability.store import open_store

# Runs `heitu trace ...` in-process and reports whether SQLAlchemy got imported.
PROBE = (
    "import json, sys\n"
    "from traceability.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(json.dumps({'exit': code, 'sqlalchemy': 'sqlalchemy' in sys.modules}),"
    " file=sys.stderr)\n"
)


@pytest.fixture
def season(inbox: Path, store_url: str) -> str:
    write_season(inbox)
    ingest_dir(inbox, store_url)
    return store_url


def probe(url: str, *args: str) -> tuple[dict, str]:
    env = {**os.environ, "HEITU_DB_URL": url}
    r = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, check=False
    )
    return json.loads(r.stderr.strip().splitlines()[-1]), r.stdout


def test_prepare_expands_lists_and_speaks_each_drivers_style() -> None:
    sql = "SELECT x::text FROM t WHERE a IN :ids AND b = :b AND c LIKE '5%' AND d IN :none"
    lite, args = sqlrun.prepare(sql, {"ids": ["p", "q"], "b": 1, "none": []}, "sqlite")
    assert lite == (
        "SELECT x::text FROM t WHERE a IN (:ids__0, :ids__1) AND b = :b AND c LIKE '5%' "
        "AND d IN (SELECT NULL WHERE 1 = 0)"
    )
    assert args == {"ids__0": "p", "ids__1": "q", "b": 1}
    pg, _ = sqlrun.prepare(sql, {"ids": ["p"], "b": 1, "none": []}, "postgresql")
    assert pg == (
        "SELECT x::text FROM t WHERE a IN (%(ids__0)s) AND b = %(b)s AND c LIKE '5%%' "
        "AND d IN (SELECT NULL WHERE 1 = 0)"
    )


def test_an_empty_list_is_an_empty_set_for_in_and_not_in(store_url: str) -> None:
    from traceability.lineage import reading

    open_store(store_url)
    sql = "SELECT ('a' IN :xs) AS is_in, ('a' NOT IN :xs) AS not_in"  # ids are text
    with reading(store_url) as reader:
        row = reader.rows(sql, {"xs": []})[0]
        assert (bool(row.is_in), bool(row.not_in)) == (False, True)
        row = reader.rows(sql, {"xs": ["a", "b"]})[0]
        assert (bool(row.is_in), bool(row.not_in)) == (True, False)


def test_a_url_and_an_engine_give_the_same_answers(season: str) -> None:
    eng = open_store(season)
    assert sqlrun.ready_url(season) == season
    for lot in ("K1", "K2", "H1"):
        assert trace_back(season, lot) == trace_back(eng, lot)
    for x in ("P1", "P3", "K1"):
        assert trace_forward(season, x) == trace_forward(eng, x)
    assert recall(season, "county", "230184") == recall(eng, "county", "230184")
    with pytest.raises(NotFound):
        trace_back(season, "NOPE")


def test_heitu_trace_reads_without_sqlalchemy(season: str) -> None:
    seen, out = probe(season, "trace", "back", "K1", "--json")
    assert seen == {"exit": 0, "sqlalchemy": False}
    assert json.loads(out)["shares"] == {"P1": 0.25, "P2": 0.25, "P3": 0.5}
    seen, out = probe(season, "trace", "forward", "P3", "--json")
    assert seen == {"exit": 0, "sqlalchemy": False} and "K1" in json.loads(out)["lots"]
    seen, _ = probe(season, "trace", "back", "NOPE")
    assert seen == {"exit": 1, "sqlalchemy": False}
    seen, out = probe(season, "recall", "--plot", "P3", "--json")
    assert seen == {"exit": 0, "sqlalchemy": False}
    assert json.loads(out)["totals"]["sold_units"] == 15


def test_heitu_recall_with_a_spreadsheet_takes_the_full_path(season: str, home: Path) -> None:
    seen, out = probe(season, "recall", "--plot", "P3", "--csv", str(home / "r.csv"), "--json")
    assert seen == {"exit": 0, "sqlalchemy": True}
    assert json.loads(out)["files"] == [str(home / "r.csv"), str(home / "r_stock.csv")]


def test_a_store_not_at_the_newest_schema_takes_the_full_path(season: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(sqlrun.MIGRATIONS))
    with open_store(season).begin() as conn:  # the store as the first release left it
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert sqlrun.ready_url(season) is None
    seen, out = probe(season, "trace", "back", "K1", "--json")
    assert seen == {"exit": 0, "sqlalchemy": True}  # migrated on the way, then traced
    assert json.loads(out)["plots"] == ["P1", "P2", "P3"]
    assert sqlrun.ready_url(season) == season


def test_a_missing_sqlite_store_is_not_created_by_reading(home: Path) -> None:
    url = f"sqlite:///{home / 'nothing-here.db'}"
    assert sqlrun.ready_url(url) is None
    assert not (home / "nothing-here.db").exists()
