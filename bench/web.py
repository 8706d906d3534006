"""The consumer page under load: ``heitu serve --workers 2`` measured with wrk.

The store: a ``heitu sample`` season plus one blend of many milled (or dried) lots of one
processor, packed under one of its GTINs, shipped with telemetry and sold, then the checks run
so the page shows findings; the page measured is that packed lot's, the one in the store with
the most ancestor lots.

Measured, each against a baseline from the same run:
- the page warm (the app's page cache on): one warm-up request, a first wrk run (reported: one
  request warms one worker's cache only), then ROUNDS runs taken in turn with ``/_baseline`` of
  the same server (``HEITU_WEB_BASELINE_BYTES``: a fixed page of the same size from the same
  app, through the same headers and validators), the faster of each reported; the code's
  Digital Link itself (the resolver's redirect to the page) when it is one;
- the page cold: a second server with ``HEITU_WEB_CACHE=0``, every request reads the store and
  renders the page;
- every load is ``wrk -t2 -c32 -d10s --timeout=10s --latency`` (wrk's non-2xx/3xx responses or
  socket errors fail the section);
- the cold page's build time in this process (``create_app(url, cache=False)`` and fastapi's
  TestClient, 30 GETs after one untimed) against 30 GETs of ``/_baseline`` the same way;
- the page's HTML + CSS against the 60 KB budget.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import log, med, ms, pct
from bench.lineage import _heitu_cmd

PLOTS = 400  # sample season; any size whose biggest processor has >= BLEND_MIN lots will do
BLEND_MIN = 50  # ancestor lots the page's lot must have at least
BLEND_INPUTS = 60  # milled/dried lots blended into the bench's lot when the sample has none
WRK_THREADS = 2
WRK_CONNECTIONS = 32
WRK_SECONDS = 10
ROUNDS = 2  # runs each of the warm page and the baseline, in turn; the faster one is reported
WORKERS = 2
BUILDS = 30  # in-process GETs of the cold page
BUDGET_BYTES = 60 * 1024
TARGET_RPS = 3000
TARGET_P99_MS = 20.0
WRK_TIMEOUT = 10  # s; wrk's default 2 s counts the cold page's queue at 32 connections as errors
READY_TIMEOUT = 60.0  # seconds for a server to answer its first request
WRK = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s",
       f"--timeout={WRK_TIMEOUT}s", "--latency"]  # fmt: skip

PROCESSING_HEADER = (
    "record_id,processor_id,time,step,inputs,output_lot_id,output_gtin,"
    "output_quantity_kg,output_units"
)


# --- the store -------------------------------------------------------------------------------


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _utc(value: str) -> datetime:
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _most_ancestors(url: str, db: Path) -> tuple[str, str, int]:
    """(lot, GTIN-14, ancestor lots) of the packed lot with the most ancestors."""
    from traceability.lineage import trace_back

    with contextlib.closing(sqlite3.connect(db)) as conn:
        packed = conn.execute("SELECT lot_id, gtin FROM lot WHERE gtin IS NOT NULL").fetchall()
    best = max(
        ((len(trace_back(url, lot, with_events=False)["lots"]), lot, gtin) for lot, gtin in packed),
        default=(0, "", ""),
    )
    return best[1], best[2], best[0]


def _write_blend(inbox: Path, db: Path) -> str:
    """Contract files for one big blend of the busiest processor's milled (else dried) lots,
    packed, shipped to a retailer with a logger on the truck, and sold. Kg come from what each
    lot has left after its children (a little from each, always positive). Returns the packed
    lot's id."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            """
            SELECT l.lot_id, l.made_by, l.step, l.quantity_kg, l.made_at,
                   l.quantity_kg - COALESCE((SELECT SUM(e.kg) FROM edge e
                                             WHERE e.parent_lot = l.lot_id), 0) AS left_kg
            FROM lot l WHERE l.step IN ('milling', 'drying')
            """
        ).fetchall()
        by_proc: dict[tuple[str, str], list[tuple[str, float, str]]] = {}
        for lot_id, made_by, step, _kg, made_at, left in rows:
            by_proc.setdefault((made_by, step), []).append((lot_id, left, made_at))
        # The processor and step with the most lots that have kg left (milling on a tie).
        (proc, step), lots = max(
            by_proc.items(),
            key=lambda kv: (sum(left >= 1.0 for _, left, _ in kv[1]), kv[0][1] == "milling"),
        )
        if len(lots) < BLEND_MIN:
            raise RuntimeError(f"no processor has {BLEND_MIN} {step} lots in a {PLOTS}-plot sample")
        # The processor's GTIN it packs most, and that product's kg per unit.
        gtin, unit_kg = conn.execute(
            """
            SELECT gtin, quantity_kg / units FROM lot
            WHERE step = 'packing' AND made_by = ? AND units > 0
            GROUP BY gtin ORDER BY COUNT(*) DESC, gtin LIMIT 1
            """,
            (proc,),
        ).fetchone()
        # Where it goes: the retailer this processor ships to most, and a carrier.
        party = {
            r[0]: (r[1], r[2])
            for r in conn.execute("SELECT party_id, lon, lat FROM party WHERE lon IS NOT NULL")
        }
        dest = conn.execute(
            """
            SELECT s.to_party FROM shipment s JOIN party p ON p.party_id = s.to_party
            WHERE s.from_party = ? AND p.role = 'retailer'
            GROUP BY s.to_party ORDER BY COUNT(*) DESC, s.to_party LIMIT 1
            """,
            (proc,),
        ).fetchone()
        carrier = conn.execute(
            "SELECT party_id FROM party WHERE role = 'carrier' ORDER BY party_id LIMIT 1"
        ).fetchone()[0]
    dest = dest[0] if dest else "RET-HRB-01"
    lots.sort(key=lambda r: (-r[1], r[0]))  # the most kg left first
    chosen = lots[:BLEND_INPUTS]
    inputs = [(lot_id, max(0.1, round(min(left * 0.5, 5.0), 1))) for lot_id, left, _ in chosen]
    blend_kg = round(sum(kg for _, kg in inputs), 1)
    units = int(blend_kg // unit_kg)
    if units < 1:
        raise RuntimeError(f"blend of {blend_kg} kg is less than one unit of {unit_kg} kg")
    packed_kg = round(units * unit_kg, 1)
    blended_at = max(_utc(made_at) for _, _, made_at in chosen) + timedelta(hours=12)
    packed_at = blended_at + timedelta(hours=6)
    blend_lot, packed_lot = "B-BENCH-WEB-0001", "P-BENCH-WEB-0001"
    with (inbox / "processing" / "bench_web_blend.csv").open("w", encoding="utf-8") as f:
        f.write(PROCESSING_HEADER + "\n")
        f.write(
            f"BENCH-BLD-00001,{proc},{_iso(blended_at)},blending,"
            f"{';'.join(f'{lot}:{kg:.1f}' for lot, kg in inputs)},{blend_lot},,{blend_kg:.1f},\n"
        )
        f.write(
            f"BENCH-PAK-00001,{proc},{_iso(packed_at)},packing,{blend_lot}:{packed_kg:.1f},"
            f"{packed_lot},{gtin},{packed_kg:.1f},{units}\n"
        )
    # The truck: 60 km/h as the crow flies, a reading every 15 minutes, cool storage.
    (lon0, lat0), (lon1, lat1) = party.get(proc, (127.4, 44.8)), party.get(dest, (126.6, 45.8))
    km = (((lon1 - lon0) * 79.0) ** 2 + ((lat1 - lat0) * 111.0) ** 2) ** 0.5
    departed = packed_at + timedelta(hours=5)
    arrived = departed + timedelta(hours=max(1.0, km / 60.0))
    device = "TL-BENCH-WEB-01"
    with (inbox / "transport" / "shipments_bench_web.csv").open("w", encoding="utf-8") as f:
        f.write(
            "shipment_id,carrier_id,device_id,from_party,to_party,departed_at,arrived_at,lots\n"
        )
        f.write(
            f"SH-BENCH-WEB-0001,{carrier},{device},{proc},{dest},{_iso(departed)},"
            f"{_iso(arrived)},{packed_lot}:{packed_kg:.1f}\n"
        )
    steps = int((arrived - departed) / timedelta(minutes=15))
    with (inbox / "transport" / "telemetry_bench_web.jsonl").open("w", encoding="utf-8") as f:
        for i in range(steps + 1):
            x = i / max(steps, 1)
            ts = departed + timedelta(minutes=15 * i)
            f.write(
                f'{{"device_id": "{device}", "ts": "{_iso(ts)}", '
                f'"temp_c": {8.0 + 2.0 * x:.1f}, "humidity_pct": {60 + (i % 5)}, '
                f'"lon": {lon0 + (lon1 - lon0) * x:.6f}, "lat": {lat0 + (lat1 - lat0) * x:.6f}}}\n'
            )
    with (inbox / "sales" / "sales_bench_web.csv").open("w", encoding="utf-8") as f:
        f.write("record_id,retailer_id,time,lot_id,gtin,quantity_units,channel\n")
        sold = [max(1, units // 4), max(1, units // 5), max(1, units // 6)]
        for i, n in enumerate(sold[: max(1, min(3, units))]):
            when = arrived + timedelta(days=i + 1, hours=3)
            f.write(f"SL-BENCH-WEB-{i + 1:04d},{dest},{_iso(when)},{packed_lot},{gtin},{n},store\n")
    log(
        f"blend of {len(inputs)} {step} lots of {proc} ({blend_kg} kg) packed as {packed_lot}: "
        f"{units} x {unit_kg:g} kg of {gtin}, shipped to {dest}"
    )
    return packed_lot


def build_store(work: Path, seed: int) -> dict[str, Any]:
    """The season, the blend when the sample has no lot with BLEND_MIN ancestors, the checks."""
    from traceability import Store
    from traceability.lineage import trace_back
    from traceability.pipeline import ingest_dir
    from traceability.sample import write_sample

    inbox, db = work / "inbox", work / "heitu.db"
    url = f"sqlite:///{db}"
    log(f"sample season: {PLOTS} plots -> {inbox}")
    write_sample(inbox, plots=PLOTS, seed=seed)
    ingest_dir(inbox, url)
    lot, gtin, ancestors = _most_ancestors(url, db)
    blended = False
    if ancestors < BLEND_MIN:
        lot = _write_blend(inbox, db)
        ingest_dir(inbox, url)
        blended = True
        with contextlib.closing(sqlite3.connect(db)) as conn:
            row = conn.execute("SELECT gtin FROM lot WHERE lot_id = ?", (lot,)).fetchone()
        if row is None:
            raise RuntimeError(f"the bench's blend {lot} was not loaded (see the rejects)")
        gtin = row[0]
    log("run_checks")
    checks = Store.open(url).check().as_dict()
    ancestors = len(trace_back(url, lot, with_events=False)["lots"])
    if ancestors < BLEND_MIN:
        raise RuntimeError(f"{lot} has {ancestors} ancestor lots, fewer than {BLEND_MIN}")
    doc = trace_back(url, lot, with_events=False)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        ours = conn.execute(
            "SELECT file, line, reason FROM reject WHERE file LIKE '%bench_web%'"
        ).fetchall()
        if ours:
            raise RuntimeError(f"the bench's own records were rejected: {ours[:5]}")
        rejects = conn.execute("SELECT COUNT(*) FROM reject").fetchone()[0]
        findings = conn.execute("SELECT COUNT(*) FROM finding").fetchone()[0]
        about = conn.execute("SELECT COUNT(*) FROM finding WHERE lot_id = ?", (lot,)).fetchone()[0]
    log(f"page lot {lot} ({gtin}): {ancestors} ancestor lots, {len(doc['plots'])} plots")
    return {
        "url": url,
        "db": db,
        "lot": lot,
        "gtin": gtin,
        "ancestors": ancestors,
        "plots_of_lot": len(doc["plots"]),
        "blended": blended,
        "rejects": rejects,
        "findings": findings,
        "findings_lot": about,
        "check_kinds": len(checks),
    }


# --- the servers -----------------------------------------------------------------------------


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _get(url: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of a GET, redirects not followed."""
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


