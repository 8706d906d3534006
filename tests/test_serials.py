"""Per-bag codes (traceability/serials.py) and the scan log (traceability/scans.py), on real
stores: the tiny season (tests/season.py) in a SQLite file and in PostgreSQL. K1 was packed in
200 bags (GTIN 06901234567892), shipped to R1 in Harbin (126.65 E, 45.76 N) and sold there.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import module_store
from tests.season import GTIN_RICE, write_season
from traceability import Store, pipeline
from traceability import serials as sr
from traceability.codes import parse_code, qr_png_bytes
from traceability.store import reset_engines
from traceability.web.app import create_app

PHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8"}
HARBIN = "45.76,126.65"
GUANGZHOU = "23.13,113.26"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    url, home = module_store(request, tmp_path_factory, "serials")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEITU_CODE_KEYS", str(home / "keys" / "codes.json"))
        mp.setenv("HEITU_CODES_DIR", str(home / "codes"))
        write_season(home / "inbox")
        pipeline.ingest_dir(home / "inbox", url=url)
        yield Store.open(url)
    reset_engines()


def _units(store: Store, lot: str = "K1") -> list[dict[str, str]]:
    return store.code(lot, serials=True).units


def test_one_serial_per_bag_issued_once_and_only_the_missing_ones_later(store: Store) -> None:
    assert store.code("K1").units == []  # not issued until asked
    first = _units(store)
    assert len(first) == 200 and len({u["serial"] for u in first}) == 200
    assert _units(store) == first  # again: the same codes, none added
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE lot SET units = 203 WHERE lot_id = 'K1'"))
    grown = _units(store)
    assert grown[:200] == first and len(grown) == 203  # only the three missing ones
    # serials are random, not a sequence: no two neighbours share a long prefix
    serials = [u["serial"] for u in grown]
    assert sum(a[:4] == b[:4] for a, b in itertools.pairwise(serials)) < 3


def test_every_uri_parses_with_biip_and_carries_a_valid_signature(store: Store) -> None:
    for u in _units(store):
        gtin, lot, serial = parse_code(u["uri"])
        assert (gtin, lot, serial) == (GTIN_RICE, "K1", u["serial"])
        q = parse_qs(urlsplit(u["uri"]).query)
        assert sr.verify(gtin, lot, serial, q["k"][0], q["s"][0]).ok
        assert sr.check_short_code(u["short_code"]) == serial
        assert not set(u["short_code"]) & set("*~$=U")  # only characters a phone types


def test_tampered_unknown_key_rotated_and_made_up_signatures(store: Store) -> None:
    u = _units(store)[0]
    q = parse_qs(urlsplit(u["uri"]).query)
    kid, sig, serial = q["k"][0], q["s"][0], u["serial"]
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    assert sr.verify(GTIN_RICE, "K1", serial, kid, flipped).status == "bad_signature"
    assert sr.verify(GTIN_RICE, "K2", serial, kid, sig).status == "bad_signature"  # other lot
    assert sr.verify(GTIN_RICE, "K1", serial, "99", sig).status == "unknown_key"
    assert sr.verify(GTIN_RICE, "K1", serial, None, None).status == "no_signature"
    made_up = sr.new_serial()
    assert sr.verify(GTIN_RICE, "K1", made_up, kid, sig).status == "bad_signature"
    # a serial signed with our key but never issued is still not a bag of ours
    forged_kid, forged_sig = sr.sign(GTIN_RICE, "K1", made_up)
    assert sr.verify(GTIN_RICE, "K1", made_up, forged_kid, forged_sig).ok
    from traceability.scans import unit_status

    assert unit_status(store.engine, GTIN_RICE, "K1", made_up, "ok") == "never_issued"
    # rotation: new bags get the new key, old codes keep verifying with theirs
    new_kid = sr.rotate_key()
    assert new_kid != kid
    assert sr.verify(GTIN_RICE, "K1", serial, kid, sig).ok
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE lot SET units = units + 1 WHERE lot_id = 'K1'"))
    newest = _units(store)[-1]
    assert parse_qs(urlsplit(newest["uri"]).query)["k"] == [new_kid]


def test_a_typo_in_the_short_code_is_caught_never_sent_to_another_bag() -> None:
    serial = sr.new_serial()
    code = sr.short_code(serial)
    assert sr.check_short_code(code.lower()) == serial
    assert sr.check_short_code(code.replace("-", " ").replace("1", "l").replace("0", "O")) == (
        serial
    )
    plain = code.replace("-", "")
    for i, ch in enumerate(plain):  # every one-character typo
        for other in sr.ALPHABET:
            if other != ch:
                with pytest.raises(ValueError):
                    sr.check_short_code(plain[:i] + other + plain[i + 1 :])
    for i in range(len(plain) - 1):  # every swap of neighbours
        swapped = plain[:i] + plain[i + 1] + plain[i] + plain[i + 2 :]
        if swapped != plain:
            with pytest.raises(ValueError):
                sr.check_short_code(swapped)
    with pytest.raises(ValueError, match="characters"):
        sr.check_short_code(plain[:-2])


def test_a_bag_code_decodes_from_its_qr(store: Store, tmp_path: Path) -> None:
    from PIL import Image

    from tests.test_codes import zbar_decode

    u = _units(store)[0]
    png = tmp_path / "bag.png"
    png.write_bytes(qr_png_bytes(u["uri"], box_size=4))
    (found,) = zbar_decode()(Image.open(png))
    assert found.data.decode() == u["uri"]


# --- the resolver's scan log ---------------------------------------------------------------------


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store.url)) as c:
        yield c
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM scan"))


def _path(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.path}?{parts.query}"


def _scan(client: TestClient, uri: str, geo: str | None = None, lang: str = "en") -> dict[str, Any]:
    """A phone opens the code (resolver -> page), then maybe shares its location."""
    r = client.get(_path(uri), headers=PHONE, follow_redirects=False)
    assert r.status_code == 307
    page = r.headers["location"]
    assert "scan=" in page
    if geo:
        page += f"&geo={geo}"
    doc = client.get(page + f"&lang={lang}", headers={**PHONE, "Accept": "application/json"})
    assert doc.status_code == 200
    return doc.json()


def test_scan_verdicts_first_again_copied_and_never_issued(
    store: Store, client: TestClient
) -> None:
    a, b = _units(store)[:2]
    assert _scan(client, a["uri"], HARBIN)["scan_verdict"]["text"] == "genuine, first scan"
    again = _scan(client, a["uri"], HARBIN, lang="zh")["scan_verdict"]
    assert again["status"] == "scanned" and again["text"] == "正品，已被扫码 2 次，最近一次在哈尔滨"
    far = _scan(client, a["uri"], GUANGZHOU)["scan_verdict"]
    assert far["status"] == "likely_copied" and "km apart within 24 hours" in far["text"]
    # a signature changed by one character, or a serial made up: never issued
    tampered = a["uri"][:-1] + ("A" if a["uri"][-1] != "A" else "B")
    assert _scan(client, tampered)["scan_verdict"]["text"] == "this code was never issued"
    made_up = a["uri"].replace(a["serial"], sr.new_serial())
    assert _scan(client, made_up)["scan_verdict"]["status"] == "never_issued"
    # a bot (link preview) is not a scan of the bag
    client.get(_path(b["uri"]), headers={"User-Agent": "facebookexternalhit/1.1 bot"})
    assert _scan(client, b["uri"])["scan_verdict"]["status"] == "first_scan"
    with store.engine.connect() as conn:
        kept = conn.execute(text("SELECT lat, lon, client FROM scan WHERE lat IS NOT NULL")).all()
    assert kept and all(round(r.lat, 1) == r.lat and round(r.lon, 1) == r.lon for r in kept)
    assert {r.client for r in kept} == {"wechat"}
    cols = [c["name"] for c in _columns(store)]
    assert not any("ip" in c or "agent" in c for c in cols)  # never an address or a UA string


def _columns(store: Store) -> list[dict[str, Any]]:
    from sqlalchemy import inspect

    return inspect(store.engine).get_columns("scan")


def test_a_typed_short_code_opens_the_same_bag(store: Store, client: TestClient) -> None:
    u = _units(store)[3]
    r = client.get("/lookup", params={"code": u["short_code"].lower()}, headers=PHONE,
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    doc = client.get(r.headers["location"], headers={**PHONE, "Accept": "application/json"})
    assert doc.json()["code"]["serial"] == u["serial"]
    assert doc.json()["scan_verdict"]["status"] == "first_scan"
    plain = u["short_code"].replace("-", "")
    typo = plain[:2] + ("0" if plain[2] != "0" else "1") + plain[3:]
    bad = client.get("/lookup", params={"code": typo}, headers=PHONE)
    assert bad.status_code == 400 and "mistyped" in bad.text
    with store.engine.connect() as conn:
        typed = conn.execute(text("SELECT serial FROM scan WHERE typed")).scalars().all()
    assert typed == [u["serial"]]


def test_clone_findings_in_heitu_check(store: Store, client: TestClient) -> None:
    units = _units(store)
    _scan(client, units[10]["uri"], HARBIN)
    _scan(client, units[10]["uri"], GUANGZHOU)  # same bag, 2,700 km away the same day
    tampered = units[11]["uri"][:-2] + "xx"
    _scan(client, tampered, HARBIN)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE lot SET units = 2 WHERE lot_id = 'K1'"))
    try:
        _scan(client, units[12]["uri"], HARBIN)  # three bags of a lot of two
        store.declare_recall("lot", "K1", "test recall")
        _scan(client, units[13]["uri"], HARBIN)
        found = store.check().as_dict()["codes"]
    finally:
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE lot SET units = 200 WHERE lot_id = 'K1'"))
            conn.execute(text("DELETE FROM recall_notice"))
    kinds = {f["kind"]: f for f in found}
    assert kinds["serial_far_apart"]["serial"] == units[10]["serial"]
    assert kinds["serial_far_apart"]["km"] > 1500
    assert kinds["code_never_issued"]["reason"] == "bad_signature"
    assert kinds["serials_exceed_units"]["units"] == 2
    assert kinds["serials_exceed_units"]["scanned_serials"] >= 3
    assert kinds["scan_far_from_retailers"]["lot"] == "K1"  # Guangzhou: far from R1, Harbin
    assert kinds["scan_after_recall"]["lot"] == "K1"
    assert all(f.get("lot") == "K1" for f in found if f["kind"] != "lot_not_encodable")


def test_heitu_code_serials_cli(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from traceability.cli import main

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEITU_DB_URL", store.url)
        assert main(["code", "K1", "--serials", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["units"]) >= 200
    assert set(doc["units"][0]) == {"serial", "uri", "short_code"}
    assert random.choice(doc["units"])["uri"].startswith("https://")


def test_timed_scans_far_apart_only_within_a_day(store: Store) -> None:
    """The clone rule on scans at set times: 2,700 km apart 2 hours later is a copy; the same
    distance three days later is a bag that travelled (a gift, a move), not a copy."""
    from datetime import UTC, datetime, timedelta

    from traceability import scans

    moved, copied = _units(store)[20:22]
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    harbin, guangzhou = (45.8, 126.7), (23.1, 113.3)
    try:
        for unit, later in ((moved, timedelta(days=3)), (copied, timedelta(hours=2))):
            for at, geo in ((t0, harbin), (t0 + later, guangzhou)):
                scans.record(store.engine, gtin=GTIN_RICE, lot="K1", serial=unit["serial"],
                             status="ok", client="android", geo=geo, at=at)  # fmt: skip
        far = [f for f in scans.findings(store.engine) if f["kind"] == "serial_far_apart"]
        assert [f["serial"] for f in far] == [copied["serial"]]
        assert scans.verdict(store.engine, moved["serial"], "ok", "en")["status"] == "scanned"
        copy = scans.verdict(store.engine, copied["serial"], "ok", "zh")
        assert copy["status"] == "likely_copied" and "可能被复制" in copy["text"]
    finally:
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM scan"))
