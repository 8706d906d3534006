"""Capture: an EPCIS document -> rows of the ``epcis`` source, and the store rows each event
implies (lots, edges, shipments, readings, sales, master data) where they are missing."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from landing import decode
from traceability.contract import MAX_ID, ROLES, STORAGE, UNITS, Parsed, Row
from traceability.epcis.hashing import URN_VOCAB, event_hash, prefixes
from traceability.epcis.ids import CBV_MDA_NAME, GS1_VOC, HEITU_NS, gln_of, lot_of, ours_in
from traceability.epcis.schema import validate
from traceability.errors import UnreadableFile
from traceability.readers import is_county_code

if TYPE_CHECKING:
    from traceability.ingest import Loader

_KINDS = {
    "ObjectEvent": "object",
    "AggregationEvent": "aggregation",
    "TransformationEvent": "transformation",
    "AssociationEvent": "association",
    "TransactionEvent": "transaction",
}
#: Units of measure read as kg, and as a count of units (pieces, each, one).
_KG_PER = {"KGM": 1.0, "GRM": 0.001, "TNE": 1000.0}
_COUNTS = (None, "H87", "EA", "C62")


def document_rows(path: Path) -> Iterator[Row]:
    """Rows of an EPCIS document: one per master data element (line 0), then one per event
    (line = its position in the event list, from 1). A file that is not JSON or fails the GS1
    schema raises UnreadableFile with the schema's message: nothing of it is loaded."""
    text, _ = decode(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(
            path, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    problem = validate(doc)
    if problem:
        raise UnreadableFile(path, f"not a valid GS1 EPCIS 2.0 document: {problem}")
    ns = prefixes(doc.get("@context"))
    header: dict[str, Any] = {}
    if doc.get("type") in ("EPCISDocument", "EPCISQueryDocument"):
        body = doc.get("epcisBody") or {}
        events = body.get("eventList")
        if events is None:
            events = ((body.get("queryResults") or {}).get("resultsBody") or {}).get("eventList")
        header = doc.get("epcisHeader") or {}
    else:  # a single event with its own @context
        events = [{k: v for k, v in doc.items() if k != "@context"}]
    context = [ns] if ns else None
    for vocab in (header.get("epcisMasterData") or {}).get("vocabularyList") or []:
        for element in vocab.get("vocabularyElementList") or []:
            yield Row(0, {"vocabulary": vocab.get("type"), "element": element, "@context": context})
    for i, ev in enumerate(events or [], start=1):
        yield Row(i, {"event": ev, "@context": context})


def _md_key(element_id: str) -> str:
    key = f"md:{element_id}"
    return key if len(key) <= MAX_ID else "md:" + hashlib.sha256(element_id.encode()).hexdigest()


def _parse_time(value: Any, offset: Any) -> tuple[datetime | None, int | None]:
    try:
        t = datetime.fromisoformat(str(value).replace("z", "Z"))
    except ValueError:
        return None, None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    m = re.fullmatch(r"([+-])(\d\d):(\d\d)", str(offset or ""))
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3))
        minutes = -minutes if m.group(1) == "-" else minutes
        t = t.astimezone(timezone(timedelta(minutes=minutes)))
    off = t.utcoffset() or timedelta(0)
    return t, int(off.total_seconds() // 60)


def parse_row(fields: dict[str, Any]) -> Parsed:
    """A row of ``document_rows`` -> the record the ingest engine loads (never a reject)."""
    context = fields.get("@context")
    if "element" in fields:
        record = {"vocabulary": fields.get("vocabulary"), "element": fields["element"]}
        if context:
            record["@context"] = context
        return Parsed(_md_key(str(fields["element"].get("id"))), record)
    ev = fields["event"]
    eid = ev.get("eventID")
    key = eid if isinstance(eid, str) and 0 < len(eid) <= MAX_ID else event_hash(ev, context)
    if ev.get("errorDeclaration"):  # it names the event it corrects by that event's own id
        key = f"{key}#error" if len(key) <= MAX_ID - 6 else event_hash(ev, context)
    record = dict(ev)
    if context and "@context" not in record:
        record["@context"] = context
    t, off = _parse_time(ev.get("eventTime"), ev.get("eventTimeZoneOffset"))
    ns = prefixes(record.get("@context"))
    made = [lot for lot, _ in _outputs(ev, ns)]
    return Parsed(key, record, [], [("lot", lot) for lot in made], t, off)


def _local(obj: Any, ns: dict[str, str]) -> dict[str, Any]:
    """The members of ``obj`` in our vocabulary, by local name ('heitu:plotID' -> 'plotID')."""
    out: dict[str, Any] = {}
    if not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        prefix, sep, local = str(k).partition(":")
        if sep and ns.get(prefix) == HEITU_NS:
            out[local] = v
        elif str(k).startswith(HEITU_NS):
            out[str(k)[len(HEITU_NS) :]] = v
    return out


def _term(value: Any) -> str | None:
    """A vocabulary value as its bare word: 'shipping', CBV URIs and URNs alike."""
    if not isinstance(value, str):
        return None
    for urn, web in URN_VOCAB:
        if value.startswith(urn):
            return value[len(urn) :]
        if value.startswith(web):
            return value[len(web) :]
    if value.startswith(GS1_VOC):
        return value[len(GS1_VOC) :]
    if value.startswith(HEITU_NS + "BizStep-"):
        return value[len(HEITU_NS + "BizStep-") :]
    return value


def _quantities(items: Any, epcs: Any) -> list[tuple[str, str | None, float | None, float | None]]:
    """(lot id, GTIN, kg or None, units or None) of quantity elements and EPCs."""
    out: dict[str, list[Any]] = {}
    for q in items or []:
        if not isinstance(q, dict) or not isinstance(q.get("epcClass"), str):
            continue
        named = lot_of(q["epcClass"])
        if named is None:
            continue
        entry = out.setdefault(named[0], [named[0], named[1], None, None])
        qty, uom = q.get("quantity"), q.get("uom")
        if isinstance(qty, int | float):
            if uom in _KG_PER:
                entry[2] = (entry[2] or 0.0) + qty * _KG_PER[uom]
            elif uom in _COUNTS:
                entry[3] = (entry[3] or 0.0) + qty
    for epc in epcs or []:
        named = lot_of(epc) if isinstance(epc, str) else None
        if named is not None:
            out.setdefault(named[0], [named[0], named[1], None, None])
    return [tuple(v) for v in out.values()]  # type: ignore[misc]


def _outputs(ev: dict[str, Any], ns: dict[str, str]) -> list[tuple[str, Any]]:
    """Lots an event makes: a TransformationEvent's outputs, an ObjectEvent ADD's objects."""
    if ev.get("type") == "TransformationEvent":
        found = _quantities(ev.get("outputQuantityList"), ev.get("outputEPCList"))
    elif ev.get("type") == "ObjectEvent" and ev.get("action") == "ADD":
        found = _quantities(ev.get("quantityList"), ev.get("epcList"))
    else:
        return []
    return [(q[0], q) for q in found]


class _Importer:
    """Writes the rows one event implies, adding only what the store does not have yet."""

    def __init__(self, load: Loader, p: Parsed, event_id: str) -> None:
        self.load = load
        self.ev = p.record
        self.ns = prefixes(self.ev.get("@context"))
        self.ext = _local(self.ev, self.ns)
        self.ilmd = _local(self.ev.get("ilmd"), self.ns)
        self.time = p.time
        self.key = p.key
        self.event_id = event_id
        self.touched: list[str] = []

    # -- who and where ------------------------------------------------------------------------
    def party(self, uri: Any) -> str | None:
        if not isinstance(uri, str) or not uri:
            return None
        ours = ours_in(uri, "party")
        if ours:
            return ours
        gln = gln_of(uri)
        if gln:
            known = self.load.known["gln"]
            if gln not in known:
                from sqlalchemy import text

                row = self.load.conn.execute(
                    text("SELECT party_id FROM party WHERE gln = :g ORDER BY party_id"), {"g": gln}
                ).first()
                known[gln] = row.party_id if row else None
            if known[gln]:
                return str(known[gln])
        return uri if len(uri) <= MAX_ID else None

    def listed(self, name: str, *types: str) -> str | None:
        key = name[: -len("List")]
        for t in types:
            for item in self.ev.get(name) or []:
                if isinstance(item, dict) and _term(item.get("type")) == t:
                    return self.party(item.get(key))
        return None

    def place(self, *names: str) -> str | None:
        for name in names:
            where = self.ev.get(name)
            if isinstance(where, dict):
                found = self.party(where.get("id"))
                if found:
                    return found
        return None

    def plot(self) -> str | None:
        plot = self.ilmd.get("plotID")
        if isinstance(plot, str):
            return plot[:MAX_ID]
        for name in ("readPoint", "bizLocation"):
            where = self.ev.get(name)
            found = ours_in(where.get("id", ""), "plot") if isinstance(where, dict) else None
            if found:
                return found[:MAX_ID]
        return None

    def exists(self, sql: str, **params: Any) -> bool:
        from sqlalchemy import text

        return self.load.conn.execute(text(sql), params).first() is not None

    # -- what the event makes ---------------------------------------------------------------------
    def step(self) -> str:
        step = self.ext.get("step")
        if not isinstance(step, str) or not step:
            if self.ilmd.get("plotID") and self.ev.get("action") == "ADD":
                step = "harvest"
            else:
                step = _term(self.ev.get("bizStep")) or str(self.ev.get("action") or "").lower()
        step = step or _KINDS.get(str(self.ev.get("type")), "event")
        return step if len(step) <= 20 and ":" not in step else "other"

    def make_lots(self) -> list[tuple[str, Any]]:
        outs = _outputs(self.ev, self.ns)
        maker = self.listed("destinationList", "owning_party", "possessing_party")
        maker = maker or self.place("bizLocation", "readPoint") or ""
        units = self.ilmd.get("units")
        gtin_ilmd = self.ilmd.get("gtin")
        for lot, (_, gtin, kg, count) in outs:
            if self.load.exists("lot", lot):
                continue
            n = units if isinstance(units, int) and len(outs) == 1 else count
            self.load.new_lot(
                lot, "epcClass",
                step=self.step(), plot_id=self.plot(),
                gtin=gtin or (gtin_ilmd if isinstance(gtin_ilmd, str) and len(outs) == 1 else None),
                quantity_kg=float(kg or 0.0), units=int(n) if n is not None else None,
                made_at=self.time or self.load.now, made_by=maker[:MAX_ID],
                event_id=self.event_id,
            )  # fmt: skip
            self.touched.append(lot)
        return outs

    def edges(self, outs: list[tuple[str, Any]]) -> None:
        ins = _quantities(self.ev.get("inputQuantityList"), self.ev.get("inputEPCList"))
        if not ins or not outs:
            return
        known_kg = all(q[2] is not None for q in ins)
        total_in = sum(q[2] or 0.0 for q in ins)
        out_kg = [q[2] for _, q in outs]
        total_out = sum(k or 0.0 for k in out_kg)
        seen = self.load.known["edge"]
        for lot, q in outs:
            part = (q[2] / total_out) if all(out_kg) and total_out > 0 else 1 / len(outs)
            for parent, _, kg, _ in ins:
                if parent == lot or (parent, lot) in seen:
                    continue
                if self.exists(
                    "SELECT 1 FROM edge WHERE parent_lot = :p AND child_lot = :c", p=parent, c=lot
                ):
                    continue
                share = (kg or 0.0) / total_in if known_kg and total_in > 0 else 1 / len(ins)
                edge_kg = (kg or 0.0) * part if known_kg else share * (q[2] or 0.0)
                self.load.add(
                    "edge",
                    {"parent_lot": parent, "child_lot": lot, "kg": edge_kg, "share": share,
                     "event_id": self.event_id},
                )  # fmt: skip
                seen[(parent, lot)] = True
                self.touched.append(parent)

    def shipment_id(self) -> str | None:
        sid = self.ext.get("shipmentID")
        if isinstance(sid, str) and 0 < len(sid) <= MAX_ID:
            return sid
        for item in self.ev.get("bizTransactionList") or []:
            ref = item.get("bizTransaction") if isinstance(item, dict) else None
            if isinstance(ref, str):
                ours = ours_in(ref, "shipment")
                found = ours if ours is not None else ref
                return found if 0 < len(found) <= MAX_ID else None
        return None

    def ship(self) -> None:
        sid = self.shipment_id()
        sender = self.listed("sourceList", "owning_party", "possessing_party")
        sender = sender or self.place("readPoint", "bizLocation")
        receiver = self.listed("destinationList", "owning_party", "possessing_party")
        if not sid or not sender or not receiver or self.time is None:
            return
        cache = self.load.known["shipment"]
        if sid in cache or self.exists("SELECT 1 FROM shipment WHERE shipment_id = :s", s=sid):
            return
        carrier = self.party(self.ext.get("carrierID")) or sender
        device = self.ext.get("deviceID")
        if isinstance(device, str):
            device = ours_in(device, "device") or device
        row = {
            "shipment_id": sid, "carrier_id": carrier, "device_id": device[:MAX_ID] if
            isinstance(device, str) else None, "from_party": sender, "to_party": receiver,
            "departed_at": self.time, "arrived_at": None, "event_id": self.event_id,
        }  # fmt: skip
        self.load.add("shipment", row)
        cache[sid] = row
        for lot, _, kg, _ in _quantities(self.ev.get("quantityList"), self.ev.get("epcList")):
            self.load.add("shipment_lot", {"shipment_id": sid, "lot_id": lot, "kg": kg or 0.0})
            self.touched.append(lot)

    def receive(self) -> None:
        sid = self.shipment_id()
        if not sid or self.time is None:
            return
        row = self.load.known["shipment"].get(sid)
        if row is not None:
            if row["arrived_at"] is None:
                row["arrived_at"] = self.time
            return
        from sqlalchemy import update

        from traceability import models as m

        self.load.conn.execute(
            update(m.Shipment.__table__)
            .where(m.Shipment.shipment_id == sid, m.Shipment.arrived_at.is_(None))
            .values(arrived_at=self.time)
        )

    def sell(self) -> str | None:
        retailer = self.place("bizLocation", "readPoint")
        retailer = retailer or self.listed("sourceList", "owning_party")
        items = _quantities(self.ev.get("quantityList"), None)
        if not retailer or self.time is None:
            return retailer
        channel = self.ext.get("channel")
        channel = channel if isinstance(channel, str) and len(channel) <= 20 else "store"
        record = self.ext.get("recordID")
        for i, (lot, gtin, _, count) in enumerate(items, start=1):
            rid = record if isinstance(record, str) and len(items) == 1 else f"{self.key}#{i}"
            stored = self.load.known["lot"].get(lot) if self.load.exists("lot", lot) else None
            gtin = gtin or self.ext.get("gtin") or (stored or {}).get("gtin")
            if count is None or not gtin or len(rid) > MAX_ID:
                continue
            cache = self.load.known["sale"]
            if rid in cache or self.exists("SELECT 1 FROM sale WHERE record_id = :r", r=rid):
                continue
            cache[rid] = True
            self.load.add(
                "sale",
                {"record_id": rid, "retailer_id": retailer, "time": self.time, "lot_id": lot,
                 "gtin": str(gtin)[:14], "quantity_units": int(count), "channel": channel,
                 "event_id": self.event_id},
            )  # fmt: skip
            self.touched.append(lot)
        return retailer

    def readings(self) -> None:
        cache = self.load.known["reading"]
        default_device = self.ext.get("deviceID")
        rows: dict[tuple[str, datetime], dict[str, Any]] = {}
        for element in self.ev.get("sensorElementList") or []:
            meta = element.get("sensorMetadata") or {}
            extra: dict[str, dict[str, float]] = {}
            temps: list[tuple[str, Any, float]] = []
            for r in element.get("sensorReport") or []:
                kind, value = _term(r.get("type")), r.get("value")
                if not isinstance(value, int | float):
                    continue
                device = r.get("deviceID") or meta.get("deviceID") or default_device
                when = r.get("time") or meta.get("time") or self.ev.get("eventTime")
                if kind == "Temperature":
                    c = {"CEL": value, "FAH": (value - 32) * 5 / 9, "KEL": value - 273.15}
                    if r.get("uom", "CEL") in c:
                        temps.append((str(device or ""), when, c[r.get("uom", "CEL")]))
                elif kind == "RelativeHumidity":
                    extra.setdefault(str(when), {})["humidity_pct"] = value
                elif r.get("component") in ("latitude", "longitude"):
                    extra.setdefault(str(when), {})[r["component"][:3]] = value
            for device, when, temp in temps:
                t, off = _parse_time(when, None)
                dev = ours_in(device, "device") or device
                if t is None or not dev or len(dev) > MAX_ID:
                    continue
                more = extra.get(str(when), {})
                rows[(dev, t.astimezone(UTC))] = {
                    "device_id": dev, "ts": t, "ts_offset_min": off, "temp_c": temp,
                    "humidity_pct": more.get("humidity_pct"), "lon": more.get("lon"),
                    "lat": more.get("lat"), "source_file": self.load.file, "line": self.load.line,
                    "content_hash": self.load.content_hash,
                }  # fmt: skip
        for dev in {d for d, _ in rows}:
            stamps = [t for d, t in rows if d == dev]
            from sqlalchemy import select

            from traceability import models as m

            tbl = m.Reading.__table__
            stmt = select(tbl.c.ts).where(
                tbl.c.device_id == dev, tbl.c.ts >= min(stamps), tbl.c.ts <= max(stamps)
            )
            for (ts,) in self.load.conn.execute(stmt):
                cache[(dev, ts.astimezone(UTC))] = True
        for ident, row in rows.items():
            if ident not in cache:
                cache[ident] = True
                self.load.add("reading", row)


def apply_row(load: Loader, p: Parsed, event_id: str) -> list[str]:
    """Store one EPCIS row: the event (always) and the rows it implies (where missing)."""
    if "element" in p.record:
        return _apply_master(load, p.record, event_id)
    x = _Importer(load, p, event_id)
    ev = x.ev
    step = x.step()
    biz = _term(ev.get("bizStep"))
    fields: dict[str, Any] = {
        "kind": _KINDS.get(str(ev.get("type")), "extension"),
        "step": step,
        "party_id": None,
        "plot_id": x.plot(),
        "input_reg_no": None,
    }
    if ev.get("errorDeclaration"):
        # Says that an earlier event did not happen as told: kept as an event, nothing derived
        # (the rows of the event it corrects stay until an operator acts).
        fields["party_id"] = x.place("bizLocation", "readPoint")
        load.event_fields.update(fields)
        return []
    reg = x.ext.get("inputRegNo")
    if isinstance(reg, str):
        fields["input_reg_no"] = reg[:MAX_ID]
    outs = x.make_lots()
    if outs:
        fields["lot_id"] = outs[0][0]
        maker = x.listed("destinationList", "owning_party", "possessing_party")
        fields["party_id"] = maker or x.place("bizLocation", "readPoint")
    if ev.get("type") == "TransformationEvent":
        x.edges(outs)
    if ev.get("type") == "ObjectEvent":
        if biz in ("shipping", "departing"):
            x.ship()
            fields["party_id"] = x.listed("sourceList", "owning_party") or x.place(
                "readPoint", "bizLocation"
            )
        elif biz in ("receiving", "arriving"):
            x.receive()
            fields["party_id"] = x.place("bizLocation", "readPoint")
        elif biz == "retail_selling":
            fields["party_id"] = x.sell()
        elif not outs:
            fields["party_id"] = x.party(x.ext.get("farmID")) or x.place("bizLocation", "readPoint")
        if not outs and biz != "retail_selling":  # a shipment's events: in its lots' history
            named = _quantities(ev.get("quantityList"), ev.get("epcList"))
            fields["lot_id"] = named[0][0] if named else None
    if ev.get("sensorElementList"):
        x.readings()
    if fields["party_id"] is not None:
        fields["party_id"] = str(fields["party_id"])[:MAX_ID]
    load.event_fields.update(fields)
    return x.touched


def _geometry_box(geometry: Any) -> tuple[float, float, float, float] | None:
    coords: list[tuple[float, float]] = []

    def walk(c: Any) -> None:
        if isinstance(c, list) and len(c) >= 2 and all(isinstance(v, int | float) for v in c[:2]):
            coords.append((float(c[0]), float(c[1])))
        elif isinstance(c, list):
            for x in c:
                walk(x)

    walk(geometry.get("coordinates") if isinstance(geometry, dict) else None)
    if not coords:
        return None
    lons, lats = [c[0] for c in coords], [c[1] for c in coords]
    return min(lons), min(lats), max(lons), max(lats)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any, most: int | None = None) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    value = str(value)
    return value if most is None or len(value) <= most else None


