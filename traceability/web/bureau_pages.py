"""The portal's pages (``/bureau/...``): the same queries as the API, as HTML for people.

Search, a plot-to-shelf history with its lineage graph (Graphviz, drawn on the server as SVG),
a lot's trace back, the recall with its spreadsheet and the declare/lift forms, the findings
with a chart, and the queue of consumers' reports. Every page acts for the signed-in office
(what it sees is decided in the queries, traceability/web/api.py); forms that change state
carry a per-session token against cross-site requests and act only inside the office.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import tempfile
from html import escape
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from traceability.access import Office
from traceability.errors import NotFound
from traceability.readers import is_county_code
from traceability.web import api
from traceability.web.portal import csrf_token

__all__ = ["lineage_svg", "router"]

router = APIRouter(prefix="/bureau", tags=["portal"], include_in_schema=False)
MAX_GRAPH_LOTS = 120  # a county recall's graph would be unreadable: the page lists it instead


def _office(request: Request) -> Office | None:
    return getattr(request.state, "office", None)


def _render(request: Request, name: str, **ctx: Any) -> HTMLResponse:
    office = _office(request)
    return HTMLResponse(
        request.app.state.render_portal(name, office=office, csrf=csrf_token(request), **ctx)
    )


async def _form(request: Request) -> dict[str, str]:
    """The posted form, after checking its cross-site token (403 without the session's)."""
    from urllib.parse import parse_qs

    body = (await request.body()).decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    session = request.scope.get("session") or {}
    if not session.get("csrf") or not secrets.compare_digest(
        form.get("csrf", ""), str(session["csrf"])
    ):
        raise HTTPException(403, "the form's token is missing or stale: reload the page")
    return form


def _need(request: Request) -> Office:
    office = _office(request)
    if office is None:
        raise HTTPException(303, headers={"Location": "/bureau/login"})
    return office


# --- the lineage graph -------------------------------------------------------------------------


def _dot_id(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lineage_svg(nodes: dict[str, tuple[str, str]], edges: list[tuple[str, str, str]]) -> str:
    """An SVG of a lineage graph drawn by Graphviz's ``dot``: ``nodes`` id -> (label, kind:
    plot, lot, packed, party), ``edges`` (from, to, label). '' when there is nothing to draw."""
    if not nodes:
        return ""
    style = {
        "plot": 'shape=box style="rounded,filled" fillcolor="#dcefe2"',
        "other": 'shape=box style="rounded,dashed" color="#888888"',
        "lot": 'shape=ellipse style=filled fillcolor="#f3efe6"',
        "packed": 'shape=ellipse style=filled fillcolor="#ffe7b3"',
        "party": 'shape=house style=filled fillcolor="#d7e6f5"',
    }
    lines = ["digraph lineage {", 'rankdir=LR; node [fontname="Noto Sans CJK SC" fontsize=10];']
    for node, (label, kind) in nodes.items():
        lines.append(f"{_dot_id(node)} [label={_dot_id(label)} {style.get(kind, '')}];")
    for a, b, label in edges:
        lines.append(f"{_dot_id(a)} -> {_dot_id(b)} [label={_dot_id(label)} fontsize=8];")
    lines.append("}")
    done = subprocess.run(
        ["dot", "-Tsvg"], input="\n".join(lines), capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        raise RuntimeError(f"dot failed: {done.stderr[-500:]}")
    svg = done.stdout[done.stdout.find("<svg") :]
    # drop the fixed size so the picture scales to the page; the viewBox keeps its shape
    return re.sub(r'<svg width="[^"]*" height="[^"]*"', '<svg class="graph"', svg, count=1)


def _lots_graph(
    reader: Any, lots: list[str], plots: set[str]
) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, str]]]:
    """The nodes and edges of ``lots`` (one per lot, packed ones marked), the edges between
    them with their kg, and each harvest's plot when it is one of ``plots``."""
    info = {
        r.lot_id: r
        for r in reader.rows(
            "SELECT lot_id, step, gtin, plot_id FROM lot WHERE lot_id IN :l", {"l": lots}
        )
    }
    nodes: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str, str]] = []
    for lot in lots:
        r = info.get(lot)
        nodes[lot] = (f"{lot}\n{r.step if r else ''}", "packed" if r and r.gtin else "lot")
        if r is not None and r.plot_id in plots:
            nodes["plot:" + r.plot_id] = (r.plot_id, "plot")
            edges.append(("plot:" + r.plot_id, lot, "harvest"))
    for r in reader.rows(
        "SELECT parent_lot, child_lot, kg FROM edge WHERE child_lot IN :lots", {"lots": lots}
    ):
        if r.parent_lot in nodes and r.child_lot in nodes:
            edges.append((r.parent_lot, r.child_lot, f"{r.kg:g} kg"))
    return nodes, edges


