"""The resolver and the consumer page (traceability/web), through FastAPI's test client on a
real store: the tiny season (tests/season.py) loaded into a SQLite file and into PostgreSQL.

K1 (GTIN 06901234567892) comes from P1, P2 (farm F1) and P3 (farm F2, "Li Family Farm": a
person's name that must never be shown), through drying, milling, blending and packing, was
shipped to R1 in Harbin with a logger (cool rice, 8-10 C: in range) and sold there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from tests.conftest import _fresh_pg, module_store
from tests.season import GTIN_RICE, SALES, write_csv, write_season
from traceability import Store, pipeline
from traceability.cli import main
from traceability.reports import CATEGORIES, MAX_TEXT
from traceability.store import reset_engines
from traceability.web.app import create_app
from traceability.web.dl import BadCode, parse_path

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_SCHEMA = SHARED / "gs1-linkset" / "gs1-linkset-schema.json"
#: an unmodified copy, for a checkout without ../shared beside it (tests/gs1_linkset/README.md)
BUNDLED_SCHEMA = Path(__file__).parent / "gs1_linkset" / "gs1-linkset-schema.json"
LINKSET_SCHEMA = SHARED_SCHEMA if SHARED_SCHEMA.exists() else BUNDLED_SCHEMA
K1 = f"/01/{GTIN_RICE}/10/K1"  # the code's path: the resolver
PAGE = "/page" + K1  # where its default link goes: the consumer page
GS1 = "https://gs1.org/voc/"
PERSONAL = ("Li Family Farm", "五常市民乐乡合作社")  # the two farms' names (role farm)


def _load(url: str, inbox: Path) -> None:
    write_season(inbox)
    pipeline.ingest_dir(inbox, url=url)
    Store.open(url).check()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The tiny season loaded once per database for the read-only tests."""
    url, home = module_store(request, tmp_path_factory, "web")
    _load(url, home / "inbox")
    yield url
    reset_engines()


@pytest.fixture(scope="module")
def client(loaded: str) -> Iterator[TestClient]:
    with TestClient(create_app(loaded)) as c:
        yield c


def _facts(client: TestClient, path: str = K1) -> dict[str, Any]:
    r = client.get("/page" + path + ".json")
    assert r.status_code == 200, r.text
    return r.json()


# --- the page -------------------------------------------------------------------------------


def test_page_is_chinese_by_default(client: TestClient) -> None:
    r = client.get(PAGE)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<html lang="zh-CN">' in html
    assert "五常大米 5kg" in html
    assert "已追溯到五常市的 3 块地" in html
    # the timeline: field work, processing, transport, with the input's name and number
    for word in (
        "播种",
        "投入品使用",
        "吡虫啉",
        "PD20080123",
        "收获",
        "烘干",
        "碾米",
        "拼配",
        "包装",
    ):
        assert word in html, word
    assert "全程温度合格" in html  # S1's logger stayed in the cool class
    assert "哈尔滨市" in html  # where it was sold
    assert '<svg class="map"' in html and 'class="plot"' in html and 'class="county"' in html
    assert '<svg class="temp"' in html


