"""The ``heitu`` command: a thin layer over the Python API, ``traceability.Store`` (surface fixed in
../shared/CLI.md). Each command opens the store, asks it one thing, and prints the result's
``as_dict()`` with ``--json``, or lines for people without.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traceability.errors import HeituError, UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from traceability.api import Store


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


def _store() -> Store:
    """The store of HEITU_DB_URL. A store at the newest schema is opened without SQLAlchemy
    (the lineage reads use the bare driver, the larger part of `heitu trace`'s time saved);
    an old or empty one is migrated, an unreachable one is StoreUnreachable (exit 1)."""
    from traceability.api import Store

    return Store.open()


def _engine() -> Engine:
    """The store's engine, for the commands the API does not cover yet."""
    return _store().engine


def cmd_ingest(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    inbox = Path(args.dir)
    if not inbox.is_dir():
        raise UsageError(f"{inbox}: not a directory")
    with Progress(console=_stderr_console(), transient=True) as bar:
        task = bar.add_task("ingest", total=None)

        def step(path: Path, done: int, total: int) -> None:
            bar.update(
                task, completed=done, total=total, description=f"{path.parent.name}/{path.name}"
            )

        ingest = _store().ingest(inbox, on_file=step)
    result = ingest.as_dict()
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


def cmd_trace(args: argparse.Namespace) -> int:
    store = _store()
    if args.direction == "back":
        doc = store.trace_back(args.target).as_dict()
        human = [f"lot {doc['lot']} comes from {len(doc['plots'])} plot(s):"]
        human += [f"  {p}  {doc['shares'][p] * 100:6.2f} %" for p in doc["plots"]]
        human.append(f"through {len(doc['lots'])} lot(s): {', '.join(doc['lots'])}")
        human += [
            f"  {e['time']}  {e['step']:<10} {e['record_id']}  ({e['file']}:{e['line']})"
            for e in doc["events"]
        ]
    else:
        doc = store.trace_forward(args.target).as_dict()
        human = [
            f"{doc['kind']} {args.target} went into {len(doc['lots'])} lot(s):",
            "  " + ", ".join(doc["lots"]),
            f"reaching {len(doc['retailers'])} retailer(s): {', '.join(doc['retailers'])}",
        ]
    _emit(args, doc, "\n".join(human))
    return 0


def cmd_recall(args: argparse.Namespace) -> int:
    from traceability.readers import is_county_code

    if args.action == "declare":
        return cmd_recall_declare(args)
    if args.action == "lift":
        return cmd_recall_lift(args)
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
    from traceability.api import recall_window

    start, end = recall_window(args.date_from, args.date_to, ("--from", "--to"))
    store = _store()
    if args.xlsx or args.csv:
        with _sheet_progress() as step:
            found = store.recall(
                kind, key, date_from=start, date_to=end, xlsx=args.xlsx, csv=args.csv,
                on_progress=step,
            )  # fmt: skip
    else:
        found = store.recall(kind, key, date_from=start, date_to=end)
    doc = found.as_dict()
    written = doc["files"]
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
    doc = _store().declare_recall(scope, key, args.reason).as_dict()
    _emit(args, doc, _recall_line(doc))
    return 0


def cmd_recall_lift(args: argparse.Namespace) -> int:
    if args.recall_id is None or not args.recall_id.isdigit():
        raise UsageError("recall lift needs the recall's ID (a number; see `heitu recalls`)")
    if any(getattr(args, k) is not None for k in RECALL_OPTIONS) or args.reason:
        raise UsageError("recall lift takes only the recall's ID")
    doc = _store().lift_recall(int(args.recall_id)).as_dict()
    _emit(args, doc, _recall_line(doc))
    return 0


def cmd_recalls(args: argparse.Namespace) -> int:
    doc = [r.as_dict() for r in _store().recalls(include_lifted=args.all)]
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

    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: expected 1-65535")
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers}: expected 1 or more")
    _store().engine  # noqa: B018 - opened (and migrated) here, or exit 1 with the reason
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


@contextmanager
def _sheet_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr for the recall spreadsheet: a county's is tens of seconds."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_stderr_console(), transient=True) as bar:
        task = bar.add_task("recall sheet", total=None)

        def step(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total or None)

        yield step


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
    doc = _store().check().as_dict()
    human = []
    for group, findings in doc.items():
        human.append(f"{group}: {len(findings)} finding(s)")
        human += ["  " + ", ".join(f"{k}={v}" for k, v in f.items()) for f in findings]
    _emit(args, doc, "\n".join(human))
    return 0


def cmd_rejects(args: argparse.Namespace) -> int:
    doc = [r.as_dict() for r in _store().rejects(include_resolved=args.all)]
    human = [
        f"{r['status']:<8} {r['file']}:{r['line']}  {r['record'] or '-'}  "
        f"{r['field'] or '-'}: {r['reason']}"
        for r in doc
    ]
    _emit(args, doc, "\n".join(human) or "no open rejects")
    return 0


def cmd_code(args: argparse.Namespace) -> int:
    doc = _store().code(args.lot, serials=args.serials).as_dict()
    lines = [doc["uri"], f"QR: {doc['png']}"]
    if doc["units"]:
        lines.append(f"{len(doc['units'])} bag code(s):")
        lines += [f"  {u['short_code']}  {u['uri']}" for u in doc["units"]]
    _emit(args, doc, "\n".join(lines))
    return 0


def cmd_labels(args: argparse.Namespace) -> int:
    doc = _store().labels(args.lot, Path(args.out)).as_dict()
    _emit(args, doc, f"{doc['labels']} label(s) of lot {doc['lot']} on {doc['pages']} A4 page(s): "
          f"{doc['out']}")  # fmt: skip
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
    from traceability.origin import ExportError, export_plots

    try:
        doc = export_plots(_engine(), args.county, Path(args.out))
    except ExportError as exc:
        raise HeituError(str(exc)) from None
    _emit(args, doc, f"wrote {doc['features']} plot(s) of county {doc['county']} to {doc['file']}")
    return 0


def cmd_export_open(args: argparse.Namespace) -> int:
    doc = _store().publish_open_data(args.out).as_dict()
    _emit(
        args,
        doc,
        f"wrote {doc['rows']} county/season/crop row(s) ({doc['suppressed']} suppressed: fewer "
        f"than 5 farms) to {doc['dir']}",
    )
    return 0


def cmd_export_origin(args: argparse.Namespace) -> int:
    from traceability.origin import ExportError, export_origin

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
    sp.add_argument(
        "--serials",
        action="store_true",
        help="issue the bags' own signed codes (one per unit) that the lot lacks",
    )
    sp = add("labels", cmd_labels, "A print-ready A4 PDF of a packed lot's labels (QR, lot, date).")
    sp.add_argument("lot", help="a packed lot id")
    sp.add_argument("--out", required=True, metavar="FILE", help="the .pdf file to write")
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
