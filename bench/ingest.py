"""Ingest on a small season written by ``heitu sample``: the whole pipeline against a bare
``executemany`` of the same file rows, plus trace back (with events) on the store it made.

Baselines, measured in the same run on the same data:
- ingest: ``ingest_dir`` (all rules, parking, dedupe, events, lineage) against a bare
  ``executemany`` of the same file rows into plain text tables on the same SQLite settings;
- trace back: the recursive SQL against a per-hop loop (one SELECT per lot).
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import log, med, ms, pct, peak_rss_mb, reset_peak_rss
from bench.lineage import per_hop_back
from traceability.lineage import trace_back
from traceability.pipeline import ingest_dir
from traceability.sample import write_sample
from traceability.store import open_store, reset_engines


def bare_executemany(inbox: Path, db: Path) -> tuple[float, int]:
    """The floor: every row of every file into a text table, no rules at all."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    rows_total = 0
    start = time.perf_counter()
    for path in sorted(inbox.rglob("*")):
        if path.suffix == ".csv":
            with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
                reader = csv.reader(f)
                header = next(reader)
                rows = [r for r in reader if len(r) == len(header)]
        elif path.suffix == ".jsonl":
            objs = [json.loads(line) for line in path.read_text().splitlines() if line]
            if not objs:
                continue
            header = list(objs[0])
            rows = [[str(o.get(k, "")) for k in header] for o in objs]
        else:
            continue
        table = f"t_{path.parent.name}_{len(header)}"
        cols = ", ".join(f"c{i} TEXT" for i in range(len(header)))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")
        marks = ", ".join("?" * len(header))
        with conn:
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        rows_total += len(rows)
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, rows_total


def run(plots: int, seed: int = 2026, lots: int = 1000) -> dict[str, Any]:
    reset_peak_rss()
    work = Path(tempfile.mkdtemp(prefix="heitu-bench-"))
    try:
        inbox = work / "inbox"
        log(f"sample season: {plots} plots -> {inbox}")
        write_sample(inbox, plots=plots, seed=seed)

        log("baseline: bare executemany of the same rows")
        bare_s, rows = bare_executemany(inbox, work / "bare.db")

        url = f"sqlite:///{work / 'heitu.db'}"
        log("heitu ingest_dir")
        start = time.perf_counter()
        ingest_dir(inbox, url)
        ingest_s = time.perf_counter() - start
        start = time.perf_counter()
        ingest_dir(inbox, url)
        rerun_s = time.perf_counter() - start

        eng = open_store(url)
        raw = sqlite3.connect(work / "heitu.db")
        packed = [r[0] for r in raw.execute("SELECT lot_id FROM lot WHERE gtin IS NOT NULL")]
        sample = random.Random(7).choices(packed, k=lots)
        log(f"trace back x{len(sample)}")
        ours, naive, with_events = [], [], []
        cur = raw.cursor()
        for lot in sample:
            t0 = time.perf_counter()
            doc = trace_back(eng, lot, with_events=False)
            t1 = time.perf_counter()
            expect = per_hop_back(cur, "?", lot)
            t2 = time.perf_counter()
            trace_back(eng, lot)
            t3 = time.perf_counter()
            if doc["plots"] != sorted(expect):
                raise AssertionError(f"trace back of {lot} differs from the per-hop loop")
            ours.append(ms(t1 - t0))
            naive.append(ms(t2 - t1))
            with_events.append(ms(t3 - t2))
        raw.close()
        eng.dispose()
        reset_engines()
        return {
            "plots": plots,
            "rows": rows,
            "bare_s": bare_s,
            "ingest_s": ingest_s,
            "rerun_s": rerun_s,
            "lots": len(sample),
            "p50": pct(ours, 50),
            "p99": pct(ours, 99),
            "base_p50": pct(naive, 50),
            "base_p99": pct(naive, 99),
            "ratio_p50": med(ours) / med(naive),
            "events_p50": pct(with_events, 50),
            "events_p99": pct(with_events, 99),
            "rss": peak_rss_mb(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def markdown(res: dict[str, Any]) -> list[str]:
    rows = res["rows"]
    table = [
        (
            "ingest, whole season (rows/s)",
            f"{rows / res['ingest_s']:,.0f}",
            f"{rows / res['bare_s']:,.0f}",
            f"{res['ingest_s'] / res['bare_s']:.1f}x",
            f"{rows:,} rows in {res['ingest_s']:.1f} s",
        ),
        (
            "re-ingest, nothing new (rows/s)",
            f"{rows / res['rerun_s']:,.0f}",
            f"{rows / res['bare_s']:,.0f}",
            f"{res['rerun_s'] / res['bare_s']:.1f}x",
            f"{res['rerun_s']:.1f} s",
        ),
        (
            "trace back, shares only: p50 / p99 ms",
            f"{res['p50']:.2f} / {res['p99']:.2f}",
            f"{res['base_p50']:.2f} / {res['base_p99']:.2f}",
            f"{res['ratio_p50']:.1f}x (p50)",
            f"{res['lots']} random packed lots",
        ),
        (
            "trace back with events: p50 / p99 ms",
            f"{res['events_p50']:.2f} / {res['events_p99']:.2f}",
            "-",
            "-",
            "",
        ),
    ]
    return [
        f"Season: `heitu sample --plots {res['plots']}` ({rows:,} file rows), ingested into "
        f"SQLite. Peak RSS of this part: {res['rss']:,.0f} MB.",
        "",
        "| what | heitu | baseline | ratio | notes |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(r)} |" for r in table),
        "",
        "Baselines: ingest = a bare `executemany` of the same rows into text tables (no parsing,",
        "rules, dedupe or lineage); trace back = a per-hop loop, one SELECT per lot, in Python.",
    ]