def _trace_graph(doc: dict[str, Any], reader: Any) -> str:
    """A bag's ancestry: its lots back to the office's plots; other regions' plots as county
    and share."""
    lots = [doc["lot"], *doc["lots"]]
    if len(lots) > MAX_GRAPH_LOTS:
        return ""
    nodes, edges = _lots_graph(reader, lots, set(doc["plots"]))
    for i, other in enumerate(doc.get("other_plots", [])):
        nodes[f"other:{i}"] = (f"{other['county']} ({other['share'] * 100:.1f}%)", "other")
    return lineage_svg(nodes, edges)


def _forward_graph(plot_id: str, doc: dict[str, Any], reader: Any) -> str:
    """Everything made from a plot, and the retailers that received it."""
    lots = doc["lots"]
    if len(lots) > MAX_GRAPH_LOTS or not lots:
        return ""
    nodes, edges = _lots_graph(reader, lots, {plot_id})
    for r in reader.rows(
        "SELECT lf.lot_id, lf.party_id, p.name FROM lot_flow AS lf JOIN party AS p "
        "ON p.party_id = lf.party_id WHERE lf.lot_id IN :lots AND p.role = 'retailer'",
        {"lots": lots},
    ):
        nodes["party:" + r.party_id] = (r.name, "party")
        edges.append((r.lot_id, "party:" + r.party_id, ""))
    return lineage_svg(nodes, edges)


# --- pages -------------------------------------------------------------------------------------


@router.get("/search")
async def search(request: Request, q: str = "") -> Response:
    """One box for a plot, lot, code URL, county, farm or input registration number."""
    _need(request)
    text = q.strip()
    if not text:
        return RedirectResponse("/bureau", status_code=303)
    if "/01/" in text:
        from traceability.web.dl import BadCode, parse_path

        try:
            _, lot, _ = parse_path(text[text.index("/01/") :].split("?")[0])
        except BadCode:
            lot = None
        if lot:
            return RedirectResponse(f"/bureau/lots/{_q(lot)}", status_code=303)
    if is_county_code(text):
        return RedirectResponse(f"/bureau/recall?county={text}", status_code=303)

    def kind() -> str | None:
        from traceability.lineage import KEY_FOUND, reading

        with reading(api._store(request)) as r:
            for what in ("plot", "lot", "farm", "input"):
                if r.rows(KEY_FOUND[what], {"key": text}):
                    return what
        return None

    found = await run_in_threadpool(kind)
    target = {
        "plot": f"/bureau/plots/{_q(text)}",
        "lot": f"/bureau/lots/{_q(text)}",
        "farm": f"/bureau/recall?farm={_q(text)}",
        "input": f"/bureau/recall?input={_q(text)}",
    }.get(found or "")
    if target is None:
        return _render(request, "portal_message.html", message=f"没有找到 / nothing found: {text}")
    return RedirectResponse(target, status_code=303)


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


@router.get("/plots/{plot_id}")
async def plot_page(plot_id: str, request: Request) -> Response:
    """Plot-to-shelf history: the plot, every lot made from it, the retailers, the graph."""
    office = _need(request)
    plot = await api.get_plot(plot_id, request)

    def build() -> tuple[dict[str, Any], str]:
        from traceability.lineage import reading, trace_forward

        store = api._store(request)
        forward = trace_forward(store, plot_id)
        with reading(store) as reader:
            graph = _forward_graph(plot_id, forward, reader)
        return forward, graph

    forward, graph = await run_in_threadpool(build)
    return _render(request, "portal_plot.html", plot=plot, forward=forward, graph=graph,
                   sees_farms=office.sees_farms)  # fmt: skip


@router.get("/lots/{lot_id}")
async def lot_page(lot_id: str, request: Request) -> Response:
    """A bag traced back: its plots (other regions as county and share), lots and graph."""
    office = _need(request)

    def build() -> tuple[dict[str, Any], str]:
        from traceability.lineage import reading

        store = api._store(request)
        doc = api._trace(store, office, lot_id)
        with reading(store) as reader:
            return doc, _trace_graph(doc, reader)

    doc, graph = await run_in_threadpool(build)
    return _render(request, "portal_lot.html", doc=doc, graph=graph)


@router.get("/recall")
async def recall_page(
    request: Request,
    county: str | None = None,
    plot: str | None = None,
    farm: str | None = None,
    input: str | None = None,
    lot: str | None = None,
    download: str | None = None,
) -> Response:
    """The recall: lots, parties, units sold and unsold; its spreadsheet; declare and lift."""
    office = _need(request)
    doc = await api.get_recall(request, county=county, plot=plot, farm=farm, input=input, lot=lot)
    kind, key = doc["query"]["kind"], doc["query"]["key"]
    if download in ("xlsx", "csv"):
        from traceability.recall_sheet import write_recall_sheet

        tmp = Path(tempfile.mkdtemp(prefix="heitu-recall-"))
        path = tmp / f"recall-{kind}-{re.sub(r'[^A-Za-z0-9._-]', '_', key)}.{download}"
        await run_in_threadpool(
            write_recall_sheet,
            request.app.state.engine,
            doc,
            path,
            download,  # type: ignore[arg-type]
        )
        import shutil

        from starlette.background import BackgroundTask

        # the folder goes once the file is sent: a county's sheet is tens of MB
        return FileResponse(
            path, filename=path.name, background=BackgroundTask(shutil.rmtree, tmp, True)
        )
    from traceability.recalls import list_recalls

    active = [
        r for r in await run_in_threadpool(list_recalls, request.app.state.engine)
        if r["scope"] == kind and r["key"] == key
    ]  # fmt: skip
    return _render(request, "portal_recall.html", doc=doc, kind=kind, key=key, active=active,
                   can_declare=_may_declare(office, kind))  # fmt: skip