@contextlib.contextmanager
def serve(url: str, port: int, env: dict[str, str], logfile: Path) -> Iterator[str]:
    """``heitu serve --workers 2`` on ``port``; yields its base URL once it answers. The
    server and its workers run in a session of their own, ended as one group afterwards."""
    full_env = {**os.environ, "HEITU_DB_URL": url, **env}
    cmd = [*_heitu_cmd(), "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(WORKERS)]  # fmt: skip
    with logfile.open("wb") as err:
        proc = subprocess.Popen(
            cmd, env=full_env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"heitu serve exited with {proc.returncode}: "
                        f"{logfile.read_text(errors='replace')[-800:]}"
                    )
                try:
                    status, _, _ = _get(base + "/static/heitu.css", timeout=2.0)
                    if status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"heitu serve did not answer in {READY_TIMEOUT:.0f} s")
                time.sleep(0.2)
            yield base
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the group of the server started here
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


# --- wrk -------------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(out: str) -> dict[str, Any]:
    """Requests/s, latency percentiles (ms), request count and errors from wrk's report."""
    res: dict[str, Any] = {"non2xx": 0, "socket_errors": {}}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
    res["rps"] = float(m.group(1))
    res["latency"] = {int(q): _ms(v) for q, v in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.M)}
    m = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", out)
    if m:
        res["requests"], res["duration"], res["read"] = int(m.group(1)), m.group(2), m.group(3)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                        map(int, m.groups()), strict=True))  # fmt: skip
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    m = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if m:
        res["avg_ms"], res["max_ms"] = _ms(m.group(1)), _ms(m.group(3))
    return res


