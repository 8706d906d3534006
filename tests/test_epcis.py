"""GS1 EPCIS 2.0: exports validate against the official schema, event ids are GS1's event
hashes, the GS1 examples import, and export -> import into an empty store gives the same trace
answers on SQLite and PostgreSQL (traceability/epcis/, docs/epcis.md)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.season import write_season
from traceability import pipeline
from traceability.epcis import event_hash, export_epcis, normalise_gs1_uri, prehash, schema_path
from traceability.lineage import trace_back, trace_forward
from traceability.store import open_store, reset_engines

EXAMPLES = sorted((schema_path().parent / "examples").glob("*.jsonld"))


# --- helpers -----------------------------------------------------------------------------------


def gs1_errors(doc: Any) -> list[str]:
    """Every error of ``doc`` against the GS1 schema, read in place (never copied)."""
    import jsonschema

    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(doc)]


def events_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["epcisBody"]["eventList"]


def reference_prehash(event: dict[str, Any], context: Any) -> str:
    """GS1's reference implementation (epcis-event-hash-generator), one event per document."""
    from epcis_event_hash_generator import hash_generator, json_to_py

    doc = {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": [copy.deepcopy(event)]},
    }
    events = json_to_py.event_list_from_epcis_document_json(doc)
    return hash_generator.derive_prehashes_from_events(events)[0]


def reference_hash(event: dict[str, Any], context: Any) -> str:
    from epcis_event_hash_generator import hash_generator

    return hash_generator.calculate_hashes_from_pre_hashes([reference_prehash(event, context)])[0]


def answers(url: str, lots: list[str], plots: list[str]) -> dict[str, Any]:
    """What a bureau asks the store: trace back every lot, trace forward every plot and lot."""
    eng = open_store(url)
    back = {lot: trace_back(eng, lot) for lot in lots}
    forward = {x: trace_forward(eng, x) for x in [*plots, *lots]}
    # The field work in each bag's history (sowing, inputs, harvest): the same records whether
    # they came as production CSV or as EPCIS ObjectEvents. (Shipments differ in grain: one
    # transport record becomes shipping, transporting and receiving events.)
    field = {
        lot: sorted(
            (e["step"], e["time"], e["plot"], e["input_reg_no"] or "")
            for e in v["events"]
            if e["plot"] is not None
        )
        for lot, v in back.items()
    }
    assert any(field.values())
    return {
        "field_work": field,
        "back": {k: {f: v[f] for f in ("plots", "lots", "shares")} for k, v in back.items()},
        "forward": {k: {f: v[f] for f in ("lots", "retailers")} for k, v in forward.items()},
    }


def counts(url: str) -> dict[str, int]:
    tables = ("lot", "edge", "shipment", "shipment_lot", "sale", "reading", "party", "plot")
    with open_store(url).connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in tables}


def empty_store(url: str, home: Path) -> str:
    """A second, empty store beside ``url``: another SQLite file, or the PostgreSQL database
    emptied (the first store's answers were taken already)."""
    reset_engines()
    if url.startswith("sqlite"):
        return f"sqlite:///{home / 'imported.db'}"
    from tests.conftest import _fresh_pg

    _fresh_pg(url)
    return url


def drop(doc_path: Path, inbox: Path, name: str = "export.jsonld") -> Path:
    (inbox / "epcis").mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(doc_path, inbox / "epcis" / name))


