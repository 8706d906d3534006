"""The bureau's API, ``/api/v1/...``: plot-to-shelf histories for scripts, with a token.

Every request names its office with ``Authorization: Bearer <token>`` (``heitu token
create``); no token, or an unknown, expired or revoked one, is 401. What an office sees is
decided in the queries (traceability.access): a plot or lot outside it is 404, the same answer
as an id that does not exist, so a county office cannot tell its neighbour's ids from typos.
Shapes follow the ``heitu`` command's ``--json`` output; long lists page with a cursor
(``?after=<next>``). Every request, allowed or not, is written to the audit log.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from traceability.access import Office, plot_scope
from traceability.errors import NotFound
from traceability.lineage import MAX_DEPTH, reading, recall, trace_back, trace_forward

__all__ = ["office_lots_sql", "router"]


class Problem(BaseModel):
    """An error: what went wrong, in words."""

    detail: Any


router = APIRouter(
    prefix="/api/v1",
    tags=["bureau"],
    responses={
        400: {"model": Problem, "description": "A malformed query (a parameter missing or wrong)"},
        401: {"model": Problem, "description": "No token, or an unknown, expired or revoked one"},
        403: {"model": Problem, "description": "A county code outside the office's regions"},
        404: {"model": Problem, "description": "No such id in this office's view (or at all)"},
        422: {"model": Problem, "description": "A parameter of the wrong type"},
    },
)
PAGE = 100
MAX_PAGE = 1000

#: Every lot whose chain touches the office's plots: their harvests and everything made of
#: them. ``{scope}`` is traceability.access.plot_scope on ``p.county_code``.
OFFICE_LOTS = """WITH RECURSIVE office_lots(lot_id, depth) AS (
    SELECT l.lot_id, 0 FROM lot AS l
    WHERE l.plot_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM plot AS p WHERE p.plot_id = l.plot_id AND {scope})
    UNION
    SELECT e.child_lot, o.depth + 1 FROM office_lots AS o
    JOIN edge AS e ON e.parent_lot = o.lot_id
    WHERE o.depth < :max_depth
)"""


def office_lots_sql(office: Office) -> tuple[str, dict[str, Any]]:
    scope, params = plot_scope(office, "p.county_code")
    return OFFICE_LOTS.format(scope=scope), {**params, "max_depth": MAX_DEPTH}


async def _cached(request: Request, key: tuple[Any, ...], build: Any, *args: Any) -> Any:
    """``build(*args)`` in a worker thread, kept in the app's cache for the store's current
    generation (an ingest, checks run or recall drops it) under ``key``, which names the
    office's scope: the same answer is never served to an office that may not see it. The
    consumer page's own cache (traceability/web/app.py): requests missing the same key at
    once wait for one build."""
    generation, _ = request.app.state.current()
    return await request.app.state.cached(key, generation, build, *args)


def _scope_key(office: Office) -> tuple[Any, ...]:
    return ("all",) if office.role == "province" else (office.role, office.regions)


def _not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"no {what} here")


def _store(request: Request) -> Any:
    return request.app.state.store


def office_of(request: Request) -> Office:
    """The office of the request's bearer token (or the portal session); 401 otherwise."""
    office = getattr(request.state, "office", None)
    if office is None:
        raise HTTPException(
            status_code=401,
            detail="a bureau token is needed: Authorization: Bearer <token> (heitu token create)",
            headers={"WWW-Authenticate": 'Bearer realm="heitu"'},
        )
    return office


