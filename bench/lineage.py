"""Lineage at scale: trace back, county recall and ``heitu trace back`` as a whole command, on a
synthetic season (``bench.generate``) in SQLite and in PostgreSQL.

Every heitu figure has a baseline measured in the same run on the same store through the same
driver (sqlite3 / psycopg, on a raw connection of the same engine):
- trace back: a per-hop loop, one SELECT per lot (the lot's plot and its parent edges), shares
  multiplied along each path in Python; the answers (plots and shares) must be equal;
- county recall: a per-hop loop, one SELECT per lot for the lot and its children, then one for
  its movements (lot_flow); lots, shipped kg and sold units must be equal. The recall's SQL is
  also run with its movements summed from shipment_lot, shipment and sale instead of lot_flow
  (the rows must be equal);
- the command: a bare ``python -c pass`` (process start); ``import sqlalchemy`` and ``import
  psycopg`` alone are reported beside it.
On PostgreSQL the county recall is also run as the plain recursive CTE (sql/recall.sql) with the
default planner and with hash and merge joins switched off, against the shipped
sql/recall.postgresql.sql; their plans go to bench/out/plans/.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from bench import generate
from bench.common import log, med, ms, pct, peak_rss_mb, reset_peak_rss
from traceability import lineage
from traceability.lineage import recall, trace_back
from traceability.store import open_store, reset_engines

PG_ADMIN = os.environ.get("HEITU_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PLANS = generate.OUT / "plans"

# The walk as first written for PostgreSQL (a bare LATERAL join, which the planner flattens
# into a plain join): kept here so the bench shows it beside the shipped file.
LATERAL_WALK = """
descendants(lot_id, depth, gtin, units, kg) AS (
    SELECT lot_id, 0, gtin, units, kg FROM seeds
    UNION
    SELECT e.child_lot, d.depth + 1, e.child_gtin, e.child_units, e.child_kg
    FROM descendants AS d
    CROSS JOIN LATERAL (
        SELECT child_lot, child_gtin, child_units, child_kg FROM edge
        WHERE edge.parent_lot = d.lot_id
    ) AS e
    WHERE d.depth < :max_depth
),"""


# --- baselines: one SELECT per lot -----------------------------------------------------------


def _ph(eng: Engine) -> str:
    return "?" if eng.dialect.name == "sqlite" else "%s"


def per_hop_back(cur: Any, ph: str, lot: str) -> dict[str, float]:
    """Plots of a lot and their shares: one SELECT per lot visited, shares multiplied along
    every path in Python."""
    sql = (
        "SELECT l.plot_id, e.parent_lot, e.share FROM lot AS l "
        f"LEFT JOIN edge AS e ON e.child_lot = l.lot_id WHERE l.lot_id = {ph}"
    )
    shares: dict[str, float] = {}
    todo = [(lot, 1.0)]
    while todo:
        x, share = todo.pop()
        cur.execute(sql, (x,))
        rows = cur.fetchall()
        if rows and rows[0][0]:
            shares[rows[0][0]] = shares.get(rows[0][0], 0.0) + share
        todo += [(parent, share * s) for _, parent, s in rows if parent is not None]
    return shares


def per_hop_recall(cur: Any, ph: str, county: str) -> dict[str, Any]:
    """Everything made from a county's harvests: one SELECT for the seeds, then per lot one
    SELECT for the lot and its children and one for its movements (from lot_flow, as recall
    reads them)."""
    cur.execute(
        "SELECT lot_id FROM lot WHERE plot_id IN "
        f"(SELECT plot_id FROM plot WHERE county_code = {ph})",
        (county,),
    )
    todo = [r[0] for r in cur.fetchall()]
    seen = set(todo)
    lots: dict[str, tuple[Any, ...]] = {}
    walk = (
        "SELECT l.gtin, l.quantity_kg, l.units, e.child_lot FROM lot AS l "
        f"LEFT JOIN edge AS e ON e.parent_lot = l.lot_id WHERE l.lot_id = {ph}"
    )
    while todo:
        x = todo.pop()
        cur.execute(walk, (x,))
        rows = cur.fetchall()
        lots[x] = rows[0][:3]
        for *_, child in rows:
            if child is not None and child not in seen:
                seen.add(child)
                todo.append(child)
    moved = f"SELECT party_id, received_kg, sold_units FROM lot_flow WHERE lot_id = {ph}"
    shipped_kg = 0.0
    sold_units = 0
    for x in lots:
        cur.execute(moved, (x,))
        for _, received_kg, sold in cur.fetchall():
            shipped_kg += received_kg
            sold_units += int(sold)
    return {
        "lots": sorted(lots),
        "shipped_kg": round(shipped_kg, 3),
        "sold_units": sold_units,
        "queries": 1 + 2 * len(lots),
    }


# --- stores ----------------------------------------------------------------------------------


def pg_name(plots: int, seed: int) -> str:
    return f"heitu_bench_{plots}_s{seed}_r{generate.schema_revision()}_g{generate.GEN_VERSION}"


def pg_store(sqlite_path: Path, plots: int, seed: int, *, reuse: bool) -> tuple[str, float | None]:
    """A PostgreSQL copy of the generated store; reused only when ``reuse`` and complete."""
    name = pg_name(plots, seed)
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        comment = conn.execute(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :n"
            ),
            {"n": name},
        ).first()
        if reuse and comment is not None and comment[0] == "heitu bench: complete":
            admin.dispose()
            return url, None
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    log(f"PostgreSQL store {name}: COPY from {sqlite_path.name}")
    start = time.perf_counter()
    generate.copy_to_postgres(sqlite_path, url, log)
    took = time.perf_counter() - start
    with admin.connect() as conn:
        conn.execute(text(f"COMMENT ON DATABASE \"{name}\" IS 'heitu bench: complete'"))
    admin.dispose()
    return url, took


def drop_pg(plots: int, seed: int) -> None:
    reset_engines()
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name(plots, seed)}" WITH (FORCE)'))
    admin.dispose()


def store_size_mb(eng: Engine, sqlite_path: Path) -> float:
    if eng.dialect.name == "sqlite":
        return sqlite_path.stat().st_size / 2**20
    with eng.connect() as conn:
        return conn.execute(text("SELECT pg_database_size(current_database())")).scalar() / 2**20


# --- measurements ----------------------------------------------------------------------------


def _events_pass(eng: Engine, lots: list[str]) -> tuple[list[float], int]:
    times, n = [], 0
    for lot in lots:
        t0 = time.perf_counter()
        doc = trace_back(eng, lot)
        times.append(ms(time.perf_counter() - t0))
        n += len(doc["events"])
    return times, n


def bench_trace(eng: Engine, sample: list[str], with_events: int) -> dict[str, Any]:
    """Trace back with shares against the per-hop loop, after one untimed pass over the same
    lots for both (so both read a warm cache; the first pass's figures are kept as "cold")."""
    raw = eng.raw_connection()
    cur = raw.cursor()
    ph = _ph(eng)
    cold = []
    for lot in sample:
        t0 = time.perf_counter()
        trace_back(eng, lot, with_events=False)
        cold.append(ms(time.perf_counter() - t0))
        per_hop_back(cur, ph, lot)
    ours: list[float] = []
    naive: list[float] = []
    mismatched: list[str] = []
    for lot in sample:
        t0 = time.perf_counter()
        doc = trace_back(eng, lot, with_events=False)
        t1 = time.perf_counter()
        expect = per_hop_back(cur, ph, lot)
        t2 = time.perf_counter()
        ours.append(ms(t1 - t0))
        naive.append(ms(t2 - t1))
        same = doc["plots"] == sorted(expect) and all(
            abs(doc["shares"][p] - expect[p]) < 1e-5 for p in expect
        )
        if not same:
            mismatched.append(lot)
    raw.rollback()
    raw.close()
    lots = sample[:with_events]
    _events_pass(eng, lots[:10])  # warm-up
    events, n_events = _events_pass(eng, lots)
    return {
        "n": len(sample),
        "p50": pct(ours, 50),
        "p99": pct(ours, 99),
        "cold_p50": pct(cold, 50),
        "cold_p99": pct(cold, 99),
        "base_p50": pct(naive, 50),
        "base_p99": pct(naive, 99),
        "mismatched": mismatched,
        "events_n": len(events),
        "events_p50": pct(events, 50) if events else None,
        "events_p99": pct(events, 99) if events else None,
        "events_per_trace": n_events / max(1, len(events)),
    }


def _timed(fn: Any, runs: int, budget_s: float = 20.0) -> tuple[float, Any, int]:
    """Median ms over ``runs`` runs after one warm-up (fewer when a run is slow)."""
    times, out = _runs(fn, runs, budget_s)
    return med(times), out, len(times)


def _runs(fn: Any, runs: int, budget_s: float) -> tuple[list[float], Any]:
    """The ms of each of ``runs`` runs after one warm-up (fewer when a run is slow)."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    if first * runs > budget_s:
        runs = max(1, int(budget_s // max(first, 1e-9)))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(ms(time.perf_counter() - t0))
    return times, out


def _params(county: str) -> dict[str, Any]:
    return {
        "key": county,
        "date_from": lineage._EARLIEST,
        "date_to": lineage._LATEST,
        "max_depth": lineage.MAX_DEPTH,
    }


# The recall's movements as they were before lot_flow (migration 0003): every shipment line,
# its shipment and every till record of every lot, summed per lot and party at query time.
# Measured beside the shipped SQL, in place of its flows CTE.
FLOWS_FROM_BASE = {
    "sqlite": """flows AS (
    SELECT m.party_id, m.lot_id, m.gtin, m.unit_kg, SUM(m.received_kg) AS received_kg,
           SUM(m.shipped_kg) AS shipped_kg, SUM(m.sold_units) AS sold_units
    FROM (
        SELECT s.to_party AS party_id, l.lot_id, l.gtin, l.unit_kg, sl.kg AS received_kg,
               0.0 AS shipped_kg, 0 AS sold_units
        FROM lots AS l JOIN shipment_lot AS sl ON sl.lot_id = l.lot_id
        JOIN shipment AS s ON s.shipment_id = sl.shipment_id
        UNION ALL
        SELECT s.from_party, l.lot_id, l.gtin, l.unit_kg, 0.0, sl.kg, 0
        FROM lots AS l JOIN shipment_lot AS sl ON sl.lot_id = l.lot_id
        JOIN shipment AS s ON s.shipment_id = sl.shipment_id
        UNION ALL
        SELECT sa.retailer_id, l.lot_id, l.gtin, l.unit_kg, 0.0, 0.0, sa.quantity_units
        FROM lots AS l JOIN sale AS sa ON sa.lot_id = l.lot_id
    ) AS m
    GROUP BY m.party_id, m.lot_id, m.gtin, m.unit_kg
),
""",
    "postgresql": """flows AS (
    SELECT m.party_id, l.lot_id, l.gtin, l.unit_kg, SUM(m.received_kg) AS received_kg,
           SUM(m.shipped_kg) AS shipped_kg, SUM(m.sold_units) AS sold_units
    FROM lots AS l
    CROSS JOIN LATERAL (
        SELECT s.to_party AS party_id, sl.kg AS received_kg, 0.0 AS shipped_kg,
               0 AS sold_units
        FROM (SELECT shipment_id, kg FROM shipment_lot WHERE lot_id = l.lot_id OFFSET 0) AS sl
        JOIN shipment AS s ON s.shipment_id = sl.shipment_id
        UNION ALL
        SELECT s.from_party, 0.0, sl.kg, 0
        FROM (SELECT shipment_id, kg FROM shipment_lot WHERE lot_id = l.lot_id OFFSET 0) AS sl
        JOIN shipment AS s ON s.shipment_id = sl.shipment_id
        UNION ALL
        SELECT retailer_id, 0.0, 0.0, quantity_units FROM sale WHERE sale.lot_id = l.lot_id
    ) AS m
    GROUP BY m.party_id, l.lot_id, l.gtin, l.unit_kg
),
""",
}


def _flows_from_base(sql: str, dialect: str) -> str:
    head, rest = sql.split("flows AS (", 1)
    return head + FLOWS_FROM_BASE[dialect] + rest[rest.index("parties AS (") :]


def _rounded(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row with its floats to 6 places: sums over the same rows in another order (another
    plan) differ in the last bits."""
    return tuple(round(v, 6) if isinstance(v, float) else v for v in row)


def host_loop_ms() -> float:
    """A fixed pure-Python loop (3 million multiply-adds, no I/O, no allocation to speak of):
    timed around the recall's runs, it shows how fast the host ran just then. On this VM the
    same code runs up to 1.6x slower at times, with no steal time reported; a recall figure
    is read against the loop's figure of the same run."""
    t0 = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i * i
    return ms(time.perf_counter() - t0)


def bench_recall(eng: Engine, county: str, runs: int) -> dict[str, Any]:
    host_before = host_loop_ms()
    times, doc = _runs(lambda: recall(eng, "county", county), runs, 20.0)
    host_after = host_loop_ms()
    doc_ms, n = med(times), len(times)
    dialect = eng.dialect.name
    shipped_sql = lineage.recall_sql("county", dialect)
    from_base = _flows_from_base(shipped_sql, dialect)

    def sql_only(sql: str = shipped_sql) -> list[tuple[Any, ...]]:
        with lineage.reading(eng) as reader:
            return reader.tuples(sql, _params(county))

    sql_ms, rows, _ = _timed(sql_only, runs)

    def doc_only() -> dict[str, Any]:
        with lineage._no_cycle_collection():  # as recall() makes it
            return lineage._recall_doc("county", county, None, None, rows)

    doc_only_ms = _timed(doc_only, runs)[0]
    base_sql_ms, base_rows, _ = _timed(lambda: sql_only(from_base), runs, 60.0)
    rows, base_rows = (sorted(_rounded(r) for r in x) for x in (rows, base_rows))
    recall_sql = lineage._sql("recall", eng.dialect.name)
    walk = text(
        recall_sql[: recall_sql.index("lots AS (")].replace(
            "/*SEEDS*/", lineage._sql("recall_seeds_county", eng.dialect.name)
        )
        + "x AS (SELECT 1) SELECT COUNT(DISTINCT lot_id) FROM descendants"
    )

    def walk_only() -> int:
        with eng.connect() as conn:
            return conn.execute(walk, _params(county)).scalar()

    walk_ms, walk_lots, _ = _timed(walk_only, runs)
    raw = eng.raw_connection()
    cur = raw.cursor()
    base_ms, base, base_n = _timed(lambda: per_hop_recall(cur, _ph(eng), county), 3, 60.0)
    raw.rollback()
    raw.close()
    same = (
        base["lots"] == doc["lots"]
        and abs(base["shipped_kg"] - doc["totals"]["shipped_kg"]) < 0.01
        and base["sold_units"] == doc["totals"]["sold_units"]
    )
    return {
        "ms": doc_ms,
        "best_ms": min(times),
        "runs": n,
        "sql_ms": sql_ms,
        "rows": len(rows),
        "doc_ms": doc_only_ms,
        "sql_from_base_ms": base_sql_ms,
        "same_from_base": base_rows == rows,
        "walk_ms": walk_ms,
        "walk_lots": walk_lots,
        "base_ms": base_ms,
        "base_runs": base_n,
        "queries": base["queries"],
        "same": same,
        "lots": len(doc["lots"]),
        "packed": len(doc["packed_lots"]),
        "retailers": len(doc["retailers"]),
        "host_loop_ms": [host_before, host_after],
    }


def _walk_variant(sql: str, walk: str) -> str:
    """sql/recall*.sql with its descendants CTE replaced by ``walk``."""
    head, rest = sql.split("descendants(", 1)
    _, tail = rest.split("\n),", 1)
    return head + walk.strip() + tail


_FINAL = "\nSELECT 'lots'"


def plain_recall_sql() -> str:
    """sql/recall.sql as PostgreSQL runs it: its CTEs (plain joins, as SQLite runs them) with
    the final SELECT of sql/recall.postgresql.sql, because the lots' JSON array is made by each
    dialect's own aggregate (json_group_array, json_agg). That SELECT's one LATERAL lookup is
    of the few parties, not of lots."""
    plain, shipped = lineage._sql("recall", "default"), lineage._sql("recall", "postgresql")
    return plain[: plain.index(_FINAL)] + shipped[shipped.index(_FINAL) :]


def pg_variants(eng: Engine, county: str, runs: int) -> list[dict[str, Any]]:
    """The county recall's SQL on PostgreSQL through ``eng`` (plain connections: the server's
    settings): the plain CTE (sql/recall.sql) with the default planner, the same with hash
    and merge joins off, with the first LATERAL walk, as shipped (sql/recall.postgresql.sql),
    as shipped with JIT off, and with fenced seeds as well."""
    seeds = lineage._sql("recall_seeds_county", "postgresql")
    plain_seeds = lineage._sql("recall_seeds_county", "default")
    plain = plain_recall_sql()
    shipped = lineage._sql("recall", "postgresql")
    no_jit = ["SET LOCAL jit = off"]
    variants = [
        ("plain", "plain CTE (sql/recall.sql), default planner", plain, plain_seeds, []),
        (
            "toggles",
            "plain CTE, SET LOCAL enable_hashjoin = off, enable_mergejoin = off",
            plain,
            plain_seeds,
            ["SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off"],
        ),
        (
            "lateral",
            "plain CTE with a LATERAL walk (the first recall.postgresql.sql)",
            _walk_variant(plain, LATERAL_WALK),
            plain_seeds,
            [],
        ),
        (
            "shipped",
            "sql/recall.postgresql.sql as shipped (LATERAL ... OFFSET 0 per lot)",
            shipped,
            seeds,
            [],
        ),
        ("shipped_nojit", "as shipped, SET LOCAL jit = off", shipped, seeds, no_jit),
    ]
    PLANS.mkdir(parents=True, exist_ok=True)
    out = []
    for key, label, sql, seed_sql, sets in variants:
        full = sql.replace("/*SEEDS*/", seed_sql)

        def run(full: str = full, sets: list[str] = sets) -> list[tuple[Any, ...]]:
            with eng.begin() as conn:
                conn.execute(text("SET LOCAL statement_timeout = '300s'"))
                for s in sets:
                    conn.execute(text(s))
                return [tuple(r) for r in conn.execute(text(full), _params(county))]

        t, rows, n = _timed(run, runs, 30.0)
        with eng.begin() as conn:
            for s in sets:
                conn.execute(text(s))
            plan = (
                conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + full), _params(county))
                .scalars()
                .all()
            )
        out.append(
            {
                "key": key,
                "label": label,
                "ms": t,
                "runs": n,
                "rows": sorted(_rounded(r) for r in rows),
                "plan": plan,
            }
        )
    reference = out[0]["rows"]
    for v in out:
        v["same"] = v["rows"] == reference
        v["n_rows"] = len(v.pop("rows"))
        plan = v.pop("plan")
        v["hash_joins"] = sum("Hash Join" in p for p in plan)
        v["seq_scans"] = sum("Seq Scan on" in p for p in plan)
        v["jit"] = any(p.startswith("JIT:") for p in plan)
        v["plan_lines"] = plan
    return out


