"""The portal's pages (/bureau/...) for a signed-in office, on SQLite and PostgreSQL.

The sign-in itself runs through a real OpenID provider in tests/test_bureau_signin.py; here the
session cookie is made the way the app's own SessionMiddleware signs it (itsdangerous, with the
server's HEITU_SESSION_SECRET), so each page and form can be checked for each office.
"""

from __future__ import annotations

import io
import json
import re
from base64 import b64encode
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner

from tests.conftest import module_store
from tests.season import GTIN_RICE
from tests.test_bureau_api import write_two_counties
from traceability import Store, pipeline
from traceability.store import reset_engines
from traceability.web.app import create_app

SECRET = "test-session-secret-0123456789"
WUCHANG = {"who": "五常检查员", "role": "county", "regions": ["230184"]}
HAILUN = {"who": "海伦检查员", "role": "county", "regions": ["231283"]}
PROVINCE = {"who": "省厅", "role": "province", "regions": ["23"]}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def app_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    url, home = module_store(request, tmp_path_factory, "portal")
    write_two_counties(home / "inbox")
    pipeline.ingest_dir(home / "inbox", url=url)
    Store.open(url).check()
    yield url
    reset_engines()


@pytest.fixture
def portal(app_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("HEITU_OIDC_ISSUER", "http://127.0.0.1:9/never-asked")
    monkeypatch.setenv("HEITU_OIDC_CLIENT_ID", "heitu-portal")
    monkeypatch.setenv("HEITU_OIDC_CLIENT_SECRET", "not-used-here")
    monkeypatch.setenv("HEITU_SESSION_SECRET", SECRET)
    with TestClient(create_app(app_url)) as client:
        yield client


def sign_in(client: TestClient, office: dict[str, Any], csrf: str = "tok") -> None:
    """A session cookie as Starlette's SessionMiddleware writes it after a sign-in."""
    data = b64encode(json.dumps({"office": office, "csrf": csrf}).encode())
    client.cookies.set("heitu_portal", TimestampSigner(SECRET).sign(data).decode())


def test_pages_need_a_signed_in_office(portal: TestClient) -> None:
    r = portal.get("/bureau/plots/P1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/bureau/login"
    assert portal.get("/bureau", follow_redirects=False).headers["location"] == "/bureau/login"


def test_plot_to_shelf_history_with_its_graph(portal: TestClient) -> None:
    sign_in(portal, WUCHANG)
    page = portal.get("/bureau/plots/P1")
    assert page.status_code == 200
    assert '<svg class="graph"' in page.text  # Graphviz, drawn on the server
    assert "K1" in page.text and "哈尔滨超市" in page.text  # the lot and the shelf it reached
    assert "五常市民乐乡合作社" in page.text  # the bureau sees its farms
    assert portal.get("/bureau/plots/P4").status_code == 404
    lot = portal.get("/bureau/lots/K4")
    assert lot.status_code == 200 and "其他地区" in lot.text and "P4" not in lot.text
    assert portal.get("/bureau/lots/K3").status_code == 404


def test_search_goes_to_the_right_page(portal: TestClient) -> None:
    sign_in(portal, WUCHANG)
    cases = {
        "P1": "/bureau/plots/P1",
        "K1": "/bureau/lots/K1",
        "230184": "/bureau/recall?county=230184",
        "PD20080123": "/bureau/recall?input=PD20080123",
        "F1": "/bureau/recall?farm=F1",
        f"https://id.heitu.cn/01/{GTIN_RICE}/10/K1": "/bureau/lots/K1",
    }
    for q, target in cases.items():
        r = portal.get("/bureau/search", params={"q": q}, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, target), q
    assert "nothing found" in portal.get("/bureau/search", params={"q": "nope"}).text


def test_recall_page_download_declare_and_lift(portal: TestClient) -> None:
    from openpyxl import load_workbook

    sign_in(portal, WUCHANG)
    page = portal.get("/bureau/recall", params={"plot": "P1"})
    assert page.status_code == 200 and 'id="totals"' in page.text
    sheet = portal.get("/bureau/recall", params={"plot": "P1", "download": "xlsx"})
    assert sheet.status_code == 200
    assert load_workbook(io.BytesIO(sheet.content)).sheetnames[0] == "events"

    form = {"scope": "plot", "key": "P1", "reason": "吡虫啉残留超标"}
    no_token = portal.post("/bureau/recall/declare", data=form, follow_redirects=False)
    assert no_token.status_code == 403  # a cross-site form carries no session token
    done = portal.post("/bureau/recall/declare", data={**form, "csrf": "tok"},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    consumer = portal.get(f"/page/01/{GTIN_RICE}/10/K1.json").json()
    assert consumer["verdict"]["status"] == "recalled"
    page = portal.get("/bureau/recall", params={"plot": "P1"})
    rid = re.search(r'name="id" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]

    # outside the office: the neighbour's plot, an input everywhere
    other = {"scope": "plot", "key": "P4", "reason": "x", "csrf": "tok"}
    assert portal.post("/bureau/recall/declare", data=other).status_code == 404
    wide = {"scope": "input", "key": "PD20080123", "reason": "x", "csrf": "tok"}
    assert portal.post("/bureau/recall/declare", data=wide).status_code == 403
    sign_in(portal, HAILUN)
    lift = {"id": rid, "csrf": "tok"}
    assert portal.post("/bureau/recall/lift", data=lift).status_code == 404  # not Hailun's plot
    sign_in(portal, WUCHANG)
    assert portal.post("/bureau/recall/lift", data=lift, follow_redirects=False).status_code == 303
    assert portal.get(f"/page/01/{GTIN_RICE}/10/K1.json").json()["verdict"]["status"] != "recalled"


def test_findings_page_has_a_chart_and_only_the_office(portal: TestClient) -> None:
    sign_in(portal, PROVINCE)
    everything = portal.get("/bureau/findings")
    assert '<svg class="chart"' in everything.text and "K3" in everything.text
    sign_in(portal, WUCHANG)
    assert "K3" not in portal.get("/bureau/findings").text
    assert portal.get("/bureau/findings", params={"county": "231283"}).status_code == 403


def test_report_queue_keeps_every_change(portal: TestClient) -> None:
    for code in (f"/01/{GTIN_RICE}/10/K1", f"/01/{GTIN_RICE}/10/K3"):
        portal.post("/report", data={"code": code, "category": "fake", "text": code})
    sign_in(portal, WUCHANG)
    queue = portal.get("/bureau/reports")
    ids = [int(x) for x in re.findall(r'id="report-(\d+)"', queue.text)]
    assert ids and "K3" not in queue.text
    rid = ids[-1]
    move = {"status": "investigating", "assignee": "李科员", "note": "抽检", "csrf": "tok"}
    assert (
        portal.post(f"/bureau/reports/{rid}", data=move, follow_redirects=False).status_code == 303
    )
    back = {"status": "new", "csrf": "tok"}
    assert portal.post(f"/bureau/reports/{rid}", data=back).status_code == 400  # not a move
    close = {"status": "closed", "note": "假冒，已移交", "csrf": "tok"}
    assert (
        portal.post(f"/bureau/reports/{rid}", data=close, follow_redirects=False).status_code == 303
    )
    page = portal.get("/bureau/reports").text
    assert "李科员" in page and "抽检" in page and "假冒，已移交" in page
    assert page.count("五常检查员: ") >= 2  # both changes kept, with who made them
    assert portal.post(f"/bureau/reports/{rid}", data={"status": "closed"}).status_code == 403
    sign_in(portal, HAILUN)
    assert portal.post(f"/bureau/reports/{rid}", data=move).status_code == 404  # not Hailun's


def test_portal_pages_are_audited_with_the_office(portal: TestClient, app_url: str) -> None:
    from traceability.access import audit_log
    from traceability.store import open_store

    sign_in(portal, WUCHANG)
    portal.get("/bureau/plots/P4")
    portal.app.state.audit.flush()  # written by the app's audit thread
    last = audit_log(open_store(app_url))[-1]
    assert last["path"] == "/bureau/plots/P4" and last["status"] == 404
    assert last["via"] == "oidc" and last["who"] == "五常检查员"
