"""The consumer page in a real browser: Debian's Chromium, driven by Playwright, at a phone's width.

A sample season is loaded into a SQLite store, `heitu serve` runs on it as a subprocess (the
command a deployment runs, not the app in-process), and Chromium opens a packed lot's page in
Chinese and English at 390 x 844 px:

- the page works under its own Content-Security-Policy (no refused style, no failed request),
  asks nothing of any host but the server, draws the map and the timeline, shows the verdict,
  and does not scroll sideways;
- axe-core (node_modules/, pinned in package-lock.json; `make test` installs it) finds no
  "serious" or "critical" accessibility violation. Axe is injected as a script, which the
  page's CSP refuses, so that run uses a context with ``bypass_csp``;
- a lot not on record under a known GTIN walks up to the product's page with the warning.

The screenshots in docs/screenshots/ are written by every run: they are the docs' pictures.
Skipped only when Chromium or axe-core is not installed (`make test` installs both).
"""

from __future__ import annotations

import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 390, 844
HTML_LANG = {"zh": "zh-CN", "en": "en"}
LOCALE = {"zh": "zh-CN", "en": "en-US"}
#: axe impacts that fail the test; "minor" and "moderate" ones are printed, not failed.
BLOCKING = ("serious", "critical")

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (`make test` installs it)", allow_module_level=True)
if not AXE.exists():
    pytest.skip(f"{AXE} is missing (`make test` runs npm ci)", allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright  # noqa: E402


@dataclass
class Server:
    base: str
    gtin: str
    lot: str
    log: Path

    def url(self, path: str) -> str:
        return self.base + path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load_season(home: Path, url: str) -> None:
    """A sample season, checked and with its codes issued, in the store at ``url``."""
    from traceability import Store, pipeline
    from traceability.sample import write_sample
    from traceability.store import reset_engines

    inbox = home / "inbox"
    inbox.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEITU_HOME", str(home))
        mp.setenv("HEITU_DB_URL", url)
        for var in ("HEITU_INBOX", "HEITU_ARCHIVE", "HEITU_CODES_DIR"):
            mp.delenv(var, raising=False)
        reset_engines()
        try:
            write_sample(inbox, plots=60, seed=2026)
            pipeline.ingest_dir(inbox, url)
            Store.open(url).check()
            issued = Store.open(url).codes().as_dict()
        finally:
            reset_engines()
    assert issued["codes"], f"no code issued on the sample season: {issued}"


def _get_json(url: str) -> Any:
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def _pick_lot(db: Path, base: str) -> tuple[str, str]:
    """A packed lot with a code and shipments: one whose verdict is "traced" when there is one
    (the docs' picture shows the common case), else the one with the most shipments."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT c.gtin, c.lot_id FROM code c "
            "JOIN lot l ON l.lot_id = c.lot_id AND l.gtin = c.gtin "
            "JOIN shipment_lot s ON s.lot_id = c.lot_id "
            "GROUP BY c.gtin, c.lot_id "
            "ORDER BY COUNT(DISTINCT s.shipment_id) DESC, c.lot_id"
        ).fetchall()
    assert rows, "the sample season has no coded lot with shipments"
    for gtin, lot in rows:
        doc = _get_json(f"{base}/01/{gtin}/10/{lot}.json")
        if doc["verdict"]["status"] == "traced" and doc.get("shipments"):
            return gtin, lot
    return rows[0][0], rows[0][1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("browser")
    db = home / "heitu.db"
    url = f"sqlite:///{db}"
    _load_season(home, url)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = home / "serve.log"
    env = {**os.environ, "HEITU_HOME": str(home), "HEITU_DB_URL": url}
    for var in ("HEITU_INBOX", "HEITU_ARCHIVE", "HEITU_CODES_DIR"):
        env.pop(var, None)
    heitu = Path(sys.executable).parent / "heitu"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(heitu), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"heitu serve exited {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/.well-known/gs1resolver", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"heitu serve did not answer on {base} in 30 s:\n{log.read_text()}")
            time.sleep(0.1)
        # Ours that answered, not another server that had the port: ours would have exited.
        assert proc.poll() is None, log.read_text()
        gtin, lot = _pick_lot(db, base)
        yield Server(base=base, gtin=gtin, lot=lot, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Traffic:
    """What a page asked for, and what went wrong, while it loaded."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        page.on(
            "response",
            lambda r: self.failed.append(f"{r.url}: HTTP {r.status}") if r.status >= 400 else None,
        )
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, msg: ConsoleMessage) -> None:
        # Chromium asks for /favicon.ico by itself (a request Playwright does not report); the
        # app has none, and the page does not ask for it: not the page's error.
        url = msg.location.get("url", "")
        if msg.type == "error" and urlsplit(url).path != "/favicon.ico":
            self.errors.append(f"{msg.text} ({url})")

    def foreign(self, base: str) -> list[str]:
        """Requests to anywhere but the server (inline data: URIs are the page's own)."""
        here = urlsplit(base).netloc
        return [
            u for u in self.requests if urlsplit(u).scheme != "data" and urlsplit(u).netloc != here
        ]


