"""The bureau API under load: ``GET /api/v1/lots/{lot_id}/back`` with a token, on the lineage
section's synthetic store (``bench.generate``, ``HEITU_BENCH_PLOTS`` plots, SQLite), served by
``heitu serve --workers 2`` and measured with wrk at concurrency 16.

The store is the cached one of the lineage section (bench/out/), opened once with
``open_store`` (which migrates it to the newest schema). Two tokens are made on it for the run
and revoked after it: a ``province`` one (sees everything) and a ``county`` one for the county
with the most plots, so that both the unrestricted and the scoped path are measured. The lots:
LOTS random packed lots whose chain touches that county (the county office's own lots, found
with the API's own query), so the county token sees every one of them.

Measured, in this order, on the same store in the same run:
- in this process, the bare trace back (``trace_back(url, lot)``, with events, as the endpoint
  calls it) for the LOTS lots, one untimed pass then one timed; the county's scoped handler
  (``traceability.web.api._trace``: the trace back and its scope queries) the same way;
- the token lookup (``access.authenticate``), the audit insert (``access.record``, one
  SQLite write transaction per request) and a bare new SQLite connection (``sqlrun.connect``:
  every read of a request opens one) AUDITS times each; the audit insert again from WORKERS
  processes of WRITER_THREADS threads at once, as the server's workers make it;
- the endpoint through fastapi's TestClient (one request at a time, no network): the whole
  app's work per request, and the size of the answers; the answers' validation and JSON alone
  (the route's response field, as FastAPI makes them);
- under load: ``heitu serve --workers 2``, an untimed warm-up run per token, then ROUNDS rounds
  of wrk (``-t2 -c16 -d10s --latency --timeout=10s``, a Lua script cycling through the LOTS
  lot paths with the token's header) for the province token, the county token and
  ``/_baseline`` (a fixed page of the answers' median size from the same app,
  ``HEITU_WEB_BASELINE_BYTES``), in turn; the run with the most req/s of each is reported,
  with the others' figures. Any non-2xx answer or socket error fails the section (every
  answer must be 200).
The audit log's growth over the loaded runs is counted against wrk's request count. The
tokens (revoked) and the audit rows stay in the cached store (the log refuses DELETE): some
tens of thousands of small rows a run, in tables no other section reads.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import generate
from bench.common import log, med, ms, pct
from bench.web import free_port, parse_wrk, serve

LOTS = 200
AUDITS = 1000
WRITER_THREADS = 8  # per worker process: 16 concurrent requests over 2 workers
WRITER_SECONDS = 3.0
WORKERS = 2
WRK_THREADS = 2
WRK_CONNECTIONS = 16
WRK_SECONDS = 10
WRK_TIMEOUT = 10
WARMUP_SECONDS = 3
ROUNDS = 2
TARGET_P99_MS = 20.0
WRK = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s",
       "--latency", f"--timeout={WRK_TIMEOUT}s"]  # fmt: skip

LUA = """-- heitu bench: cycle through the lots' paths with the token's header
local paths = {
%s
}
local headers = { ["Authorization"] = "Bearer %s" }
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], headers)
end
"""


def back_path(lot: str) -> str:
    return f"/api/v1/lots/{quote(lot, safe='')}/back"


# --- the store -------------------------------------------------------------------------------


def biggest_county(db: Path) -> tuple[str, int]:
    """The county with the most plots (the lowest code on a tie) and its plot count."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT county_code, COUNT(DISTINCT plot_id) AS n FROM plot "
            "GROUP BY county_code ORDER BY n DESC, county_code LIMIT 1"
        ).fetchone()


def county_packed_lots(db: Path, county: str) -> list[str]:
    """Packed lots whose chain touches the county's plots: the county office's own lots, by
    the API's own query (traceability.web.api.office_lots_sql)."""
    from traceability.access import Office
    from traceability.web.api import office_lots_sql

    sql, params = office_lots_sql(Office("bench", "county", (county,)))
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            sql + " SELECT DISTINCT l.lot_id FROM office_lots AS o "
            "JOIN lot AS l ON l.lot_id = o.lot_id WHERE l.gtin IS NOT NULL ORDER BY l.lot_id",
            params,
        ).fetchall()
    return [r[0] for r in rows]