def resolve_office(request: Request, generation: int | None = None) -> Office | None:
    """Who the request is from: a bearer token, or the portal's signed-in session. A token's
    office is kept (by the secret's hash) for the store's current generation: revoking a token
    bumps it, so a revoked token is refused from the next request on; expiry is checked on
    every request."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        from datetime import UTC, datetime

        from traceability.access import token_key, token_office

        secret = header[7:].strip()
        pages = getattr(request.app.state, "pages", None)
        key = ("token", token_key(secret))
        found = pages.get(key) if pages is not None else None
        if found is None:
            with reading(_store(request)) as reader:
                found = token_office(reader, secret) or (None, None)
            if pages is not None and generation is not None and found[0] is not None:
                pages.put(key, found, generation)
        office, expires = found
        if office is None or (expires is not None and expires <= datetime.now(UTC)):
            return None
        return office
    session = request.scope.get("session") or {}
    data = session.get("office")
    if data:
        return Office(data["who"], data["role"], tuple(data["regions"]), "oidc")
    return None


def _plot_visible(reader: Any, office: Office, plot_id: str) -> bool:
    scope, params = plot_scope(office)
    sql = f"SELECT 1 AS found FROM plot WHERE plot_id = :p AND {scope}"
    return bool(reader.rows(sql, {"p": plot_id, **params}))


def _in_scope(reader: Any, office: Office, plots: list[str]) -> set[str]:
    """Which of ``plots`` are in the office's regions."""
    if not plots:
        return set()
    scope, params = plot_scope(office)
    rows = reader.rows(
        f"SELECT DISTINCT plot_id FROM plot WHERE plot_id IN :plots AND {scope}",
        {"plots": plots, **params},
    )
    return {r.plot_id for r in rows}


def _trace(store: Any, office: Office, lot_id: str) -> dict[str, Any]:
    """trace_back of a lot the office may see (its chain touches the office's plots), with
    the plots of other regions shown as county and share only; 404 otherwise."""
    try:
        doc = trace_back(store, lot_id)
    except NotFound:
        raise _not_found("lot") from None
    if office.everything:
        return doc
    with reading(store) as reader:
        mine = _in_scope(reader, office, doc["plots"])
        if not mine:
            raise _not_found("lot")
        others = [p for p in doc["plots"] if p not in mine]
        counties = {
            r.plot_id: r.county_code
            for r in reader.rows(
                "SELECT DISTINCT plot_id, county_code FROM plot WHERE plot_id IN :plots",
                {"plots": others or [""]},
            )
        }
    doc["other_plots"] = [{"county": counties.get(p), "share": doc["shares"][p]} for p in others]
    doc["plots"] = [p for p in doc["plots"] if p in mine]
    for key in ("shares", "paths", "plot_versions"):
        doc[key] = {p: v for p, v in doc[key].items() if p in mine}
    doc["events"] = [e for e in doc["events"] if e["plot"] is None or e["plot"] in mine]
    return doc


@router.get("/plots/{plot_id}", summary="A plot: its versions and the findings about it")
async def get_plot(plot_id: str, request: Request) -> dict[str, Any]:
    office = office_of(request)

    def build() -> dict[str, Any]:
        from traceability.findings import findings_about

        with reading(_store(request)) as reader:
            scope, params = plot_scope(office)
            rows = reader.rows(
                "SELECT plot_id, version, valid_from, farm_id, county_code, township, village, "
                "crop, declared_area_mu, area_mu, soil_organic_matter_pct, black_soil_depth_cm, "
                f"practices, geometry FROM plot WHERE plot_id = :p AND {scope} ORDER BY version",
                {"p": plot_id, **params},
            )
            if not rows:
                raise _not_found("plot")
            farm = None
            if office.sees_farms:
                found = reader.rows(
                    "SELECT party_id, name, county_code FROM party WHERE party_id = :f",
                    {"f": rows[-1].farm_id},
                )
                farm = {"party": rows[-1].farm_id, "name": found[0].name if found else None}
            versions = []
            for r in rows:
                v = {
                    "version": r.version,
                    "valid_from": str(r.valid_from),
                    "township": r.township,
                    "village": r.village,
                    "crop": r.crop,
                    "declared_area_mu": r.declared_area_mu,
                    "area_mu": round(r.area_mu, 3),
                    "soil_organic_matter_pct": r.soil_organic_matter_pct,
                    "black_soil_depth_cm": r.black_soil_depth_cm,
                    "practices": [x for x in (r.practices or "").split(";") if x],
                }
                if office.sees_farms:
                    v["geometry"] = (
                        json.loads(r.geometry) if isinstance(r.geometry, str) else r.geometry
                    )
                versions.append(v)
            found_about = findings_about(reader, plots=[plot_id])
        return {
            "plot": plot_id,
            "county": rows[-1].county_code,
            "farm": farm,
            "versions": versions,
            "findings": found_about,
        }

    return await _cached(request, ("api-plot", plot_id, _scope_key(office)), build)  # type: ignore[no-any-return]