def wrk(url: str, *, must_succeed: bool = True) -> dict[str, Any]:
    """One wrk run; wrk's non-2xx/3xx responses and socket errors fail it."""
    cmd = [*WRK, url]
    log(" ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=WRK_SECONDS + 60, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"wrk failed ({p.returncode}): {p.stderr[-800:]}")
    res = parse_wrk(p.stdout)
    errors = sum(res["socket_errors"].values()) + res["non2xx"]
    if errors and must_succeed:
        raise RuntimeError(f"wrk saw {errors} errors on {url}:\n{p.stdout}")
    log(
        f"  {res['rps']:,.0f} req/s, p50 {res['latency'].get(50, 0):.2f} ms, "
        f"p99 {res['latency'].get(99, 0):.2f} ms, errors {errors}"
    )
    return res


# --- in process ------------------------------------------------------------------------------


def _timed_gets(client: Any, path: str, n: int) -> tuple[list[float], bytes]:
    r = client.get(path)  # untimed: imports, templates, connections
    if r.status_code != 200:
        raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:300]}")
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append(ms(time.perf_counter() - t0))
        if r.status_code != 200:
            raise RuntimeError(f"GET {path}: {r.status_code}")
    return times, r.content


def _location(resp: Any) -> str:
    """Path and query of a redirect's target."""
    target = urlsplit(resp.headers["location"])
    return target.path + (f"?{target.query}" if target.query else "")