def audit_rows(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]


# --- in process ------------------------------------------------------------------------------


def _pass(fn: Any, items: list[Any]) -> list[float]:
    times = []
    for x in items:
        t0 = time.perf_counter()
        fn(x)
        times.append(ms(time.perf_counter() - t0))
    return times


def _stats(times: list[float]) -> dict[str, float]:
    return {"p50": pct(times, 50), "p99": pct(times, 99), "mean": sum(times) / len(times)}


def _writer_process(url: str, threads: int, start_at: float, seconds: float) -> list[float]:
    """In a process of its own: ``threads`` threads appending audit rows as fast as they can
    from ``start_at`` (time.time()) for ``seconds``; the ms of every insert."""
    import threading

    from traceability.access import Office, record
    from traceability.store import open_store

    eng = open_store(url)
    office = Office("bench-writers", "province", ("23",))
    times: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        mine = []
        time.sleep(max(0.0, start_at - time.time()))
        end = start_at + seconds
        while time.time() < end:
            t0 = time.perf_counter()
            record(eng, office, "GET", "/api/v1/bench/concurrent-writers", 200)
            mine.append(ms(time.perf_counter() - t0))
        with lock:
            times.extend(mine)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    eng.dispose()
    return times


def concurrent_audit(url: str) -> dict[str, Any]:
    """The audit insert as the server meets it: WORKERS processes of WRITER_THREADS threads
    each appending at once (the threads of a worker serve its requests in parallel)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # not a fork of this process and its engines
    start_at = time.time() + 4.0  # after the children's imports
    with ctx.Pool(WORKERS) as pool:
        parts = pool.starmap(
            _writer_process, [(url, WRITER_THREADS, start_at, WRITER_SECONDS)] * WORKERS
        )
    times = [t for part in parts for t in part]
    return {**_stats(times), "n": len(times), "max": max(times)}


def in_process(url: str, eng: Any, lots: list[str], tokens: dict[str, str], county: str):
    """The bare trace back and the scoped handler, the token lookup and the audit insert, and
    the endpoint through TestClient, one request at a time."""
    from fastapi.routing import APIRoute
    from fastapi.testclient import TestClient

    from traceability import sqlrun
    from traceability.access import Office, authenticate, record
    from traceability.lineage import reading, trace_back
    from traceability.web.api import _trace
    from traceability.web.app import create_app

    out: dict[str, Any] = {}
    _pass(lambda lot: trace_back(url, lot), lots)  # untimed: the store's pages into the cache
    out["trace_back"] = _stats(_pass(lambda lot: trace_back(url, lot), lots))
    out["trace_back_shares"] = _stats(
        _pass(lambda lot: trace_back(url, lot, with_events=False), lots)
    )
    office = Office("bench", "county", (county,))
    _pass(lambda lot: _trace(url, office, lot), lots)
    out["trace_county"] = _stats(_pass(lambda lot: _trace(url, office, lot), lots))
    log(
        f"in process: trace_back p50/p99 {out['trace_back']['p50']:.2f} / "
        f"{out['trace_back']['p99']:.2f} ms; county handler {out['trace_county']['p50']:.2f} / "
        f"{out['trace_county']['p99']:.2f} ms"
    )

    def lookup(secret: str) -> None:
        with reading(url) as reader:
            if authenticate(reader, secret) is None:
                raise RuntimeError("the bench's token does not authenticate")

    secrets = [tokens["province"]] * AUDITS
    _pass(lookup, secrets[:20])
    out["authenticate"] = _stats(_pass(lookup, secrets))
    prov = Office("bench", "province", ("23",))
    paths = [back_path(lots[i % len(lots)]) for i in range(AUDITS)]
    _pass(lambda p: record(eng, prov, "GET", p, 200), paths[:20])
    out["record"] = _stats(_pass(lambda p: record(eng, prov, "GET", p, 200), paths))
    log(
        f"in process: authenticate p50 {out['authenticate']['p50']:.3f} ms, "
        f"record p50/p99 {out['record']['p50']:.3f} / {out['record']['p99']:.3f} ms"
    )

    def connect(_: Any) -> None:
        with sqlrun.connect(url):
            pass

    out["connect"] = _stats(_pass(connect, range(AUDITS)))
    out["audit_concurrent"] = concurrent_audit(url)
    log(
        f"in process: sqlite connect + close p50 {out['connect']['p50']:.3f} ms; audit insert "
        f"with {WORKERS}x{WRITER_THREADS} writers p50/p99 {out['audit_concurrent']['p50']:.2f}"
        f" / {out['audit_concurrent']['p99']:.2f} ms ({out['audit_concurrent']['n']:,} rows)"
    )

    sizes: list[int] = []
    with TestClient(create_app(url)) as client:
        for role, secret in tokens.items():
            headers = {"Authorization": f"Bearer {secret}"}

            def get(lot: str, headers: dict[str, str] = headers, role: str = role) -> None:
                r = client.get(back_path(lot), headers=headers)
                if r.status_code != 200:
                    raise RuntimeError(f"GET {back_path(lot)} as {role}: {r.status_code}")
                sizes.append(len(r.content))

            _pass(get, lots)  # untimed; every lot must answer 200 to both tokens
            out[f"client_{role}"] = _stats(_pass(get, lots))
        # The answer's validation and JSON, as FastAPI makes them for this route.
        route = next(
            r for r in client.app.routes
            if isinstance(r, APIRoute) and r.path == "/api/v1/lots/{lot_id}/back"
        )  # fmt: skip
        docs = [trace_back(url, lot) for lot in lots]

        def serialize(doc: dict[str, Any], field: Any = route.response_field) -> None:
            value, errors = field.validate(doc, {}, loc=("response",))
            if errors:
                raise RuntimeError(f"the answer does not validate: {errors[:1]}")
            field.serialize_json(value)

        _pass(serialize, docs)
        out["serialize"] = _stats(_pass(serialize, docs))
    out["bytes_median"] = int(med(sizes))
    out["bytes_min"], out["bytes_max"] = min(sizes), max(sizes)
    log(
        f"in process, TestClient: province p50 {out['client_province']['p50']:.2f} ms, county "
        f"p50 {out['client_county']['p50']:.2f} ms; answers {out['bytes_median']:,} B median"
    )
    return out


# --- under load ------------------------------------------------------------------------------


def lua_script(work: Path, name: str, paths: list[str], secret: str) -> Path:
    script = work / f"{name}.lua"
    listed = ",\n".join(f'  "{p}"' for p in paths)
    script.write_text(LUA % (listed, secret), encoding="utf-8")
    return script


def wrk(base: str, script: Path | None, path: str = "/", seconds: int = WRK_SECONDS):
    """One wrk run (a script's paths, or ``path``); non-2xx answers or socket errors fail it."""
    cmd = [*WRK, *(["-s", str(script)] if script else [])]
    cmd[3] = f"-d{seconds}s"
    cmd.append(base + ("/" if script else path))
    log(" ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"wrk failed ({p.returncode}): {p.stderr[-800:]}")
    res = parse_wrk(p.stdout)
    errors = sum(res["socket_errors"].values()) + res["non2xx"]
    if errors:
        raise RuntimeError(f"wrk saw {errors} errors (non-2xx {res['non2xx']}):\n{p.stdout}")
    log(
        f"  {res['rps']:,.0f} req/s, p50 {res['latency'][50]:.2f} ms, "
        f"p99 {res['latency'][99]:.2f} ms, max {res.get('max_ms', 0):.1f} ms"
    )
    return res


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the most req/s, with every run's req/s and p99."""
    best = dict(max(runs, key=lambda r: r["rps"]))
    best["all_rps"] = [r["rps"] for r in runs]
    best["all_p99"] = [r["latency"][99] for r in runs]
    return best


def run(plots: int, seed: int = 2026, *, fresh: bool = False) -> dict[str, Any]:
    from traceability.access import create_token, revoke_token
    from traceability.store import open_store, reset_engines

    path, gen_s = generate.sqlite_store(plots, seed, fresh=fresh, log=log)
    url = f"sqlite:///{path}"
    t0 = time.perf_counter()
    eng = open_store(url)  # migrates the cached store to the newest schema
    open_s = time.perf_counter() - t0
    log(f"open_store (migrations to head): {open_s:.2f} s")
    county, county_plots = biggest_county(path)
    packed = county_packed_lots(path, county)
    if len(packed) < LOTS:
        raise RuntimeError(f"county {county} has {len(packed)} packed lots, fewer than {LOTS}")
    lots = random.Random(seed).sample(packed, LOTS)
    log(f"county {county}: {county_plots:,} plots, {len(packed):,} packed lots; {LOTS} sampled")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    names = {"province": f"bench-api-province-{stamp}", "county": f"bench-api-{county}-{stamp}"}
    tokens = {
        "province": create_token(eng, names["province"], ["23"], "province")["token"],
        "county": create_token(eng, names["county"], [county], "county")["token"],
    }
    work = Path(tempfile.mkdtemp(prefix="heitu-bench-api-"))
    try:
        local = in_process(url, eng, lots, tokens, county)
        paths = [back_path(lot) for lot in lots]
        scripts = {role: lua_script(work, role, paths, s) for role, s in tokens.items()}
        env = {"HEITU_WEB_BASELINE_BYTES": str(local["bytes_median"])}
        loads: dict[str, list[dict[str, Any]]] = {"province": [], "county": [], "baseline": []}
        with serve(url, free_port(), env, work / "serve.log") as base:
            # Untimed: each worker's first requests (imports, connections, the store's pages).
            wrk(base, scripts["province"], seconds=WARMUP_SECONDS)
            wrk(base, scripts["county"], seconds=WARMUP_SECONDS)
            audit_before = audit_rows(path)
            api_requests = 0
            for _ in range(ROUNDS):
                for role in ("province", "county"):
                    r = wrk(base, scripts[role])
                    api_requests += r.get("requests", 0)
                    loads[role].append(r)
                loads["baseline"].append(wrk(base, None, "/_baseline"))
            audit_after = audit_rows(path)
    finally:
        for name in names.values():
            revoke_token(eng, name)
        reset_engines()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "plots": plots,
        "seed": seed,
        "gen_s": gen_s,
        "store_gb": path.stat().st_size / 2**30,
        "open_s": open_s,
        "county": county,
        "county_plots": county_plots,
        "county_packed": len(packed),
        "lots": LOTS,
        "local": local,
        "province": _best(loads["province"]),
        "county_run": _best(loads["county"]),
        "baseline": _best(loads["baseline"]),
        "audit_rows": audit_after - audit_before,
        "api_requests": api_requests,
        "wrk": " ".join(WRK),
        "workers": WORKERS,
    }


# --- the section -----------------------------------------------------------------------------


def _num(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:,.0f}"


def _x(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x"


def _ok(good: bool) -> str:
    return "met" if good else "**missed**"


def _pair(s: dict[str, float]) -> str:
    return f"{_num(s['p50'])} / {_num(s['p99'])}"


def _lat(r: dict[str, Any]) -> dict[str, float]:
    return {"p50": r["latency"][50], "p99": r["latency"][99]}


def _ratio(a: dict[str, float], b: dict[str, float]) -> str:
    return f"{_x(a['p50'] / b['p50'])} / {_x(a['p99'] / b['p99'])}"


def _others(r: dict[str, Any]) -> str:
    if len(r.get("all_rps", [])) < 2:
        return ""
    pairs = zip(r["all_rps"], r["all_p99"], strict=True)
    runs = ", ".join(f"{rps:,.0f} req/s p99 {p99:.1f} ms" for rps, p99 in pairs)
    return f"; best of {len(r['all_rps'])} runs by req/s ({runs})"


def _breakdown(local: dict[str, Any]) -> str:
    """Where a province request's time goes, one at a time in this process (means)."""
    keys = ("client_province", "authenticate", "connect", "trace_back", "trace_back_shares",
            "serialize", "record")  # fmt: skip
    m = {k: local[k]["mean"] for k in keys}
    parts = m["authenticate"] + m["trace_back"] + m["serialize"] + m["record"]
    return (
        f"A province request one at a time through TestClient takes {m['client_province']:.2f} "
        "ms (mean). Its parts, each measured alone on a new connection: the token lookup "
        f"{m['authenticate']:.2f} ms, the trace back {m['trace_back']:.2f} ms (its lots, plots "
        f"and shares {m['trace_back_shares']:.2f} ms, the soil and the field events the rest), "
        f"the answer's validation and JSON {m['serialize']:.2f} ms, an audit insert of its own "
        f"{m['record']:.2f} ms: {parts:.2f} ms together. The app pays less than that sum: it "
        "keeps a connection per thread (a new SQLite connection alone costs "
        f"{m['connect']:.2f} ms: open, its first statement, which parses the store's schema, "
        "close), keeps tokens and answers for the store's generation, and leaves the audit "
        "row to its writer thread."
    )


def markdown(res: dict[str, Any]) -> list[str]:
    for key in ("province", "county_run", "baseline"):  # json makes the percentiles' keys strings
        res[key]["latency"] = {int(k): v for k, v in res[key]["latency"].items()}
    local, base = res["local"], res["baseline"]
    table: list[tuple[str, ...]] = []
    for role, r, query, qname in (
        ("province", res["province"], local["trace_back"], "`trace_back(url, lot)`"),
        ("county", res["county_run"], local["trace_county"],
         "the scoped handler (`trace_back`, then its plots' scope and counties)"),
    ):  # fmt: skip
        lat = _lat(r)
        table += [
            (
                f"`GET /api/v1/lots/{{id}}/back`, {role} token, c{WRK_CONNECTIONS}: "
                "latency p50 / p99 ms",
                _pair(lat),
                _pair(query),
                _ratio(lat, query),
                f"p99 <= {TARGET_P99_MS:g}: {_ok(lat['p99'] <= TARGET_P99_MS)}",
                f"baseline: {qname} in process, one at a time, same {res['lots']} lots; "
                f"max {_num(r.get('max_ms', 0))} ms; `/_baseline` under the same load "
                f"{_pair(_lat(base))}",
            ),
            (
                f"same, {role} token: req/s",
                f"{r['rps']:,.0f}",
                f"{base['rps']:,.0f}",
                _x(r["rps"] / base["rps"]),
                "-",
                f"baseline: `/_baseline`; {r.get('requests', 0):,} requests in "
                f"{r.get('duration', '?')}, all 200{_others(r)}",
            ),
        ]
    for role in ("province", "county"):
        c = local[f"client_{role}"]
        q = local["trace_back" if role == "province" else "trace_county"]
        table.append(
            (
                f"endpoint through TestClient, {role} token, one at a time: p50 / p99 ms",
                _pair(c),
                _pair(q),
                _ratio(c, q),
                "-",
                "the app's whole work per request (token lookup, handler, JSON, audit insert) "
                "without network or concurrency; baseline as above",
            )
        )
    rec, conc, cp = local["record"], local["audit_concurrent"], local["client_province"]
    table += [
        (
            "audit insert (`access.record`) alone: p50 / p99 ms",
            _pair(rec),
            "-",
            "-",
            "-",
            f"{AUDITS:,} inserts one after another, one SQLite write transaction each; "
            f"{100 * rec['mean'] / cp['mean']:.0f} % of the province request's mean time "
            f"through TestClient ({cp['mean']:.2f} ms); audit rows written during the loaded "
            f"runs: {res['audit_rows']:,} for {res['api_requests']:,} API requests wrk counted",
        ),
        (
            f"audit insert, {WORKERS} processes x {WRITER_THREADS} threads at once: p50 / p99 ms",
            _pair(conc),
            _pair(rec),
            _ratio(conc, rec),
            "-",
            f"{conc['n']:,} inserts in {WRITER_SECONDS:g} s, max {_num(conc['max'])} ms: the "
            "writers of both workers queue for SQLite's one write lock; baseline: alone",
        ),
        (
            "token lookup (`access.authenticate` on a new connection): p50 / p99 ms",
            _pair(local["authenticate"]),
            "-",
            "-",
            "-",
            f"{AUDITS:,} lookups",
        ),
        (
            "new SQLite connection (`sqlrun.connect`, open and close): p50 / p99 ms",
            _pair(local["connect"]),
            "-",
            "-",
            "-",
            "the first statement on it parses the store's schema; paid by every read made on "
            "a connection of its own",
        ),
        (
            "the answer's validation and JSON (the route's response field): p50 / p99 ms",
            _pair(local["serialize"]),
            "-",
            "-",
            "-",
            f"pydantic, the same {res['lots']} answers",
        ),
    ]
    gen = (
        "generated in this run"
        if res.get("gen_s") is not None
        else "cached in bench/out/ from an earlier run"
    )
    tb, tbs = local["trace_back"], local["trace_back_shares"]
    return [
        f"Store: `bench.generate`, {res['plots']:,} plots (seed {res['seed']}), SQLite "
        f"{res['store_gb']:.1f} GiB, {gen}; `open_store` (migrations to the newest schema) "
        f"took {res['open_s']:.2f} s. Tokens: one `province` (23), one `county` for "
        f"{res['county']} ({res['county_plots']:,} plots, the most of any county). Lots: "
        f"{res['lots']} random packed lots of the {res['county_packed']:,} whose chain touches "
        f"{res['county']}, so both tokens see them; answers "
        f"{local['bytes_min']:,}-{local['bytes_max']:,} B (median {local['bytes_median']:,} B)."
        f" Server: `heitu serve --workers {res['workers']}`; load: `{res['wrk']} -s lots.lua "
        f"URL`, the script cycling through the {res['lots']} paths with the token's header; an "
        f"untimed {WARMUP_SECONDS} s warm-up per token, then {ROUNDS} rounds of province, "
        "county and `/_baseline` in turn.",
        "",
        "| what | heitu | baseline | ratio | target | notes |",
        "|---|---|---|---|---|---|",
        *(f"| {' | '.join(c or '-' for c in r)} |" for r in table),
        "",
        _breakdown(local),
        "",
        "Baselines: for latency, the bare trace back of the same lots in this process on the same",
        "store, one call at a time after an untimed pass (`trace_back(url, lot)` with events, as",
        f"the endpoint calls it; shares only it takes {_pair(tbs)} ms against {_pair(tb)}); for",
        "the county token, the endpoint's own handler body (the trace back, then its plots' scope",
        "and their counties). For req/s, `/_baseline` of the same server with",
        "`HEITU_WEB_BASELINE_BYTES` set to the answers' median size: a fixed page from the same",
        "app and workers under the same wrk settings, outside `/api/` (no token lookup, no audit",
        "insert), so it is what FastAPI and uvicorn alone give on this machine. Every API request",
        "also appends one `audit_log` row, written by the app's audit thread in batches. The app",
        "keeps each answer per office scope for the store's generation (docs/bureau.md): a run",
        "cycles through the 200 lots, so after the first pass each worker answers from its cache;",
        "an ingest drops it, and the first request for a lot then costs about the baseline's trace",
        "back more.",
        "wrk's 2 threads and the server's 2 workers share the machine's 2 cores; at 16",
        "connections a request's latency is mostly its wait behind the others (latency ~ 16 /",
        "req/s). Targets are goals, not tests.",
    ]
