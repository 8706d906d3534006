"""The Python API (traceability.Store, docs/api.md): the five-line example as written, each
result's ``as_dict()`` equal to what the same ``heitu ... --json`` prints on the same store, on
a real SQLite file and on the real PostgreSQL, and one family of errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import traceability
from tests.conftest import module_store
from tests.season import GTIN_RICE, SALES, write_csv, write_season
from traceability import (
    HeituError,
    LineageCycle,
    NotFound,
    Store,
    StoreUnreachable,
    UnreadableFile,
    UsageError,
)
from traceability.cli import main
from traceability.sample import write_sample
from traceability.store import reset_engines

ROOT = Path(__file__).resolve().parent.parent
API_MD = ROOT / "docs" / "api.md"
K1_CODE = f"https://id.heitu.cn/01/{GTIN_RICE}/10/K1"


def example() -> str:
    """The first Python block of docs/api.md: the five lines."""
    m = re.search(r"```python\n(.*?)```", API_MD.read_text(encoding="utf-8"), re.S)
    assert m, "docs/api.md has no Python example"
    return m.group(1)


def run_python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    environ.pop("HEITU_DB_URL", None)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=environ, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def test_the_five_lines_load_a_folder_and_trace_a_bag(store_url: str, home: Path) -> None:
    """docs/api.md's example, unchanged, on the sample season `heitu sample data/inbox` writes;
    on PostgreSQL the same lines with the store's URL in place of the SQLite file's."""
    code = example()
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) <= 5, code
    write_sample(home / "data" / "inbox", plots=20, seed=2026)
    if store_url.startswith("postgresql"):
        code = code.replace('"sqlite:///data/heitu.db"', repr(store_url))
        assert store_url in code
    else:  # the example's relative path, from the folder it ran in
        store_url = f"sqlite:///{home / 'data' / 'heitu.db'}"
    r = run_python(code, home, HEITU_HOME=str(home / "data"))
    assert r.returncode == 0, r.stderr
    assert "'lot': 'P-2026-000001'" in r.stdout and "'plots': ['230184-" in r.stdout
    reset_engines()
    with Store.open(store_url) as store:  # it really is in that store
        bag = store.trace_back("P-2026-000001")
    assert bag.plots and abs(sum(bag.shares.values()) - 1) < 1e-6


# --- as_dict() is the command's --json ------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def season(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, Any]]:
    """The tiny season, plus a sales file with one bad record (a reject), loaded through the
    API once per database: (url, home, the Ingest result)."""
    url, home = module_store(request, tmp_path_factory, "api")
    inbox = write_season(home / "inbox")
    bad = [*SALES[1][:3], "K1", GTIN_RICE, "many", "store"]
    bad[0] = "SA9"
    write_csv(inbox / "sales" / "late.csv", [SALES[0], bad])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEITU_HOME", str(home))
        for var in ("HEITU_DB_URL", "HEITU_CODES_DIR", "HEITU_RESOLVER"):
            mp.delenv(var, raising=False)
        with Store.open(url) as store:
            loaded = store.ingest(inbox)
    yield url, home, loaded
    reset_engines()


@pytest.fixture
def store(season: tuple[str, Path, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The season's store, with the environment `heitu` reads pointing at it."""
    url, home, _ = season
    monkeypatch.setenv("HEITU_HOME", str(home))
    monkeypatch.setenv("HEITU_DB_URL", url)
    for var in ("HEITU_CODES_DIR", "HEITU_RESOLVER"):
        monkeypatch.delenv(var, raising=False)
    with Store.open(url) as s:
        yield s


def heitu_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """What `heitu ARGS --json` prints (in-process, on HEITU_DB_URL), parsed."""
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def printed(doc: Any) -> Any:
    """A document as the command prints it: JSON, times as text."""
    return json.loads(json.dumps(doc, ensure_ascii=False, default=str))


