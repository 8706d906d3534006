"""The set-based load path stores exactly what the row-by-row path stored.

The same seasons (two ``heitu sample`` seasons, plus a telemetry file of awkward lines) go
through the frozen row-by-row ingest (tests/legacy_ingest, the code before the set-based
path) and through today's ``ingest_dir``, each into an empty store, on SQLite and on
PostgreSQL; every table must then hold the same rows, after the first load and after loading
the same files again. Only the wall-clock columns (when a row was loaded or a reject seen) and
the rejects' own row ids are left out.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

from tests.conftest import module_store
from tests.legacy_ingest import ingest as legacy
from tests.legacy_ingest import sources as legacy_sources
from traceability.pipeline import SOURCES, ingest_dir, pending_files
from traceability.sample import write_sample
from traceability.store import open_store, reset_engines

#: Columns that hold the moment of loading, not what was loaded.
CLOCK = {"loaded_at", "first_seen", "last_seen", "resolved_at", "changed_at"}
SKIP_TABLES = {"alembic_version", "store_state", "audit_log", "api_token"}

AWKWARD_TELEMETRY = [
    # naive time (Asia/Shanghai), Z, fractions, numbers as text, extra fields: valid, row path
    {"device_id": "TL-X-1", "ts": "2026-09-01T08:00:00", "temp_c": 3.5},
    {"device_id": "TL-X-1", "ts": "2026-09-01T00:15:00Z", "temp_c": 3.6},
    {"device_id": "TL-X-1", "ts": "2026-09-01T08:30:00.250000+08:00", "temp_c": 3.7},
    {"device_id": "TL-X-1", "ts": "2026-09-01T08:45:00+08:00", "temp_c": "3.8"},
    {"device_id": "TL-X-1", "ts": "2026-09-01T09:00:00+08:00", "temp_c": 4, "door": "open"},
    {"Device_ID ": "TL-X-2", "TS": "2026-09-01T09:00:00+08:00", "Temp_C": 1e-05},
    # plain readings, then the same again (unchanged) and one with other content (conflict)
    {
        "device_id": "TL-X-3",
        "ts": "2026-09-01T09:00:00+08:00",
        "temp_c": 2.0,
        "lon": 126.5,
        "lat": 45.7,
        "humidity_pct": 80,
    },
    {
        "device_id": "TL-X-3",
        "ts": "2026-09-01T09:00:00+08:00",
        "temp_c": 2.0,
        "lon": 126.5,
        "lat": 45.7,
        "humidity_pct": 80,
    },
    {"device_id": "TL-X-3", "ts": "2026-09-01T01:00:00+00:00", "temp_c": 2.5},
    # broken: each a reject naming its field
    {"device_id": "TL-X-4", "ts": "2026-09-01T09:00:00+08:00", "temp_c": 95},
    {"device_id": "TL-X-4", "ts": "2026-09-31T09:00:00+08:00", "temp_c": 5},
    {"device_id": "TL-X-4", "ts": "2026-09-01T09:00:00+08:00"},
    {"device_id": "TL-X-4", "ts": "2026-09-01T09:15:00+08:00", "temp_c": 5, "lon": 126.5},
    {"device_id": "TL-X-4", "ts": "2026-09-01T09:30:00+08:00", "temp_c": 5, "humidity_pct": -1},
    {"device_id": "D" * 110, "ts": "2026-09-01T09:00:00+08:00", "temp_c": 5},
    {"device_id": "TL-X-4", "ts": "2026-09-01T09:45:00+08:00", "temp_c": True},
    {"device_id": " ", "ts": "2026-09-01T09:00:00+08:00", "temp_c": 5},
]


def _awkward_lines() -> str:
    lines = [json.dumps(o, ensure_ascii=False) for o in AWKWARD_TELEMETRY]
    lines.insert(3, '{"device_id": "TL-X-9", "ts": ')  # not JSON
    lines.insert(5, "[1, 2]")  # not an object
    return "\n".join(lines) + "\n"


def _season(root: Path, plots: int, seed: int, awkward: bool) -> Path:
    inbox = root / "inbox"
    write_sample(inbox, plots=plots, seed=seed)
    # The frozen engine predates certificates: compare the paths over the sources it knows
    # (certificates go through the same row path; tests/test_certificates.py has them).
    shutil.rmtree(inbox / "certificates", ignore_errors=True)
    if awkward:
        (inbox / "transport" / "telemetry_awkward.jsonl").write_text(_awkward_lines())
        # a uniform file that pyarrow reads whole, with a few lines its masks refuse
        good = [
            {"device_id": "TL-Y-1", "ts": f"2026-09-02T{h:02d}:00:00+08:00", "temp_c": 1.5 + h,
             "humidity_pct": 70.0, "lon": 126.0 + h / 10, "lat": 45.0}
            for h in range(12)
        ]  # fmt: skip
        good[3]["temp_c"] = 99.0
        good[5]["ts"] = "2026-09-02T05:00:00"
        good[7]["device_id"] = 'TL-"quoted"'
        text_ = "\n".join(json.dumps(o) for o in good) + "\n"
        (inbox / "transport" / "telemetry_uniform.jsonl").write_text(text_)
        # a file pyarrow must not read whole: a key given twice (JSON keeps the last). (A line
        # break such as U+2028 inside a string is not compared: the row reader of today keeps
        # such a line whole where the old one split it; tests/test_reader_limits.py has it.)
        twice = text_.replace('"temp_c": 1.5,', '"temp_c": 1.5, "temp_c": 7.5,', 1)
        transport = inbox / "transport"
        (transport / "telemetry_twice.jsonl").write_text(twice.replace("TL-Y", "TL-Z"), "utf-8")
    return inbox


def _legacy_ingest_dir(inbox: Path, url: str) -> None:
    eng = open_store(url)
    for folder in SOURCES:
        for path in pending_files(folder, inbox):
            src = legacy_sources.source_for(folder, path)
            if src is not None:
                legacy.ingest_file(eng, src, path)
    legacy.retry_parked(eng)


def _tables(eng: Engine) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    insp = inspect(eng)
    with eng.connect() as conn:
        for table in sorted(set(insp.get_table_names()) - SKIP_TABLES):
            cols = [c["name"] for c in insp.get_columns(table)]
            keep = [c for c in cols if c not in CLOCK and not (table == "reject" and c == "id")]
            rows = conn.execute(text(f"SELECT {', '.join(keep)} FROM {table}")).all()
            out[table] = sorted((tuple(_plain(v) for v in r) for r in rows), key=repr)
    return out


def _plain(value: Any) -> Any:
    """JSON text (SQLite) and parsed JSON (PostgreSQL) compare as parsed values."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _load_both(url: str, inbox: Path, fresh: Any) -> list[tuple[str, Any, Any]]:
    """(moment, legacy tables, new tables) after a first load and after a second one."""
    fresh()
    _legacy_ingest_dir(inbox, url)
    old_first = _tables(open_store(url))
    _legacy_ingest_dir(inbox, url)
    old_again = _tables(open_store(url))
    fresh()
    ingest_dir(inbox, url)
    new_first = _tables(open_store(url))
    ingest_dir(inbox, url)
    new_again = _tables(open_store(url))
    return [("first load", old_first, new_first), ("load again", old_again, new_again)]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    url, home = module_store(request, tmp_path_factory, "paths")
    return request.param, url, home


@pytest.mark.parametrize(("plots", "seed", "awkward"), [(60, 2026, True), (150, 11, False)])
def test_set_based_path_stores_what_the_row_path_stored(
    backend: tuple[str, str, Path], plots: int, seed: int, awkward: bool
) -> None:
    kind, url, home = backend
    inbox = _season(home / f"s{seed}", plots, seed, awkward)

    def fresh() -> None:
        reset_engines()
        if kind == "sqlite":
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        else:
            from tests.conftest import _fresh_pg

            _fresh_pg(url)

    for moment, old, new in _load_both(url, inbox, fresh):
        assert old.keys() == new.keys()
        for table in old:
            assert len(new[table]) == len(old[table]), f"{moment}: {table} row count differs"
            assert new[table] == old[table], f"{moment}: {table} differs"
    assert sum(len(v) for v in new.values()) > 1000  # the season really loaded
    assert any(r for r in new["reading"])