def save_plans(variants: list[dict[str, Any]], state: str) -> None:
    PLANS.mkdir(parents=True, exist_ok=True)
    for v in variants:
        (PLANS / f"{state}-{v['key']}.txt").write_text(
            f"-- {v['label']} ({state})\n" + "\n".join(v.pop("plan_lines")) + "\n",
            encoding="utf-8",
        )


def drop_statistics(eng: Engine) -> None:
    """Forget the planner statistics of the store's tables: the state of a store just loaded,
    before autovacuum has analyzed it (superuser; only ever on the bench's own database)."""
    with eng.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM pg_statistic WHERE starelid IN (SELECT c.oid FROM pg_class AS c "
                "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r')"
            )
        )
    eng.dispose()  # no connection keeps a plan made with the old statistics


def analyze(eng: Engine) -> None:
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    eng.dispose()
    settle(eng)


def settle(eng: Engine) -> None:
    """Write out what a fresh store left dirty before anything is timed: the generator's and
    the COPY's gigabytes otherwise reach the disk during the timings (the kernel's write-back
    and PostgreSQL's checkpointer), which made PostgreSQL's trace back 1.7x slower in one run
    than the same queries a few minutes later."""
    if eng.dialect.name == "postgresql":
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("CHECKPOINT"))
    os.sync()