def test_ingest_as_dict_is_heitu_ingest_json(
    season: tuple[str, Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url, home, loaded = season
    assert loaded.loaded > 0 and loaded.rejected == 1 and loaded.unreadable == []
    assert loaded.sources["processing"]["loaded"] == 7 and "K1" in loaded.lots
    assert {f["file"] for f in loaded.files} >= {"sales/late.csv", "processing/processing.csv"}
    # the same folder through the command, into a fresh SQLite store of its own
    monkeypatch.setenv("HEITU_HOME", str(tmp_path))
    monkeypatch.setenv("HEITU_DB_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    reset_engines()
    doc = heitu_json(capsys, "ingest", str(home / "inbox"))
    assert doc == printed(loaded.as_dict())
    # and a second load changes nothing, through either
    with Store.open(url) as store:
        again = store.ingest(home / "inbox")
    assert again.loaded == 0 and again.unchanged == loaded.loaded + loaded.parked
    assert heitu_json(capsys, "ingest", str(home / "inbox")) == printed(again.as_dict())


def test_trace_back_and_forward_as_dict(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    back = store.trace_back("K1")
    assert back.plots == ["P1", "P2", "P3"] and back.shares["P3"] == 0.5
    assert printed(back.as_dict()) == heitu_json(capsys, "trace", "back", "K1")
    by_code = store.trace_back(K1_CODE)
    assert by_code.plots == back.plots
    assert printed(by_code.as_dict()) == heitu_json(capsys, "trace", "back", K1_CODE)
    forward = store.trace_forward("P1")
    assert forward.from_ == "P1" and forward.kind == "plot" and forward.retailers == ["R1"]
    assert forward.as_dict()["from"] == "P1"
    assert printed(forward.as_dict()) == heitu_json(capsys, "trace", "forward", "P1")


def test_recall_as_dict(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = store.recall("plot", "P3")
    assert found.totals["lots"] == len(found.lots) > 0 and found.files == []
    assert found.retailers == ["R1"]
    assert printed(found.as_dict()) == heitu_json(capsys, "recall", "--plot", "P3")
    window = {"date_from": "2026-09-01", "date_to": "2026-12-31"}
    county = store.recall("county", "230184", **window)
    assert printed(county.as_dict()) == heitu_json(
        capsys, "recall", "--county", "230184", "--from", "2026-09-01", "--to", "2026-12-31"
    )
    empty = store.recall("plot", "P3", date_from="2027-01-01")
    assert empty.lots == [] and empty.totals["lots"] == 0
    sheet = store.recall("lot", "K1", xlsx=tmp_path / "api.xlsx")
    assert sheet.files == [str(tmp_path / "api.xlsx")] and Path(sheet.files[0]).is_file()
    doc = heitu_json(capsys, "recall", "--lot", "K1", "--xlsx", str(tmp_path / "cli.xlsx"))
    assert doc == {**printed(sheet.as_dict()), "files": [str(tmp_path / "cli.xlsx")]}


def test_check_as_dict(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    found = store.check()
    assert set(found.as_dict()) == {"mass_balance", "cold_chain", "geo", "codes"}
    assert found.total == sum(len(v) for v in found.as_dict().values())
    assert found.changes is not None and set(found.changes) >= {"new", "gone"}
    assert printed(found.as_dict()) == heitu_json(capsys, "check")
    assert store.check().changes["new"] == {}  # nothing new since the command's run


def test_code_and_codes_as_dict(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    code = store.code("K1")
    assert code.uri == K1_CODE and code.gtin == GTIN_RICE and Path(code.png).is_file()
    doc = heitu_json(capsys, "code", "K1")
    assert doc == printed(store.code("K1").as_dict()) and doc["new"] is False
    every = store.codes()
    assert every.issued == 1 and every.total == 2  # K2 is new now; K1 kept its code
    assert {c["lot"] for c in every.codes} == {"K1", "K2"}
    assert [c["uri"] for c in every.codes if c["lot"] == "K1"] == [K1_CODE]
    assert store.codes().issued == 0


def test_rejects_as_dict(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    rejects = store.rejects()
    assert [(r.file, r.record, r.status) for r in rejects] == [
        ("sales/late.csv", "SA9", "rejected")
    ]
    assert rejects[0].field == "quantity_units"
    assert printed([r.as_dict() for r in rejects]) == heitu_json(capsys, "rejects")


def test_declared_recalls_as_dict(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    declared = store.declare_recall("plot", "P3", "残留超标")
    assert declared.active and declared.scope == "plot" and declared.lifted_at is None
    listed = heitu_json(capsys, "recalls")
    assert listed == printed([r.as_dict() for r in store.recalls()])
    assert declared.as_dict() in listed
    lifted = heitu_json(capsys, "recall", "lift", str(declared.id))
    assert lifted["active"] is False and store.recalls() == []
    assert [r.as_dict() for r in store.recalls(include_lifted=True)][-1] == lifted
    with pytest.raises(HeituError, match="lifted already"):
        store.lift_recall(declared.id)
    with pytest.raises(NotFound):
        store.declare_recall("lot", "NOPE", "typo")
    with pytest.raises(UsageError):
        store.declare_recall("township", "101", "no such scope")
    with pytest.raises(UsageError):
        store.declare_recall("lot", "K1", "   ")


def test_open_data_as_dict(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = store.publish_open_data(tmp_path / "api")
    assert done.dir == str(tmp_path / "api") and all(Path(f).is_file() for f in done.files)
    assert done.rows >= 1 and done.suppressed == done.rows  # one farm per cell: all hidden
    doc = heitu_json(capsys, "export", "open", "--out", str(tmp_path / "cli"))
    mine = printed(done.as_dict())
    assert doc["generated_at"] >= mine.pop("generated_at")
    assert {**doc, "generated_at": None} == {
        **mine,
        "generated_at": None,
        "dir": str(tmp_path / "cli"),
        "files": [f.replace(str(tmp_path / "api"), str(tmp_path / "cli")) for f in done.files],
    }


def test_retry_parked_as_dict(store: Store) -> None:
    retried = store.retry_parked()
    assert retried.loaded == 0 and retried.waiting == 0
    assert retried.as_dict() == {"loaded": 0, "waiting": 0, "by_source": retried.by_source}


# --- files, folders, sources ----------------------------------------------------------------


def test_ingest_one_file_finds_its_source_from_its_folder(
    store_url: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = write_season(home / "inbox", sales=False)
    with Store.open(store_url) as store:
        first = store.ingest(inbox)
        assert "sales" not in {f["file"].split("/")[0] for f in first.files}
        write_csv(inbox / "sales" / "sales.csv", SALES)
        one = store.ingest(inbox / "sales" / "sales.csv")
        assert list(one.sources) == ["sales"] and one.loaded == 2
        assert one.retried is not None and one.as_dict()["retried"] == one.retried
        # the transport folder holds two kinds: the file's name tells them apart
        shipments = sorted((inbox / "transport").iterdir())
        again = store.ingest(shipments, retry=False)
        assert list(again.sources) == ["transport"] and again.retried is None
        assert again.loaded == 0 and again.unchanged > 0
        # a source folder on its own, and a file kept elsewhere with source= given
        assert store.ingest(inbox / "sales").unchanged == 2
        doc = heitu_json(capsys, "ingest", str(inbox / "sales"))  # the command does the same
        assert list(doc["sources"]) == ["sales"] and doc["sources"]["sales"]["unchanged"] == 2
        elsewhere = home / "drop" / "sales-2026-10.csv"
        write_csv(elsewhere, SALES)
        assert store.ingest(elsewhere, source="sales").unchanged == 2
        with pytest.raises(UsageError, match="source"):
            store.ingest(elsewhere)
        with pytest.raises(UsageError, match="not a sales file"):
            store.ingest(inbox / "sales" / "notes.txt", source="sales")


def test_an_unreadable_file_is_listed_not_raised(sqlite_url: str, home: Path) -> None:
    inbox = write_season(home / "inbox")
    (inbox / "sales" / "broken.csv").write_text("record_id\nX\n")
    with Store.open(sqlite_url) as store:
        result = store.ingest(inbox)
    assert [u["file"] for u in result.unreadable] == [str(inbox / "sales" / "broken.csv")]
    assert "missing column(s)" in result.unreadable[0]["error"]
    assert result.sources["sales"]["loaded"] == 2


# --- one family of errors -------------------------------------------------------------------


def test_every_error_is_a_heitu_error(sqlite_url: str, home: Path) -> None:
    for cls in (UsageError, NotFound, StoreUnreachable, UnreadableFile, LineageCycle):
        assert issubclass(cls, HeituError)
    assert UsageError.exit_code == 2 and NotFound.exit_code == 1
    write_season(home / "inbox")
    with Store.open(sqlite_url) as store:
        store.ingest(home / "inbox")
        with pytest.raises(NotFound, match="lot 'NOPE' is not in the store"):
            store.trace_back("NOPE")
        with pytest.raises(NotFound):
            store.trace_forward("NOPE")
        with pytest.raises(NotFound):
            store.recall("plot", "P9")
        with pytest.raises(NotFound):
            store.code("NOPE")
        with pytest.raises(HeituError, match="not packed with a GTIN"):
            store.code("B1")
        with pytest.raises(UsageError, match="6-digit"):
            store.recall("county", "23")
        with pytest.raises(UsageError, match="expected one of"):
            store.recall("township", "101")
        with pytest.raises(UsageError, match="date_from 2026-10-01 is not before date_to"):
            store.recall("plot", "P3", date_from="2026-10-01", date_to="2026-09-01")
        with pytest.raises(UsageError, match="date_to"):
            store.recall("plot", "P3", date_to="soon")
    with pytest.raises(StoreUnreachable, match="unreachable"):
        Store.open("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")


# --- cheap to import ------------------------------------------------------------------------


def test_importing_the_package_imports_no_store_and_reading_no_sqlalchemy(
    store_url: str, home: Path
) -> None:
    """``import traceability`` (every ``heitu`` start) pulls in neither the API nor
    SQLAlchemy; a trace on a store at the newest schema reads through the bare driver."""
    assert set(traceability.__all__) <= set(dir(traceability))
    write_season(home / "inbox")
    with Store.open(store_url) as store:
        store.ingest(home / "inbox")
    probe = (
        "import sys, traceability\n"
        "assert 'traceability.api' not in sys.modules, 'api'\n"
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy'\n"
        "store = traceability.Store.open(sys.argv[1])\n"
        "print(store.trace_back('K1').plots, 'sqlalchemy' in sys.modules)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe, store_url],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['P1', 'P2', 'P3'] False"