@router.get("/plots/{plot_id}/forward", summary="Every lot made from a plot, and the retailers")
async def plot_forward(plot_id: str, request: Request) -> dict[str, Any]:
    office = office_of(request)

    def build() -> dict[str, Any]:
        store = _store(request)
        with reading(store) as reader:
            if not _plot_visible(reader, office, plot_id):
                raise _not_found("plot")
        return trace_forward(store, plot_id)

    return await _cached(request, ("api-forward", plot_id, _scope_key(office)), build)  # type: ignore[no-any-return]


@router.get("/lots/{lot_id}", summary="A lot: what it is, who made it, its code")
async def get_lot(lot_id: str, request: Request) -> dict[str, Any]:
    office = office_of(request)

    def build() -> dict[str, Any]:
        store = _store(request)
        doc = _trace(store, office, lot_id)
        with reading(store) as reader:
            r = reader.rows(
                "SELECT l.lot_id, l.step, l.gtin, l.plot_id, l.quantity_kg, l.units, l.made_at, "
                "l.made_by, c.uri FROM lot AS l LEFT JOIN code AS c ON c.lot_id = l.lot_id "
                "WHERE l.lot_id = :l",
                {"l": lot_id},
            )[0]
        return {
            "lot": r.lot_id,
            "step": r.step,
            "gtin": r.gtin,
            "plot": r.plot_id if r.plot_id is None or r.plot_id in doc["plots"] else None,
            "kg": r.quantity_kg,
            "units": r.units,
            "made_at": str(r.made_at),
            "made_by": r.made_by,
            "code": r.uri,
            "plots": doc["plots"],
            "shares": doc["shares"],
            "other_plots": doc.get("other_plots", []),
            "ancestor_lots": len(doc["lots"]),
        }

    return await _cached(request, ("api-lot", lot_id, _scope_key(office)), build)  # type: ignore[no-any-return]


@router.get(
    "/lots/{lot_id}/back",
    summary="Trace a lot back to its plots (heitu trace back --json)",
)
async def lot_back(lot_id: str, request: Request) -> dict[str, Any]:
    office = office_of(request)
    key = ("api-back", lot_id, _scope_key(office))
    return await _cached(request, key, _trace, _store(request), office, lot_id)  # type: ignore[no-any-return]


@router.get(
    "/recall",
    summary="Where everything made from a plot/farm/county/input/lot went",
    description="Give exactly one of county, plot, farm, input, lot (none or two: 400). "
    "heitu recall --json's document, started for a county or city office from its own "
    "plots' harvests.",
)
async def get_recall(
    request: Request,
    county: str | None = None,
    plot: str | None = None,
    farm: str | None = None,
    input: Annotated[
        str | None, Query(description="an input registration number, e.g. PD20080123")
    ] = None,
    lot: str | None = None,
) -> dict[str, Any]:
    office = office_of(request)
    given = [(k, v) for k, v in (("county", county), ("plot", plot), ("farm", farm),
             ("input", input), ("lot", lot)) if v]  # fmt: skip
    if len(given) != 1:
        raise HTTPException(400, "exactly one of county, plot, farm, input, lot")
    kind, key = given[0]

    def build() -> dict[str, Any]:
        store = _store(request)
        scope = None
        if not office.everything:
            if kind == "county" and not office.covers(key):
                raise HTTPException(403, f"county {key} is outside this office's regions")
            if kind == "lot":
                _trace(store, office, key)  # 404 unless the lot's chain touches the office
            else:
                scope = plot_scope(office, "sp.county_code")
            if kind == "plot":
                with reading(store) as reader:
                    if not _plot_visible(reader, office, key):
                        raise _not_found("plot")
        try:
            return recall(store, kind, key, seed_scope=scope)
        except NotFound:
            raise _not_found(kind) from None

    doc = await run_in_threadpool(build)
    if kind == "farm" and not doc["lots"] and not office.everything:
        raise _not_found("farm")  # a farm with nothing in the office looks like no farm
    return doc


def _page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next": str(items[-1]["id"]) if more and items else None}


def _after(after: str | None) -> int:
    if after is None or after == "":
        return 0
    if not after.isdigit():
        raise HTTPException(400, f"after={after!r}: pass the 'next' of the previous page")
    return int(after)


