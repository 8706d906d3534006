"""The ``heitu`` command: a thin layer over the Python API (surface fixed in ../shared/CLI.md).

``--json`` prints exactly one JSON document on stdout; logs and progress go to stderr.
Exit codes: 0 work done (rejects and findings are results), 1 an input file could not be read
(after everything else was loaded), the store is unreachable or the lot is unknown, 2 usage.
Imports are lazy so that ``heitu trace`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from traceability.errors import HeituError


class UsageError(HeituError):
    exit_code = 2


def _emit(args: argparse.Namespace, doc: Any, human: str) -> None:
    if args.json:
        # one write: json.dump streams hundreds of thousands of small chunks to stdout, which took
        # 195 ms for a county recall's 1.2 MB against 33 ms for dumps and one write
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        print(human)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _engine() -> Any:
    from traceability.store import open_store

    return open_store()


def cmd_ingest(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from traceability.pipeline import SOURCES, ingest_dir, pending_files

    inbox = Path(args.dir)
    if not inbox.is_dir():
        raise UsageError(f"{inbox}: not a directory")
    total = sum(len(pending_files(s, inbox)) for s in SOURCES)
    with Progress(console=_stderr_console(), transient=True) as bar:
        task = bar.add_task("ingest", total=total)

        def step(path: Path) -> None:
            bar.update(task, advance=1, description=f"{path.parent.name}/{path.name}")

        result = ingest_dir(inbox, on_file=step)
    lines = []
    for source, r in result["sources"].items():
        for f in r["files"]:
            err = f"  ERROR {f['error']}" if f["error"] else ""
            lines.append(
                f"{f['file']:<40} loaded {f['loaded']:>7}  unchanged {f['unchanged']:>7}"
                f"  parked {f['parked']:>5}  rejected {f['rejected']:>5}{err}"
            )
        if not r["files"]:
            lines.append(f"{source + '/':<40} no files")
    rt = result["retried"]
    lines.append(f"parked records: {rt['loaded']} loaded on retry, {rt['waiting']} still waiting")
    _emit(args, result, "\n".join(lines))
    for u in result["unreadable"]:
        print(f"heitu: {u['error']}", file=sys.stderr)
    return 1 if result["unreadable"] else 0


def _reading_store() -> Any:
    """The store for a command that only reads lineage: its URL when the bare driver can read
    it as it is (traceability.sqlrun; no SQLAlchemy import, the larger part of the command's
    time), else an engine from open_store() (which migrates, or says why it can't connect)."""
    from traceability import config, sqlrun

    return sqlrun.ready_url(config.db_url()) or _engine()


def cmd_trace(args: argparse.Namespace) -> int:
    from traceability.lineage import trace_back, trace_forward

    eng = _reading_store()
    if args.direction == "back":
        doc = trace_back(eng, args.target)
        human = [f"lot {doc['lot']} comes from {len(doc['plots'])} plot(s):"]
        human += [f"  {p}  {doc['shares'][p] * 100:6.2f} %" for p in doc["plots"]]
        human.append(f"through {len(doc['lots'])} lot(s): {', '.join(doc['lots'])}")
        human += [
            f"  {e['time']}  {e['step']:<10} {e['record_id']}  ({e['file']}:{e['line']})"
            for e in doc["events"]
        ]
    else:
        doc = trace_forward(eng, args.target)
        human = [
            f"{doc['kind']} {args.target} went into {len(doc['lots'])} lot(s):",
            "  " + ", ".join(doc["lots"]),
            f"reaching {len(doc['retailers'])} retailer(s): {', '.join(doc['retailers'])}",
        ]
    _emit(args, doc, "\n".join(human))
    return 0


def _window_bound(value: str | None, *, end: bool) -> Any:
    """--from/--to: an ISO date or time; naive means Asia/Shanghai. A bare date as --to
    includes that whole day."""
    if value is None:
        return None
    from datetime import timedelta

    from traceability.readers import FieldError, parse_time

    try:
        when, _ = parse_time(value, "--to" if end else "--from")
    except FieldError as exc:
        raise UsageError(f"{exc.field}: {exc.reason}") from None
    if end and len(value) == 10:
        when += timedelta(days=1)
    return when


def cmd_recall(args: argparse.Namespace) -> int:
    from traceability.readers import is_county_code

    if args.action == "declare":
        return cmd_recall_declare(args)
    if args.action == "lift":
        return cmd_recall_lift(args)
    from traceability.lineage import recall

    if args.recall_id is not None:
        raise UsageError(f"unexpected argument {args.recall_id!r}: only `recall lift` takes an ID")
    if args.reason is not None:
        raise UsageError("--reason belongs to `heitu recall declare`")
    given = [(k, v) for k in RECALL_OPTIONS if (v := getattr(args, k)) is not None]
    if len(given) != 1:
        raise UsageError("recall needs exactly one of --plot, --farm, --county, --input or --lot")
    kind, key = given[0]
    if kind == "county" and not is_county_code(key):
        raise UsageError(f"--county {key!r}: a county is its 6-digit code, e.g. 230184")
    date_from = _window_bound(args.date_from, end=False)
    date_to = _window_bound(args.date_to, end=True)
    if date_from and date_to and date_from >= date_to:
        raise UsageError(f"--from {args.date_from} is not before --to {args.date_to}")
    sheets = args.xlsx or args.csv  # the spreadsheets read the store through SQLAlchemy
    doc = recall(_engine() if sheets else _reading_store(), kind, key, date_from, date_to)
    written = []
    for fmt in ("xlsx", "csv"):
        if getattr(args, fmt):
            written += [str(p) for p in _write_sheet(doc, Path(getattr(args, fmt)), fmt)]
    doc["files"] = written
    t = doc["totals"]
    human = [
        f"recall by {kind} {key}: {t['lots']} lot(s), {t['packed_units']} unit(s) packed, "
        f"{t['sold_units']} sold, {t['unsold_units']} not sold"
    ]
    human += [
        f"  {p['party']:<14} {p['role'] or '-':<10} received {p['received_kg']:>10.1f} kg"
        f"  sold {p['sold_units']:>6} units  unsold {p['unsold_units']:>8.1f} units"
        for p in doc["parties"]
    ]
    human += [f"wrote {f}" for f in written]
    _emit(args, doc, "\n".join(human))
    return 0


RECALL_OPTIONS = ("plot", "farm", "county", "input", "lot")
#: What a declared recall can name (a farm's recall is declared plot by plot).
DECLARE_OPTIONS = ("lot", "input", "plot", "county")


def _recall_line(doc: dict[str, Any]) -> str:
    state = "active" if doc["active"] else f"lifted {doc['lifted_at']}"
    return (
        f"recall {doc['id']}: {doc['scope']} {doc['key']}, declared {doc['declared_at']}, "
        f"{state}\n  reason: {doc['reason']}"
    )


def cmd_recall_declare(args: argparse.Namespace) -> int:
    from traceability.readers import is_county_code
    from traceability.recalls import declare

    if args.recall_id is not None:
        raise UsageError(f"unexpected argument {args.recall_id!r}")
    if args.farm is not None:
        raise UsageError("a recall is declared by --lot, --input, --plot or --county")
    given = [(k, v) for k in DECLARE_OPTIONS if (v := getattr(args, k)) is not None]
    if len(given) != 1:
        raise UsageError("recall declare needs exactly one of --lot, --input, --plot, --county")
    if not args.reason or not args.reason.strip():
        raise UsageError("recall declare needs --reason TEXT (consumers see it on the page)")
    if args.date_from or args.date_to or args.xlsx or args.csv:
        raise UsageError("--from, --to, --xlsx and --csv belong to the recall query")
    scope, key = given[0]
    if scope == "county" and not is_county_code(key):
        raise UsageError(f"--county {key!r}: a county is its 6-digit code, e.g. 230184")
    try:
        doc = declare(_engine(), scope, key, args.reason)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _emit(args, doc, _recall_line(doc))
    return 0


def cmd_recall_lift(args: argparse.Namespace) -> int:
    from traceability.recalls import lift

    if args.recall_id is None or not args.recall_id.isdigit():
        raise UsageError("recall lift needs the recall's ID (a number; see `heitu recalls`)")
    if any(getattr(args, k) is not None for k in RECALL_OPTIONS) or args.reason:
        raise UsageError("recall lift takes only the recall's ID")
    doc = lift(_engine(), int(args.recall_id))
    _emit(args, doc, _recall_line(doc))
    return 0


def cmd_recalls(args: argparse.Namespace) -> int:
    from traceability.recalls import list_recalls

    doc = list_recalls(_engine(), include_lifted=args.all)
    _emit(args, doc, "\n".join(_recall_line(d) for d in doc) or "no declared recalls")
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    from traceability.reports import list_reports

    doc = list_reports(_engine(), status=args.status)
    human = [
        f"#{r['id']:<5} {r['time']}  {r['status']:<13} {r['category']:<8} "
        f"{r['gtin']} {r['lot'] or '-'}{'' if r['known_lot'] else ' (lot not on record)'}"
        f"\n       {r['text']}"
        for r in doc
    ]
    _emit(args, doc, "\n".join(human) or "no reports")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from traceability.access import create_token, list_tokens, revoke_token

    eng = _engine()
    if args.action == "create":
        if not args.name or (not args.region and args.role in ("county", "city", "province")):
            raise UsageError("token create needs --name NAME and --region CODE")
        doc = create_token(eng, args.name, args.region or [], args.role, args.expires)
        human = (
            f"token {doc['name']} ({doc['role']} {', '.join(doc['regions']) or 'all regions'}"
            f"{', expires ' + doc['expires_at'] if doc['expires_at'] else ''}):\n{doc['token']}\n"
            "shown once: only its hash is kept"
        )
    elif args.action == "list":
        doc = list_tokens(eng)
        human = (
            "\n".join(
                f"{t['name']:<24} {t['role']:<9} {','.join(t['regions']) or '-':<16} "
                f"{t['state']:<8} created {t['created_at']}  expires {t['expires_at'] or 'never'}"
                for t in doc
            )
            or "no tokens"
        )
    else:
        if not args.target:
            raise UsageError("token revoke needs the token's NAME")
        doc = revoke_token(eng, args.target)
        human = f"token {doc['name']}: {doc['state']} since {doc['revoked_at']}"
    _emit(args, doc, human)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from traceability.access import audit_log

    doc = audit_log(_engine())
    human = (
        "\n".join(
            f"{a['at']}  {a['who']:<20} {a['office']['role'] or '-':<9} "
            f"{','.join(a['office']['regions']) or '-':<14} {a['status']} {a['method']} {a['path']}"
            for a in doc
        )
        or "no requests yet"
    )
    _emit(args, doc, human)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the web app under uvicorn; the store is checked (and migrated) first, so an
    unreachable store is exit 1 with the reason, not a worker crash loop."""
    import uvicorn

    from traceability import config
    from traceability.store import open_store

    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: expected 1-65535")
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers}: expected 1 or more")
    open_store(config.db_url())
    print(
        f"heitu: serving {config.db_url()} on http://{args.host}:{args.port}/ "
        f"({args.workers} worker(s))",
        file=sys.stderr,
    )
    uvicorn.run(
        "traceability.web:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
    )
    return 0


def _write_sheet(doc: dict[str, Any], path: Path, fmt: Any) -> list[Path]:
    """The recall spreadsheet with a progress bar on stderr: a county's is tens of seconds."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from traceability.recall_sheet import write_recall_sheet

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_stderr_console(), transient=True) as bar:
        task = bar.add_task(f"{path.name}", total=None)

        def step(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total or None)

        return write_recall_sheet(_engine(), doc, path, fmt, on_progress=step)