def server_default_engine(url: str) -> Engine:
    """The store through plain connections: the server's settings (PostgreSQL's default is
    jit = on), not the ``-c jit=off`` that traceability.store gives its own connections."""
    return create_engine(url)


def show_jit(eng: Engine) -> str:
    with eng.connect() as conn:
        return str(conn.execute(text("SHOW jit")).scalar())


def trace_only(eng: Engine, sample: list[str]) -> dict[str, float]:
    times = []
    for lot in sample:
        t0 = time.perf_counter()
        trace_back(eng, lot, with_events=False)
        times.append(ms(time.perf_counter() - t0))
    return {"p50": pct(times, 50), "p99": pct(times, 99), "n": len(times)}


def recall_only(eng: Engine, county: str, runs: int) -> float:
    return _timed(lambda: recall(eng, "county", county), runs, 30.0)[0]


def pg_version() -> str:
    eng = create_engine(PG_ADMIN)
    try:
        with eng.connect() as conn:
            return "PostgreSQL " + conn.execute(text("SHOW server_version")).scalar().split()[0]
    except Exception:  # a version string is not worth failing the run
        return "PostgreSQL (version unknown)"
    finally:
        eng.dispose()


def _heitu_cmd() -> list[str]:
    script = Path(sys.executable).parent / "heitu"
    return [str(script)] if script.exists() else [sys.executable, "-m", "traceability.cli"]


