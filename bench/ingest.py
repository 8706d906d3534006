"""Ingest of a ``heitu sample`` season (default 20,000 plots, seed 7, as issue 14 asks) into SQLite
and PostgreSQL, each against a bare bulk insert of the same file rows; then trace back and the
EPCIS export on the SQLite store it made.

Baselines, measured in the same run on the same data:
- ingest, SQLite: a bare ``executemany`` of every file row into plain text tables, one table
  per folder and width, on the store's SQLite settings (WAL, synchronous=NORMAL);
- ingest, PostgreSQL: a bare ``COPY ... FROM STDIN`` (psycopg 3, ``write_row``) of the same rows,
  read by the same code, into a fresh database of the same server;
- ours: the steps of ``traceability.pipeline.ingest_dir`` timed per landing-zone folder
  (``ingest_files`` of each folder in ``SOURCES`` order, then ``retry_parked``), on a fresh
  store whose schema is made before the clock starts; then the unchanged season again;
- trace back: the recursive SQL against a per-hop loop (one SELECT per lot);
- ``heitu export epcis`` of the whole store, as a command: against a bare dump of the same
  events' stored records as JSON lines (one SELECT, streamed), time and peak RSS of each.

File rows = CSV data rows, JSON lines, and the features of the plots' GeoJSON (the baselines
insert each feature's properties and its geometry as text). Each load and each baseline runs in
a child process of its own (``python -m bench.ingest load|bare ...``) that reports its own time
and peak RSS; the season is written once per size, seed and sample-generator source into
bench/out/ and reused.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import ROOT, log, med, ms, pct, peak_rss_mb, reset_peak_rss
from bench.lineage import PG_ADMIN, _heitu_cmd, _run_child, per_hop_back
from traceability.epcis import EXPORT_CHUNK
from traceability.lineage import trace_back
from traceability.store import open_store, reset_engines

OUT = ROOT / "bench" / "out"
DBS = ("sqlite", "postgresql")

#: Issue 14's targets: our rate / the bare rate, and first load time / re-ingest time.
TARGET_RATIO, LEAST_RATIO, TARGET_AGAIN = 0.5, 0.25, 2.0


# --- the season ------------------------------------------------------------------------------


def _sample_version() -> str:
    """Hash of the sample generator's source: a changed generator writes a new season."""
    import traceability.sample as sample

    return hashlib.sha256(Path(sample.__file__).read_bytes()).hexdigest()[:10]


def season(
    plots: int, seed: int, out: Path = OUT, *, fresh: bool = False
) -> tuple[Path, float | None]:
    """The season's landing zone, written by ``write_sample`` unless cached (and not
    ``fresh``); (path, seconds it took to write, or None when cached)."""
    from traceability.sample import write_sample

    path = out / f"ingest-season-p{plots}-s{seed}-{_sample_version()}"
    if (path / ".complete").exists() and not fresh:
        log(f"sample season: {plots:,} plots, seed {seed}, cached in {path}")
        return path, None
    log(f"sample season: {plots:,} plots, seed {seed} -> {path}")
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    start = time.perf_counter()
    write_sample(tmp, plots=plots, seed=seed, progress=True)
    took = time.perf_counter() - start
    (tmp / ".complete").write_text(f"{plots} plots, seed {seed}\n", encoding="utf-8")
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    return path, took


# --- the baselines ---------------------------------------------------------------------------


def file_rows(path: Path) -> tuple[list[str], list[list[str]]] | None:
    """(header, rows) of one landing-zone file as text, or None for a file of no such kind:
    CSV data rows (of the header's width), JSON lines, GeoJSON features (properties, then the
    geometry as JSON text)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                return None
            return header, [r for r in reader if len(r) == len(header)]
    if suffix == ".jsonl":
        objs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        if not objs:
            return None
        header = list(objs[0])
        return header, [[str(o.get(k, "")) for k in header] for o in objs]
    if suffix == ".geojson":
        feats = json.loads(path.read_text(encoding="utf-8")).get("features") or []
        if not feats:
            return None
        header = [*(feats[0].get("properties") or {}), "geometry"]
        return header, [
            [*(str((f.get("properties") or {}).get(k, "")) for k in header[:-1]),
             json.dumps(f.get("geometry"))]
            for f in feats
        ]  # fmt: skip
    return None


def _season_files(inbox: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(inbox.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path.parent.name, path


def bare_sqlite(inbox: Path, db: Path) -> dict[str, Any]:
    """The floor on SQLite: every row of every file into a text table, no rules at all."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    by_folder: dict[str, int] = {}
    start = time.perf_counter()
    for folder, path in _season_files(inbox):
        got = file_rows(path)
        if got is None:
            continue
        header, rows = got
        table = f"t_{folder}_{len(header)}"
        cols = ", ".join(f"c{i} TEXT" for i in range(len(header)))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")
        marks = ", ".join("?" * len(header))
        with conn:
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        by_folder[folder] = by_folder.get(folder, 0) + len(rows)
    elapsed = time.perf_counter() - start
    conn.close()
    return {"s": elapsed, "rows": sum(by_folder.values()), "by_folder": by_folder}


