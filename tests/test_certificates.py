"""Certificates (inbox/certificates/*.csv, CONTRACT.md): the source's rules and rejects, parking
until a lot arrives, re-delivery, the three checks under ``codes`` on both dialects, the
consumer page's JSON twin and linkset, and the heitu_certificates DAG.

On the tiny season (tests/season.py): K1 (packed 2026-10-01 08:00 +08:00) and K2 (09:00) come
from blend B1 of P1, P2 (via M1) and P3 (via M3); here K3 is packed from B1 too, at 07:30 on
1 October in Harbin, which is still 30 September in UTC.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.season import (
    GTIN_CORN,
    GTIN_RICE,
    PROCESSING,
    plots_geojson,
    table_counts,
    write_csv,
    write_season,
)
from tests.test_web import LINKSET_SCHEMA
from traceability import Store
from traceability.checks import certificate_checks, run_checks
from traceability.pipeline import ingest_dir
from traceability.store import open_store
from traceability.web.app import create_app

HEADER = [
    "certificate_id", "kind", "holder_id", "number", "issuer", "issued_on", "valid_until",
    "gtin", "lot_id", "plot_id", "area", "items",
]  # fmt: skip
FILE = "certificates/certificates.csv"
GS1 = "https://gs1.org/voc/"


def cert(**fields: str) -> list[str]:
    """A certificates.csv row in HEADER's order; unnamed columns stay empty."""
    return [fields.get(column, "") for column in HEADER]


def pledge(cid: str, lot: str, until: str = "", holder: str = "MILL") -> list[str]:
    return cert(certificate_id=cid, kind="conformity_pledge", holder_id=holder,
                number=f"HG-{cid}", issued_on="2026-09-01", valid_until=until, lot_id=lot,
                items="不使用禁用农药兽药;常规农药兽药残留不超标")  # fmt: skip


def deliver(inbox: Path, rows: list[list[str]], name: str = "certificates.csv") -> Path:
    return write_csv(inbox / "certificates" / name, [HEADER, *rows])


def open_rejects(url: str) -> list[dict[str, Any]]:
    return [r.as_dict() for r in Store.open(url).rejects() if r.source == "certificates"]


