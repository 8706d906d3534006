"""``make bench``: speed of ingest, lineage, geo, web page, API and codes, to docs/benchmarks.md.

Six sections, each with its own table; every heitu figure comes with a baseline measured in the
same run on the same data, so the ratio means something on any machine:

- ingest (``bench/ingest.py``): a ``heitu sample`` season (20,000 plots, seed 7) through
  ``ingest_dir``'s steps, timed per folder, into SQLite and PostgreSQL, against a bare
  ``executemany`` / COPY of the same rows, then again unchanged; trace back and the EPCIS
  export on the SQLite store it made;
- lineage (``bench/lineage.py``): a synthetic season of ``HEITU_BENCH_PLOTS`` plots written
  straight into SQLite and PostgreSQL stores (``bench/generate.py``): trace back, county recall
  and ``heitu trace back`` as a command, against per-hop loops; the PostgreSQL planner variants;
- geo (``bench/geo.py``): matching harvest GPS points to plots and reading a big GeoPackage,
  against geopandas;
- web (``bench/web.py``): the consumer page of a lot with >= 50 ancestor lots under
  ``heitu serve --workers 2``, warm and cold, with wrk against a fixed page of the same size
  from the same app, its build time in process, and its HTML + CSS size;
- api (``bench/api.py``): the bureau API's ``GET /api/v1/lots/{id}/back`` with a province and
  a county token under ``heitu serve --workers 2`` at concurrency 16 (wrk), on the lineage
  section's cached SQLite season, against the bare trace back of the same lots in process and
  a fixed page of the same size from the same app; the audit insert and token lookup alone.
- codes (``bench/codes.py``): serial-shaped codes and their QR PNGs (``--codes`` of them, in
  worker processes, extrapolated to a 1,000,000-bag season), against bare qrcode and bare segno
  on the same URIs; a random sample decoded with zbar; the fixed mask against the search.

Settings (options win over the environment):
  --only ingest|lineage|geo|web|api|codes           one section; the others keep their old text
                          HEITU_BENCH_ONLY
  --db sqlite|postgresql|both  HEITU_BENCH_DB       lineage and ingest databases (default both)
  --plots N               HEITU_BENCH_PLOTS         lineage and api season size (default 200000)
  --ingest-plots N        HEITU_BENCH_INGEST_PLOTS  ingest season size (default 20000)
  --ingest-seed N         HEITU_BENCH_INGEST_SEED   ingest season seed (default 7)
  --seed N                HEITU_BENCH_SEED          the other sections' seed (default 2026)
  --codes N               HEITU_BENCH_CODES         serial codes drawn (default 20000)
  --fresh                                           regenerate the cached seasons
  --report                                          only rewrite the Markdown from the figures
                                                    of the last run (bench/out/results-*.json)
  --keep-pg               HEITU_BENCH_KEEP_PG=1     keep the PostgreSQL copy for the next run
                          HEITU_BENCH_PG            admin URL (default postgres@127.0.0.1:5432)
                          HEITU_BENCH_WORKERS       generator processes (default 2 when large)
The ingest section's sample season is cached in bench/out/ (by size, seed and the sample
generator's source); its PostgreSQL databases are made for the run and dropped after it.
The generated SQLite season is cached in bench/out/ (by size, seed, schema revision and
generator version); the PostgreSQL copy is made from it and dropped after the run unless kept.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from bench.common import ROOT, log, machine

OUT = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "bench" / "out"
SECTIONS = ("ingest", "lineage", "geo", "web", "api", "codes")
TITLES = {
    "ingest": "Ingest (sample season, SQLite and PostgreSQL)",  # bench.ingest.title() wins
    "lineage": "Lineage at scale (SQLite and PostgreSQL)",
    "geo": "Plot registry: matching GPS points, reading plots",
    "web": "Consumer page under load (heitu serve, wrk)",
    "api": "Bureau API under load: trace back with a token (heitu serve, wrk)",
    "codes": "Per-bag codes and QR PNGs for a 1,000,000-bag season",
}


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    ap.add_argument("--only", choices=SECTIONS, default=os.environ.get("HEITU_BENCH_ONLY") or None)
    ap.add_argument(
        "--db",
        choices=("sqlite", "postgresql", "both"),
        default=os.environ.get("HEITU_BENCH_DB", "both"),
    )
    ap.add_argument("--plots", type=int, default=_env_int("HEITU_BENCH_PLOTS", 200_000))
    ap.add_argument(
        "--ingest-plots", type=int, default=_env_int("HEITU_BENCH_INGEST_PLOTS", 20_000)
    )
    ap.add_argument("--ingest-seed", type=int, default=_env_int("HEITU_BENCH_INGEST_SEED", 7))
    ap.add_argument("--seed", type=int, default=_env_int("HEITU_BENCH_SEED", 2026))
    ap.add_argument("--lots", type=int, default=1000, help="random packed lots traced back")
    ap.add_argument(
        "--codes", type=int, default=_env_int("HEITU_BENCH_CODES", 20_000),
        help="serial codes drawn by the codes section (extrapolated to a 1,000,000-bag season)",
    )  # fmt: skip
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument(
        "--keep-pg",
        action="store_true",
        default=os.environ.get("HEITU_BENCH_KEEP_PG", "") not in ("", "0"),
    )
    ap.add_argument("--out", default=str(OUT), help="Markdown file written (docs/benchmarks.md)")
    ap.add_argument(
        "--report", action="store_true",
        help="measure nothing: rewrite the Markdown from bench/out/results-*.json",
    )  # fmt: skip
    return ap.parse_args(argv)


def _section(name: str, body: list[str], title: str | None = None) -> str:
    heading = title or TITLES[name]
    return "\n".join(
        [f"<!-- bench:{name} -->", f"## {heading}", "", *body, f"<!-- /bench:{name} -->"]
    )


def write(out_path: str, sections: dict[str, str], header: list[str]) -> str:
    """docs/benchmarks.md with the sections just measured; a section not run this time keeps
    its text from the file."""
    path = Path(out_path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    parts = []
    for name in SECTIONS:
        if name in sections:
            parts.append(sections[name])
            continue
        m = re.search(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", old, re.S)
        parts.append(
            m.group(0)
            if m
            else _section(name, [f"Not measured yet: `python -m bench --only {name}`."])
        )
    text = "\n".join(header) + "\n\n" + "\n\n".join(parts) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


def _saved(section: str) -> Path:
    return RESULTS / f"results-{section}.json"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    run = (args.only,) if args.only else SECTIONS
    dbs = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    results: dict[str, Any] = {}
    for name in run:
        if args.report:  # rebuild the text from the figures of the last run
            if _saved(name).exists():
                results[name] = json.loads(_saved(name).read_text(encoding="utf-8"))
            continue
        if name == "ingest":
            from bench import ingest

            res = ingest.run(
                args.ingest_plots, args.ingest_seed, dbs, lots=args.lots, fresh=args.fresh
            )
        elif name == "geo":
            from bench import geo

            # bench/geo.py writes its own section; its heading is ours here.
            res = {"lines": [line for line in geo.run() if not line.startswith("## ")]}
        elif name == "web":
            from bench import web

            res = web.run(args.seed)
        elif name == "api":
            from bench import api

            res = api.run(args.plots, args.seed, fresh=args.fresh)
        elif name == "codes":
            from bench import codes

            res = codes.run(args.codes, args.seed)
        else:
            from bench import lineage

            res = lineage.run(
                args.plots, args.seed, dbs, lots=args.lots, fresh=args.fresh,
                keep_pg=args.keep_pg,
            )  # fmt: skip
            res["pg_version"] = lineage.pg_version() if "postgresql" in dbs else ""
        res["machine"] = machine()
        RESULTS.mkdir(parents=True, exist_ok=True)
        _saved(name).write_text(json.dumps(res, default=str, indent=1), encoding="utf-8")
        results[name] = res
    sections: dict[str, str] = {}
    if "ingest" in results:
        from bench import ingest

        res = results["ingest"]
        sections["ingest"] = _section(
            "ingest",
            [f"Machine: {res['machine']}.", *ingest.markdown(res)],
            ingest.title(res) if "dbs" in res else None,
        )
    if "lineage" in results:
        from bench import lineage

        res = results["lineage"]
        pg = f"; {res['pg_version']}" if res.get("pg_version") else ""
        body = [f"Machine: {res['machine']}{pg}.", *lineage.markdown(res), "",
                *lineage.findings(res)]  # fmt: skip
        sections["lineage"] = _section("lineage", body)
    if "geo" in results:
        res = results["geo"]
        sections["geo"] = _section("geo", [f"Machine: {res['machine']}.", *res["lines"]])
    if "web" in results:
        from bench import web

        res = results["web"]
        sections["web"] = _section("web", [f"Machine: {res['machine']}.", *web.markdown(res)])
    if "api" in results:
        from bench import api

        res = results["api"]
        sections["api"] = _section("api", [f"Machine: {res['machine']}.", *api.markdown(res)])
    if "codes" in results:
        from bench import codes

        res = results["codes"]
        body = [f"Machine: {res['machine']}.", *codes.markdown(res)]
        sections["codes"] = _section("codes", body)
    header = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`; `--only ingest|lineage|geo|web|api|codes`",
        "re-runs one section, see `python -m bench --help`). The baseline of each row is measured",
        "in the same run on the same data; ratio = heitu's time / the baseline's time (for a",
        "rate, heitu's rate / the baseline's).",
    ]
    text = write(args.out, sections, header)
    log(f"wrote {args.out}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