def _libpq(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://...) as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def bare_postgres(inbox: Path, url: str) -> dict[str, Any]:
    """The floor on PostgreSQL: the same rows, read by the same code, by COPY into text tables."""
    import psycopg

    by_folder: dict[str, int] = {}
    made: set[str] = set()
    with psycopg.connect(_libpq(url)) as conn:
        start = time.perf_counter()
        for folder, path in _season_files(inbox):
            got = file_rows(path)
            if got is None:
                continue
            header, rows = got
            table = f"t_{folder}_{len(header)}"
            with conn.transaction(), conn.cursor() as cur:
                if table not in made:
                    cols = ", ".join(f"c{i} TEXT" for i in range(len(header)))
                    cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")
                    made.add(table)
                with cur.copy(f"COPY {table} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            by_folder[folder] = by_folder.get(folder, 0) + len(rows)
        elapsed = time.perf_counter() - start
    return {"s": elapsed, "rows": sum(by_folder.values()), "by_folder": by_folder}


# --- our load --------------------------------------------------------------------------------


def load(inbox: Path, url: str) -> dict[str, Any]:
    """``ingest_dir``'s steps, each folder timed: ``ingest_files`` of every folder in
    ``SOURCES`` order, then ``retry_parked``. The store's schema is made first, untimed."""
    from traceability.pipeline import SOURCES, ingest_files, pending_files, retry_parked

    start = time.perf_counter()
    open_store(url)
    schema_s = time.perf_counter() - start
    folders: dict[str, dict[str, Any]] = {}
    for source in SOURCES:
        files = pending_files(source, inbox)
        if not files:
            continue
        t0 = time.perf_counter()
        res = ingest_files(source, files, url)
        took = time.perf_counter() - t0
        counts = {k: res[k] for k in ("loaded", "unchanged", "parked", "rejected")}
        folders[source] = {"s": took, "files": len(files), **counts,
                           "unreadable": len(res["unreadable"])}  # fmt: skip
        log(f"  {source}: {len(files)} files, {sum(counts.values()):,} records in {took:.1f} s")
    t0 = time.perf_counter()
    retried = retry_parked(url)
    retry_s = time.perf_counter() - t0
    log(f"  retry parked: {retried['loaded']:,} loaded, {retried['waiting']:,} waiting "
        f"in {retry_s:.1f} s")  # fmt: skip
    total = sum(f["s"] for f in folders.values()) + retry_s
    return {"s": total, "schema_s": schema_s, "folders": folders, "retry_s": retry_s,
            "retried": retried["loaded"], "waiting": retried["waiting"]}  # fmt: skip


#: The store's tables a load fills, in foreign-key order (lot_flow and the edges' copies of their
#: child lot are filled by triggers, as in a load).
FLOOR_TABLES = ("event", "party", "product", "plot", "lot", "edge", "shipment", "shipment_lot",
                "reading", "sale", "reject")  # fmt: skip
_TRIGGER_FILLED = {"child_gtin", "child_units", "child_kg"}


def store_floor(loaded_db: Path, url: str) -> dict[str, Any]:
    """The store's own cost: every row our load wrote (read back from its SQLite store)
    inserted into an empty store of the same schema, indexes, keys and triggers, with one
    ``executemany`` (SQLite) or COPY (PostgreSQL) per table: no reading, no rules, no Python
    per row. What a load costs above this is ours."""
    src = sqlite3.connect(loaded_db)
    tables = {}
    for name in FLOOR_TABLES:
        cur = src.execute(f"SELECT * FROM {name}")
        cols = [d[0] for d in cur.description]
        keep = [i for i, c in enumerate(cols) if c not in _TRIGGER_FILLED]
        tables[name] = ([cols[i] for i in keep], [tuple(r[i] for i in keep) for r in cur])
    src.close()
    open_store(url)
    reset_engines()
    out: dict[str, Any] = {}
    start = time.perf_counter()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        for name, (cols, rows) in tables.items():
            t0 = time.perf_counter()
            marks = ", ".join("?" * len(cols))
            with conn:
                conn.executemany(f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({marks})", rows)
            out[name] = {"rows": len(rows), "s": time.perf_counter() - t0}
        conn.close()
    else:
        import psycopg

        with psycopg.connect(_libpq(url)) as conn:
            for name, (cols, rows) in tables.items():
                t0 = time.perf_counter()
                with (
                    conn.cursor() as cur,
                    cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy,
                ):
                    for row in rows:
                        copy.write_row(row)
                conn.commit()
                out[name] = {"rows": len(rows), "s": time.perf_counter() - t0}
    return {"s": time.perf_counter() - start, "tables": out}


def _child_main(argv: list[str]) -> int:
    """``python -m bench.ingest load INBOX URL`` (first load, then again) or ``python -m
    bench.ingest bare sqlite|postgresql INBOX TARGET``: the figures as JSON on stdout."""
    ap = argparse.ArgumentParser(prog="python -m bench.ingest")
    sub = ap.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("load")
    a.add_argument("inbox", type=Path)
    a.add_argument("url")
    b = sub.add_parser("bare")
    b.add_argument("db", choices=DBS)
    b.add_argument("inbox", type=Path)
    b.add_argument("target")
    f = sub.add_parser("floor")
    f.add_argument("loaded", type=Path)
    f.add_argument("url")
    args = ap.parse_args(argv)
    reset_peak_rss()
    if args.mode == "floor":
        res = store_floor(args.loaded, args.url)
    elif args.mode == "bare":
        if args.db == "sqlite":
            res = bare_sqlite(args.inbox, Path(args.target))
        else:
            res = bare_postgres(args.inbox, args.target)
        res["rss"] = peak_rss_mb()
    else:
        log("first load")
        first = load(args.inbox, args.url)
        first["rss"] = peak_rss_mb()
        reset_peak_rss()
        log("the unchanged season again")
        again = load(args.inbox, args.url)
        again["rss"] = peak_rss_mb()
        res = {"first": first, "again": again}
    print(json.dumps(res))
    return 0


def _child(*args: str) -> dict[str, Any]:
    """One ``python -m bench.ingest`` child (its progress goes to our stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "bench.ingest", *args],
        stdout=subprocess.PIPE, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"python -m bench.ingest {' '.join(args)} failed ({proc.returncode})")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


# --- PostgreSQL databases for the run ---------------------------------------------------------


def _pg_admin(sql: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(sql))
    finally:
        admin.dispose()


def make_pg(name: str) -> str:
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_pg(name: str) -> None:
    reset_engines()
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_version() -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN)
    try:
        with admin.connect() as conn:
            return "PostgreSQL " + str(conn.execute(text("SHOW server_version")).scalar())
    finally:
        admin.dispose()


# The export's baseline: every event but master data, its stored record as one JSON line.
BARE_DUMP = (
    "import json, sqlite3, sys\n"
    "conn = sqlite3.connect(sys.argv[1])\n"
    "with open(sys.argv[2], 'w', encoding='utf-8') as f:\n"
    "    for (payload,) in conn.execute(\n"
    "        \"SELECT payload FROM event WHERE kind <> 'master' ORDER BY time, event_id\"):\n"
    "        f.write(json.dumps(json.loads(payload), ensure_ascii=False) + '\\n')\n"
)


def bench_export(db: Path, work: Path) -> dict[str, Any]:
    """``heitu export epcis`` of the whole store and the bare dump, each as a child process."""
    env = {**os.environ, "HEITU_DB_URL": f"sqlite:///{db}"}
    out = work / "export.jsonld"
    wall, _, rss, stdout, code = _run_child([*_heitu_cmd(), "export", "epcis", "--out", str(out),
                                             "--json"], env)  # fmt: skip
    if code != 0:
        raise RuntimeError("heitu export epcis failed")
    events = json.loads(stdout)["events"]
    size = out.stat().st_size
    base_wall, _, base_rss, _, code = _run_child(
        [sys.executable, "-c", BARE_DUMP, str(db), str(work / "bare.jsonl")], env
    )
    if code != 0:
        raise RuntimeError("bare dump failed")
    return {"wall": wall, "rss": rss, "events": events, "mb": size / 2**20,
            "base_wall": base_wall, "base_rss": base_rss}  # fmt: skip


# --- the run ---------------------------------------------------------------------------------


def _figures(bare: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Rows per folder (the baseline's file rows; the plots folder's features as our load
    counted them) and the rates, shares and ratios of one database."""
    first, again = ours["first"], ours["again"]
    folders = []
    for name, f in first["folders"].items():
        if name == "plots":
            rows = sum(f[k] for k in ("loaded", "unchanged", "parked", "rejected"))
        else:
            rows = bare["by_folder"].get(name, 0)
        folders.append({"folder": name, "rows": rows, "s": f["s"], "files": f["files"],
                        "again_s": again["folders"].get(name, {}).get("s"),
                        "parked": f["parked"], "rejected": f["rejected"]})  # fmt: skip
    rows = sum(f["rows"] for f in folders)
    plots = next((f["rows"] for f in folders if f["folder"] == "plots"), 0)
    if plots != bare["by_folder"].get("plots", 0):
        log(f"plots: {plots} features loaded, {bare['by_folder'].get('plots', 0)} in the files")
    return {
        "rows": rows,
        "bare_rows": bare["rows"],
        "bare_s": bare["s"],
        "bare_rss": bare["rss"],
        "s": first["s"],
        "again_s": again["s"],
        "schema_s": first["schema_s"],
        "retry_s": first["retry_s"],
        "again_retry_s": again["retry_s"],
        "retried": first["retried"],
        "waiting": first["waiting"],
        "rss": first["rss"],
        "again_rss": again["rss"],
        "rate": rows / first["s"],
        "bare_rate": bare["rows"] / bare["s"],
        "ratio": (rows / first["s"]) / (bare["rows"] / bare["s"]),
        "speedup": first["s"] / again["s"],
        "folders": folders,
    }


def _trace(db: Path, lots: int) -> dict[str, Any]:
    url = f"sqlite:///{db}"
    eng = open_store(url)
    raw = sqlite3.connect(db)
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
        "lots": len(sample),
        "p50": pct(ours, 50),
        "p99": pct(ours, 99),
        "base_p50": pct(naive, 50),
        "base_p99": pct(naive, 99),
        "ratio_p50": med(ours) / med(naive),
        "events_p50": pct(with_events, 50),
        "events_p99": pct(with_events, 99),
    }


def run(
    plots: int,
    seed: int = 7,
    dbs: tuple[str, ...] = DBS,
    *,
    lots: int = 1000,
    out: Path = OUT,
    fresh: bool = False,
) -> dict[str, Any]:
    """The season loaded into each of ``dbs`` (ours and the bare baseline), then trace back
    and export on the SQLite store (when SQLite is among ``dbs``)."""
    reset_peak_rss()
    inbox, gen_s = season(plots, seed, out, fresh=fresh)
    work = Path(tempfile.mkdtemp(prefix="heitu-bench-"))
    name = f"heitu_bench_ingest_{os.getpid()}"
    result: dict[str, Any] = {"plots": plots, "seed": seed, "gen_s": gen_s, "dbs": {}}
    floors: dict[str, dict[str, Any]] = {}
    try:
        for db in dbs:
            if db == "sqlite":
                log("sqlite: bare executemany of every file row")
                bare = _child("bare", "sqlite", str(inbox), str(work / "bare.db"))
                log(f"sqlite: {bare['rows']:,} rows in {bare['s']:.1f} s; heitu load per folder")
                ours = _child("load", str(inbox), f"sqlite:///{work / 'heitu.db'}")
                log("sqlite: the store floor (the loaded rows straight into an empty store)")
                floors["sqlite"] = _child("floor", str(work / "heitu.db"),
                                          f"sqlite:///{work / 'floor.db'}")  # fmt: skip
            else:
                log("postgresql: bare COPY of every file row")
                bare = _child("bare", "postgresql", str(inbox), make_pg(name + "_bare"))
                drop_pg(name + "_bare")
                log(f"postgresql: {bare['rows']:,} rows in {bare['s']:.1f} s; heitu load per "
                    "folder")  # fmt: skip
                ours = _child("load", str(inbox), make_pg(name))
                drop_pg(name)
                if (work / "heitu.db").exists():
                    log("postgresql: the store floor (SQLite's loaded rows by COPY)")
                    floors["postgresql"] = _child("floor", str(work / "heitu.db"),
                                                  make_pg(name + "_floor"))  # fmt: skip
                    drop_pg(name + "_floor")
                result["pg_version"] = pg_version()
            fig = result["dbs"][db] = _figures(bare, ours)
            if db in floors:
                fig["floor_s"] = floors[db]["s"]
                fig["floor_tables"] = floors[db]["tables"]
            log(f"{db}: {fig['rate']:,.0f} rows/s against {fig['bare_rate']:,.0f} "
                f"({fig['ratio']:.2f}x); again {fig['speedup']:.1f}x faster")  # fmt: skip
        if "sqlite" in dbs:
            result.update(_trace(work / "heitu.db", lots))
            log("heitu export epcis of the whole store")
            result["export"] = bench_export(work / "heitu.db", work)
        result["rss"] = peak_rss_mb()
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if "postgresql" in dbs:
            for n in (name, name + "_bare", name + "_floor"):
                try:
                    drop_pg(n)
                except Exception as exc:  # cleanup must not hide the error
                    log(f"could not drop {n}: {exc}")


# --- markdown --------------------------------------------------------------------------------

_NAME = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
_BARE = {"sqlite": "bare `executemany`", "postgresql": "bare COPY"}


def title(res: dict[str, Any]) -> str:
    dbs = " and ".join(_NAME[d] for d in res.get("dbs", {})) or "SQLite"
    return f"Ingest ({res['plots']:,}-plot season, {dbs})"


def verdict(db: str, r: dict[str, Any]) -> str:
    """Which of issue 14's targets one database meets."""
    if r["ratio"] >= TARGET_RATIO:
        rate = f"meets the {TARGET_RATIO}x target"
    elif r["ratio"] >= LEAST_RATIO:
        rate = f"below the {TARGET_RATIO}x target, above the {LEAST_RATIO}x least"
    else:
        rate = f"below even the {LEAST_RATIO}x least"
    again = "met" if r["speedup"] >= TARGET_AGAIN else "not met"
    return (
        f"{_NAME[db]}: {r['ratio']:.2f}x the {_BARE[db]}'s rate ({rate}); the unchanged season "
        f"again in {r['again_s']:.1f} s against {r['s']:.1f} s for the first load, "
        f"{r['speedup']:.1f}x (target >= {TARGET_AGAIN:.0f}x: {again})."
    )


def floor_note(r: dict[str, Any]) -> str:
    """The tables that cost the store most, from the floor's own timings."""
    tables = sorted(r["floor_tables"].items(), key=lambda kv: -kv[1]["s"])[:3]
    return ", ".join(f"{n} {t['rows']:,} rows {t['s']:.1f} s" for n, t in tables)


def _folder_table(db: str, r: dict[str, Any]) -> list[str]:
    lines = [
        f"{_NAME[db]}, per landing-zone folder (first load, then the unchanged season again):",
        "",
        "| folder | files | rows | s | rows/s | share of the time | again s | speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in r["folders"]:
        again = f["again_s"]
        faster = f"{f['s'] / again:.1f}x" if again else "-"
        lines.append(
            f"| {f['folder']} | {f['files']} | {f['rows']:,} | {f['s']:.2f} | "
            f"{f['rows'] / f['s']:,.0f} | {f['s'] / r['s']:.0%} | "
            f"{'-' if again is None else f'{again:.2f}'} | "
            f"{faster} |"
        )
    lines += [
        f"| retry parked | - | {r['retried']:,} loaded | {r['retry_s']:.2f} | - | "
        f"{r['retry_s'] / r['s']:.0%} | {r['again_retry_s']:.2f} | - |",
        f"| **total** | - | {r['rows']:,} | {r['s']:.2f} | {r['rate']:,.0f} | 100% | "
        f"{r['again_s']:.2f} | {r['speedup']:.1f}x |",
    ]
    return lines


def markdown(res: dict[str, Any]) -> list[str]:
    if "dbs" not in res:  # figures saved by the bench before it measured PostgreSQL
        return ["Figures of an older bench: run `python -m bench --only ingest`."]
    table: list[tuple[str, ...]] = []
    for db, r in res["dbs"].items():
        name = _NAME[db]
        table += [
            (
                f"{name}: ingest, whole season (rows/s)",
                f"{r['rate']:,.0f}",
                f"{r['bare_rate']:,.0f}",
                f"{r['ratio']:.2f}x",
                f"{r['rows']:,} rows in {r['s']:.1f} s, {_BARE[db]} {r['bare_s']:.1f} s; "
                f"peak RSS {r['rss']:,.0f} MB, baseline {r['bare_rss']:,.0f} MB; the empty "
                f"store's schema made in {r['schema_s']:.1f} s before the clock starts",
            ),
            *(
                [
                    (
                        f"{name}: store floor: the loaded rows straight into an empty store",
                        f"{r['rows'] / r['floor_s']:,.0f}",
                        f"{r['bare_rate']:,.0f}",
                        f"{(r['rows'] / r['floor_s']) / r['bare_rate']:.2f}x",
                        f"{r['floor_s']:.1f} s: the schema's own cost (indexes, keys, "
                        f"triggers), no reading or rules; the load spends "
                        f"{r['s'] - r['floor_s']:.1f} s above it ({floor_note(r)})",
                    )
                ]
                if "floor_s" in r
                else []
            ),
            (
                f"{name}: re-ingest, nothing new (rows/s)",
                f"{r['rows'] / r['again_s']:,.0f}",
                f"{r['rate']:,.0f} (first load)",
                f"{r['speedup']:.1f}x",
                f"{r['again_s']:.1f} s; peak RSS {r['again_rss']:,.0f} MB",
            ),
        ]
    if "p50" in res:
        table += [
            (
                "trace back, shares only: p50 / p99 ms",
                f"{res['p50']:.2f} / {res['p99']:.2f}",
                f"{res['base_p50']:.2f} / {res['base_p99']:.2f}",
                f"{res['ratio_p50']:.1f}x (p50)",
                f"{res['lots']} random packed lots (SQLite store of the load)",
            ),
            (
                "trace back with events: p50 / p99 ms",
                f"{res['events_p50']:.2f} / {res['events_p99']:.2f}",
                "-",
                "-",
                "",
            ),
        ]
    if "export" in res:
        x = res["export"]
        table.append(
            (
                "`heitu export epcis` of the whole store: s; peak RSS MB",
                f"{x['wall']:.1f}; {x['rss']:.0f}",
                f"{x['base_wall']:.1f}; {x['base_rss']:.0f}",
                f"{x['wall'] / x['base_wall']:.1f}x; {x['rss'] / x['base_rss']:.1f}x",
                f"{x['events']:,} EPCIS events ({x['events'] / x['wall']:,.0f}/s), "
                f"{x['mb']:,.0f} MB; store events are mapped {EXPORT_CHUNK:,} at a time and "
                "written as they go: what stays in memory is the master data the document "
                "names; the time is mostly the GS1 event hash of each event",
            )
        )
    first = next(iter(res["dbs"].values()))
    plots = next((f["rows"] for f in first["folders"] if f["folder"] == "plots"), 0)
    made = "cached" if res.get("gen_s") is None else f"written in {res['gen_s']:.0f} s"
    pg = f" {res['pg_version']}." if res.get("pg_version") else ""
    lines = [
        f"Season: `heitu sample --plots {res['plots']} --seed {res['seed']}` "
        f"({first['rows']:,} file rows: {first['rows'] - plots:,} CSV and JSON-lines rows and "
        f"{plots:,} plot features; {made}).{pg} Ratio = heitu's rate / the baseline's "
        "(0.25x: 4 times slower); re-ingest: first load's time / re-ingest's.",
        "",
        "| what | heitu | baseline | ratio | notes |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(r)} |" for r in table),
        "",
        "Issue 14's targets (>= 0.5x the bare insert, 0.25x at least; re-ingest >= 2x):",
        "",
        *(f"- {verdict(db, r)}" for db, r in res["dbs"].items()),
        "",
    ]
    for db, r in res["dbs"].items():
        lines += [*_folder_table(db, r), ""]
    lines += [
        "Baselines: ingest = every file row (CSV data rows, JSON lines, GeoJSON features as",
        "their properties and geometry text) into plain text tables, no parsing, rules, dedupe",
        "or lineage: by `executemany` on SQLite (WAL, synchronous=NORMAL), by COPY (psycopg 3",
        "`write_row`) on PostgreSQL. Ours = `ingest_dir`'s steps timed per folder on a fresh",
        "store (its schema made before the clock starts), then `retry_parked`; each load and",
        "each baseline runs in a child process that measures its own peak RSS. Trace back = a",
        "per-hop loop, one SELECT per lot, in Python; export = a bare dump of the same events'",
        "stored records as JSON lines (no mapping to EPCIS, no event hashes, no master data), as",
        "a command like ours.",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