def certificates(url: str) -> dict[str, tuple[Any, ...]]:
    with open_store(url).connect() as conn:
        rows = conn.execute(
            text("SELECT record_id, certificate_id, kind, lot_id, plot_id, gtin FROM certificate")
        ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


# --- rules -----------------------------------------------------------------------------------

GOOD = [
    pledge("C1", "K1", until="2027-03-31"),
    cert(certificate_id="G1", kind="geographical_indication", holder_id="MILL",
         number="AGI00067", issuer="国家知识产权局", issued_on="2024-01-01", gtin=GTIN_RICE,
         area="230184; 230124"),
    cert(certificate_id="O1", kind="organic", holder_id="F1", number="1110OP2600123",
         issuer="中绿华夏", issued_on="2026-01-15", valid_until="2027-01-14", plot_id="P1"),
    cert(certificate_id="O1", kind="organic", holder_id="F1", number="1110OP2600123",
         issuer="中绿华夏", issued_on="2026-01-15", valid_until="2027-01-14", plot_id="P2"),
    cert(certificate_id="LB1", kind="Green_Food", holder_id="MILL", number="LB-15-2601",
         issuer="中国绿色食品发展中心", issued_on="2026-03-01", gtin="6901234567892"),
]  # fmt: skip

#: (row, field, words of the reason): each a permanent reject naming its line and field.
BAD = [
    (cert(certificate_id="B1", kind="halal", holder_id="MILL", number="X", issuer="Y",
          issued_on="2026-01-01", gtin=GTIN_RICE), "kind", "'halal' is not one of"),
    (cert(certificate_id="B2", kind="organic", holder_id="MILL", number="X", issuer="Y",
          issued_on="2026-06-01", valid_until="2026-05-31", gtin=GTIN_RICE),
     "valid_until", "2026-05-31 is before issued_on 2026-06-01"),
    (cert(certificate_id="B3", kind="organic", holder_id="MILL", number="X", issuer="Y",
          issued_on="2026/06/01", gtin=GTIN_RICE), "issued_on", "is not an ISO 8601 date"),
    (cert(certificate_id="B4", kind="organic", holder_id="MILL", number="X", issuer="Y",
          issued_on="2026-06-01T08:00:00", gtin=GTIN_RICE), "issued_on", "not an ISO 8601 date"),
    (cert(certificate_id="B5", kind="geographical_indication", holder_id="MILL", number="X",
          issuer="Y", issued_on="2024-01-01", area="230184;23018"),
     "area", "'23018' is not a 6-digit"),
    (cert(certificate_id="B6", kind="geographical_indication", holder_id="MILL", number="X",
          issuer="Y", issued_on="2024-01-01"), "area", "area is missing"),
    (cert(certificate_id="B7", kind="conformity_pledge", holder_id="MILL", number="X",
          issued_on="2026-09-01", items="a"), "lot_id", "lot_id is missing"),
    (cert(certificate_id="B8", kind="conformity_pledge", holder_id="MILL", number="X",
          issued_on="2026-09-01", lot_id="K1"), "items", "items is missing"),
    (cert(certificate_id="B9", kind="organic", holder_id="MILL", number="X", issuer="Y",
          issued_on="2026-01-01"), "gtin", "neither a product (gtin) nor a plot_id"),
    (cert(certificate_id="B10", kind="organic", holder_id="MILL", number="X", issuer="Y",
          issued_on="2026-01-01", lot_id="K1"), "lot_id", "only for conformity_pledge"),
    (cert(certificate_id="B11", kind="geographical_indication", holder_id="MILL", number="X",
          issuer="Y", issued_on="2024-01-01", area="230184", plot_id="P1"),
     "plot_id", "only for green_food or organic"),
    (cert(certificate_id="B12", kind="organic", holder_id="MILL", number="X", issuer="Y",
          issued_on="2026-01-01", gtin="6901234567891"), "gtin", "check digit"),
    (cert(certificate_id="B13", kind="organic", holder_id="MILL", number="", issuer="Y",
          issued_on="2026-01-01", gtin=GTIN_RICE), "number", "number is missing"),
    (cert(certificate_id="B14", kind="green_food", holder_id="MILL", number="X",
          issued_on="2026-01-01", gtin=GTIN_RICE), "issuer", "issuer is missing"),
    (pledge("B15", "K2", holder="R1"), "holder_id",
     "party R1 is a retailer: a conformity pledge is made by a farm, coop, processor"),
]  # fmt: skip


def test_rules_load_good_rows_and_reject_bad_ones_by_file_line_field(
    inbox: Path, sqlite_url: str
) -> None:
    write_season(inbox)
    deliver(inbox, GOOD + [row for row, _, _ in BAD])
    report = ingest_dir(inbox, sqlite_url)["sources"]["certificates"]
    assert (report["loaded"], report["parked"], report["rejected"]) == (len(GOOD), 0, len(BAD))
    stored = certificates(sqlite_url)
    assert stored == {
        "C1": ("C1", "conformity_pledge", "K1", None, None),
        "G1": ("G1", "geographical_indication", None, None, GTIN_RICE),
        "O1#P1": ("O1", "organic", None, "P1", None),
        "O1#P2": ("O1", "organic", None, "P2", None),
        "LB1": ("LB1", "green_food", None, None, GTIN_RICE),  # kind and GTIN-13 normalised
    }
    with open_store(sqlite_url).connect() as conn:
        area, items = conn.execute(
            text("SELECT c.area, p.items FROM certificate c, certificate p "
                 "WHERE c.record_id = 'G1' AND p.record_id = 'C1'")
        ).one()  # fmt: skip
        event = conn.execute(
            text("SELECT kind, step, party_id, source_file, line FROM event "
                 "WHERE event_id = 'certificates/O1#P2'")
        ).one()  # fmt: skip
    assert area == "230184;230124" and items == "不使用禁用农药兽药;常规农药兽药残留不超标"
    assert tuple(event) == ("master", "certifying", "F1", FILE, 5)
    rejects = {r["record"]: r for r in open_rejects(sqlite_url)}
    for i, (row, field, words) in enumerate(BAD):
        r = rejects[row[0] + (f"#{row[9]}" if row[9] else "")]  # a plot's row: cert#plot
        assert (r["file"], r["line"], r["field"], r["status"]) == (
            FILE, len(GOOD) + 2 + i, field, "rejected",
        ), r  # fmt: skip
        assert words in r["reason"], (r["reason"], words)


def test_a_row_without_a_required_column_header_is_an_unreadable_file(
    inbox: Path, sqlite_url: str
) -> None:
    write_season(inbox)
    write_csv(inbox / "certificates" / "c.csv", [HEADER[:3], ["C1", "organic", "MILL"]])
    result = ingest_dir(inbox, sqlite_url)["sources"]["certificates"]
    [unreadable] = result["unreadable"]
    assert "c.csv" in json.dumps(unreadable, ensure_ascii=False) and "issued_on" in json.dumps(
        unreadable, ensure_ascii=False
    )


# --- parking, re-delivery --------------------------------------------------------------------


def test_a_pledge_waits_for_its_lot_then_loads_on_retry(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    processing = inbox / "processing" / "processing.csv"
    processing.unlink()  # the mill's file comes late: K1 is not known yet
    deliver(inbox, [pledge("C1", "K1"), GOOD[2], pledge("C9", "K9")])
    first = ingest_dir(inbox, store_url)["sources"]["certificates"]
    assert (first["loaded"], first["parked"], first["rejected"]) == (1, 2, 0)
    waiting = {r["record"]: r for r in open_rejects(store_url)}
    assert waiting["C1"]["status"] == "waiting" and "waiting for lot K1" in waiting["C1"]["reason"]
    assert (waiting["C1"]["file"], waiting["C1"]["line"]) == (FILE, 2)
    assert "C1" not in certificates(store_url)

    write_csv(processing, PROCESSING)
    (inbox / "certificates" / "certificates.csv").unlink()  # archived: only the retry loads it
    ingest_dir(inbox, store_url)
    assert certificates(store_url)["C1"] == ("C1", "conformity_pledge", "K1", None, None)
    assert [r["record"] for r in open_rejects(store_url)] == ["C9"]  # K9 never comes
    before = table_counts(store_url)
    assert Store.open(store_url).retry_parked().loaded == 0
    assert table_counts(store_url) == before


def test_redelivery_unchanged_and_conflicting(inbox: Path, store_url: str) -> None:
    write_season(inbox)
    deliver(inbox, GOOD)
    ingest_dir(inbox, store_url)
    before = table_counts(store_url)
    # the same rows again (one plot row of O1 alone, in another file): nothing changes
    deliver(inbox, [GOOD[3], GOOD[0]], name="resend.csv")
    again = ingest_dir(inbox, store_url)["sources"]["certificates"]
    assert (again["loaded"], again["rejected"], again["parked"]) == (0, 0, 0)
    assert again["unchanged"] == len(GOOD) + 2
    assert table_counts(store_url) == before
    # O1's P2 row with another number: a conflicting re-delivery of that record only
    changed = list(GOOD[3])
    changed[3] = "1110OP2600999"
    deliver(inbox, [changed, GOOD[2]], name="z_fix.csv")
    third = ingest_dir(inbox, store_url)["sources"]["certificates"]
    assert third["rejected"] == 1
    [r] = open_rejects(store_url)
    assert (r["record"], r["file"], r["line"]) == ("O1#P2", "certificates/z_fix.csv", 2)
    assert "conflicting re-delivery: certificates record O1#P2" in r["reason"]
    assert certificates(store_url)["O1#P2"] == ("O1", "organic", None, "P2", None)


# --- checks ----------------------------------------------------------------------------------


def _check_season(inbox: Path) -> None:
    """The tiny season with P3 registered in Fangzheng (230124), K3 packed at 07:30 local
    time, and certificates that make each finding once and, beside each, one that must not."""
    write_season(inbox)
    plots = plots_geojson()
    plots["features"][2]["properties"]["county_code"] = "230124"
    (inbox / "plots" / "wuchang.geojson").write_text(json.dumps(plots))
    k3 = ["X8", "MILL", "2026-10-01T07:30:00+08:00", "packing", "B1:400", "K3", GTIN_RICE,
          "400", "80"]  # fmt: skip
    write_csv(inbox / "processing" / "processing.csv", [*PROCESSING, k3])
    gi = dict(kind="geographical_indication", holder_id="MILL", issuer="国家知识产权局",
              issued_on="2024-01-01")  # fmt: skip
    organic = dict(kind="organic", holder_id="MILL", issuer="中绿华夏", gtin=GTIN_RICE)
    deliver(inbox, [
        pledge("C1", "K1", until="2026-09-30"),  # K1 packed on 1 Oct: expired
        pledge("C2", "K2", until="2026-10-01"),  # packed on its last day: valid
        pledge("C3", "K3", until="2026-09-30"),  # 30 Sep in UTC, 1 Oct in Harbin: expired
        pledge("C4", "B1"),  # K1, K2, K3 have their own; so B1's pledge is renewed
        pledge("C5", "H1", holder="F1"),  # D1 (drying H1) has none: not renewed
        cert(certificate_id="G1", number="AGI00067", gtin=GTIN_RICE, area="230184", **gi),
        cert(certificate_id="G2", number="AGI00001", gtin=GTIN_CORN, area="231283", **gi),
        # expired on 30 Sep, but renewed from 15 Sep: no finding
        cert(certificate_id="O1", number="O-1", issued_on="2025-10-01",
             valid_until="2026-09-30", **organic),
        cert(certificate_id="O2", number="O-2", issued_on="2026-09-15", **organic),
    ])  # fmt: skip


def test_certificate_checks_on_both_dialects(inbox: Path, store_url: str) -> None:
    _check_season(inbox)
    ingest_dir(inbox, store_url)
    assert open_rejects(store_url) == []
    found = run_checks(open_store(store_url))["codes"]
    assert found == certificate_checks(open_store(store_url))  # no other code finding here
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for f in found:
        by_kind.setdefault(f["kind"], {})[f["lot"]] = f
    assert sorted(by_kind) == ["certificate_expired", "gi_outside_area", "pledge_not_renewed"]

    expired = by_kind["certificate_expired"]
    assert sorted(expired) == ["K1", "K3"]
    assert expired["K3"] == {
        "kind": "certificate_expired", "lot": "K3", "gtin": GTIN_RICE, "certificate": "C3",
        "certificate_kind": "conformity_pledge", "number": "HG-C3", "valid_until": "2026-09-30",
        "packed_on": "2026-10-01",
    }  # fmt: skip

    outside = by_kind["gi_outside_area"]
    assert sorted(outside) == ["K1", "K2", "K3"]  # all from B1, whose M3 is P3's rice
    for f in outside.values():
        assert (f["certificate"], f["number"], f["area"]) == ("G1", "AGI00067", ["230184"])
        assert f["plots_outside"] == [{"plot": "P3", "county_code": "230124"}]

    assert by_kind["pledge_not_renewed"] == {
        "D1": {
            "kind": "pledge_not_renewed",
            "lot": "D1",
            "parent_pledges": [{"lot": "H1", "certificate": "C5", "number": "HG-C5"}],
        }
    }


def test_checks_find_nothing_without_certificates_or_when_all_hold(
    inbox: Path, store_url: str
) -> None:
    write_season(inbox)
    ingest_dir(inbox, store_url)
    assert certificate_checks(open_store(store_url)) == []
    deliver(inbox, [
        pledge("C1", "K1"), pledge("C2", "K2"),
        cert(certificate_id="G1", kind="geographical_indication", holder_id="MILL",
             number="AGI00067", issuer="国家知识产权局", issued_on="2024-01-01",
             gtin=GTIN_RICE, area="230124;230184"),
    ])  # fmt: skip
    ingest_dir(inbox, store_url)
    assert certificate_checks(open_store(store_url)) == []


# --- the page and its linkset ------------------------------------------------------------------


def test_page_json_twin_and_linkset_list_the_lots_certificates(
    inbox: Path, sqlite_url: str
) -> None:
    write_season(inbox)
    ingest_dir(inbox, sqlite_url)
    page = f"/page/01/{GTIN_RICE}/10/K1"
    with TestClient(create_app(sqlite_url)) as client:
        before = client.get(f"/01/{GTIN_RICE}/10/K1?linkType=linkset").json()
        assert GS1 + "certificationInfo" not in before["linkset"][0]
        assert client.get(page + ".json").json()["certificates"] == []
        assert 'id="certificates"' not in client.get(page).text

        _check_season(inbox)
        ingest_dir(inbox, sqlite_url)
        Store.open(sqlite_url).check()
        doc = client.get(page + ".json").json()
        shown = {c["id"]: c for c in doc["certificates"]}
        # C1 had expired when K1 was packed, O1 too (O2 renewed it); G2 is corn's
        assert sorted(shown) == ["G1", "O2"]
        assert shown["G1"] == {
            "id": "G1", "kind": "geographical_indication",
            "kind_name": {"zh": "地理标志", "en": "Geographical indication"},
            "number": "AGI00067", "issuer": "国家知识产权局", "issued_on": "2024-01-01",
            "valid_until": None, "area": ["230184"], "items": [],
        }  # fmt: skip
        assert doc["verdict"]["status"] == "warning"
        assert {"certificate_expired", "gi_outside_area"} <= set(doc["verdict"]["warnings"])

        zh = client.get(page).text
        section = zh[
            zh.index('id="certificates"') : zh.index("</section>", zh.index('id="certificates"'))
        ]
        assert "地理标志" in section and "AGI00067" in section and "长期有效" in section
        assert "有机产品" in section and "O-2" in section and "O-1" not in section
        en = client.get(page + "?lang=en").text
        assert "Geographical indication" in en and "Organic" in en
        assert "Labelled with a geographical indication" in en  # the warning, in words

        r = client.get(f"/01/{GTIN_RICE}/10/K1?linkType=linkset")
        linkset = r.json()
        jsonschema.validate(linkset, json.loads(LINKSET_SCHEMA.read_text(encoding="utf-8")))
        lot, product = linkset["linkset"]
        (link,) = lot[GS1 + "certificationInfo"]
        assert link["href"] == f"http://testserver{page}#certificates"
        assert link["type"] == "text/html" and link["hreflang"] == ["zh", "en"]
        assert GS1 + "certificationInfo" not in product
        go = client.get(
            f"/01/{GTIN_RICE}/10/K1?linkType=gs1:certificationInfo", follow_redirects=False
        )
        assert go.status_code == 307 and go.headers["location"].endswith("#certificates")
        # a lot not on record has no certificates to point at
        unknown = client.get(f"/01/{GTIN_RICE}/10/FAKE-1?linkType=linkset").json()
        assert all(GS1 + "certificationInfo" not in c for c in unknown["linkset"])


# --- the DAG ---------------------------------------------------------------------------------


def test_the_certificates_dag_parks_then_loads_after_the_lots_arrive(
    heitu_env: Path, run_dag: Any
) -> None:
    from tests.airflow_harness import asset_events, task_states

    inbox = heitu_env / "inbox"
    write_season(inbox)
    deliver(inbox, [pledge("C1", "K1"), GOOD[2], GOOD[3], BAD[0][0]])
    for dag_id in ("heitu_parties_products", "heitu_plots", "heitu_production"):
        assert run_dag(dag_id).state == "success", dag_id
    dr = run_dag("heitu_certificates")
    assert dr.state == "success", task_states(dr)
    extra = asset_events(dr)["x-heitu://store/certificates"]
    assert (extra["loaded"], extra["parked"], extra["rejected"]) == (2, 1, 1)
    assert extra["rejected_files"] == [FILE]
    reasons = {r["record"]: (r["line"], r["field"]) for r in extra["rejects"]}
    assert reasons == {"C1": (2, None), "B1": (5, "kind")}
    assert not (inbox / "certificates" / "certificates.csv").exists()  # archived

    # the mill's file arrives: its DAG's retry loads the parked pledge
    assert run_dag("heitu_processing").state == "success"
    url = f"sqlite:///{heitu_env / 'heitu.db'}"
    assert certificates(url)["C1"] == ("C1", "conformity_pledge", "K1", None, None)
    assert [r["record"] for r in open_rejects(url)] == ["B1"]