def _apply_master(load: Loader, rec: dict[str, Any], event_id: str) -> list[str]:
    """Master data: a party, plot or product the store does not have yet (ours: the heitu
    attributes); other elements are kept with their event row only."""
    from traceability import gs1

    load.event_fields.update(kind="master", step="registering", party_id=None)
    ns = prefixes(rec.get("@context"))
    element = rec.get("element") or {}
    attrs: dict[str, Any] = {}
    for a in element.get("attributes") or []:
        if isinstance(a, dict) and isinstance(a.get("id"), str):
            attrs[a["id"]] = a.get("attribute")
    h = _local(attrs, ns)
    eid = str(element.get("id") or "")
    county = _text(h.get("countyCode"))
    county = county if county and is_county_code(county) else None
    pid, plot, gtin = h.get("partyID"), h.get("plotID"), h.get("gtin")
    if isinstance(pid, str) and 0 < len(pid) <= MAX_ID and h.get("role") in ROLES:
        gln = gln_of(eid)
        if gln:
            load.known["gln"][gln] = pid
        load.event_fields["party_id"] = pid
        if not load.exists("party", pid):
            load.add(
                "party",
                {"party_id": pid, "role": h["role"], "name": _text(attrs.get(CBV_MDA_NAME)) or pid,
                 "county_code": county, "gln": gln, "lon": _num(h.get("lon")),
                 "lat": _num(h.get("lat")), "extra": {}, "event_id": event_id},
            )  # fmt: skip
            load.known["party"][pid] = h["role"]
    elif isinstance(plot, str) and 0 < len(plot) <= MAX_ID and isinstance(h.get("farmID"), str):
        box = _geometry_box(h.get("geometry"))
        load.event_fields.update(plot_id=plot, party_id=str(h["farmID"])[:MAX_ID])
        if box and county and not load.exists("plot", plot):
            load.add(
                "plot",
                {"plot_id": plot, "version": 1, "valid_from": load.now,
                 "farm_id": str(h["farmID"])[:MAX_ID], "county_code": county,
                 "township": _text(h.get("township")), "village": _text(h.get("village")),
                 "crop": _text(h.get("crop")), "declared_area_mu": _num(h.get("declaredAreaMu")),
                 "area_m2": _num(h.get("areaM2")) or 0.0, "area_mu": _num(h.get("areaMu")) or 0.0,
                 "soil_organic_matter_pct": _num(h.get("soilOrganicMatterPct")),
                 "black_soil_depth_cm": _num(h.get("blackSoilDepthCm")),
                 "practices": _text(h.get("practices")),
                 "geometry": json.dumps(h["geometry"], separators=(",", ":")),
                 "min_lon": box[0], "min_lat": box[1], "max_lon": box[2], "max_lat": box[3],
                 "extra": {}, "event_id": event_id},
            )  # fmt: skip
            load.known["plot"][plot] = h["farmID"]
    elif isinstance(gtin, str) and h.get("storage") in STORAGE and h.get("unit") in UNITS:
        try:
            gtin = gs1.gtin14(gtin)
        except ValueError:
            return []
        if not load.exists("product", gtin):
            load.add(
                "product",
                {"gtin": gtin, "name_zh": _text(h.get("nameZh")), "name_en": _text(h.get("nameEn")),
                 "category": _text(h.get("category")), "storage": h["storage"], "unit": h["unit"],
                 "extra": {}, "event_id": event_id},
            )  # fmt: skip
            load.known["product"][gtin] = h["storage"]
    return []