def round_trip(url: str, home: Path) -> tuple[Any, Any, dict[str, Any], str]:
    """Ingest ``inbox`` into ``url``, export it, import the export into an empty store."""
    eng = open_store(url)
    with eng.connect() as conn:
        lots = sorted(conn.execute(text("SELECT lot_id FROM lot")).scalars())
        plots = sorted(set(conn.execute(text("SELECT plot_id FROM plot")).scalars()))
    before = answers(url, lots, plots), counts(url)
    out = home / "export.jsonld"
    written = export_epcis(eng, out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    if url.startswith("sqlite"):  # the same document on both; the import checks it again
        assert gs1_errors(doc) == []
    assert written["events"] == len(events_of(doc)) > 0
    target = empty_store(url, home)
    again = home / "again"
    drop(out, again)
    result = pipeline.ingest_dir(again, target)
    assert result["unreadable"] == []
    report = result["sources"]["epcis"]
    assert report["rejected"] == report["parked"] == 0
    after = answers(target, lots, plots), counts(target)
    return before, after, doc, target


# --- export: schema and ids --------------------------------------------------------------------


@pytest.fixture
def season_store(sqlite_url: str, inbox: Path) -> str:
    pipeline.ingest_dir(write_season(inbox), sqlite_url)
    return sqlite_url


def test_exports_validate_against_the_gs1_schema(season_store: str, home: Path) -> None:
    eng = open_store(season_store)
    for lot in (None, "K1", "H1"):
        out = home / f"{lot or 'all'}.jsonld"
        written = export_epcis(eng, out, lot=lot)
        doc = json.loads(out.read_text(encoding="utf-8"))
        assert gs1_errors(doc) == [], lot
        assert doc["type"] == "EPCISDocument" and doc["schemaVersion"] == "2.0"
        assert written == {
            "file": str(out),
            "events": len(events_of(doc)),
            "lot": lot,
            "master_data": sum(
                len(v["vocabularyElementList"])
                for v in doc["epcisHeader"]["epcisMasterData"]["vocabularyList"]
            ),
        }


def test_export_maps_each_kind_of_record(season_store: str, home: Path) -> None:
    out = home / "all.jsonld"
    export_epcis(open_store(season_store), out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    by_record: dict[str, list[dict[str, Any]]] = {}
    for ev in events_of(doc):
        key = ev.get("heitu:recordID") or ev.get("heitu:shipmentID")
        by_record.setdefault(key, []).append(ev)
    (harvest,) = by_record["PR3"]
    assert harvest["type"] == "ObjectEvent" and harvest["action"] == "ADD"
    assert harvest["bizStep"] == "commissioning"
    assert harvest["quantityList"] == [
        {"epcClass": "https://id.heitu.cn/lot/H1", "quantity": 1000.0, "uom": "KGM"}
    ]
    assert harvest["ilmd"] == {"heitu:plotID": "P1", "heitu:crop": "rice"}
    assert harvest["readPoint"] == {"id": "https://id.heitu.cn/plot/P1"}
    assert harvest["eventTime"] == "2026-09-25T10:00:00+08:00"
    assert harvest["eventTimeZoneOffset"] == "+08:00"
    (packing,) = by_record["X6"]
    assert packing["type"] == "TransformationEvent" and packing["bizStep"] == "packing"
    # GTIN 06901234567892 under the GS1 China company prefix 6901234 (biip knows its length)
    assert packing["outputQuantityList"] == [
        {"epcClass": "urn:epc:class:lgtin:6901234.056789.K1", "quantity": 1000.0, "uom": "KGM"}
    ]
    assert packing["inputQuantityList"][0]["epcClass"] == "https://id.heitu.cn/lot/B1"
    assert packing["readPoint"] == {"id": "urn:epc:id:sgln:6901234.00000.0"}  # MILL's GLN
    assert packing["ilmd"]["heitu:units"] == 200
    steps = [e["bizStep"] for e in by_record["S1"]]
    assert steps == ["shipping", "transporting", "receiving"]
    transporting = by_record["S1"][1]
    assert len(transporting["sensorElementList"]) == 9
    assert transporting["sensorElementList"][0]["sensorReport"][0] == {
        "type": "Temperature",
        "value": 8.0,
        "uom": "CEL",
    }
    shipping = by_record["S1"][0]
    assert shipping["sourceList"] == [
        {"type": "owning_party", "source": "urn:epc:id:pgln:6901234.00000"}
    ]
    assert shipping["destinationList"] == [
        {"type": "owning_party", "destination": "https://id.heitu.cn/party/R1"}
    ]
    (sale,) = by_record["SA1"]
    assert sale["bizStep"] == "retail_selling"
    assert sale["quantityList"][0]["quantity"] == 10 and sale["quantityList"][0]["uom"] == "H87"
    ids = [e["eventID"] for e in events_of(doc)]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("ni:///sha-256;") and i.endswith("?ver=CBV2.0") for i in ids)


def test_export_of_a_lot_holds_only_its_lineage(season_store: str, home: Path) -> None:
    out = home / "k2.jsonld"
    export_epcis(open_store(season_store), out, lot="K2")
    doc = json.loads(out.read_text(encoding="utf-8"))
    records = {e.get("heitu:recordID") for e in events_of(doc)}
    assert {"PR1", "PR2", "PR3", "PR4", "PR5", "X1", "X5", "X7"} <= records
    # K1's packing, its shipment and its sales are not K2's history
    assert not records & {"X6", "SA1", "SA2"}
    assert not [e for e in events_of(doc) if e.get("heitu:shipmentID")]


def test_event_ids_are_the_gs1_reference_hashes(season_store: str, home: Path) -> None:
    out = home / "all.jsonld"
    export_epcis(open_store(season_store), out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    for ev in events_of(doc):
        assert prehash(ev, doc["@context"]) == reference_prehash(ev, doc["@context"])
        assert ev["eventID"] == reference_hash(ev, doc["@context"])
    checked = 0
    for path in EXAMPLES:
        example = json.loads(path.read_text(encoding="utf-8"))
        for ev in events_of(example):
            try:
                expected = reference_hash(ev, example.get("@context"))
            except Exception:  # the reference's JSON-LD step refuses one example's @context
                continue
            assert event_hash(ev, example.get("@context")) == expected, path.name
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize(
    "uri",
    [
        "urn:epc:id:sgtin:0614141.107346.2017",
        "urn:epc:id:sgtin:0614141.107346.A!b(c)",
        "urn:epc:id:sscc:0614141.1234567890",
        "urn:epc:id:sgln:0614141.07346.1234",
        "urn:epc:id:sgln:0614141.07346.0",
        "urn:epc:id:sgln:6901234.00000.0",
        "urn:epc:id:pgln:6901234.00000",
        "urn:epc:id:grai:0614141.12345.400",
        "urn:epc:id:giai:4000001.111",
        "urn:epc:id:gsrn:0614141.1234567890",
        "urn:epc:id:gdti:0614141.12345.400",
        "urn:epc:id:sgcn:4012345.67890.04711",
        "urn:epc:id:cpi:0614141.123ABC.123456789",
        "urn:epc:id:itip:4012345.012345.01.02.987",
        "urn:epc:class:lgtin:4012345.012345.998877",
        "urn:epc:class:lgtin:6901234.056789.K1",
        "urn:epc:idpat:sgtin:4012345.066666.*",
        "urn:epc:idpat:grai:0614141.12345.*",
        "https://id.gs1.org/01/06901234567892/10/K1",
        "https://example.com/01/9506000134352/10/ABC?x=1",
        "https://example.com/gtin/09506000134352/lot/ABC/ser/12",
        "https://example.com/01/09506000134352/22/V1/10/ABC",
        "https://id.gs1.org/414/6901234000009",
        "https://id.heitu.cn/lot/H1",
        "https://id.heitu.cn/party/MILL",
        "https://id.heitu.cn/lot/K%2F1",
        "geo:47.506694,11.104301",
        "https://example.org/8004/401234599999",
    ],
)
def test_gs1_keys_normalise_as_the_reference_does(uri: str) -> None:
    from epcis_event_hash_generator.dl_normaliser import normaliser

    assert normalise_gs1_uri(uri) == normaliser(uri)


# --- round trip --------------------------------------------------------------------------------


def test_round_trip_of_the_tiny_season(store_url: str, home: Path, inbox: Path) -> None:
    pipeline.ingest_dir(write_season(inbox), store_url)
    k1 = home / "k1.jsonld"
    export_epcis(open_store(store_url), k1, lot="K1")
    before, after, doc, target = round_trip(store_url, home)
    assert after == before
    assert before[0]["back"]["K1"]["shares"] == {"P1": 0.25, "P2": 0.25, "P3": 0.5}
    assert before[0]["forward"]["P1"]["retailers"] == ["R1"]
    # exporting the rebuilt store gives back the same events, ids included
    out = home / "again.jsonld"
    export_epcis(open_store(target), out)

    def by_id(d: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(events_of(d), key=lambda e: e["eventID"])

    assert by_id(json.loads(out.read_text(encoding="utf-8"))) == by_id(doc)
    export_epcis(open_store(target), out, lot="K1")  # and one lot's lineage, too
    assert by_id(json.loads(out.read_text(encoding="utf-8"))) == by_id(json.loads(k1.read_text()))


def test_a_whole_store_export_is_the_same_whatever_its_chunks(
    store_url: str, home: Path, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole-store export maps EXPORT_CHUNK store events at a time: an event must name
    things the same way whichever chunk holds the rows it names (a shipment and the packing of
    the lot it carries, a sale and its lot)."""
    from traceability.epcis import export

    pipeline.ingest_dir(write_season(inbox), store_url)
    eng = open_store(store_url)
    whole = home / "whole.jsonld"
    export_epcis(eng, whole)
    monkeypatch.setattr(export, "EXPORT_CHUNK", 1)
    piecewise = home / "piecewise.jsonld"
    written = export_epcis(eng, piecewise)
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (whole, piecewise))
    assert sorted(events_of(a), key=lambda e: e["eventID"]) == sorted(
        events_of(b), key=lambda e: e["eventID"]
    )
    assert a["epcisHeader"] == b["epcisHeader"] and written["events"] == len(events_of(b))
    sale = next(e for e in events_of(b) if e.get("heitu:recordID") == "SA1")
    assert sale["quantityList"][0]["epcClass"].startswith("urn:epc:class:lgtin:")
    shipping = next(e for e in events_of(b) if e.get("heitu:shipmentID") == "S1")
    assert shipping["quantityList"][0]["epcClass"].startswith("urn:epc:class:lgtin:")
    assert not list(home.glob("*.part"))


def test_round_trip_of_a_sample_season(store_url: str, home: Path, inbox: Path) -> None:
    from traceability.sample import write_sample

    write_sample(inbox, plots=20, seed=7)
    pipeline.ingest_dir(inbox, store_url)
    before, after, _, _ = round_trip(store_url, home)
    assert after == before
    assert len(before[0]["back"]) > 50 and before[1]["reading"] > 0


# --- import ------------------------------------------------------------------------------------


def test_gs1_examples_import_without_error(sqlite_url: str, inbox: Path) -> None:
    assert len(EXAMPLES) == 5
    for path in EXAMPLES:
        drop(path, inbox, path.name)
    result = pipeline.ingest_dir(inbox, sqlite_url)
    report = result["sources"]["epcis"]
    assert result["unreadable"] == []
    assert (report["loaded"], report["rejected"], report["parked"]) == (6, 0, 0)
    eng = open_store(sqlite_url)
    with eng.connect() as conn:
        kinds = dict(
            conn.execute(
                text("SELECT kind, COUNT(*) FROM event WHERE source = 'epcis' GROUP BY kind")
            ).all()
        )
        readings = conn.execute(text("SELECT device_id, temp_c FROM reading ORDER BY ts")).all()
        made = dict(conn.execute(text("SELECT lot_id, event_id FROM lot")).all())
        edges = conn.execute(text("SELECT COUNT(*) FROM edge")).scalar()
        ids = set(conn.execute(text("SELECT record_id FROM event")).scalars())
    assert kinds == {"object": 3, "aggregation": 1, "transformation": 2}
    # SensorDataExample1: three temperature readings of one logger
    assert [tuple(r) for r in readings] == [
        ("urn:epc:id:giai:4000001.111", 26.0),
        ("urn:epc:id:giai:4000001.111", 26.1),
        ("urn:epc:id:giai:4000001.111", 26.2),
    ]
    # Example 9.6.4: four serialised outputs, each made from the five inputs
    assert sum(1 for lot in made if lot.startswith("urn:epc:id:sgtin:4012345.077889.")) == 4
    assert edges == 4 * 5
    # events keep the sender's eventID; the error declaration is stored beside what it corrects
    first = events_of(json.loads(EXAMPLES[0].read_text(encoding="utf-8")))[0]
    assert first["eventID"] in ids
    assert any(i.endswith("#error") for i in ids)
    again = pipeline.ingest_dir(inbox, sqlite_url)["sources"]["epcis"]
    assert (again["loaded"], again["unchanged"]) == (0, 6)


def test_a_document_failing_the_schema_is_rejected_whole(sqlite_url: str, inbox: Path) -> None:
    doc = json.loads(EXAMPLES[0].read_text(encoding="utf-8"))
    doc["epcisBody"]["eventList"][1]["action"] = "MOVE"
    (inbox / "epcis").mkdir(parents=True)
    (inbox / "epcis" / "broken.jsonld").write_text(json.dumps(doc), encoding="utf-8")
    (inbox / "epcis" / "notjson.json").write_text("{oops", encoding="utf-8")
    result = pipeline.ingest_dir(inbox, sqlite_url)
    errors = {Path(u["file"]).name: u["error"] for u in result["unreadable"]}
    assert set(errors) == {"broken.jsonld", "notjson.json"}
    assert "broken.jsonld" in errors["broken.jsonld"]
    assert "not a valid GS1 EPCIS 2.0 document" in errors["broken.jsonld"]
    assert "eventList[1].action" in errors["broken.jsonld"] and "MOVE" in errors["broken.jsonld"]
    assert "not JSON" in errors["notjson.json"]
    with open_store(sqlite_url).connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM event")).scalar() == 0


def test_events_naming_unknown_lots_are_stored_and_link_up_later(
    season_store: str, home: Path, inbox: Path, sqlite_url: str
) -> None:
    """The capture rule: K1's packing, shipment and sales arrive as EPCIS before anything
    else; they are stored (never parked), and the farms' and mill's CSV files complete them."""
    out = home / "k1.jsonld"
    export_epcis(open_store(season_store), out, lot="K1")
    doc = json.loads(out.read_text(encoding="utf-8"))
    keep = [e for e in events_of(doc) if e.get("heitu:recordID") in ("X6", "SA1", "SA2")]
    keep += [e for e in events_of(doc) if e.get("heitu:shipmentID") == "S1"]
    doc["epcisBody"]["eventList"] = keep
    del doc["epcisHeader"]  # not even the parties are known
    target = f"sqlite:///{home / 'fresh.db'}"
    partial = home / "partial"
    (partial / "epcis").mkdir(parents=True)
    (partial / "epcis" / "k1.jsonld").write_text(json.dumps(doc), encoding="utf-8")
    report = pipeline.ingest_dir(partial, target)["sources"]["epcis"]
    assert (report["loaded"], report["parked"], report["rejected"]) == (len(keep), 0, 0)
    eng = open_store(target)
    early = trace_back(eng, "K1", with_events=False)
    assert early["lots"] == ["B1"] and early["plots"] == []  # B1 is named, not known yet
    # the rest of the season arrives as CSV: lineage links up through B1
    inbox2 = write_season(home / "inbox2", sales=False)
    result = pipeline.ingest_dir(inbox2, target)
    rejected = {r["file"]: r["rejected"] for r in result["sources"]["processing"]["files"]}
    assert rejected == {"processing/processing.csv": 1}  # X6: K1 was made by the EPCIS event
    late = trace_back(eng, "K1", with_events=False)
    assert late["shares"] == {"P1": 0.25, "P2": 0.25, "P3": 0.5}
    assert trace_forward(eng, "P3")["retailers"] == ["R1"]
    # the shipment came twice (EPCIS, then the carrier's CSV): the copy is a reject, not a crash
    (ship,) = result["sources"]["transport"]["files"][:1]
    assert ship["rejected"] == 1


# --- CLI and DAG -------------------------------------------------------------------------------


def test_cli_export_epcis(season_store: str, home: Path, capsys: pytest.CaptureFixture) -> None:
    from traceability.cli import main

    out = home / "cli.jsonld"
    assert main(["export", "epcis", "--lot", "K1", "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["file"] == str(out) and doc["lot"] == "K1" and doc["events"] == 16
    assert main(["export", "epcis", "--out", str(out)]) == 0
    assert "17 EPCIS event(s)" in capsys.readouterr().out
    assert main(["export", "epcis", "--lot", "NOPE", "--out", str(out)]) == 1


def test_epcis_dag_loads_an_exported_document(
    heitu_env: Path, run_dag: Any, tmp_path: Path
) -> None:
    from tests.airflow_harness import asset_events, task_states

    source = tmp_path / "source"
    pipeline.ingest_dir(write_season(source / "inbox"), f"sqlite:///{source / 'a.db'}")
    export_epcis(open_store(f"sqlite:///{source / 'a.db'}"), source / "season.jsonld")
    reset_engines()
    drop(source / "season.jsonld", heitu_env / "inbox", "season.jsonld")
    dr = run_dag("heitu_epcis")
    assert dr.state == "success", task_states(dr)
    extra = asset_events(dr)["x-heitu://store/epcis"]
    assert extra["files"] == [
        {"file": "epcis/season.jsonld", "loaded": 28, "unchanged": 0, "parked": 0, "rejected": 0}
    ]
    assert "K1" in extra["lots"]
    assert not (heitu_env / "inbox" / "epcis" / "season.jsonld").exists()  # archived
    assert trace_back(open_store(), "K1", with_events=False)["plots"] == ["P1", "P2", "P3"]


def test_bundled_schema_is_an_unmodified_copy_of_shared() -> None:
    """The package's copy of the GS1 files (used where ../shared/ is not beside the checkout)
    must be byte for byte the official ones."""
    import hashlib

    from traceability.epcis import BUNDLED_SCHEMA, SHARED_SCHEMA

    bundled, shared = BUNDLED_SCHEMA.parent, SHARED_SCHEMA.parent
    if not shared.is_dir():
        pytest.skip("no ../shared/epcis beside this checkout to compare with")
    names = sorted(p.relative_to(shared) for p in shared.rglob("*") if p.is_file())
    assert names == sorted(
        p.relative_to(bundled) for p in bundled.rglob("*") if p.is_file() and p.name != "README.md"
    )
    for name in names:
        digest = [
            hashlib.sha256((root / name).read_bytes()).hexdigest() for root in (shared, bundled)
        ]
        assert digest[0] == digest[1], name