def in_process(url: str, code: str, base: str) -> dict[str, Any]:
    """Where the code's Digital Link leads (the page's path), cold page builds through fastapi's
    TestClient, the page's size, and the same number of GETs of ``/_baseline`` of that size.
    ``base`` is the servers' base URL, so that the page's absolute links, and so its size, are
    the ones the servers send."""
    from fastapi.testclient import TestClient

    from traceability.web.app import create_app

    app = create_app(url, cache=False)
    with TestClient(app, base_url=base, follow_redirects=False) as client:
        r = client.get(code)
        if r.is_redirect:
            path = _location(r)
        elif r.status_code == 200 and r.headers["content-type"].startswith("text/html"):
            path = code
        else:
            raise RuntimeError(f"GET {code}: {r.status_code} {r.text[:300]}")
        log(f"in process: {BUILDS} cold GETs of {path} (the target of {code})")
        builds, html = _timed_gets(client, path, BUILDS)
        css = client.get("/static/heitu.css").content
    old = os.environ.get("HEITU_WEB_BASELINE_BYTES")
    os.environ["HEITU_WEB_BASELINE_BYTES"] = str(len(html))
    try:
        with TestClient(create_app(url, cache=False), base_url=base) as client:
            if client.get("/_baseline").status_code == 404:
                raise RuntimeError(
                    "the app has no /_baseline route for HEITU_WEB_BASELINE_BYTES: "
                    "traceability/web/app.py must provide it for this benchmark"
                )
            base_times, fixed = _timed_gets(client, "/_baseline", BUILDS)
    finally:
        if old is None:
            os.environ.pop("HEITU_WEB_BASELINE_BYTES", None)
        else:
            os.environ["HEITU_WEB_BASELINE_BYTES"] = old
    return {
        "path": path,
        "redirect": r.status_code if r.is_redirect else None,
        "build_p50": med(builds),
        "build_p90": pct(builds, 90),
        "base_p50": med(base_times),
        "base_p90": pct(base_times, 90),
        "html_bytes": len(html),
        "css_bytes": len(css),
        "baseline_bytes": len(fixed),
    }