#: GNU time measures a child's peak RSS from a small parent. The rusage that os.wait4 gives for a
#: child of this (big) process is no good for that: Linux carries the parent's peak over into a
#: forked child at its exec.
GNU_TIME = "/usr/bin/time"


def _run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, str, int]:
    """Wall s, CPU s (user + sys), peak RSS MB, stdout, exit code of one child process."""
    timed = os.access(GNU_TIME, os.X_OK)
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        full = [GNU_TIME, "-f", "%M", "-o", rss.name, *cmd] if timed else cmd
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=err, env=env)
        out = p.stdout.read() if p.stdout else b""
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.stdout:
            p.stdout.close()
        if p.returncode:
            err.seek(0)
            log(f"{' '.join(cmd)} failed: {err.read().decode(errors='replace')[-800:]}")
        kb = float(rss.read().split()[-1]) if timed else ru.ru_maxrss  # else an upper bound
    return wall, ru.ru_utime + ru.ru_stime, kb / 1024, out.decode(), p.returncode


def bench_cli(url: str, lot: str, runs: int) -> dict[str, Any]:
    env = {**os.environ, "HEITU_DB_URL": url}
    cmd = [*_heitu_cmd(), "trace", "back", lot, "--json"]
    _run_child(cmd, env)  # warm-up: page cache, .pyc
    walls, cpus, rss = [], [], []
    for _ in range(runs):
        wall, cpu, mb, out, code = _run_child(cmd, env)
        if code != 0 or json.loads(out)["lot"] != lot:
            raise RuntimeError(f"heitu trace back {lot} failed (exit {code})")
        walls.append(wall)
        cpus.append(cpu)
        rss.append(mb)
    return {
        "wall": med(walls),
        "wall_min": min(walls),
        "cpu": med(cpus),
        "rss": max(rss),
        "runs": runs,
    }