@router.get("/findings", summary="Open findings about the office's plots and lots (paged)")
async def get_findings(
    request: Request,
    county: str | None = None,
    kind: str | None = None,
    after: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{0,18}$", description="the 'next' of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
) -> dict[str, Any]:
    office = office_of(request)
    if county is not None and not office.covers(county):
        raise HTTPException(403, f"county {county} is outside this office's regions")

    def build() -> dict[str, Any]:
        where, params = ["f.id > :after"], {"after": _after(after), "limit": limit + 1}
        head = ""
        if not office.everything:
            head, lot_params = office_lots_sql(office)
            scope, scope_params = plot_scope(office, "p.county_code")
            params.update(lot_params, **scope_params)
            where.append(
                f"(f.plot_id IN (SELECT p.plot_id FROM plot AS p WHERE {scope}) "
                "OR f.lot_id IN (SELECT lot_id FROM office_lots) "
                "OR f.shipment_id IN (SELECT sl.shipment_id FROM shipment_lot AS sl "
                "WHERE sl.lot_id IN (SELECT lot_id FROM office_lots)) "
                f"OR ({scope.replace('p.county_code', 'f.county_code')}))"
            )
        if county is not None:
            where.append(
                "(f.county_code = :county OR f.plot_id IN "
                "(SELECT plot_id FROM plot WHERE county_code = :county))"
            )
            params["county"] = county
        if kind is not None:
            where.append("f.kind = :kind")
            params["kind"] = kind
        sql = (
            f"{head} SELECT f.id, f.check_name, f.kind, f.detail FROM finding AS f "
            f"WHERE {' AND '.join(where)} ORDER BY f.id LIMIT :limit"
        )
        with reading(_store(request)) as reader:
            rows = reader.rows(sql, params)
        items = []
        for r in rows:
            detail = r.detail if isinstance(r.detail, dict) else json.loads(r.detail)
            items.append({"id": r.id, "check": r.check_name, **detail})
        return _page(items, limit)

    return await run_in_threadpool(build)


@router.get("/reports", summary="Consumers' reports about the office's lots (paged)")
async def get_reports(
    request: Request,
    status: str | None = None,
    after: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{0,18}$", description="the 'next' of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
) -> dict[str, Any]:
    office = office_of(request)

    def build() -> dict[str, Any]:
        from traceability.reports import _doc

        where, params = ["r.id > :after"], {"after": _after(after), "limit": limit + 1}
        head = ""
        if not office.everything:
            head, lot_params = office_lots_sql(office)
            params.update(lot_params)
            where.append("r.lot_id IN (SELECT lot_id FROM office_lots)")
        if status is not None:
            where.append("r.status = :status")
            params["status"] = status
        sql = (
            f"{head} SELECT r.id, r.gtin, r.lot_id, r.serial, r.known_lot, r.category, r.text, "
            f"r.assignee, r.created_at, r.status FROM consumer_report AS r "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY r.id LIMIT :limit"
        )
        with reading(_store(request)) as reader:
            rows = reader.rows(sql, params)
        return _page([_doc(r) for r in rows], limit)

    return await run_in_threadpool(build)


class BureauGate:
    """ASGI middleware on the bureau's paths only (``/api/``, ``/bureau``): resolves the office
    of the request once, for the endpoints (``request.state.office``), and writes the request
    with its final status to the audit log, whatever the answer. Pure ASGI, so the consumer
    page's requests pass through it untouched."""

    PREFIXES = ("/api/", "/bureau")

    def __init__(self, app: Any, engine: Any, store: Any) -> None:
        self.app = app
        self.engine = engine
        self.store = store

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        app = scope["app"]
        current = getattr(app.state, "current", None)
        generation = current()[0] if current is not None else None
        office = await run_in_threadpool(resolve_office, request, generation)
        scope.setdefault("state", {})["office"] = office
        status = 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        query = scope.get("query_string", b"").decode("latin-1")
        what = scope["path"] + (f"?{query}" if query else "")
        try:
            await self.app(scope, receive, send_status)
        finally:
            writer = getattr(app.state, "audit", None)
            if writer is not None:  # written by the app's audit thread, within 50 ms
                writer.add(office, scope["method"], what, status)
            else:
                from traceability.access import record

                await run_in_threadpool(record, self.engine, office, scope["method"], what, status)


@router.get("/me", summary="The office this token acts for")
async def me(request: Request) -> dict[str, Any]:
    return office_of(request).as_dict()
