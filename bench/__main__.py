"""``make bench``: measured speed of ingest and lineage, written to docs/benchmarks.md.

Every figure comes with a baseline measured in the same run on the same data, so the ratio
means something on any machine:
- ingest: ``ingest_dir`` (all rules, parking, dedupe, events, lineage) against a bare
  ``executemany`` of the same file rows into plain text tables on the same SQLite settings;
- trace back: the recursive SQL against a per-hop loop (one SELECT per lot).
Sizes: ``HEITU_BENCH_PLOTS`` (default 2000 plots).
"""

from __future__ import annotations

import csv
import json
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from traceability.lineage import trace_back
from traceability.pipeline import ingest_dir
from traceability.sample import write_sample
from traceability.store import open_store

ROOT = Path(__file__).resolve().parent.parent
console = Console(stderr=True)


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


def per_hop_back(conn: sqlite3.Connection, lot: str) -> dict[str, float]:
    """The naive walk: one SELECT per lot, in Python."""
    shares: dict[str, float] = {}
    todo = [(lot, 1.0)]
    while todo:
        x, share = todo.pop()
        plot = conn.execute("SELECT plot_id FROM lot WHERE lot_id = ?", (x,)).fetchone()[0]
        if plot:
            shares[plot] = shares.get(plot, 0.0) + share
        for parent, s in conn.execute(
            "SELECT parent_lot, share FROM edge WHERE child_lot = ?", (x,)
        ):
            todo.append((parent, share * s))
    return shares


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    plots = int(os.environ.get("HEITU_BENCH_PLOTS", "2000"))
    work = Path(tempfile.mkdtemp(prefix="heitu-bench-"))
    inbox = work / "inbox"
    console.log(f"sample season: {plots} plots -> {inbox}")
    write_sample(inbox, plots=plots, seed=2026)

    console.log("baseline: bare executemany of the same rows")
    bare_s, rows = bare_executemany(inbox, work / "bare.db")

    url = f"sqlite:///{work / 'heitu.db'}"
    console.log("heitu ingest_dir")
    start = time.perf_counter()
    ingest_dir(inbox, url)
    ingest_s = time.perf_counter() - start
    rerun_start = time.perf_counter()
    ingest_dir(inbox, url)
    rerun_s = time.perf_counter() - rerun_start

    eng = open_store(url)
    raw = sqlite3.connect(work / "heitu.db")
    lots = [r[0] for r in raw.execute("SELECT lot_id FROM lot WHERE gtin IS NOT NULL")]
    sample = random.Random(7).choices(lots, k=1000)
    console.log(f"trace back x{len(sample)}")
    ours, naive, with_events = [], [], []
    for lot in sample:
        t0 = time.perf_counter()
        doc = trace_back(eng, lot, with_events=False)
        t1 = time.perf_counter()
        expect = per_hop_back(raw, lot)
        t2 = time.perf_counter()
        trace_back(eng, lot)
        t3 = time.perf_counter()
        assert doc["plots"] == sorted(expect), lot
        ours.append((t1 - t0) * 1000)
        naive.append((t2 - t1) * 1000)
        with_events.append((t3 - t2) * 1000)
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows_md = [
        (
            "ingest, whole season (rows/s)",
            f"{rows / ingest_s:,.0f}",
            f"{rows / bare_s:,.0f}",
            f"{ingest_s / bare_s:.1f}x",
            f"{rows:,} rows in {ingest_s:.1f} s",
        ),
        (
            "re-ingest, nothing new (rows/s)",
            f"{rows / rerun_s:,.0f}",
            f"{rows / bare_s:,.0f}",
            f"{rerun_s / bare_s:.1f}x",
            f"{rerun_s:.1f} s",
        ),
        (
            "trace back, shares only: p50 / p99 ms",
            f"{pct(ours, 50):.2f} / {pct(ours, 99):.2f}",
            f"{pct(naive, 50):.2f} / {pct(naive, 99):.2f}",
            f"{statistics.median(ours) / statistics.median(naive):.1f}x (p50)",
            f"{len(sample)} random packed lots",
        ),
        (
            "trace back with events: p50 / p99 ms",
            f"{pct(with_events, 50):.2f} / {pct(with_events, 99):.2f}",
            "-",
            "-",
            "",
        ),
    ]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); the baseline of each row is measured in",
        "the same run on the same data; ratio = heitu's time / the baseline's time. Machine: "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"SQLite {sqlite3.sqlite_version}.",
        f"Season: `heitu sample --plots {plots}` ({rows:,} file rows). "
        f"Peak RSS of the run: {maxrss_mb:,.0f} MB.",
        "",
        "| what | heitu | baseline | ratio | notes |",
        "|---|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows_md),
        "",
        "Baselines: ingest = a bare `executemany` of the same rows into text tables (no parsing,",
        "rules, dedupe or lineage); trace back = a per-hop loop, one SELECT per lot, in Python.",
        "",
    ]
    out = ROOT / "docs" / "benchmarks.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    console.log(f"wrote {out}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
