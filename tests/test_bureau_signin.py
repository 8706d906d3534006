"""Signing in to the bureau portal through a real OpenID provider, in a real browser.

The provider is the OpenID-certified npm package oidc-provider (8.x, tests/oidc/), started on
127.0.0.1; `heitu serve` runs as a subprocess with HEITU_OIDC_* pointing at it; Debian's
Chromium, driven by Playwright, signs in on the provider's login page. The office (region and
role) comes from the provider's userinfo endpoint, not the ID token: the portal shows it, and
the session reaches the API with that office's scope.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.season import GTIN_RICE
from tests.test_bureau_api import write_two_counties

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = {
    "wuchang-officer": {"name": "五常市农业农村局 检查员", "region": "230184", "role": "county"},
    "hailun-officer": {"name": "海伦市农业农村局 检查员", "region": "231283", "role": "county"},
    "visitor": {"name": "Visitor"},  # signs in, but the claims make no office
}

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (`make test` installs it)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from tests.oidc_provider import start_provider
    from traceability import pipeline
    from traceability.store import reset_engines

    home = tmp_path_factory.mktemp("signin")
    url = f"sqlite:///{home / 'heitu.db'}"
    reset_engines()
    write_two_counties(home / "inbox")
    pipeline.ingest_dir(home / "inbox", url=url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    provider = start_provider(ACCOUNTS, [f"{base}/bureau/auth"])
    env = {
        **os.environ,
        "HEITU_HOME": str(home),
        "HEITU_DB_URL": url,
        "HEITU_OIDC_ISSUER": provider.issuer,
        "HEITU_OIDC_CLIENT_ID": provider.client_id,
        "HEITU_OIDC_CLIENT_SECRET": provider.client_secret,
        "HEITU_SESSION_SECRET": secrets.token_urlsafe(32),
    }
    log = home / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "heitu"), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                urllib.request.urlopen(f"{base}/", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.3)
        yield {"base": base, "url": url, "provider": provider, "log": log}
    finally:
        server.terminate()
        server.wait(timeout=20)
        provider.stop()
        reset_engines()


def _sign_in(page: Any, base: str, login: str) -> None:
    page.goto(f"{base}/bureau")
    page.wait_for_selector('input[name="login"]')  # the provider's own login page
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', "any password")
    page.click('button[type="submit"]')


def test_a_county_officer_signs_in_and_sees_her_county(portal: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    from traceability.access import audit_log
    from traceability.store import open_store

    base = portal["base"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/bureau")
            assert page.url.startswith(portal["provider"].issuer)  # sent to the provider
            _sign_in(page, base, "wuchang-officer")
            page.wait_for_url(f"{base}/bureau")
            office = page.inner_text("#office")
            assert "230184" in office and "五常市" in office and "县级" in office
            assert "检查员" in office
            # the session acts for that office on the API too
            assert page.request.get(f"{base}/api/v1/plots/P1").status == 200
            assert page.request.get(f"{base}/api/v1/plots/P4").status == 404
            assert page.request.get(f"{base}/api/v1/me").json()["via"] == "oidc"
            page.goto(f"{base}/bureau/logout")
            assert page.request.get(f"{base}/api/v1/plots/P1").status == 401
        finally:
            browser.close()
    deadline = time.monotonic() + 10  # the server's audit thread writes within 50 ms
    while True:
        log = audit_log(open_store(portal["url"]))
        mine = [a for a in log if a["via"] == "oidc"]
        if len({a["path"] for a in mine} & {"/bureau", "/api/v1/plots/P4"}) == 2:
            break
        assert time.monotonic() < deadline, mine
        time.sleep(0.2)
    assert {a["path"] for a in mine} >= {"/bureau", "/api/v1/plots/P1", "/api/v1/plots/P4"}
    assert all(a["office"] == {"role": "county", "regions": ["230184"]} for a in mine)
    assert {a["status"] for a in mine} >= {200, 404}


def test_an_account_without_an_office_is_refused(portal: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    base = portal["base"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            responses: list[Any] = []
            page.on("response", lambda r: responses.append(r))
            _sign_in(page, base, "visitor")
            page.wait_for_url(f"{base}/bureau/auth*")
            refused = [r for r in responses if r.url.startswith(f"{base}/bureau/auth")]
            assert refused and refused[-1].status == 403
            assert "no office" in page.content()
            assert page.request.get(f"{base}/api/v1/plots/P1").status == 401
        finally:
            browser.close()


def test_the_county_officers_day(portal: dict[str, Any]) -> None:
    """The issue's story, in the browser: sign in, find a suspect plot's every bag and the
    shelves it reached, declare the recall, see the consumers' reports; the office next door
    sees none of it."""
    import httpx
    from playwright.sync_api import sync_playwright

    base = portal["base"]
    code = f"/01/{GTIN_RICE}/10/K1"
    httpx.post(f"{base}/report", data={"code": code, "category": "fake", "text": "袋子印刷模糊"})
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            _sign_in(page, base, "wuchang-officer")
            page.wait_for_url(f"{base}/bureau")
            page.fill("#q", "P1")
            page.click("form.search button")
            page.wait_for_url(f"{base}/bureau/plots/P1")
            assert page.is_visible("svg.graph")
            assert "K1" in page.inner_text("p.lots") and "哈尔滨超市" in page.content()
            page.click("text=召回查询 recall")
            page.wait_for_url(f"{base}/bureau/recall?plot=P1")
            assert "未售 unsold" in page.inner_text("#totals")
            page.fill("#reason", "吡虫啉残留超标，请下架")
            page.click("form.declare button")
            page.wait_for_selector("form.recall")
            consumer = httpx.get(f"{base}/page{code}.json").json()
            assert consumer["verdict"]["status"] == "recalled"
            assert consumer["verdict"]["reason"] == "吡虫啉残留超标，请下架"
            page.click("text=举报 Reports")
            assert "袋子印刷模糊" in page.content()
        finally:
            browser.close()
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:  # the office next door: none of Wuchang's farms, bags or reports
            page = browser.new_page()
            _sign_in(page, base, "hailun-officer")
            page.wait_for_url(f"{base}/bureau")
            assert page.goto(f"{base}/bureau/plots/P1").status == 404
            assert page.goto(f"{base}/bureau/lots/K1").status == 404
            page.goto(f"{base}/bureau/reports")
            assert "袋子印刷模糊" not in page.content()
        finally:
            browser.close()