def cmd_balance(args: argparse.Namespace) -> int:
    from traceability import balance

    reports = {
        "lots": balance.lot_balance,
        "processors": balance.processor_months,
        "plots": balance.plot_yields,
        "brands": balance.brand_view,
    }
    eng = _engine()
    doc = {name: fn(eng) for name, fn in reports.items() if getattr(args, name)}
    if not doc:
        doc = {name: fn(eng) for name, fn in reports.items()}
    human = []
    for name, rows in doc.items():
        human.append(f"{name}: {len(rows)} row(s)")
        human += ["  " + ", ".join(f"{k}={v}" for k, v in r.items() if v is not None) for r in rows]
    _emit(args, doc, "\n".join(human))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from traceability.pipeline import run_checks

    doc = run_checks()
    human = []
    for group, findings in doc.items():
        human.append(f"{group}: {len(findings)} finding(s)")
        human += ["  " + ", ".join(f"{k}={v}" for k, v in f.items()) for f in findings]
    _emit(args, doc, "\n".join(human))
    return 0


def cmd_rejects(args: argparse.Namespace) -> int:
    from traceability.rejects import open_rejects

    doc = open_rejects(_engine(), include_resolved=args.all)
    human = [
        f"{r['status']:<8} {r['file']}:{r['line']}  {r['record'] or '-'}  "
        f"{r['field'] or '-'}: {r['reason']}"
        for r in doc
    ]
    _emit(args, doc, "\n".join(human) or "no open rejects")
    return 0