def _may_declare(office: Office, scope: str) -> bool:
    """An input's recall covers every region that used it: only the province and market
    regulation declare those; any office declares inside its own region."""
    if scope == "farm":
        return False
    return scope != "input" or office.everything


@router.post("/recall/declare")
async def declare_recall(request: Request) -> Response:
    office = _need(request)
    form = await _form(request)
    scope, key, reason = form.get("scope", ""), form.get("key", ""), form.get("reason", "")
    if not _may_declare(office, scope):
        raise HTTPException(403, f"a {office.role} office does not declare a recall by {scope}")
    # the office must see what it recalls: the same checks as the recall query
    await api.get_recall(request, **{scope: key})
    from traceability.recalls import declare

    try:
        await run_in_threadpool(declare, request.app.state.engine, scope, key, reason)
    except (ValueError, NotFound) as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse(f"/bureau/recall?{scope}={_q(key)}", status_code=303)


@router.post("/recall/lift")
async def lift_recall(request: Request) -> Response:
    office = _need(request)
    form = await _form(request)
    from traceability.recalls import lift, list_recalls

    rid = int(form.get("id", "0") or 0)
    found = [r for r in list_recalls(request.app.state.engine) if r["id"] == rid]
    if not found:
        raise HTTPException(404, "no such active recall")
    scope, key = found[0]["scope"], found[0]["key"]
    if not _may_declare(office, scope):
        raise HTTPException(403, f"a {office.role} office does not lift a recall by {scope}")
    await api.get_recall(request, **{scope: key})  # inside the office, or 403/404
    await run_in_threadpool(lift, request.app.state.engine, rid)
    return RedirectResponse(f"/bureau/recall?{scope}={_q(key)}", status_code=303)


@router.get("/findings")
async def findings_page(
    request: Request, county: str | None = None, kind: str | None = None
) -> Response:
    _need(request)
    page = await api.get_findings(request, county=county, kind=kind, after=None, limit=1000)
    counts: dict[str, int] = {}
    for f in page["items"]:
        counts[f["kind"]] = counts.get(f["kind"], 0) + 1
    return _render(request, "portal_findings.html", items=page["items"], county=county,
                   kind=kind, chart=_bar_chart(counts))  # fmt: skip


def _bar_chart(counts: dict[str, int]) -> str:
    """Findings per kind as horizontal bars, drawn inline."""
    if not counts:
        return ""
    top = max(counts.values())
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    height = 22 * len(rows) + 6
    parts = [f'<svg class="chart" viewBox="0 0 420 {height}" role="img" '
             'aria-label="findings per kind" xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    for i, (kind, n) in enumerate(rows):
        y = 4 + 22 * i
        width = 250 * n / top
        parts.append(
            f'<text x="0" y="{y + 14}">{escape(kind)}</text>'
            f'<rect x="150" y="{y}" width="{width:.1f}" height="16"/>'
            f'<text x="{155 + width:.1f}" y="{y + 13}">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


@router.get("/reports")
async def reports_page(request: Request, status: str | None = None) -> Response:
    _need(request)
    page = await api.get_reports(request, status=status, after=None, limit=1000)
    from traceability.reports import STATUSES, report_history

    engine = request.app.state.engine
    history = {r["id"]: report_history(engine, r["id"]) for r in page["items"]}
    return _render(request, "portal_reports.html", items=page["items"], history=history,
                   statuses=STATUSES, status=status)  # fmt: skip


@router.post("/reports/{report_id}")
async def update_report_page(report_id: int, request: Request) -> Response:
    office = _need(request)
    form = await _form(request)
    # the office must see the report: the same query as its queue
    mine = await api.get_reports(request, status=None, after=str(report_id - 1), limit=1)
    if not mine["items"] or mine["items"][0]["id"] != report_id:
        raise HTTPException(404, "no such report here")
    from traceability.reports import update_report

    try:
        await run_in_threadpool(
            lambda: update_report(
                request.app.state.engine,
                report_id,
                office.who,
                status=form.get("status") or None,
                assignee=form.get("assignee"),
                note=form.get("note"),
            )
        )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return RedirectResponse("/bureau/reports", status_code=303)
