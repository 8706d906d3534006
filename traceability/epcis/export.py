"""Export: the store (or one lot's lineage) -> an EPCISDocument (``heitu export epcis``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traceability.epcis.hashing import event_hash, prefixes
from traceability.epcis.ids import (
    CBV_MDA_NAME,
    CONTEXT,
    EPCIS_CONTEXT,
    HEITU_NS,
    VTYPE_CLASS,
    VTYPE_LOCATION,
    lot_class,
    our_base,
    our_uri,
    party_id_uri,
    party_location,
    product_class,
)
from traceability.sqlrun import chunks

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine


def _iso(utc: datetime, offset_min: int | None) -> tuple[str, str]:
    """(time in the sender's offset, eventTimeZoneOffset '+08:00')."""
    off = int(offset_min or 0)
    sign = "+" if off >= 0 else "-"
    return (
        utc.astimezone(timezone(timedelta(minutes=off))).isoformat(),
        f"{sign}{abs(off) // 60:02d}:{abs(off) % 60:02d}",
    )


def _h(name: str) -> str:
    return f"heitu:{name}"


def _drop_none(obj: dict[str, Any]) -> dict[str, Any]:
    """Fields with a value (an empty epcList stays: it says 'no instances' on purpose)."""
    return {k: v for k, v in obj.items() if v is not None and (v or k == "epcList")}


def _rows_in(
    conn: Connection, table: Any, column: str, keys: Iterable[Any]
) -> list[dict[str, Any]]:
    from sqlalchemy import select

    out: list[dict[str, Any]] = []
    for chunk in chunks(sorted(set(keys))):
        stmt = select(table).where(table.c[column].in_(chunk))
        out += [dict(r) for r in conn.execute(stmt).mappings()]
    return out


class _Exporter:
    """Maps the rows of one scope of the store to EPCIS events, collecting the master data
    (parties, plots, products) they name."""

    def __init__(self, conn: Connection) -> None:
        from traceability import models as m

        self.conn = conn
        self.m = m
        self.parties: set[str] = set()
        self.plots: set[str] = set()
        self.gtins: set[str] = set()
        self.lots: dict[str, dict[str, Any]] = {}
        self.party_rows: dict[str, dict[str, Any]] = {}
        self.prefixes: dict[str, str] = dict(prefixes(CONTEXT))

    # -- ids ---------------------------------------------------------------------------------
    def _party(self, pid: str) -> dict[str, Any]:
        if pid not in self.party_rows:
            rows = _rows_in(self.conn, self.m.Party.__table__, "party_id", [pid])
            self.party_rows[pid] = rows[0] if rows else {"party_id": pid, "gln": None}
        self.parties.add(pid)
        return self.party_rows[pid]

    def location(self, pid: str) -> str:
        p = self._party(pid)
        return party_location(p["party_id"], p.get("gln"))

    def who(self, pid: str) -> str:
        p = self._party(pid)
        return party_id_uri(p["party_id"], p.get("gln"))

    def lot_class(self, lot_id: str) -> str:
        gtin = (self.lots.get(lot_id) or {}).get("gtin")
        if gtin:
            self.gtins.add(gtin)
        return lot_class(lot_id, gtin)

    def kg(self, lot_id: str, kg: float) -> dict[str, Any]:
        return {"epcClass": self.lot_class(lot_id), "quantity": kg, "uom": "KGM"}

    def plot(self, plot_id: str) -> str:
        self.plots.add(plot_id)
        return our_uri("plot", plot_id)

    # -- one event per kind ---------------------------------------------------------------------
    @staticmethod
    def _event(kind: str, t: str, off: str, **fields: Any) -> dict[str, Any]:
        return _drop_none({"type": kind, "eventTime": t, "eventTimeZoneOffset": off, **fields})

    def production(self, ev: dict[str, Any]) -> list[dict[str, Any]]:
        rec = ev["payload"]
        t, off = _iso(ev["time"], ev["time_offset_min"])
        place = {"id": self.plot(rec["plot_id"])}
        farm = self.who(rec["farm_id"])
        common = {
            _h("recordID"): ev["record_id"],
            _h("step"): ev["step"],
            _h("crop"): rec.get("crop"),
            _h("variety"): rec.get("variety"),
            _h("lon"): rec.get("lon"),
            _h("lat"): rec.get("lat"),
        }
        if rec["event"] == "harvest":
            lot = self.lots[rec["lot_id"]]
            ilmd = {_h("plotID"): rec["plot_id"], _h("crop"): rec.get("crop"),
                    _h("variety"): rec.get("variety")}  # fmt: skip
            return [
                self._event(
                    "ObjectEvent", t, off,
                    quantityList=[self.kg(lot["lot_id"], lot["quantity_kg"])],
                    action="ADD", bizStep="commissioning", disposition="active",
                    readPoint=place, bizLocation=place,
                    destinationList=[{"type": "owning_party", "destination": farm}],
                    ilmd=_drop_none(ilmd), **common,
                )
            ]  # fmt: skip
        work = {
            _h("farmID"): farm,
            _h("inputName"): rec.get("input_name"),
            _h("inputRegNo"): rec.get("input_reg_no"),
            _h("dose"): rec.get("dose"),
            _h("doseUnit"): rec.get("dose_unit"),
        }
        return [
            self._event(
                "ObjectEvent", t, off, epcList=[], action="OBSERVE",
                bizStep=f"{HEITU_NS}BizStep-{ev['step']}", readPoint=place, bizLocation=place,
                **common, **work,
            )
        ]  # fmt: skip

    def processing(self, ev: dict[str, Any], edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rec = ev["payload"]
        t, off = _iso(ev["time"], ev["time_offset_min"])
        out = self.lots[rec["output_lot_id"]]
        where = {"id": self.location(rec["processor_id"])}
        klass = self.lot_class(out["lot_id"])
        ilmd = {
            _h("step"): ev["step"],
            _h("units"): out.get("units"),
            _h("gtin"): out.get("gtin") if klass.startswith(our_base()) else None,
        }
        biz = {"packing": "packing", "splitting": "repackaging"}.get(ev["step"], "commissioning")
        owner = [{"type": "owning_party", "destination": self.who(rec["processor_id"])}]
        inputs = [
            self.kg(e["parent_lot"], e["kg"]) for e in sorted(edges, key=lambda e: e["parent_lot"])
        ]
        return [
            self._event(
                "TransformationEvent", t, off,
                inputQuantityList=inputs,
                outputQuantityList=[self.kg(out["lot_id"], out["quantity_kg"])],
                bizStep=biz, disposition="active", readPoint=where, bizLocation=where,
                destinationList=owner,
                ilmd=_drop_none(ilmd),
                **{_h("recordID"): ev["record_id"], _h("step"): ev["step"]},
            )
        ]  # fmt: skip

    def shipment(
        self,
        ev: dict[str, Any],
        ship: dict[str, Any],
        lines: list[dict[str, Any]],
        readings: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        off_min = ev["time_offset_min"]
        quantities = [
            self.kg(sl["lot_id"], sl["kg"]) for sl in sorted(lines, key=lambda s: s["lot_id"])
        ]
        bol = [{"type": "bol", "bizTransaction": our_uri("shipment", ship["shipment_id"])}]
        parties = {
            "sourceList": [{"type": "owning_party", "source": self.who(ship["from_party"])}],
            "destinationList": [
                {"type": "owning_party", "destination": self.who(ship["to_party"])}
            ],
        }
        ext = {
            _h("shipmentID"): ship["shipment_id"],
            _h("carrierID"): self.who(ship["carrier_id"]),
            _h("deviceID"): ship.get("device_id"),
        }
        t, off = _iso(ship["departed_at"], off_min)
        events = [
            self._event(
                "ObjectEvent", t, off, quantityList=quantities, action="OBSERVE",
                bizStep="shipping", disposition="in_transit",
                readPoint={"id": self.location(ship["from_party"])},
                bizTransactionList=bol, **parties, **ext, **{_h("step"): "shipping"},
            )
        ]  # fmt: skip
        if readings:
            last = readings[-1]
            t, off = _iso(last["ts"], last["ts_offset_min"])
            events.append(
                self._event(
                    "ObjectEvent", t, off, quantityList=quantities, action="OBSERVE",
                    bizStep="transporting", disposition="in_transit",
                    readPoint={"id": self.location(ship["carrier_id"])},
                    bizTransactionList=bol,
                    sensorElementList=[_sensor_element(r) for r in readings],
                    **{_h("shipmentID"): ship["shipment_id"], _h("deviceID"): ship.get("device_id"),
                       _h("step"): "transporting"},
                )
            )  # fmt: skip
        if ship.get("arrived_at") is not None:
            t, off = _iso(ship["arrived_at"], off_min)
            here = {"id": self.location(ship["to_party"])}
            events.append(
                self._event(
                    "ObjectEvent", t, off, quantityList=quantities, action="OBSERVE",
                    bizStep="receiving", disposition="in_progress", readPoint=here,
                    bizLocation=here, bizTransactionList=bol, **parties,
                    **{_h("shipmentID"): ship["shipment_id"], _h("step"): "receiving"},
                )
            )  # fmt: skip
        return events

    def sale(self, ev: dict[str, Any], sale: dict[str, Any]) -> list[dict[str, Any]]:
        t, off = _iso(sale["time"], ev["time_offset_min"])
        here = {"id": self.location(sale["retailer_id"])}
        self.gtins.add(sale["gtin"])
        units = {"epcClass": lot_class(sale["lot_id"], sale["gtin"]),
                 "quantity": sale["quantity_units"], "uom": "H87"}  # fmt: skip
        return [
            self._event(
                "ObjectEvent", t, off, quantityList=[units], action="OBSERVE",
                bizStep="retail_selling", disposition="retail_sold", readPoint=here,
                bizLocation=here,
                **{_h("recordID"): sale["record_id"], _h("step"): "selling",
                   _h("gtin"): sale["gtin"], _h("channel"): sale["channel"]},
            )
        ]  # fmt: skip

    def verbatim(self, ev: dict[str, Any]) -> list[dict[str, Any]]:
        """An event that came in as EPCIS goes out as it came, its prefixes in the document's
        @context when they agree with the others, else on the event itself."""
        out = dict(ev["payload"])
        ctx = out.pop("@context", None)
        own = prefixes(ctx)
        if any(self.prefixes.get(k, v) != v for k, v in own.items()):
            out["@context"] = ctx
        else:
            self.prefixes.update(own)
        if "eventID" not in out:
            out = {"eventID": ev["record_id"], **out}
        return [out]

    # -- master data ----------------------------------------------------------------------------
    def master_data(self, everything: bool) -> list[dict[str, Any]]:
        m = self.m
        if everything:
            parties = [dict(r) for r in self.conn.execute(m.Party.__table__.select()).mappings()]
            plots = [dict(r) for r in self.conn.execute(m.Plot.__table__.select()).mappings()]
            products = [dict(r) for r in self.conn.execute(m.Product.__table__.select()).mappings()]
        else:
            parties = _rows_in(self.conn, m.Party.__table__, "party_id", self.parties)
            plots = _rows_in(self.conn, m.Plot.__table__, "plot_id", self.plots)
            farms = {p["farm_id"] for p in plots} - {p["party_id"] for p in parties}
            parties += _rows_in(self.conn, m.Party.__table__, "party_id", farms)
            products = _rows_in(self.conn, m.Product.__table__, "gtin", self.gtins)
        newest: dict[str, dict[str, Any]] = {}
        for p in sorted(plots, key=lambda p: p["version"]):
            newest[p["plot_id"]] = p
        locations = [_party_element(p) for p in sorted(parties, key=lambda p: p["party_id"])]
        locations += [_plot_element(p) for _, p in sorted(newest.items())]
        classes = [_product_element(p) for p in sorted(products, key=lambda p: p["gtin"])]
        vocab = []
        if locations:
            vocab.append({"type": VTYPE_LOCATION, "vocabularyElementList": locations})
        if classes:
            vocab.append({"type": VTYPE_CLASS, "vocabularyElementList": classes})
        return vocab


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": k, "attribute": v} for k, v in values.items() if v is not None and v != ""]


def _party_element(p: dict[str, Any]) -> dict[str, Any]:
    attrs = {
        CBV_MDA_NAME: p["name"],
        _h("partyID"): p["party_id"],
        _h("role"): p["role"],
        _h("countyCode"): p.get("county_code"),
        _h("gln"): p.get("gln"),
        _h("lon"): p.get("lon"),
        _h("lat"): p.get("lat"),
    }
    return {"id": party_location(p["party_id"], p.get("gln")), "attributes": _attributes(attrs)}


def _plot_element(p: dict[str, Any]) -> dict[str, Any]:
    attrs = {
        _h("plotID"): p["plot_id"],
        _h("farmID"): p["farm_id"],
        _h("countyCode"): p["county_code"],
        _h("township"): p.get("township"),
        _h("village"): p.get("village"),
        _h("crop"): p.get("crop"),
        _h("declaredAreaMu"): p.get("declared_area_mu"),
        _h("areaM2"): p.get("area_m2"),
        _h("areaMu"): p.get("area_mu"),
        _h("soilOrganicMatterPct"): p.get("soil_organic_matter_pct"),
        _h("blackSoilDepthCm"): p.get("black_soil_depth_cm"),
        _h("practices"): p.get("practices"),
        _h("geometry"): json.loads(p["geometry"]) if p.get("geometry") else None,
    }
    return {"id": our_uri("plot", p["plot_id"]), "attributes": _attributes(attrs)}


def _product_element(p: dict[str, Any]) -> dict[str, Any]:
    attrs = {
        _h("gtin"): p["gtin"],
        _h("nameZh"): p.get("name_zh"),
        _h("nameEn"): p.get("name_en"),
        _h("category"): p.get("category"),
        _h("storage"): p["storage"],
        _h("unit"): p["unit"],
    }
    return {"id": product_class(p["gtin"]), "attributes": _attributes(attrs)}


def _sensor_element(r: dict[str, Any]) -> dict[str, Any]:
    t, _ = _iso(r["ts"], r["ts_offset_min"])
    reports: list[dict[str, Any]] = [{"type": "Temperature", "value": r["temp_c"], "uom": "CEL"}]
    if r.get("humidity_pct") is not None:
        reports.append({"type": "RelativeHumidity", "value": r["humidity_pct"], "uom": "P1"})
    if r.get("lat") is not None and r.get("lon") is not None:
        reports.append({"type": "Angle", "component": "latitude", "value": r["lat"], "uom": "DD"})
        reports.append({"type": "Angle", "component": "longitude", "value": r["lon"], "uom": "DD"})
    return {
        "sensorMetadata": {"time": t, "deviceID": our_uri("device", r["device_id"])},
        "sensorReport": reports,
    }


def _scope(conn: Connection, lot: str) -> tuple[list[str], str]:
    """Event ids of a lot's lineage (what made it and its ancestors, the field work on their
    plots, their shipments, its sales) and the lot id (``lot`` may be a code)."""
    from sqlalchemy import bindparam, text

    from traceability.lineage import MAX_DEPTH, query, resolve_lot

    lot = resolve_lot(conn, lot)
    rows = conn.execute(query("trace_back"), {"lot": lot, "max_depth": MAX_DEPTH}).all()
    lots = sorted({r.lot_id for r in rows} | {lot})
    plots = sorted({r.plot_id for r in rows if r.plot_id is not None})
    stmt = query("lot_events").bindparams(
        bindparam("lots", expanding=True), bindparam("plots", expanding=True)
    )
    params = {"lots": lots, "plots": plots or [""]}
    # sql/lot_events.sql: what made the lots, the season's field work on their plots (from
    # production records or EPCIS ObjectEvents alike) and their shipments.
    ids = {r.event_id for r in conn.execute(stmt, params)}
    ids |= set(
        conn.execute(text("SELECT event_id FROM sale WHERE lot_id = :l"), {"l": lot}).scalars()
    )
    return sorted(ids), lot


#: Store events mapped at a time by a whole-store export, which streams them from the database
#: in time order: memory stays flat however large the store (bench/ingest.py measures it).
EXPORT_CHUNK = 2000


def _event_chunks(
    conn: Connection, lot: str | None
) -> tuple[Iterator[list[dict[str, Any]]], str | None]:
    """The event rows to export, in chunks: a lot's lineage as one chunk, or every event but
    master data, in time order, fetched ``EXPORT_CHUNK`` at a time."""
    from sqlalchemy import select

    from traceability import models as m

    t = m.Event.__table__
    if lot is not None:
        ids, lot = _scope(conn, lot)
        return iter([_rows_in(conn, t, "event_id", ids)]), lot

    def streamed() -> Iterator[list[dict[str, Any]]]:
        stmt = select(t).where(t.c.kind != "master").order_by(t.c.time, t.c.event_id)
        result = conn.execution_options(yield_per=EXPORT_CHUNK).execute(stmt)
        for part in result.mappings().partitions():
            yield [dict(r) for r in part]

    return streamed(), None


def _map_chunk(
    conn: Connection, x: _Exporter, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The EPCIS events of a chunk of store events (with the rows they made), in time order,
    each with its eventID (the GS1 event hash, or the id an imported event came with)."""
    from sqlalchemy import select

    from traceability import models as m

    ids = [ev["event_id"] for ev in events]
    by_source: dict[str, list[dict[str, Any]]] = {}
    for ev in events:
        by_source.setdefault(ev["source"], []).append(ev)
    made = _rows_in(conn, m.Lot.__table__, "event_id", ids)
    edges = _rows_in(conn, m.Edge.__table__, "event_id", ids)
    ships = _rows_in(conn, m.Shipment.__table__, "event_id", ids)
    lines = _rows_in(
        conn, m.ShipmentLot.__table__, "shipment_id", [s["shipment_id"] for s in ships]
    )
    sales = _rows_in(conn, m.Sale.__table__, "event_id", ids)
    # Lots the chunk's events name, wherever they were made (a shipped lot was packed in some
    # earlier chunk): a lot's GTIN decides its class (LGTIN or our own URI). Sales carry theirs.
    named = {e["parent_lot"] for e in edges} | {sl["lot_id"] for sl in lines}
    x.lots = {r["lot_id"]: r for r in made}  # this chunk's lots only
    x.lots.update({r["lot_id"]: r for r in _rows_in(conn, m.Lot.__table__, "lot_id", named)})
    edges_of: dict[str, list[dict[str, Any]]] = {}
    for e in edges:
        edges_of.setdefault(e["event_id"], []).append(e)
    lines_of: dict[str, list[dict[str, Any]]] = {}
    for sl in lines:
        lines_of.setdefault(sl["shipment_id"], []).append(sl)
    t = m.Reading.__table__
    out: list[tuple[datetime, int, dict[str, Any]]] = []

    def add(evs: list[dict[str, Any]]) -> None:
        for e in evs:
            when = datetime.fromisoformat(e["eventTime"]) if "eventTime" in e else datetime.min
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            out.append((when, len(out), e))

    event_of = {ev["event_id"]: ev for ev in events}
    for ev in sorted(by_source.get("production", []), key=lambda e: e["event_id"]):
        add(x.production(ev))
    for ev in sorted(by_source.get("processing", []), key=lambda e: e["event_id"]):
        add(x.processing(ev, edges_of.get(ev["event_id"], [])))
    for ship in sorted(ships, key=lambda s: s["shipment_id"]):
        ev = event_of[ship["event_id"]]
        if ev["source"] != "shipments":
            continue
        readings: list[dict[str, Any]] = []
        if ship.get("device_id"):
            cond = [t.c.device_id == ship["device_id"], t.c.ts >= ship["departed_at"]]
            if ship.get("arrived_at") is not None:
                cond.append(t.c.ts <= ship["arrived_at"])
            stmt = select(t).where(*cond).order_by(t.c.ts)
            readings = [dict(r) for r in conn.execute(stmt).mappings()]
        add(x.shipment(ev, ship, lines_of.get(ship["shipment_id"], []), readings))
    for sale in sorted(sales, key=lambda s: s["record_id"]):
        ev = event_of[sale["event_id"]]
        if ev["source"] == "sales":
            add(x.sale(ev, sale))
    for ev in sorted(by_source.get("epcis", []), key=lambda e: e["event_id"]):
        if ev["kind"] != "master":
            add(x.verbatim(ev))
    # Our events use only the prefixes of CONTEXT; an imported event keeps its eventID.
    context: list[Any] = [EPCIS_CONTEXT, dict(x.prefixes)]
    mapped = []
    for _, _, e in sorted(out, key=lambda item: (item[0], item[1])):
        if "eventID" not in e:
            e = {"type": e["type"], "eventID": event_hash(e, context), **e}
        mapped.append(e)
    return mapped


def export_epcis(
    eng: Engine, out: Path, lot: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Write the store (or one lot's lineage) to ``out`` as an EPCIS 2.0 JSON-LD document;
    returns ``{"file", "events", "lot", "master_data"}``.

    Events are mapped and written a chunk at a time (time order within a chunk, chunks in the
    order of the store's event times), first to ``out``'s ``.events.part`` file: the header
    (the @context with every prefix met, and the master data the events name) is only known
    at the end, and goes before them when the two parts are joined into ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    body = out.with_name(out.name + ".events.part")
    tmp = out.with_name(out.name + ".part")
    n = 0
    try:
        with eng.connect() as conn:
            x = _Exporter(conn)
            chunks, lot = _event_chunks(conn, lot)
            with body.open("w", encoding="utf-8") as f:
                for events in chunks:
                    for ev in _map_chunk(conn, x, events):
                        f.write(("," if n else "") + json.dumps(ev, ensure_ascii=False) + "\n")
                        n += 1
            vocab = x.master_data(everything=lot is None)
        created = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        head: dict[str, Any] = {
            "@context": [EPCIS_CONTEXT, dict(x.prefixes)],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": created.replace("+00:00", "Z"),
        }
        if vocab:
            head["epcisHeader"] = {"epcisMasterData": {"vocabularyList": vocab}}
        with tmp.open("w", encoding="utf-8") as f, body.open(encoding="utf-8") as events_file:
            f.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "epcisBody": {"eventList": [\n')
            shutil.copyfileobj(events_file, f, 1 << 20)
            f.write("]}}\n")
        tmp.replace(out)
    finally:
        body.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    elements = sum(len(v["vocabularyElementList"]) for v in vocab)
    return {"file": str(out), "events": n, "lot": lot, "master_data": elements}