def bench_floor(runs: int) -> dict[str, Any]:
    """Process start alone, and with SQLAlchemy or psycopg imported: what the command cost
    before it read the store through the bare driver, and what it cannot go below on
    PostgreSQL."""
    out = {}
    for key, code in (
        ("python", "pass"),
        ("sqlalchemy", "import sqlalchemy"),
        ("psycopg", "import psycopg"),
    ):
        cmd = [sys.executable, "-c", code]
        _run_child(cmd, dict(os.environ))
        res = [_run_child(cmd, dict(os.environ)) for _ in range(runs)]
        out[key] = {
            "wall": med([r[0] for r in res]),
            "cpu": med([r[1] for r in res]),
            "rss": max(r[2] for r in res),
        }
    return out


def import_profile(url: str, lot: str) -> list[tuple[str, float]]:
    """Self import time (ms) per top-level package of ``heitu trace back`` (-X importtime)."""
    env = {**os.environ, "HEITU_DB_URL": url}
    cmd = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "traceability.cli",
        "trace",
        "back",
        lot,
        "--json",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    totals: dict[str, float] = {}
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|", 2)
        top = name.strip().split(".")[0]
        totals[top] = totals.get(top, 0.0) + int(self_us) / 1000
    return sorted(totals.items(), key=lambda kv: -kv[1])


# --- the section -----------------------------------------------------------------------------