# --- the section -----------------------------------------------------------------------------


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the most req/s, with every run's req/s."""
    best = dict(max(runs, key=lambda r: r["rps"]))
    best["all_rps"] = [r["rps"] for r in runs]
    return best


def _check_page(base: str, path: str) -> int:
    """The page answers 200 with HTML, no redirect; its size."""
    status, headers, body = _get(base + path)
    if status != 200 or not headers.get("content-type", "").startswith("text/html"):
        raise RuntimeError(f"GET {path}: {status} {headers.get('content-type')} {body[:300]!r}")
    return len(body)


def run(seed: int = 2026) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="heitu-bench-web-"))
    try:
        store = build_store(work, seed)
        url = store["url"]
        from traceability.web.dl import dl_path

        code = dl_path(store["gtin"], store["lot"])
        warm_port, cold_port = free_port(), free_port()
        local = in_process(url, code, f"http://127.0.0.1:{warm_port}")
        path, size = local["path"], local["html_bytes"]
        log(f"page {path}: {size:,} B HTML + {local['css_bytes']:,} B CSS")

        env = {"HEITU_WEB_BASELINE_BYTES": str(size)}
        resolver = None
        with serve(url, warm_port, env, work / "serve-warm.log") as base:
            served = _check_page(base, path)  # the warm-up request
            # Each worker has a cache of its own: one request warms one of them, and the
            # other builds the page for its first connections all at once; then the steady state.
            first = wrk(base + path)
            # The page and the baseline taken in turn, the faster of ROUNDS runs of each: the
            # host's own load drifts from one run to the next.
            warms, baselines = [], []
            for _ in range(ROUNDS):
                warms.append(wrk(base + path))
                baselines.append(wrk(base + "/_baseline"))
            warm = _best(warms)
            baseline = _best(baselines)
            if code != path:  # the scan's first request: the resolver's redirect to the page
                resolver = wrk(base + code)
        # The cold server on a port of its own: the warm one's may linger in TIME_WAIT.
        env_cold = {"HEITU_WEB_CACHE": "0", "HEITU_WEB_BASELINE_BYTES": str(size)}
        with serve(url, cold_port, env_cold, work / "serve-cold.log") as base:
            _check_page(base, path)
            cold = wrk(base + path)
        return {
            **{k: v for k, v in store.items() if k not in ("url", "db")},
            "code": code,
            "path": path,
            "served_bytes": served,
            "local": local,
            "first": first,
            "warm": warm,
            "baseline": baseline,
            "resolver": resolver,
            "cold": cold,
            "wrk": " ".join(WRK),
            "workers": WORKERS,
            "plots": PLOTS,
            "seed": seed,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _num(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:,.0f}"


def _x(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x"


def _lat(r: dict[str, Any]) -> str:
    return f"{_num(r['latency'][50])} / {_num(r['latency'][99])}"


def _errs(r: dict[str, Any]) -> str:
    n = sum(r["socket_errors"].values()) + r["non2xx"]
    return "no errors" if not n else f"{n} errors ({r['non2xx']} non-2xx, {r['socket_errors']})"


def _runs(r: dict[str, Any], base: dict[str, Any]) -> str:
    """The req/s of every run when the row is the best of several."""
    if len(r.get("all_rps", [])) < 2:
        return ""
    ours = " and ".join(f"{x:,.0f}" for x in r["all_rps"])
    theirs = " and ".join(f"{x:,.0f}" for x in base.get("all_rps", []))
    n = len(r["all_rps"])
    return f"; faster of {n} runs taken in turn with the baseline's: {ours} (baseline {theirs})"


def _ok(good: bool) -> str:
    return "met" if good else "**missed**"


def _load_rows(name: str, r: dict[str, Any], base: dict[str, Any], note: str) -> list[tuple]:
    """A req/s row and a latency row of one wrk run against the baseline's."""
    return [
        (
            f"{name}, req/s",
            f"{r['rps']:,.0f}",
            f"{base['rps']:,.0f}",
            _x(r["rps"] / base["rps"]),
            "",
            f"{r.get('requests', 0):,} requests in {r.get('duration', '?')}, {_errs(r)}"
            f"{_runs(r, base)}{note}",
        ),
        (
            f"{name}, latency p50 / p99 ms",
            _lat(r),
            _lat(base),
            f"{_x(r['latency'][50] / base['latency'][50])} / "
            f"{_x(r['latency'][99] / base['latency'][99])}",
            "",
            f"max {_num(r.get('max_ms', 0))} ms (baseline {_num(base.get('max_ms', 0))})",
        ),
    ]


def markdown(res: dict[str, Any]) -> list[str]:
    runs = [k for k in ("first", "warm", "baseline", "cold", "resolver") if res.get(k)]
    for key in runs:  # a json round trip makes the percentiles' keys strings
        res[key]["latency"] = {int(k): v for k, v in res[key]["latency"].items()}
    warm, base, cold, local = res["warm"], res["baseline"], res["cold"], res["local"]
    total = local["html_bytes"] + local["css_bytes"]
    table = []
    for name, r, note in (
        ("page warm (cache on)", warm, "; after the first run below"),
        ("page, first run after one warm-up request", res["first"],
         "; the warm-up request warms one worker's cache, not the other's"),
    ):  # fmt: skip
        rps, lat = _load_rows(name, r, base, note)
        p99 = r["latency"][99]
        table += [
            (*rps[:4], f">= {TARGET_RPS:,}: {_ok(r['rps'] >= TARGET_RPS)}", rps[5]),
            (*lat[:4], f"p99 <= {TARGET_P99_MS:g}: {_ok(p99 <= TARGET_P99_MS)}", lat[5]),
        ]
    if res.get("resolver"):
        table += _load_rows(
            f"resolver `{res['code']}` (its {res['local']['redirect']} to the page), warm",
            res["resolver"], base, "; the scan's first request",
        )  # fmt: skip
    table += _load_rows(
        "page cold (`HEITU_WEB_CACHE=0`)", cold, base,
        "; every request reads the store and renders the page",
    )  # fmt: skip
    table += [
        (
            "page cold, built in process: median / p90 ms",
            f"{local['build_p50']:.1f} / {local['build_p90']:.1f}",
            f"{local['base_p50']:.2f} / {local['base_p90']:.2f}",
            f"{_x(local['build_p50'] / local['base_p50'])} (median)",
            "",
            f"{BUILDS} GETs through fastapi's TestClient after one untimed, "
            "`create_app(url, cache=False)`",
        ),
        (
            "page size, HTML + CSS (KB)",
            f"{total / 1024:.1f}",
            "-",
            "-",
            f"<= {BUDGET_BYTES // 1024}: {_ok(total <= BUDGET_BYTES)}",
            f"HTML {local['html_bytes']:,} B (as served: {res['served_bytes']:,} B), "
            f"CSS {local['css_bytes']:,} B, uncompressed",
        ),
    ]
    blend = (
        " plus one blend of 60 milled lots of one mill, packed, shipped with telemetry and sold"
        if res["blended"]
        else ""
    )
    return [
        f"Store: `heitu sample --plots {res['plots']}` (seed {res['seed']}){blend}, ingested "
        f"into SQLite, checks run ({res['findings']:,} findings stored). Page: `{res['path']}`, "
        f"the packed lot with the most ancestors: {res['ancestors']} ancestor lots, "
        f"{res['plots_of_lot']} plots. Server: `heitu serve --workers {res['workers']}`; load: "
        f"`{res['wrk']} URL`, {ROUNDS} runs of the warm page and of the baseline in turn.",
        "",
        "| what | heitu | baseline | ratio | target | notes |",
        "|---|---|---|---|---|---|",
        *(f"| {' | '.join(c or '-' for c in r)} |" for r in table),
        "",
        "Baseline: `/_baseline` of the warm server, with `HEITU_WEB_BASELINE_BYTES` set to the",
        "page's size: a fixed page of as many bytes from the same app and workers, answered",
        "through the same response path (headers, ETag, Last-Modified) but built from nothing,",
        "so it is what FastAPI and uvicorn alone give on this machine; in the in-process row, the",
        "same route through TestClient. Ratios of req/s are heitu's / the baseline's (1.00x is",
        "the ceiling), of latencies heitu's / the baseline's. wrk (2 threads) and the server's 2",
        "workers share the machine's cores, so the client's CPU is taken from the server: a",
        "separate client machine would see more req/s for both. wrk's timeout is",
        f"{WRK_TIMEOUT} s instead of its default 2 s, so that the cold page's queue at 32",
        "connections is measured rather than counted as errors. Targets are goals, not tests.",
    ]