def _open(browser: Browser, lang: str, *, bypass_csp: bool = False) -> Page:
    """A page in a fresh context: a phone's viewport, 1 px per CSS px (small PNGs)."""
    context = browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT},
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale=LOCALE[lang],
        bypass_csp=bypass_csp,
    )
    return context.new_page()


def _check_common(page: Page, server: Server, traffic: Traffic, lang: str) -> None:
    """What every page of the app owes a phone, whatever it shows."""
    assert page.locator("html").get_attribute("lang") == HTML_LANG[lang]
    assert not traffic.foreign(server.base), (
        f"requests to other hosts: {traffic.foreign(server.base)}"
    )
    assert not traffic.failed, f"failed requests: {traffic.failed}"
    # A CSP refusal (the stylesheet, say) shows up as a console error.
    assert not traffic.errors, f"console errors: {traffic.errors}\nserver log:\n{server.log_tail()}"
    # The stylesheet did load and apply: the header has the soil-brown background.
    bg = page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor")
    assert bg == "rgb(59, 42, 26)", f"heitu.css not applied (header background {bg})"
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= WIDTH, f"the page scrolls sideways at {WIDTH} px: {scroll_width} px wide"


def _axe(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({
                    target: n.target.join(' '), html: n.html, summary: n.failureSummary,
                })),
            }));
        }"""
    )


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for n in v["nodes"][:5]:
            lines.append(f"    {n['target']}: {n['html'][:300]}")
            lines.append("      " + (n["summary"] or "").replace("\n", "\n      "))
        if len(v["nodes"]) > 5:
            lines.append(f"    ... and {len(v['nodes']) - 5} more node(s)")
    return "\n".join(lines)


def _assert_accessible(page: Page, what: str) -> None:
    violations = _axe(page)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    if violations:
        print(f"axe on {what}:\n{_describe(violations)}")
    assert not blocking, f"axe: serious/critical violations on {what}:\n{_describe(blocking)}"


def _screenshot(page: Page, name: str) -> None:
    """The whole page as a PNG for the docs, in 256 colours without dithering: the same to the
    eye as the browser's 24-bit PNG, a third of the bytes (about 130 KB for a 5,000 px page)."""
    from PIL import Image

    shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        SHOTS / name, optimize=True
    )


def _lot_path(server: Server, lot: str | None = None) -> str:
    return f"/01/{server.gtin}/10/{lot or server.lot}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_lot_page_on_a_phone(browser: Browser, server: Server, lang: str) -> None:
    page = _open(browser, lang)
    traffic = Traffic()
    traffic.watch(page)
    try:
        resp = page.goto(server.url(f"{_lot_path(server)}?lang={lang}"), wait_until="load")
        assert resp is not None and resp.status == 200, resp and resp.status
        _check_common(page, server, traffic, lang)

        svg = page.locator("svg.map").first
        assert svg.is_visible(), "the origin map is not visible"
        assert page.locator("svg.map path.plot").count() >= 1, "the map draws no plot"
        box = svg.bounding_box()
        assert box is not None and box["width"] > 0.8 * (WIDTH - 40), f"map squeezed: {box}"

        items = page.locator("section.timeline li")
        assert items.count() >= 4, f"timeline has {items.count()} item(s)"
        verdict = page.locator("section.verdict")
        assert verdict.is_visible(), "the verdict is not visible"
        assert verdict.inner_text().strip(), "the verdict says nothing"
        assert page.locator("section.shipments .ship").count() >= 1, "no shipment shown"

        _screenshot(page, f"page-{lang}.png")
    finally:
        page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_lot_page_accessibility(browser: Browser, server: Server, lang: str) -> None:
    page = _open(browser, lang, bypass_csp=True)
    try:
        page.goto(server.url(f"{_lot_path(server)}?lang={lang}"), wait_until="load")
        _assert_accessible(page, f"{_lot_path(server)}?lang={lang}")
    finally:
        page.context.close()