def pick_county(plots: int) -> generate.County:
    """A rice county (the deepest chains) from the middle of the list."""
    cs = generate.counties(plots)
    return next((c for c in cs[len(cs) // 2 :] if c.crop == "rice"), cs[0])


def run(
    plots: int,
    seed: int = 2026,
    dbs: tuple[str, ...] = ("sqlite", "postgresql"),
    *,
    lots: int = 1000,
    with_events: int = 200,
    recall_runs: int = 9,
    cli_runs: int = 10,
    fresh: bool = False,
    keep_pg: bool = False,
) -> dict[str, Any]:
    reset_peak_rss()
    path, gen_s = generate.sqlite_store(plots, seed, fresh=fresh, log=log)
    built = generate.build_info(path)
    conn = sqlite3.connect(path)
    counts = generate.row_counts(conn)
    packed = [r[0] for r in conn.execute("SELECT lot_id FROM lot WHERE gtin IS NOT NULL")]
    conn.close()
    sample = random.Random(7).sample(packed, min(lots, len(packed)))
    county = pick_county(plots)
    result: dict[str, Any] = {
        "plots": plots,
        "seed": seed,
        "counts": counts,
        "gen_s": gen_s,
        "built": built,
        "county": county._asdict(),
        "sqlite_path": str(path),
        "dbs": {},
        "cli_lot": sample[0],
    }
    for db in dbs:
        reset_engines()
        load_s = None
        if db == "sqlite":
            url = f"sqlite:///{path}"
        else:
            url, load_s = pg_store(path, plots, seed, reuse=keep_pg and not fresh)
        eng = open_store(url)
        r: dict[str, Any] = {"load_s": load_s, "size_mb": store_size_mb(eng, path)}
        settle(eng)
        if db == "postgresql":
            r["nostats"] = pg_no_statistics(eng, url, county.code, sample[:100])
        reset_peak_rss()
        log(f"{db}: trace back x{len(sample)}")
        r["trace"] = bench_trace(eng, sample, with_events)
        log(f"{db}: recall county {county.code} ({county.plots} plots)")
        r["recall"] = bench_recall(eng, county.code, recall_runs)
        r["rss"] = peak_rss_mb()
        if db == "postgresql":
            log("postgresql (analyzed): planner variants; JIT off")
            plain = server_default_engine(url)
            r["variants"] = pg_variants(plain, county.code, 3)
            save_plans(r["variants"], "analyzed")
            r["jit_store"], r["jit_server"] = show_jit(eng), show_jit(plain)
            r["trace_server"] = trace_only(plain, sample)
            r["recall_server"] = recall_only(plain, county.code, recall_runs)
            plain.dispose()
        log(f"{db}: heitu trace back as a command x{cli_runs}")
        r["cli"] = bench_cli(url, sample[0], cli_runs)
        r["imports"] = import_profile(url, sample[0])[:6]
        result["dbs"][db] = r
        eng.dispose()
        reset_engines()
        if db == "postgresql" and not keep_pg:
            drop_pg(plots, seed)
    result["floor"] = bench_floor(cli_runs)
    return result


def pg_no_statistics(eng: Engine, url: str, county: str, sample: list[str]) -> dict[str, Any]:
    """The same store with no planner statistics (as just after a bulk load), then ANALYZE."""
    log("postgresql (no statistics): planner variants, trace back, recall")
    drop_statistics(eng)
    plain = server_default_engine(url)
    out: dict[str, Any] = {"variants": pg_variants(plain, county, 3)}
    save_plans(out["variants"], "no-statistics")
    out["trace"] = trace_only(eng, sample)
    out["trace_server"] = trace_only(plain, sample)
    out["recall"] = recall_only(eng, county, 3)
    out["recall_server"] = recall_only(plain, county, 3)
    plain.dispose()
    analyze(eng)
    return out


# --- markdown --------------------------------------------------------------------------------

_DB = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _r(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def _pair(a: float, b: float, fmt: str = "{:,.0f}") -> str:
    return f"{fmt.format(a)} / {fmt.format(b)}"


def _host(rc: dict[str, Any]) -> str:
    if "host_loop_ms" not in rc:  # results saved before the loop was measured
        return ""
    before, after = rc["host_loop_ms"]
    return f"; host reference loop {before:,.0f} ms before, {after:,.0f} ms after"


def _rows(res: dict[str, Any]) -> list[tuple[str, ...]]:
    county = res["county"]
    floor = res["floor"]
    rows: list[tuple[str, ...]] = []
    f2 = "{:.2f}"
    for db, r in res["dbs"].items():
        t, rc, cli = r["trace"], r["recall"], r["cli"]
        name = _DB[db]
        ok = "all equal" if not t["mismatched"] else f"{len(t['mismatched'])} DIFFER"
        rows.append(
            (
                f"{name}: trace back with shares, p50 / p99 ms",
                _pair(t["p50"], t["p99"], f2),
                _pair(t["base_p50"], t["base_p99"], f2),
                f"{_r(t['p50'], t['base_p50'])} / {_r(t['p99'], t['base_p99'])}",
                "<= 1 / <= 5",
                f"{t['n']:,} random packed lots, warm (a first, untimed pass took "
                f"{_pair(t['cold_p50'], t['cold_p99'], f2)}); plots and shares vs the loop: {ok}",
            )
        )
        if t["events_p50"] is not None:
            rows.append(
                (
                    f"{name}: trace back with events, p50 / p99 ms",
                    _pair(t["events_p50"], t["events_p99"], f2),
                    "-",
                    "-",
                    "-",
                    f"first {t['events_n']} of those lots, {t['events_per_trace']:.0f} events each",
                )
            )
        rows.append(
            (
                f"{name}: recall of county {county['code']}, median ms",
                f"{rc['ms']:,.0f}",
                f"{rc['base_ms']:,.0f}",
                _r(rc["ms"], rc["base_ms"]),
                "<= 100",
                f"fastest {rc['best_ms']:,.0f} ms of {rc['runs']}; "
                f"{county['plots']:,} plots -> {rc['lots']:,} lots ({rc['packed']:,} packed), "
                f"{rc['retailers']} retailers; of this the recursive walk alone "
                f"{rc['walk_ms']:,.0f} ms, the whole SQL {rc['sql_ms']:,.0f} ms "
                f"({rc['rows']:,} rows; {rc['sql_from_base_ms']:,.0f} ms summing shipment "
                "lines, shipments and till records instead of reading lot_flow"
                f"{'' if rc['same_from_base'] else ', ROWS DIFFER'}), the rest is recall()'s "
                "Python; "
                f"loop: {rc['queries']:,} SELECTs; "
                f"{'same answer' if rc['same'] else 'ANSWERS DIFFER'}{_host(rc)}",
            )
        )
        rows.append(
            (
                f"{name}: `heitu trace back LOT --json`, whole command, median s",
                f"{cli['wall']:.3f}",
                f"{floor['python']['wall']:.3f}",
                _r(cli["wall"], floor["python"]["wall"]),
                "<= 0.3",
                f"fastest {cli['wall_min']:.3f} s of {cli['runs']}; CPU {cli['cpu']:.3f} s; peak "
                f"RSS {cli['rss']:.0f} MB; baseline `python -c pass`; the command reads a "
                "store at the newest schema through the bare driver, without SQLAlchemy "
                f"(`python -c 'import sqlalchemy'` alone {floor['sqlalchemy']['wall']:.3f} s; "
                f"`import psycopg` alone {floor['psycopg']['wall']:.3f} s)",
            )
        )
        if db != "postgresql":
            continue
        ns, ts = r["nostats"], r["trace_server"]
        jits = (
            f"store's connections (jit = {r['jit_store']}) against the server's "
            f"(jit = {r['jit_server']})"
        )
        rows.append(
            (
                f"PostgreSQL, {jits}: trace back p50 / p99 ms; recall ms",
                f"{_pair(t['p50'], t['p99'], f2)}; {rc['ms']:,.0f}",
                f"{_pair(ts['p50'], ts['p99'], f2)}; {r['recall_server']:,.0f}",
                f"{_r(t['p50'], ts['p50'])}; {_r(rc['ms'], r['recall_server'])}",
                "-",
                "heitu = the rows above",
            )
        )
        rows.append(
            (
                f"PostgreSQL without statistics, {jits}: trace back p50 / p99 ms; recall ms",
                f"{_pair(ns['trace']['p50'], ns['trace']['p99'], f2)}; {ns['recall']:,.0f}",
                f"{_pair(ns['trace_server']['p50'], ns['trace_server']['p99'], f2)}; "
                f"{ns['recall_server']:,.0f}",
                f"{_r(ns['trace']['p50'], ns['trace_server']['p50'])}; "
                f"{_r(ns['recall'], ns['recall_server'])}",
                "-",
                f"{ns['trace']['n']} lots; recall with the SQL as shipped",
            )
        )
        base = ns["variants"][0], r["variants"][0]
        for v_ns, v in zip(ns["variants"], r["variants"], strict=True):
            rows.append(
                (
                    f"PostgreSQL county recall SQL, {v['label']}: median ms without statistics / "
                    "analyzed",
                    _pair(v_ns["ms"], v["ms"]),
                    _pair(base[0]["ms"], base[1]["ms"]),
                    f"{_r(v_ns['ms'], base[0]['ms'])} / {_r(v['ms'], base[1]['ms'])}",
                    "-",
                    f"hash joins {v_ns['hash_joins']} / {v['hash_joins']}, seq scans "
                    f"{v_ns['seq_scans']} / {v['seq_scans']}, JIT "
                    f"{'yes' if v_ns['jit'] else 'no'} / {'yes' if v['jit'] else 'no'} "
                    f"(plans: bench/out/plans/*-{v['key']}.txt); "
                    f"{'same rows' if v_ns['same'] and v['same'] else 'ROWS DIFFER'}",
                )
            )
    return rows


def markdown(res: dict[str, Any]) -> list[str]:
    c = res["counts"]
    rows = _rows(res)
    n_counties = len(generate.counties(res["plots"]))
    lines = [
        f"Season: `bench.generate`, {res['plots']:,} plots in {n_counties} counties (seed "
        f"{res['seed']}): {c['event']:,} events + {c['edge']:,} edges = "
        f"{c['event'] + c['edge']:,}; {c['lot']:,} lots, {c['shipment_lot']:,} shipment lines, "
        f"{c['sale']:,} sales, {c['plot']:,} plots, {c['party']:,} parties.",
    ]
    built = res["built"]
    if built:
        gen = (
            f"generated in {built['seconds']:.0f} s with {built['workers']} worker "
            f"process(es) (peak RSS {built['peak_rss_mb']} MB, workers "
            f"{built['workers_peak_rss_mb']} MB)"
            + (" in this run" if res["gen_s"] is not None else ", cached in bench/out/")
        )
    else:
        gen = "taken from the cache in bench/out/"
    sizes = []
    for db, r in res["dbs"].items():
        load = f" (copied in {r['load_s']:.0f} s)" if r["load_s"] is not None else ""
        sizes.append(
            f"{_DB[db]} {r['size_mb'] / 1024:.1f} GiB{load}, peak RSS of the bench "
            f"process while measuring {r['rss']:.0f} MB"
        )
    lines.append(f"SQLite store {gen}. " + "; ".join(sizes) + ".")
    lines += [
        "",
        "| what | heitu | baseline | ratio | target | notes |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    if res["dbs"]:
        top = next(iter(res["dbs"].values()))["imports"]
        lines += [
            "",
            "Import time of `heitu trace back` by top-level package (self ms under "
            "`-X importtime`, which inflates them): "
            + ", ".join(f"{k} {v:.0f}" for k, v in top)
            + ".",
        ]
    return lines


def findings(res: dict[str, Any]) -> list[str]:
    """How the figures were made, and the PostgreSQL planner finding in sentences built from
    this run's figures (the claims follow the plans actually seen)."""
    out = [
        "Method: the generated SQLite season is cached in bench/out/ (by size, seed, schema "
        "and generator version); the PostgreSQL store is COPYed from it, VACUUM ANALYZEd, and "
        'dropped after the run (`--keep-pg` keeps it). "Without statistics" is that store '
        "after deleting its planner statistics (pg_statistic), the state of a store just "
        "loaded before autovacuum has analyzed it; every other PostgreSQL row is measured after "
        "ANALYZE. Before anything is timed, what the fresh store left dirty is written out "
        "(`sync`; `CHECKPOINT` on PostgreSQL). Medians of 3-9 runs after a warm-up; trace "
        "back after one untimed pass; the county recall also gives its fastest run, the cost "
        "with the least interference from the rest of the host. "
        "On this VM figures drift by up to 50 % between runs an hour apart on the same store "
        "(the host reclaims page cache): on 2026-11-25 the county recall on SQLite took 113 ms "
        "in one run and 175 and 167 ms in two later ones, after two changes that each measured "
        "faster on their own (a larger SQLite page cache, the cycle collector off during "
        "recall), and its per-hop baseline drifted with it (257, 314, 309 ms); on 2026-12-01 "
        "a bare Python loop took 140 to 168 ms in five runs in a row. Compare a row with its "
        "baseline from the same run; the county recall's row also gives a fixed pure-Python "
        "loop (host_loop_ms) timed just before and after its runs, to tell a slow host from "
        "slow code between runs (on 2026-12-02: 281 to 326 ms in five runs in a row).",
    ]
    split = [
        f"{name}: walk {r['recall']['walk_ms']:,.0f}, the rest of the SQL and the fetch "
        f"{r['recall']['sql_ms'] - r['recall']['walk_ms']:,.0f}, the answer made from the "
        f"rows in Python {r['recall'].get('doc_ms', 0):,.0f}, of {r['recall']['ms']:,.0f}"
        for name, r in (
            ("SQLite", res["dbs"].get("sqlite")),
            ("PostgreSQL", res["dbs"].get("postgresql")),
        )
        if r
    ]
    counts = sorted({r["recall"]["rows"] for r in res["dbs"].values() if r and "recall" in r})
    rows = " / ".join(f"{n:,}" for n in counts)
    out += [
        "",
        "Where a county recall's time goes (median ms, this run): "
        + "; ".join(split)
        + ". Every lot costs two index lookups: the walk's step to it in edge, which carries "
        "the child lot's GTIN, units and kg (migration 0004; index ix_edge_walk), and its "
        "movements in lot_flow (migration 0003). Before them a lot cost five: the walk, its "
        "own row in lot, its shipment lines, each line's shipment and its lot_sale rows. The "
        "sums per party are made in the SQL, and the lots come as one row of two JSON arrays "
        f"(every lot, the packed ones) in code-point order, so {rows} rows reach Python. On "
        "PostgreSQL a lookup costs 2-3 us here (EXPLAIN ANALYZE), 45-70 ms for the two per "
        "lot of 11,109 lots.",
        "",
        "What was measured on the way, on this store (prototypes timed in turn with the SQL "
        "shipped at the time, in one process, giving the same rows, unless said otherwise):",
        "",
        "- kept, 2026-12-01: the child lot's fields carried on the edge: the recall's SQL "
        "77-79 ms at best and 105-117 ms median on PostgreSQL, against 94-120 and 119-157 ms "
        "looking each lot up.",
        "- kept, 2026-12-02: the lots as one JSON row instead of a row per lot (16,854 rows "
        "reached Python, 24,944 before the per-party sums moved into the SQL): PostgreSQL's "
        "county recall from 131 to 91 ms median, 21 runs before and after on the same store.",
        "- not kept, 2026-12-01: one table holding a lot's children, its own row and its "
        "movements together (one lookup per lot, but three times the rows through the "
        "recursive walk: 83 ms for the walk alone on PostgreSQL, 112 ms on SQLite); covering "
        "indexes on lot and lot_flow (no gain beyond the noise); the ids in C collation "
        "(none); probing the lots in id order (none).",
        "- not kept, 2026-12-02: a PostgreSQL walk that advances a whole level per step (an "
        "array of the level's lots, looked up through unnest and LATERAL ... OFFSET 0, or "
        "through = ANY): 58-59 ms of server time against 60 for the shipped walk (EXPLAIN "
        "ANALYZE without timing, 15 runs each): the per-lot index lookups, not the "
        "recursion, are the walk's cost.",
        "- not kept, 2026-12-02: flags on each edge saying whether its child lot has children "
        "and has movements, so that the walk skips the 4,504 leaves and the flows the 6,605 "
        "lots that never moved between parties (half of the 22,218 lookups): 66-67 against "
        "76-80 ms of server time at best, -13 %. Triggers would have to keep the flags true "
        "against concurrent writers (an edge into a lot and an edge out of it, or its first "
        "sale, written at once by two loads each miss the other's row), which needs a row "
        "lock on the lot for every edge and movement written; a flag wrong the other way "
        "drops lots from a recall.",
    ]
    pg = res["dbs"].get("postgresql")
    if not pg:
        return out
    ns = {v["key"]: v for v in pg["nostats"]["variants"]}
    an = {v["key"]: v for v in pg["variants"]}

    def both(key: str) -> str:
        return f"{ns[key]['ms']:,.0f} ms without statistics, {an[key]['ms']:,.0f} ms analyzed"

    def bad(v: dict[str, Any]) -> bool:
        return bool(v["hash_joins"] or v["seq_scans"])

    if bad(an["plain"]):
        analyzed = (
            f"even with statistics the plain recursive CTE hash-joins full scans ({both('plain')})"
        )
    else:
        analyzed = (
            "with statistics (after ANALYZE, as autovacuum leaves a store) the planner already "
            f"walks the plain recursive CTE through the indexes ({both('plain')}); the hash "
            "joins over full scans come when the tables have no statistics, as right after a "
            "bulk load: a scan of edge hash-joined at every step of the walk, and full scans "
            "of the tables behind each lot for the final joins"
        )
    lateral = (
        "A bare LATERAL join is no fix: PostgreSQL flattens it into the same plain join "
        if ns["lateral"]["ms"] > 0.7 * ns["plain"]["ms"]
        else "The bare LATERAL join helps here "
    ) + f"({both('lateral')})."
    shipped = "no" if not (bad(ns["shipped"]) or bad(an["shipped"])) else "some"
    out += [
        "",
        f"PostgreSQL planner, county recall: {analyzed}. Switching hash and merge joins off "
        f"mends the walk ({both('toggles')}), but for the whole transaction and not the "
        f"seeds. {lateral} What holds whatever the statistics is a LATERAL subquery with "
        "OFFSET 0, which the planner may not flatten, so it runs as one index lookup per lot: "
        "sql/recall.postgresql.sql does that for the walk and for each lookup of lot, "
        "lot_flow and party, and sql/recall_seeds_county.postgresql.sql "
        "for the county's harvest lots, which without statistics otherwise hash-join a scan "
        f"of all of lot ({both('shipped')}; {shipped} full scans left). JIT compilation, "
        "which PostgreSQL starts because the estimates of a recursive query are huge, costs "
        f"the rest on the server's settings (as shipped with `SET LOCAL jit = off`: "
        f"{both('shipped_nojit')}); traceability/store.py opens its connections with jit "
        "off, see the JIT rows. The planner variants run on plain connections, with the "
        "server's settings; the plain ones with the plain seeds (sql/recall_seeds_county.sql).",
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bench.lineage")
    ap.add_argument("--plots", type=int, default=int(os.environ.get("HEITU_BENCH_PLOTS", 200_000)))
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--lots", type=int, default=1000)
    ap.add_argument("--keep-pg", action="store_true")
    args = ap.parse_args(argv)
    dbs = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    res = run(args.plots, args.seed, dbs, lots=args.lots, keep_pg=args.keep_pg)
    print("\n".join(markdown(res)))
    print(json.dumps(res, default=str, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