def cmd_code(args: argparse.Namespace) -> int:
    from traceability.issuing import issue_code

    try:
        doc = issue_code(_engine(), args.lot)
    except LookupError as exc:
        raise HeituError(str(exc.args[0])) from None
    except ValueError as exc:
        raise HeituError(str(exc)) from None
    _emit(args, doc, f"{doc['uri']}\nQR: {doc['png']}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from traceability.epcis import export_epcis

    doc = export_epcis(_engine(), Path(args.out), lot=args.lot)
    what = f"lineage of lot {doc['lot']}" if doc["lot"] else "the whole store"
    _emit(args, doc, f"{doc['file']}: {doc['events']} EPCIS event(s), {what}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from traceability.sample import write_sample

    try:
        files = write_sample(Path(args.outdir), plots=args.plots, seed=args.seed, progress=True)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _emit(args, {"files": [str(f) for f in files]}, "\n".join(str(f) for f in files))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from traceability.report import summary

    doc = summary(_engine())
    _emit(args, doc, json.dumps(doc, ensure_ascii=False, indent=2))
    return 0


def cmd_export_plots(args: argparse.Namespace) -> int:
    from geo.export import ExportError, export_plots

    try:
        doc = export_plots(_engine(), args.county, Path(args.out))
    except ExportError as exc:
        raise HeituError(str(exc)) from None
    _emit(args, doc, f"wrote {doc['features']} plot(s) of county {doc['county']} to {doc['file']}")
    return 0


def cmd_export_open(args: argparse.Namespace) -> int:
    from traceability.pipeline import publish_open_data

    doc = publish_open_data(out=Path(args.out) if args.out else None)
    _emit(
        args,
        doc,
        f"wrote {doc['rows']} county/season/crop row(s) ({doc['suppressed']} suppressed: fewer "
        f"than 5 farms) to {doc['dir']}",
    )
    return 0


def cmd_export_origin(args: argparse.Namespace) -> int:
    from geo.export import ExportError, export_origin

    try:
        doc = export_origin(_engine(), args.lot, Path(args.out))
    except ExportError as exc:
        raise HeituError(str(exc)) from None
    _emit(args, doc, f"wrote the {doc['features']} plot(s) of lot {doc['lot']} to {doc['file']}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="heitu", description="Black-soil produce traceability: ingest, trace, check, codes."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        sp.set_defaults(func=func)
        return sp

    sp = add("ingest", cmd_ingest, "Load a landing zone (contract layout) into the store.")
    sp.add_argument("dir", help="the inbox folder: plots/, parties/, products/, ...")

    trace = sub.add_parser("trace", help="Trace a bag back to its plots, or a plot forward.")
    tsub = trace.add_subparsers(dest="direction", required=True, metavar="DIRECTION")
    for direction, what, help_text in (
        ("back", "LOT_OR_CODE", "Ancestor lots, plots and each plot's share of a lot or code."),
        ("forward", "PLOT_OR_LOT", "Every lot made from a plot or lot, and the retailers."),
    ):
        tp = tsub.add_parser(direction, help=help_text, description=help_text)
        tp.add_argument("target", metavar=what, help=f"the {what.lower().replace('_', ' ')}")
        tp.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        tp.set_defaults(func=cmd_trace)

    sp = add(
        "recall",
        cmd_recall,
        "Everything made from a plot, farm, county, input or lot: "
        "where it went, what was sold, what is still unsold per retailer.",
    )
    sp.add_argument(
        "action",
        nargs="?",
        choices=("declare", "lift"),
        help="declare: store a recall (--lot/--input/--plot/--county X --reason TEXT) that "
        "the page, its JSON and the linkset show at once; lift ID: end one",
    )
    sp.add_argument("recall_id", nargs="?", metavar="ID", help="the recall to lift")
    sp.add_argument("--reason", help="why (declare): shown to consumers on the page")
    which = sp.add_mutually_exclusive_group()
    which.add_argument("--plot", help="a plot id")
    which.add_argument("--farm", help="a farm's party id: all its plots")
    which.add_argument("--county", help="a 6-digit county code: all its plots")
    which.add_argument(
        "--input",
        help="an input registration number, e.g. PD20080123: "
        "the first harvest after each application",
    )
    which.add_argument("--lot", help="a lot id")
    sp.add_argument(
        "--from",
        dest="date_from",
        metavar="DATE",
        help="harvests (or input applications) from this date or time",
    )
    sp.add_argument(
        "--to", dest="date_to", metavar="DATE", help="... up to this date (the whole day) or time"
    )
    sp.add_argument("--xlsx", metavar="FILE", help="also write the recall spreadsheet (.xlsx)")
    sp.add_argument("--csv", metavar="FILE", help="also write it as CSV (events; stock beside)")
    sp = add(
        "balance",
        cmd_balance,
        "Mass-balance reports: per lot, per processor and month, "
        "per plot (yield per mu), per brand (sold vs grown); all four without options.",
    )
    for name, what in (
        ("lots", "per lot: kg in, out, losses, taken, shipped, sold"),
        ("processors", "per processor, month and step: kg in and out, yield"),
        ("plots", "per plot and year: kg per mu, ceiling, county p99"),
        ("brands", "per county a GTIN claims: kg sold vs kg the county grew"),
    ):
        sp.add_argument(f"--{name}", action="store_true", help=what)
    add("check", cmd_check, "Mass-balance, cold-chain, geo and code findings.")
    sp = add("rejects", cmd_rejects, "Open rejects: records rejected for good or waiting.")
    sp.add_argument("--all", action="store_true", help="include resolved ones")
    sp = add("code", cmd_code, "The traceability code (Digital Link URI) of a lot and its QR PNG.")
    sp.add_argument("lot", help="a packed lot id")
    export = sub.add_parser("export", help="Write the store, or one lot's lineage, to a file.")
    esub = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    help_text = "A GS1 EPCIS 2.0 JSON-LD document: events, and parties/plots/products."
    ep = esub.add_parser("epcis", help=help_text, description=help_text)
    ep.add_argument("--lot", help="only this lot's lineage (a lot id or traceability code)")
    ep.add_argument("--out", required=True, metavar="FILE", help="the .jsonld file to write")
    ep.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    ep.set_defaults(func=cmd_export)
    for name, func, help_text in (
        ("plots", cmd_export_plots, "A county's plots as RFC 7946 GeoJSON (EUDR geolocation)."),
        ("origin", cmd_export_origin, "The plots a lot came from, with shares, as GeoJSON."),
    ):
        ep = esub.add_parser(name, help=help_text, description=help_text)
        ep.add_argument("--out", required=True, metavar="FILE", help="the .geojson file to write")
        ep.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        ep.set_defaults(func=func)
        if name == "plots":
            ep.add_argument("--county", required=True, help="a 6-digit county code, e.g. 230184")
        else:
            ep.add_argument("lot", metavar="LOT_OR_CODE", help="a lot id or traceability code")
    help_text = "Open data: anonymised county aggregates per season and crop, CSV and JSON."
    ep = esub.add_parser("open", help=help_text, description=help_text)
    ep.add_argument(
        "--out",
        metavar="DIR",
        help="folder to write into (default HEITU_OPEN_DIR, served at /open/)",
    )
    ep.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    ep.set_defaults(func=cmd_export_open)
    sp = add("sample", cmd_sample, "Write a sample season in the contract layout.")
    sp.add_argument("outdir", help="folder to write the landing zone into")
    sp.add_argument("--plots", type=int, default=60, help="number of plots (default 60)")
    sp.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    add("status", cmd_status, "What the store holds: records, rejects, findings, a traced bag.")
    sp = add("recalls", cmd_recalls, "The declared recalls (active ones; --all for lifted too).")
    sp.add_argument("--all", action="store_true", help="include lifted recalls")
    sp = add("reports", cmd_reports, "Consumers' reports sent from the page.")
    sp.add_argument("--status", choices=("new", "investigating", "closed"), help="only these")
    sp = add("token", cmd_token, "API tokens for the bureau's scripts: create, list, revoke.")
    sp.add_argument("action", choices=("create", "list", "revoke"), help="what to do")
    sp.add_argument("target", nargs="?", metavar="NAME", help="the token to revoke")
    sp.add_argument("--name", help="create: the token's name (who uses it)")
    sp.add_argument(
        "--region",
        action="append",
        metavar="CODE",
        help="create: a region the office covers (6-digit county, 4-digit city, 2-digit "
        "province code); repeat for several",
    )
    sp.add_argument(
        "--role",
        default="county",
        choices=("county", "city", "province", "market"),
        help="create: the office's role (default county)",
    )
    sp.add_argument("--expires", type=float, metavar="DAYS", help="create: valid for DAYS days")
    add("audit", cmd_audit, "The bureau access log: who, office, what, when, status.")
    help_text = "Start the web app: the GS1 Digital Link resolver and the consumer page."
    sp = sub.add_parser("serve", help=help_text, description=help_text)  # no --json: a server
    sp.set_defaults(func=cmd_serve)
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sp.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sp.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    sp.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (default warning; debug logs every request)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # `heitu ... | head` closed the pipe: not an error of ours, and no traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except HeituError as exc:
        print(f"heitu: {exc}", file=sys.stderr)
        if getattr(args, "json", False):
            json.dump({"error": str(exc)}, sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