def test_unknown_lot_walks_up_to_the_product_with_a_warning(
    browser: Browser, server: Server
) -> None:
    path = f"{_lot_path(server, 'NOT-A-LOT')}?lang=zh"
    page = _open(browser, "zh")
    traffic = Traffic()
    traffic.watch(page)
    try:
        resp = page.goto(server.url(path), wait_until="load")
        assert resp is not None and resp.status == 200, resp and resp.status
        _check_common(page, server, traffic, "zh")
        warning = page.locator("section.verdict.v-lot_unknown")
        assert warning.is_visible(), "no lot-unknown warning on the product page"
        assert "NOT-A-LOT" in warning.inner_text()
        _screenshot(page, "lot-unknown-zh.png")
    finally:
        page.context.close()

    page = _open(browser, "zh", bypass_csp=True)
    try:
        page.goto(server.url(path), wait_until="load")
        _assert_accessible(page, path)
    finally:
        page.context.close()


ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Mobile Safari/537.36"
)


def test_a_bag_page_says_what_its_scans_say_and_places_a_shared_location(
    browser: Browser, server: Server
) -> None:
    """A bag's own code (heitu code --serials) opened on a phone: the page shows the scan
    verdict and its short code; "share my location" (our script, allowed by the CSP) sends the
    browser's location once, and the verdict then names the city. The scan log keeps it
    rounded to 0.1 degree."""
    home = server.log.parent
    env = {**os.environ, "HEITU_HOME": str(home), "HEITU_DB_URL": f"sqlite:///{home / 'heitu.db'}"}
    heitu = Path(sys.executable).parent / "heitu"
    done = subprocess.run(
        [str(heitu), "code", server.lot, "--serials", "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    unit = json.loads(done.stdout)["units"][0]
    parts = urlsplit(unit["uri"])
    context = browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT},
        is_mobile=True,
        has_touch=True,
        locale=LOCALE["zh"],
        user_agent=ANDROID_UA,
        geolocation={"latitude": 45.7612, "longitude": 126.6534},  # Harbin
        permissions=["geolocation"],
    )
    page = context.new_page()
    traffic = Traffic()
    traffic.watch(page)
    try:
        resp = page.goto(server.url(f"{parts.path}?{parts.query}"), wait_until="load")
        assert resp is not None and resp.status == 200
        _check_common(page, server, traffic, "zh")
        scan = page.locator("section.scan")
        assert "正品，首次扫码" in scan.inner_text()
        assert unit["short_code"] in scan.inner_text()
        button = page.locator("#share-place")
        assert button.is_visible(), "the share-location button is hidden: the script did not run"
        with page.expect_navigation():
            button.click()
        assert "geo=45.8%2C126.7" in page.url  # the browser rounds too; the server again
        assert not traffic.errors, traffic.errors
        with sqlite3.connect(home / "heitu.db") as conn:
            placed = conn.execute(
                "SELECT lat, lon, client FROM scan WHERE serial = ?", (unit["serial"],)
            ).fetchall()
        assert placed == [(45.8, 126.7, "android")]  # one scan, placed; never the raw point
        page.goto(server.url(f"{parts.path}?{parts.query}"), wait_until="load")
        assert "最近一次在哈尔滨" in page.locator("section.scan").inner_text()
    finally:
        context.close()
    checked = _open(browser, "zh", bypass_csp=True)  # axe is injected as an inline script
    try:
        checked.goto(server.url(f"{parts.path}?{parts.query}"), wait_until="load")
        _assert_accessible(checked, "a bag's page")
    finally:
        checked.context.close()
