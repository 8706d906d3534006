"""A generated season the other tests never saw: ingest it twice, and check the traces against
an answer computed straight from its CSV files (a plain Python walk, no store involved)."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.season import table_counts
from traceability.lineage import trace_back, trace_forward
from traceability.pipeline import ingest_dir
from traceability.sample import write_sample
from traceability.store import open_store


def _rows(folder: Path) -> list[dict[str, str]]:
    out = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
            out += [
                {k.strip().lower(): (v or "").strip() for k, v in r.items() if k}
                for r in csv.DictReader(f)
            ]
    return out


def _graph(inbox: Path) -> tuple[dict[str, str], dict[str, dict[str, float]]]:
    """harvest lot -> plot, and child lot -> {parent: kg}, read from the files themselves."""
    harvest = {
        r["lot_id"]: r["plot_id"]
        for r in _rows(inbox / "production")
        if r["event"] == "harvest" and r.get("lot_id")
    }
    parents: dict[str, dict[str, float]] = defaultdict(dict)
    for r in _rows(inbox / "processing"):
        for part in r["inputs"].split(";"):
            lot, _, kg = part.rpartition(":")
            parents[r["output_lot_id"]][lot] = float(kg)
    return harvest, parents


def _expected_back(lot: str, harvest: dict, parents: dict) -> tuple[set[str], dict[str, float]]:
    ancestors: set[str] = set()
    shares: dict[str, float] = defaultdict(float)

    def walk(x: str, share: float) -> None:
        if x in harvest:
            shares[harvest[x]] += share
        total = sum(parents.get(x, {}).values())
        for p, kg in parents.get(x, {}).items():
            ancestors.add(p)
            walk(p, share * kg / total)

    walk(lot, 1.0)
    return ancestors, dict(shares)


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("season")
    inbox = home / "inbox"
    write_sample(inbox, plots=80, seed=4242)
    url = f"sqlite:///{home / 'heitu.db'}"
    first = ingest_dir(inbox, url)
    eng = open_store(url)
    counts = table_counts(url)
    return inbox, url, eng, first, counts


def test_ingest_twice_identical_counts(season) -> None:  # type: ignore[no-untyped-def]
    inbox, url, _, first, counts = season
    again = ingest_dir(inbox, url)
    after = table_counts(url)
    assert after == counts
    assert sum(r["loaded"] for r in again["sources"].values()) == 0
    loaded_first = sum(r["loaded"] for r in first["sources"].values())
    assert sum(r["unchanged"] for r in again["sources"].values()) >= loaded_first
    assert counts["lot"] > 100 and counts["reading"] > 100


def test_trace_back_matches_the_files(season) -> None:  # type: ignore[no-untyped-def]
    inbox, _, eng, _, _ = season
    harvest, parents = _graph(inbox)
    with eng.connect() as conn:
        packed = sorted(
            r.lot_id for r in conn.execute(text("SELECT lot_id FROM lot WHERE gtin IS NOT NULL"))
        )
    assert len(packed) > 10
    for lot in random.Random(1).sample(packed, 10):
        ancestors, shares = _expected_back(lot, harvest, parents)
        doc = trace_back(eng, lot)
        assert set(doc["lots"]) == ancestors
        assert doc["plots"] == sorted(shares)
        assert doc["shares"] == pytest.approx(shares, abs=1e-6)
        assert sum(doc["shares"].values()) == pytest.approx(1.0, abs=1e-5)


def test_trace_forward_matches_the_files(season) -> None:  # type: ignore[no-untyped-def]
    inbox, _, eng, _, _ = season
    harvest, parents = _graph(inbox)
    children: dict[str, set[str]] = defaultdict(set)
    for child, ps in parents.items():
        for p in ps:
            children[p].add(child)
    with eng.connect() as conn:
        loaded = {r.lot_id for r in conn.execute(text("SELECT lot_id FROM lot"))}
    plots = sorted(set(harvest.values()))
    for plot in random.Random(2).sample(plots, 8):
        todo = [lot for lot, p in harvest.items() if p == plot]
        seen: set[str] = set()
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.add(x)
                todo += children.get(x, ())
        doc = trace_forward(eng, plot)
        assert set(doc["lots"]) == seen & loaded