def test_english_by_accept_language_or_switch(client: TestClient) -> None:
    by_header = client.get(PAGE, headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert '<html lang="en">' in by_header.text
    assert "Traced to 3 plot(s) in Wuchang" in by_header.text
    assert "Wuchang rice 5 kg" in by_header.text
    by_switch = client.get(PAGE + "?lang=en", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in by_switch.text
    # the switch back to Chinese, and the page's links keep the language
    assert f'href="{PAGE}?lang=zh"' in by_switch.text
    assert f'{PAGE}.json?lang=en"' in by_switch.text
    zh = client.get(PAGE + "?lang=zh", headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN">' in zh.text


def test_json_twin_has_the_same_facts(client: TestClient) -> None:
    doc = _facts(client)
    by_accept = client.get(PAGE, headers={"Accept": "application/json"})
    assert by_accept.headers["content-type"].startswith("application/json")
    assert by_accept.json()["verdict"] == doc["verdict"]
    assert doc["code"] == {
        "gtin": GTIN_RICE,
        "lot": "K1",
        "serial": None,
        "path": K1,
        "uri": "http://testserver" + K1,
    }
    assert doc["verdict"]["status"] == "traced"
    assert doc["verdict"]["plots"] == 3
    shares = {p["plot"]: p["share"] for p in doc["origin"]["plots"]}
    assert shares == {"P1": 0.25, "P2": 0.25, "P3": 0.5}
    assert doc["origin"]["counties"][0]["zh"] == "五常市"
    assert doc["completeness"] == dict.fromkeys(
        ("plot", "inputs", "harvest", "processing", "transport", "sale"), True
    )
    steps = [e["step"] for e in doc["timeline"]]
    for step in ("sowing", "input", "harvest", "drying", "milling", "blending", "packing"):
        assert step in steps
    assert steps[-1] == "shipping"
    (ship,) = doc["shipments"]
    assert ship["shipment"] == "S1"
    assert ship["cold_chain"]["status"] == "in_range"
    assert ship["cold_chain"]["max_c"] == 10.0
    assert ship["carrier"]["name"] == "龙江冷链"
    sold = {(g["channel"], g["units"]) for g in doc["sales"]}
    assert sold == {("store", 10), ("ecommerce", 5)}
    assert doc["summary"] == "已追溯到五常市的 3 块地"
    assert doc["links"]["epcis"].endswith("/epcis" + K1)


def test_no_personal_data(client: TestClient) -> None:
    """A family farm is named after a person: neither the page nor its twin shows a farm's
    name or id, in either language; the farm appears as a family farm and its village."""
    for lang in ("zh", "en"):
        html = client.get(f"{PAGE}?lang={lang}").text
        twin = client.get(f"{PAGE}.json?lang={lang}").text
        for text in (html, twin):
            for name in PERSONAL:
                assert name not in text
            assert '"F1"' not in text and '"F2"' not in text
        assert ("农户" if lang == "zh" else "Family farm") in html
    doc = _facts(client)
    assert all(p["farmed_by"] == {**p["farmed_by"], "name": None} for p in doc["origin"]["plots"])


def test_a_shell_page_cannot_look_complete(client: TestClient) -> None:
    """K2 was packed from the same blend but never shipped or sold: its completeness mark says
    so, in the twin and on the page."""
    doc = _facts(client, f"/01/{GTIN_RICE}/10/K2")
    assert doc["completeness"]["transport"] is False
    assert doc["completeness"]["sale"] is False
    assert doc["verdict"]["missing"] == ["transport", "sale"]
    html = client.get(f"/page/01/{GTIN_RICE}/10/K2").text
    assert html.count('class="no"') == 2


# --- resolver paths -------------------------------------------------------------------------


def test_gtin_forms_are_normalised() -> None:
    assert parse_path("/01/12345670/10/A") == ("00000012345670", "A", None)  # GTIN-8
    assert parse_path("/01/614141123452/10/A") == ("00614141123452", "A", None)  # GTIN-12
    assert parse_path("/01/6901234567892/10/A") == (GTIN_RICE, "A", None)  # GTIN-13
    assert parse_path(f"/01/{GTIN_RICE}/10/A%2FB") == (GTIN_RICE, "A/B", None)
    assert parse_path(f"/01/{GTIN_RICE}/10/K1/21/X%2F1") == (GTIN_RICE, "K1", "X/1")
    assert parse_path(f"/01/{GTIN_RICE}/10/K1/") == (GTIN_RICE, "K1", None)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/01/06901234567893/10/K1", "check digit"),
        ("/01/abc", "."),
        ("/01/0690123456789/10/K1", "check digit"),  # a GTIN-13 with a bad check digit
        (f"/01/{GTIN_RICE}/10", "even number"),
        (f"{K1}/foo", "even number"),  # GS1's suite: DL + '/foo' is a 400
        (f"/01/{GTIN_RICE}/17/261231", "qualifier"),
        (f"/01/{GTIN_RICE}/10/" + "X" * 21, "."),  # AI 10 holds at most 20 characters
    ],
)
def test_malformed_codes_are_400_with_the_reason(
    client: TestClient, path: str, reason: str
) -> None:
    with pytest.raises(BadCode, match=reason):
        parse_path(path)
    for prefix in ("", "/page"):
        r = client.get(prefix + path, follow_redirects=False)
        assert r.status_code == 400
        assert "无法识别的追溯码" in r.text and "Not a traceability code" in r.text
    j = client.get(path, headers={"Accept": "application/json"})
    assert j.status_code == 400 and j.json()["error"] == "bad_request"


def test_default_link_is_a_redirect_to_the_page(client: TestClient) -> None:
    """GS1's suite: GET DL with no query -> Location is exactly the defaultLink's href; the
    query string is passed on; DL and DL/ answer alike; a short GTIN resolves the same."""
    r = client.get(K1, follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "http://testserver" + PAGE
    assert 'rel="linkset"' in r.headers["link"]
    slash = client.get(K1 + "/", follow_redirects=False)
    assert (slash.status_code, slash.headers["location"]) == (307, r.headers["location"])
    short = client.get("/01/6901234567892/10/K1", follow_redirects=False)
    assert short.headers["location"] == r.headers["location"]
    foo = client.get(K1 + "?foo=bar&lang=en", follow_redirects=False)
    assert foo.headers["location"] == f"http://testserver{PAGE}?foo=bar&lang=en"
    twin = client.get(K1 + ".json", follow_redirects=False)
    assert twin.headers["location"] == f"http://testserver{PAGE}.json"
    # a phone follows it to the page; a script asking for JSON gets the twin
    assert "已追溯到五常市的 3 块地" in client.get(K1, headers={"Accept-Language": "zh"}).text
    assert client.get(K1, headers={"Accept": "application/json"}).json()["lot"]["id"] == "K1"


def test_serial_and_encoded_lot(client: TestClient) -> None:
    r = client.get(K1 + "/21/SN0001", follow_redirects=False)
    assert r.headers["location"].startswith(f"http://testserver{PAGE}/21/SN0001?scan=")
    doc = client.get(PAGE + "/21/SN0001", headers={"Accept": "application/json"}).json()
    assert doc["code"]["serial"] == "SN0001" and doc["lot"]["id"] == "K1"
    # an encoded '/' stays inside the lot: read from the raw path, not the decoded one
    odd = client.get(f"/page/01/{GTIN_RICE}/10/A%2FB.json").json()
    assert odd["code"]["lot"] == "A/B" and odd["verdict"]["status"] == "lot_unknown"
    assert odd["code"]["path"] == f"/01/{GTIN_RICE}/10/A%2FB"


def test_unknown_gtin_is_404_in_both_languages(client: TestClient) -> None:
    for prefix in ("", "/page"):  # valid check digit, not our product
        r = client.get(prefix + "/01/06901234567885/10/K1", follow_redirects=False)
        assert r.status_code == 404
        assert "未找到此商品" in r.text and "Product not found" in r.text


def test_unknown_lot_walks_up_to_the_product_with_a_warning(client: TestClient) -> None:
    hop = client.get(f"/01/{GTIN_RICE}/10/FAKE-001", follow_redirects=False)
    assert hop.status_code == 307  # never a 404: GS1's walk up the tree
    assert hop.headers["location"] == f"http://testserver/page/01/{GTIN_RICE}/10/FAKE-001"
    r = client.get(hop.headers["location"] + "?lang=zh")
    assert r.status_code == 200
    assert "本批次不在记录中" in r.text and "可能是复制或伪造的" in r.text
    assert "五常大米 5kg" in r.text  # the product's page
    doc = _facts(client, f"/01/{GTIN_RICE}/10/FAKE-001")
    assert doc["verdict"]["status"] == "lot_unknown"
    assert "origin" not in doc and doc["product"]["lots_on_record"] == 2
    # nothing about a lot before its packing record: a harvest lot under the GTIN is unknown
    assert _facts(client, f"/01/{GTIN_RICE}/10/H1")["verdict"]["status"] == "lot_unknown"
    # the GTIN alone answers with the product's page, without a warning
    product = client.get(f"/page/01/{GTIN_RICE}", headers={"Accept": "application/json"}).json()
    assert product["verdict"] is None and product["product"]["gtin"] == GTIN_RICE


def test_head_and_options(client: TestClient) -> None:
    get = client.get(PAGE)
    head = client.head(PAGE)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["etag"] == get.headers["etag"]
    assert client.head(K1, follow_redirects=False).status_code == 307
    # GS1's suite sends the three methods as one comma-joined value
    opt = client.options(
        K1,
        headers={
            "Origin": "https://ref.gs1.org/test-suites/resolver/",
            "Access-Control-Request-Method": "GET,HEAD,OPTIONS",
        },
    )
    assert opt.status_code == 204
    assert opt.headers["access-control-allow-origin"] == "*"
    assert {"GET", "HEAD", "OPTIONS"} <= {
        m.strip() for m in opt.headers["access-control-allow-methods"].split(",")
    }
    assert 'rel="linkset"' in opt.headers["link"] and 'rel="gs1:' not in opt.headers["link"]
    assert get.headers["access-control-allow-origin"] == "*"


# --- linkset and link types ----------------------------------------------------------------


def _schema() -> dict[str, Any]:
    return json.loads(LINKSET_SCHEMA.read_text(encoding="utf-8"))


def test_bundled_linkset_schema_is_an_unmodified_copy() -> None:
    if not SHARED_SCHEMA.exists():
        pytest.skip("no ../shared/gs1-linkset beside this checkout to compare with")
    assert BUNDLED_SCHEMA.read_bytes() == SHARED_SCHEMA.read_bytes()


def test_the_schema_rejects_what_gs1_calls_invalid() -> None:
    """Guards the validation itself: GS1's own invalid example must fail, a CURIE key too."""
    bad = {"linkset": [{"anchor": "https://id.example/01/1", "itemDescription": "x",
                        "gs1:pip": [{"href": "https://x.example/", "title": "t"}]}]}  # fmt: skip
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _schema())


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?linkType=linkset", {}),
        ("?linkType=all", {}),
        ("", {"Accept": "application/linkset+json"}),
    ],
)
def test_linkset_validates_against_gs1_schema(
    client: TestClient, query: str, headers: dict[str, str]
) -> None:
    r = client.get(K1 + query, headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/linkset+json")
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in r.headers["link"]
    doc = r.json()
    jsonschema.validate(doc, _schema())
    lot, product = doc["linkset"]  # one context object per level, the lot's first
    assert lot["anchor"] == "http://testserver" + K1
    assert product["anchor"] == f"http://testserver/01/{GTIN_RICE}"
    for kind in ("defaultLink", "traceability", "epcis", "recallStatus"):
        (link,) = lot[GS1 + kind]  # one link per type: a request without linkType has one answer
        assert link["title"] and link["type"] and link["hreflang"]
    assert lot[GS1 + "traceability"][0]["hreflang"] == ["zh", "en"]
    assert lot[GS1 + "defaultLink"][0]["href"] == "http://testserver" + PAGE
    (pip,) = product[GS1 + "pip"]
    assert pip["href"] == f"http://testserver/page/01/{GTIN_RICE}" and pip["hreflang"]


def test_linkset_of_an_unknown_lot_has_only_the_product_level(client: TestClient) -> None:
    doc = client.get(f"/01/{GTIN_RICE}/10/FAKE-001?linkType=linkset").json()
    jsonschema.validate(doc, _schema())
    lot, product = doc["linkset"]
    assert set(lot) == {"anchor", "itemDescription", GS1 + "defaultLink"}  # the warning page
    assert set(product) == {"anchor", "itemDescription", GS1 + "defaultLink", GS1 + "pip"}
    serial = client.get(f"{K1}/21/S1?linkType=linkset").json()
    jsonschema.validate(serial, _schema())
    assert [c["anchor"].removeprefix("http://testserver") for c in serial["linkset"]] == [
        f"{K1}/21/S1",
        K1,
        f"/01/{GTIN_RICE}",
    ]


@pytest.mark.parametrize("link_type", ["gs1:epcis", GS1 + "epcis"])
def test_link_types_redirect_with_the_query(client: TestClient, link_type: str) -> None:
    r = client.get(K1, params={"linkType": link_type, "lang": "en"}, follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == f"http://testserver/epcis{K1}?lang=en"
    assert 'rel="linkset"' in r.headers["link"]
    events = client.get(r.headers["location"])
    assert events.status_code == 200
    from traceability.epcis import validate

    doc = events.json()
    assert validate(doc) is None
    assert len(doc["epcisBody"]["eventList"]) >= 7  # the chain's records, harvest to packing


def test_other_link_types(client: TestClient) -> None:
    pip = client.get(K1 + "?linkType=gs1:pip", follow_redirects=False)
    assert pip.status_code == 307
    assert pip.headers["location"] == f"http://testserver/page/01/{GTIN_RICE}"
    page = client.get(K1 + "?linkType=gs1:traceability&lang=en", follow_redirects=False)
    assert page.headers["location"] == f"http://testserver{PAGE}?lang=en"
    recall = client.get(K1 + "?linkType=gs1:recallStatus")
    assert recall.status_code == 200 and recall.json()["recalled"] is False
    missing = client.get(K1 + "?linkType=gs1:nosuchlt", follow_redirects=False)
    assert missing.status_code == 404
    assert "gs1:epcis" in missing.json()["linkTypes"]


def test_resolver_description(client: TestClient) -> None:
    r = client.get("/.well-known/gs1resolver")
    assert r.status_code == 200
    doc = r.json()
    assert doc["resolverRoot"] == "http://testserver"
    assert doc["supportedPrimaryKeys"] == ["01"]
    assert doc["name"]


# --- cacheable, self-contained --------------------------------------------------------------


def test_page_is_small_and_asks_no_other_host(client: TestClient) -> None:
    r = client.get(PAGE)
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp
    css = client.get("/static/heitu.css")
    assert css.status_code == 200
    assert len(r.content) + len(css.content) <= 60 * 1024
    # every URL the page loads or links to is on this host (xmlns is a name, not a request)
    urls = re.findall(r'(?:src|href|action)="([^"]+)"', r.text)
    assert urls
    assert all(u.startswith(("/", "#", "http://testserver/")) for u in urls), urls


def test_etag_and_last_modified(client: TestClient) -> None:
    r = client.get(K1)
    assert client.get(K1, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    since = client.get(K1, headers={"If-Modified-Since": r.headers["last-modified"]})
    assert since.status_code == 304
    assert (
        client.get(K1 + "?lang=en", headers={"If-None-Match": r.headers["etag"]}).status_code == 200
    )


def test_openapi_documents_the_resolver_and_the_twin(client: TestClient) -> None:
    from traceability.web.schema import LotPage

    api = client.get("/openapi.json").json()
    paths = api["paths"]
    ok = paths["/page/01/{rest}"]["get"]["responses"]["200"]["content"]
    assert ok["application/json"]["schema"] == {"$ref": "#/components/schemas/LotPage"}
    assert "verdict" in api["components"]["schemas"]["LotPage"]["properties"]
    for path in (K1, f"/01/{GTIN_RICE}/10/FAKE-001", f"/01/{GTIN_RICE}"):  # every kind of twin
        LotPage.model_validate(_facts(client, path))
    assert {"/01/{rest}", "/page/01/{rest}", "/epcis/01/{rest}", "/recall/01/{rest}"} <= set(paths)
    assert "/report" in paths


# --- writes: each on a store of its own -----------------------------------------------------


@pytest.fixture
def fresh(store_url: str, inbox: Path) -> Iterator[tuple[str, TestClient, Path]]:
    _load(store_url, inbox)
    with TestClient(create_app(store_url)) as c:
        yield store_url, c, inbox


def test_cache_is_invalidated_by_an_ingest(fresh: tuple[str, TestClient, Path]) -> None:
    url, client, inbox = fresh
    first = client.get(PAGE)
    pages = client.app.state.pages  # type: ignore[attr-defined]
    hits = pages.hits
    again = client.get(PAGE)
    assert again.headers["etag"] == first.headers["etag"]
    assert pages.hits > hits  # served from the cache
    assert "北京" not in first.text
    late = inbox / "sales" / "late.csv"
    write_csv(
        late, [SALES[0], ["SA9", "R2", "2026-10-05T10:00:00+08:00", "K1", GTIN_RICE, "3", "store"]]
    )
    pipeline.ingest_files("sales", [late], url)
    after = client.get(PAGE, headers={"If-None-Match": first.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != first.headers["etag"]
    assert "北京市" in after.text


def test_recall_switches_page_twin_and_link_at_once(
    fresh: tuple[str, TestClient, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, client, _ = fresh
    before = client.get(K1)
    assert (
        main(["recall", "declare", "--input", "PD20080123", "--reason", "吡虫啉残留超标", "--json"])
        == 0
    )
    declared = json.loads(capsys.readouterr().out)
    assert declared["scope"] == "input" and declared["active"] is True
    page = client.get(PAGE, headers={"If-None-Match": before.headers["etag"]})
    assert page.status_code == 200
    assert "已召回" in page.text and "吡虫啉残留超标" in page.text
    doc = _facts(client)
    assert doc["verdict"]["status"] == "recalled"
    assert doc["verdict"]["reason"] == "吡虫啉残留超标"
    assert client.get(f"/recall{K1}").json()["recalled"] is True
    # K2 comes from the same blend, so from P1 too: covered as well
    assert _facts(client, f"/01/{GTIN_RICE}/10/K2")["verdict"]["status"] == "recalled"
    assert main(["recall", "lift", str(declared["id"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["active"] is False
    assert _facts(client)["verdict"]["status"] == "traced"
    assert client.get(f"/recall{K1}").json()["recalled"] is False


def test_recall_declare_errors(
    fresh: tuple[str, TestClient, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["recall", "declare", "--lot", "NOPE", "--reason", "x"]) == 1
    assert "no lot 'NOPE'" in capsys.readouterr().err
    assert main(["recall", "declare", "--lot", "K1"]) == 2
    assert main(["recall", "declare", "--farm", "F1", "--reason", "x"]) == 2
    assert main(["recall", "declare", "--county", "2301", "--reason", "x"]) == 2
    assert main(["recall", "lift", "99"]) == 1
    assert main(["recall", "lift"]) == 2
    assert main(["recall", "declare", "--lot", "K1", "--reason", "霉变", "--json"]) == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    assert main(["recall", "lift", str(rid)]) == 0
    assert main(["recall", "lift", str(rid)]) == 1  # lifted already
    assert main(["recall", "--lot", "K1", "--reason", "x"]) == 2  # the query takes no reason


def test_report_form(
    fresh: tuple[str, TestClient, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, client, _ = fresh
    form = client.get(PAGE + "?lang=zh").text
    assert re.findall(r'name="category" value="(\w+)"', form) == list(CATEGORIES)
    assert f'maxlength="{MAX_TEXT}"' in form
    r = client.post(
        "/report",
        data={"code": K1, "category": "fake", "text": "包装  印刷\n模糊", "lang": "zh"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"{PAGE}?lang=zh&reported=ok#report"
    assert "感谢您的报告" in client.get(r.headers["location"]).text
    bad = client.post("/report", data={"code": K1, "category": "x"}, follow_redirects=False)
    assert "category" in bad.headers["location"]
    long = client.post(
        "/report",
        data={"code": K1, "category": "other", "text": "长" * 501},
        follow_redirects=False,
    )
    assert "at+most+500" in long.headers["location"]
    unknown = client.post(
        "/report",
        data={"code": f"/01/{GTIN_RICE}/10/FAKE-9", "category": "fake"},
        follow_redirects=False,
    )
    assert unknown.status_code == 303
    for _ in range(5):  # the limit per client is 5 in 10 minutes: two were stored so far
        last = client.post(
            "/report", data={"code": K1, "category": "quality"}, follow_redirects=False
        )
    assert "reported=busy" in last.headers["location"]
    assert main(["reports", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert len(reports) == 5
    assert reports[0]["text"] == "包装 印刷 模糊"
    assert reports[0]["category"] == "fake" and reports[0]["status"] == "new"
    assert reports[1]["lot"] == "FAKE-9" and reports[1]["known_lot"] is False
    assert set(reports[0]) >= {"id", "lot", "category", "text", "time", "status"}


def test_serve_usage_and_unreachable_store(monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["serve", "--port", "0"]) == 2
    assert main(["serve", "--workers", "0"]) == 2
    monkeypatch.setenv("HEITU_DB_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    reset_engines()
    assert main(["serve", "--port", "8999"]) == 1


def test_home_page_and_typed_codes(client: TestClient) -> None:
    """When the camera fails, a consumer types the code (or the lot printed beside it)."""
    home = client.get("/?lang=zh")
    assert home.status_code == 200 and 'action="/lookup"' in home.text
    typed = client.get(
        "/lookup", params={"code": f"https://id.heitu.cn{K1}", "lang": "en"}, follow_redirects=False
    )
    assert typed.status_code == 303 and typed.headers["location"] == f"{PAGE}?lang=en"
    by_lot = client.get("/lookup", params={"code": " K1 "}, follow_redirects=False)
    assert by_lot.headers["location"] == f"{PAGE}?lang=zh"
    assert client.get("/lookup", params={"code": "no such lot"}).status_code == 400


def test_heitu_serve_on_postgresql_with_two_workers(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command a deployment runs, on the store at scale: uvicorn's worker processes each
    build the app from HEITU_DB_URL, resolve a code and serve its page."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    _fresh_pg(pg_database)
    _load(pg_database, tmp_path / "inbox")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HEITU_DB_URL": pg_database, "HEITU_HOME": str(tmp_path)}
    heitu = Path(sys.executable).parent / "heitu"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(heitu), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}{K1}?lang=zh"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(url, timeout=5) as r:  # follows the 307
                    body = r.read().decode()
                    final = r.geturl()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.3)
        assert final == f"http://127.0.0.1:{port}{PAGE}?lang=zh"
        assert "已追溯到五常市的 3 块地" in body
        for name in PERSONAL:
            assert name not in body
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_store_without_its_change_counter_row_still_serves_and_recovers(
    fresh: tuple[str, TestClient, Path],
) -> None:
    """A store whose store_state row is gone (restored in part, or written by hand) still
    answers, and the next write puts the row back: caching never breaks the page."""
    from sqlalchemy import text

    from traceability.store import open_store, touch

    url, client, _ = fresh
    eng = open_store(url)
    with eng.begin() as conn:
        conn.execute(text("DELETE FROM store_state"))
    assert client.get(PAGE).status_code == 200
    touch(eng)
    with eng.connect() as conn:
        assert conn.execute(text("SELECT generation FROM store_state")).scalar() == 1
    assert client.get(PAGE).status_code == 200
