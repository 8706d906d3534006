"""The bureau's API (/api/v1): who sees what, on SQLite and PostgreSQL.

The tiny season (tests/season.py, Wuchang 230184) plus a Hailun (231283) part:
  P4 (farm F3, Hailun) -> H4 1000 kg (PD20080123 applied) -> M4 -> K3 (packed, oversold at R2)
  M3 300 kg (Wuchang, P3) + M4 300 kg (Hailun) -> B2 -> K4: a blend whose chain touches both.
The Wuchang office sees its plots and K1, K2, K4 (with Hailun's plot as county and share only),
never P4 or K3; Hailun's the reverse; a city office over both cities and the province see
everything; market regulation sees every lot but no plot geometry or farm.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import module_store
from tests.season import (
    GTIN_RICE,
    PRODUCTION,
    plots_geojson,
    production_row,
    write_csv,
    write_season,
)
from traceability import Store, pipeline
from traceability.access import create_token, revoke_token
from traceability.cli import main
from traceability.store import open_store, reset_engines
from traceability.web.app import create_app

HAILUN = [
    ["party_id", "role", "name", "county_code", "gln", "lon", "lat"],
    ["F3", "farm", "海伦市张家庭农场", "231283", "", "126.97", "47.44"],
    ["MILL2", "processor", "海伦粮食加工厂", "231283", "", "126.98", "47.45"],
]
PROCESSING2 = [
    ["record_id", "processor_id", "time", "step", "inputs", "output_lot_id", "output_gtin",
     "output_quantity_kg", "output_units"],
    ["Y1", "MILL2", "2026-09-29T10:00:00+08:00", "milling", "H4:1000", "M4", "", "680", ""],
    ["Y2", "MILL2", "2026-10-01T10:00:00+08:00", "packing", "M4:300", "K3", GTIN_RICE, "300", "60"],
    ["Y3", "MILL2", "2026-10-02T10:00:00+08:00", "blending", "M3:300;M4:300", "B2", "", "600", ""],
    ["Y4", "MILL2", "2026-10-03T10:00", "packing", "B2:500", "K4", GTIN_RICE, "500", "100"],
]  # fmt: skip
SALES2 = [
    ["record_id", "retailer_id", "time", "lot_id", "gtin", "quantity_units", "channel"],
    ["SB1", "R2", "2026-10-05T10:00:00+08:00", "K3", GTIN_RICE, "90", "store"],  # > 60: oversold
]


def write_two_counties(inbox: Path) -> None:
    write_season(inbox)
    hailun = plots_geojson([("P4", "F3", 126.970, 47.440)])
    for feature in hailun["features"]:
        feature["properties"]["county_code"] = "231283"
    (inbox / "plots" / "hailun.geojson").write_text(json.dumps(hailun))
    write_csv(inbox / "parties" / "hailun.csv", HAILUN)
    write_csv(
        inbox / "production" / "hailun.csv",
        [
            PRODUCTION[0],
            production_row(
                record_id="HL1",
                farm_id="F3",
                plot_id="P4",
                event="input",
                time="2026-06-21T09:00:00+08:00",
                crop="rice",
                input_name="吡虫啉",
                input_reg_no="PD20080123",
                dose="30",
                dose_unit="g/mu",
            ),
            production_row(
                record_id="HL2",
                farm_id="F3",
                plot_id="P4",
                event="harvest",
                time="2026-09-25T11:00:00+08:00",
                crop="rice",
                lot_id="H4",
                quantity_kg="1000",
            ),
        ],
    )
    write_csv(inbox / "processing" / "hailun.csv", PROCESSING2)
    write_csv(inbox / "sales" / "hailun.csv", SALES2)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bureau(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    url, home = module_store(request, tmp_path_factory, "bureau")
    write_two_counties(home / "inbox")
    loaded = pipeline.ingest_dir(home / "inbox", url=url)
    assert all(not r["rejected"] for r in loaded["sources"].values()), loaded
    Store.open(url).check()
    eng = open_store(url)
    tokens = {
        "wuchang": create_token(eng, "wuchang", ["230184"], "county")["token"],
        "hailun": create_token(eng, "hailun", ["231283"], "county")["token"],
        "cities": create_token(eng, "cities", ["2301", "2312"], "city")["token"],
        "province": create_token(eng, "province", ["23"], "province")["token"],
        "market": create_token(eng, "market", [], "market")["token"],
        "revoked": create_token(eng, "revoked", ["230184"], "county")["token"],
        "expired": create_token(eng, "expired", ["230184"], "county", days=1e-5)["token"],
    }
    revoke_token(eng, "revoked")
    with TestClient(create_app(url)) as client:
        for code in (f"/01/{GTIN_RICE}/10/K1", f"/01/{GTIN_RICE}/10/K3"):
            client.post("/report", data={"code": code, "category": "fake", "text": code})
        time.sleep(1.0)  # "expired" has lived its 0.9 s
        yield {"url": url, "client": client, "tokens": tokens, "home": home}
    reset_engines()


def get(b: dict[str, Any], who: str, path: str, **params: Any) -> Any:
    return b["client"].get(
        path, params=params, headers={"Authorization": f"Bearer {b['tokens'][who]}"}
    )


#: (path, Wuchang's own, Hailun's own) for every endpoint that takes an id.
BY_ID = [
    ("/api/v1/plots/{}", "P1", "P4"),
    ("/api/v1/plots/{}/forward", "P1", "P4"),
    ("/api/v1/lots/{}", "K1", "K3"),
    ("/api/v1/lots/{}/back", "K1", "K3"),
]


@pytest.mark.parametrize(("path", "mine", "theirs"), BY_ID)
def test_a_county_sees_its_own_and_not_its_neighbours(
    bureau: dict[str, Any], path: str, mine: str, theirs: str
) -> None:
    assert get(bureau, "wuchang", path.format(mine)).status_code == 200
    forbidden = get(bureau, "wuchang", path.format(theirs))
    unknown = get(bureau, "wuchang", path.format("NO-SUCH-ID"))
    assert forbidden.status_code == unknown.status_code == 404
    assert forbidden.json() == unknown.json()  # a neighbour's id reads like a typo
    assert get(bureau, "hailun", path.format(theirs)).status_code == 200
    assert get(bureau, "hailun", path.format(mine)).status_code == 404
    for office in ("cities", "province"):
        assert get(bureau, office, path.format(mine)).status_code == 200
        assert get(bureau, office, path.format(theirs)).status_code == 200


def test_a_blend_shows_other_regions_plots_as_county_and_share(bureau: dict[str, Any]) -> None:
    doc = get(bureau, "wuchang", "/api/v1/lots/K4/back").json()
    assert doc["plots"] == ["P3"]
    assert doc["other_plots"] == [{"county": "231283", "share": 0.5}]
    assert "P4" not in json.dumps(doc)
    full = get(bureau, "province", "/api/v1/lots/K4/back").json()
    assert full["plots"] == ["P3", "P4"] and "other_plots" not in full
    # the CLI's shape: heitu trace back --json
    assert {"lot", "plots", "lots", "events", "shares"} <= set(full)


def test_recall_is_scoped_in_the_query(bureau: dict[str, Any]) -> None:
    mine = get(bureau, "wuchang", "/api/v1/recall", input="PD20080123").json()
    assert "K1" in mine["lots"] and "K3" not in mine["lots"] and "H4" not in mine["lots"]
    theirs = get(bureau, "hailun", "/api/v1/recall", input="PD20080123").json()
    assert {"K3", "K4", "H4"} <= set(theirs["lots"]) and "K1" not in theirs["lots"]
    everything = get(bureau, "province", "/api/v1/recall", input="PD20080123").json()
    assert set(mine["lots"]) | set(theirs["lots"]) == set(everything["lots"])
    assert get(bureau, "wuchang", "/api/v1/recall", county="231283").status_code == 403
    assert get(bureau, "wuchang", "/api/v1/recall", plot="P4").status_code == 404
    assert get(bureau, "wuchang", "/api/v1/recall", lot="K3").status_code == 404
    assert get(bureau, "wuchang", "/api/v1/recall", farm="F3").status_code == 404
    assert get(bureau, "wuchang", "/api/v1/recall", county="230184").json()["lots"]
    assert get(bureau, "wuchang", "/api/v1/recall").status_code == 400


def _all_pages(b: dict[str, Any], who: str, path: str, **params: Any) -> list[dict[str, Any]]:
    items, after = [], None
    while True:
        page = get(b, who, path, limit=1, **({"after": after} if after else {}), **params)
        assert page.status_code == 200, page.text
        doc = page.json()
        items += doc["items"]
        if doc["next"] is None:
            return items
        after = doc["next"]


def test_lists_never_show_the_neighbour(bureau: dict[str, Any]) -> None:
    def about(items: list[dict[str, Any]]) -> set[str]:
        return {str(i.get("lot") or i.get("shipment") or i.get("plot")) for i in items}

    everything = about(_all_pages(bureau, "province", "/api/v1/findings"))
    assert "K3" in everything  # the Hailun lot sold more than was packed
    wuchang = about(_all_pages(bureau, "wuchang", "/api/v1/findings"))
    assert "K3" not in wuchang and "P4" not in wuchang
    assert about(_all_pages(bureau, "hailun", "/api/v1/findings")) >= {"K3"}
    oversold = get(bureau, "province", "/api/v1/findings", kind="oversold").json()["items"]
    assert {f["kind"] for f in oversold} == {"oversold"}
    assert get(bureau, "wuchang", "/api/v1/findings", county="231283").status_code == 403

    reports = {r["lot"] for r in _all_pages(bureau, "province", "/api/v1/reports")}
    assert reports == {"K1", "K3"}
    assert {r["lot"] for r in _all_pages(bureau, "wuchang", "/api/v1/reports")} == {"K1"}
    assert {r["lot"] for r in _all_pages(bureau, "hailun", "/api/v1/reports")} == {"K3"}


def test_market_regulation_sees_lots_but_no_geometry_or_farm(bureau: dict[str, Any]) -> None:
    for lot in ("K1", "K3", "K4"):
        assert get(bureau, "market", f"/api/v1/lots/{lot}/back").status_code == 200
    plot = get(bureau, "market", "/api/v1/plots/P4").json()
    assert plot["farm"] is None
    assert all("geometry" not in v for v in plot["versions"])
    county = get(bureau, "wuchang", "/api/v1/plots/P1").json()
    assert county["farm"]["party"] == "F1" and county["versions"][0]["geometry"]["type"]


@pytest.mark.parametrize("who", ["revoked", "expired", None, "garbage"])
def test_no_valid_token_is_401(bureau: dict[str, Any], who: str | None) -> None:
    headers = {}
    if who == "garbage":
        headers = {"Authorization": "Bearer heitu_not-a-token"}
    elif who:
        headers = {"Authorization": f"Bearer {bureau['tokens'][who]}"}
    r = bureau["client"].get("/api/v1/plots/P1", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_every_request_is_audited_and_the_log_is_append_only(
    bureau: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    get(bureau, "hailun", "/api/v1/plots/P1")  # a 404 is audited too
    bureau["client"].get("/api/v1/lots/K1")  # and a 401
    bureau["client"].app.state.audit.flush()  # written by the app's audit thread
    monkeypatch.setenv("HEITU_DB_URL", bureau["url"])
    reset_engines()
    assert main(["audit", "--json"]) == 0
    log = json.loads(capsys.readouterr().out)
    last = log[-2:]
    assert last[0]["who"] == "hailun" and last[0]["status"] == 404
    assert last[0]["office"] == {"role": "county", "regions": ["231283"]}
    assert last[0]["path"] == "/api/v1/plots/P1" and last[0]["method"] == "GET"
    assert last[1]["status"] == 401 and last[1]["via"] == "none"
    assert [a["id"] for a in log] == sorted(a["id"] for a in log)
    eng = open_store(bureau["url"])
    for statement in ("UPDATE audit_log SET status = 200", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), eng.begin() as conn:
            conn.execute(text(statement))


def test_token_commands(
    bureau: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEITU_DB_URL", bureau["url"])
    reset_engines()
    assert main(["token", "create", "--name", "cli-1", "--region", "230184", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["token"].startswith("heitu_") and made["state"] == "active"
    assert (
        get({**bureau, "tokens": {"x": made["token"]}}, "x", "/api/v1/me").json()["who"] == "cli-1"
    )
    assert main(["token", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert "token" not in json.dumps(listed).replace('"tokens"', "")  # secrets never listed
    assert {t["name"]: t["state"] for t in listed}["revoked"] == "revoked"
    assert main(["token", "create", "--name", "cli-1", "--region", "230184"]) == 2  # taken
    assert main(["token", "create", "--name", "c2", "--region", "2301"]) == 2  # not a county
    assert main(["token", "create", "--name", "c3", "--role", "city"]) == 2  # no region
    assert main(["token", "revoke", "nobody"]) == 1
    assert main(["token", "revoke", "cli-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "revoked"
    # the server had kept the token's office: revoking it still takes effect at once
    assert get({**bureau, "tokens": {"x": made["token"]}}, "x", "/api/v1/me").status_code == 401
    with open_store(bureau["url"]).connect() as conn:
        stored = json.dumps([list(r) for r in conn.execute(text("SELECT * FROM api_token"))],
                            default=str)  # fmt: skip
    assert made["token"] not in stored and "heitu_" not in stored  # only its hash is kept
