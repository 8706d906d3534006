"""The rules of each source in the data contract (../shared/CONTRACT.md).

A source turns a read row into a ``Parsed`` record (or raises ``FieldError``: a permanent
reject), names the keys it needs to exist first (a missing one parks the record), and writes
its rows through the ``Loader`` once those keys exist. ``ingest.py`` runs them all the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traceability import gs1
from traceability.contract import (
    CERTIFICATE_KINDS,
    CHANNELS,
    MAX_ID,
    PROCESSING_STEPS,
    PRODUCTION_EVENTS,
    ROLES,
    STORAGE,
    UNITS,
    FieldError,
    Parsed,
    Row,
)
from traceability.readers import (
    choice,
    county_code,
    extras,
    is_county_code,
    iso_date,
    json_number,
    lot_list,
    number,
    parse_time,
    read_csv,
    read_jsonl,
    text_field,
    whole_number,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from traceability.ingest import Loader
    from traceability.writes import FileReport

# Mainland China with a margin: a party outside it has swapped or mistyped coordinates.
CHINA_LON = (73.0, 135.5)
CHINA_LAT = (18.0, 53.6)


class Source:
    name: str
    id_column: str | None = "record_id"  # names a record before it is parsed (for rejects)
    columns: tuple[str, ...] = ()  # contract columns
    required: tuple[str, ...] = ()  # columns the header must have
    pattern: str = "*.csv"
    event_kind = "object"
    #: (table, column) whose ids another source may already have made under this record's
    #: key (an EPCIS event makes shipments and sales too): looked up for a whole batch at once.
    made_in: tuple[str, str] | None = None
    #: True when the source loads a whole file itself (``load_file``) instead of row by row
    #: through ``process``; its parked records (if any) still retry through ``parse``/``apply``.
    loads_files = False
    #: True when a rule compares a re-delivered record with the stored one (not just their
    #: hashes): the stored records are then read back with the hashes.
    compares_prior = False
    #: False for a source whose records are not events (telemetry: millions of readings).
    records_events = True

    @cached_property
    def column_set(self) -> frozenset[str]:
        """The contract columns as a set (made once per source)."""
        return frozenset(self.columns)

    def rows(self, path: Path) -> Iterator[Row]:
        return read_csv(path, self.required)

    def raw_key(self, fields: dict[str, Any]) -> str | None:
        """The record's key as far as it can be read from a row that failed to parse."""
        if not self.id_column:
            return None
        return str(fields.get(self.id_column) or "").strip() or None

    def parse(self, fields: dict[str, Any]) -> Parsed:
        raise NotImplementedError

    def completes(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Whether ``new``, delivered under a stored record's key with other content, only
        completes ``old`` (then it is loaded over it, not rejected as a conflict)."""
        return False

    def apply(self, load: Loader, p: Parsed, event_id: str) -> list[str]:
        """Write the record's rows; return the lot ids it touched."""
        raise NotImplementedError


def _coords(fields: dict[str, str], *, china: bool) -> tuple[float | None, float | None]:
    lon = _signed(fields, "lon")
    lat = _signed(fields, "lat")
    if (lon is None) != (lat is None):
        raise FieldError("lon" if lon is None else "lat", "lon and lat must be given together")
    if lon is None or lat is None:
        return None, None
    if china and not _in_china(lon, lat):
        if _in_china(lat, lon):
            raise FieldError("lon", f"lon {lon} and lat {lat} look swapped")
        raise FieldError("lon", f"lon {lon}, lat {lat} is outside China")
    if not -180 <= lon <= 180:
        raise FieldError("lon", f"lon {lon} is outside -180..180")
    if not -90 <= lat <= 90:
        raise FieldError("lat", f"lat {lat} is outside -90..90")
    return lon, lat


def _in_china(lon: float, lat: float) -> bool:
    return CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]


def _signed(fields: dict[str, Any], name: str) -> float | None:
    value = json_number(fields.get(name))
    if value is not None:
        return value
    raw = text_field(fields, name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise FieldError(name, f"{name} {raw!r} is not a number") from None


def _gtin(fields: dict[str, str], name: str, *, required: bool) -> str | None:
    raw = text_field(fields, name, required=required)
    if raw is None:
        return None
    try:
        return gs1.gtin14(raw)
    except ValueError as exc:
        raise FieldError(name, str(exc)) from None


class Parties(Source):
    id_column = "party_id"
    name = "parties"
    columns = ("party_id", "role", "name", "county_code", "gln", "lon", "lat")
    required = ("party_id", "role", "name")
    event_kind = "master"

    def parse(self, fields: dict[str, Any]) -> Parsed:
        gln = text_field(fields, "gln")
        if gln is not None:
            try:
                gln = gs1.gln(gln)
            except ValueError as exc:
                raise FieldError("gln", str(exc)) from None
        lon, lat = _coords(fields, china=True)
        rec = {
            "party_id": text_field(fields, "party_id", required=True),
            "role": choice(fields, "role", ROLES, required=True),
            "name": text_field(fields, "name", required=True),
            "county_code": county_code(fields),
            "gln": gln,
            "lon": lon,
            "lat": lat,
            "extra": extras(fields, self.column_set),
        }
        return Parsed(rec["party_id"], rec)

    def apply(self, load: Loader, p: Parsed, event_id: str) -> list[str]:
        load.add("party", {**p.record, "event_id": event_id})
        load.known["party"][p.key] = p.record["role"]
        return []


class Products(Source):
    id_column = "gtin"
    name = "products"
    columns = ("gtin", "name_zh", "name_en", "category", "storage", "unit")
    required = ("gtin", "storage", "unit")
    event_kind = "master"

    def raw_key(self, fields: dict[str, Any]) -> str | None:
        # Stored as GTIN-14: a rejected GTIN-13 must meet its corrected copy under one key.
        raw = super().raw_key(fields)
        try:
            return gs1.gtin14(raw) if raw else None
        except ValueError:
            return raw

    def parse(self, fields: dict[str, Any]) -> Parsed:
        rec = {
            "gtin": _gtin(fields, "gtin", required=True),
            "name_zh": text_field(fields, "name_zh"),
            "name_en": text_field(fields, "name_en"),
            "category": text_field(fields, "category"),
            "storage": choice(fields, "storage", STORAGE, required=True),
            "unit": choice(fields, "unit", UNITS, required=True),
            "extra": extras(fields, self.column_set),
        }
        if not rec["name_zh"] and not rec["name_en"]:
            raise FieldError("name_zh", "a product needs name_zh or name_en")
        return Parsed(rec["gtin"], rec)

    def apply(self, load: Loader, p: Parsed, event_id: str) -> list[str]:
        load.add("product", {**p.record, "event_id": event_id})
        load.known["product"][p.key] = p.record["storage"]
        return []


class Plots(Source):
    """Vector files are read by the plot registry (geo/); here only keys and storage."""

    id_column = "plot_id"

    name = "plots"
    pattern = "*"
    event_kind = "master"
    suffixes = (".geojson", ".json", ".gpkg", ".shp", ".zip")  # .zip: a zipped Shapefile

    def rows(self, path: Path) -> Iterator[Row]:
        from geo import read_plots  # geopandas stays off every other path

        result = read_plots(path)
        out = [Row(r.pop("line"), r) for r in result.records]
        out += [
            Row(rj["line"], {"plot_id": rj.get("record")}, rj["reason"], rj.get("field"))
            for rj in result.rejects
        ]
        return iter(sorted(out, key=lambda r: r.line))

    #: A plot delivered again with other geometry or attributes is a new version, not a
    #: conflict: the registry redraws plots, and history must stay (ingest.py).
    versioned = True
    #: The first version of a plot is valid from the start unless the feature says otherwise.
    BEGINNING = "1900-01-01T00:00:00+00:00"

    def parse(self, fields: dict[str, Any]) -> Parsed:
        rec = dict(fields)
        rec["practices"] = ";".join(rec.get("practices") or []) or None
        rec.pop("repaired", None)
        extra = dict(rec.get("extra") or {})
        raw_from = extra.pop("valid_from", None)
        if raw_from not in (None, ""):
            rec["valid_from"] = parse_time(str(raw_from), "valid_from")[0].isoformat()
        rec["extra"] = extra
        return Parsed(rec["plot_id"], rec, [("party", rec["farm_id"])])

    def apply(self, load: Loader, p: Parsed, event_id: str) -> list[str]:
        import json

        rec = dict(p.record)
        version = rec.pop("version", 1)
        # A new version without its own valid_from starts when it reached us.
        start = rec.pop("valid_from", None) or (self.BEGINNING if version == 1 else None)
        valid_from = datetime.fromisoformat(start) if start else load.now
        rec["geometry"] = json.dumps(rec["geometry"], separators=(",", ":"))
        load.add(
            "plot", {**rec, "version": version, "valid_from": valid_from, "event_id": event_id}
        )
        load.known["plot"][p.key] = rec["farm_id"]
        load.event_fields["plot_id"] = p.key
        return []


class Production(Source):
    name = "production"
    columns = (
        "record_id",
        "farm_id",
        "plot_id",
        "event",
        "time",
        "crop",
        "variety",
        "input_name",
        "input_reg_no",
        "dose",
        "dose_unit",
        "lot_id",
        "quantity_kg",
        "lon",
        "lat",
    )
    required = ("record_id", "farm_id", "plot_id", "event", "time")

    def parse(self, fields: dict[str, Any]) -> Parsed:
        step = choice(fields, "event", PRODUCTION_EVENTS, required=True)
        t, off = parse_time(fields.get("time", ""), "time")
        lon, lat = _coords(fields, china=False)
        rec: dict[str, Any] = {
            "record_id": text_field(fields, "record_id", required=True),
            "farm_id": text_field(fields, "farm_id", required=True),
            "plot_id": text_field(fields, "plot_id", required=True),
            "event": step,
            "time": t.isoformat(),
            "crop": text_field(fields, "crop"),
            "variety": text_field(fields, "variety"),
            "lon": lon,
            "lat": lat,
            "extra": extras(fields, self.column_set),
        }
        if step == "input":
            rec["input_name"] = text_field(fields, "input_name", required=True)
            rec["input_reg_no"] = text_field(fields, "input_reg_no")
            if len(rec["input_reg_no"] or "") > MAX_ID:  # the store keeps it as an id
                raise FieldError("input_reg_no", f"input_reg_no is longer than {MAX_ID} characters")
            rec["dose"] = number(fields, "dose")
            rec["dose_unit"] = text_field(fields, "dose_unit")
        if step == "harvest":
            rec["lot_id"] = text_field(fields, "lot_id", required=True)
            rec["quantity_kg"] = number(fields, "quantity_kg", required=True, positive=True)
        req = [("party", rec["farm_id"]), ("plot", rec["plot_id"])]
        made = [("lot", rec["lot_id"])] if step == "harvest" else []
        return Parsed(rec["record_id"], rec, req, made, t, off)

    def apply(self, load: Loader, p: Parsed, event_id: str) -> list[str]:
        rec = p.record
        farmer = load.known["plot"][rec["plot_id"]]
        if farmer != rec["farm_id"]:
            raise FieldError(
                "farm_id", f"plot {rec['plot_id']} is farmed by {farmer}, not {rec['farm_id']}"
            )
        load.event_fields.update(
            plot_id=rec["plot_id"], input_reg_no=rec.get("input_reg_no"), lot_id=rec.get("lot_id")
        )
        if rec["event"] != "harvest":
            return []
        load.new_lot(
            rec["lot_id"],
            "lot_id",
            step="harvest",
            plot_id=rec["plot_id"],
            gtin=None,
            quantity_kg=rec["quantity_kg"],
            units=None,
            made_at=p.time,
            made_by=rec["farm_id"],
            event_id=event_id,
        )
        return [rec["lot_id"]]


class Processing(Source):
    name = "processing"
    columns = (
        "record_id",
        "processor_id",
        "time",
        "step",
        "inputs",
        "output_lot_id",
        "output_gtin",
        "output_quantity_kg",
        "output_units",
    )
    required = (
        "record_id",
        "processor_id",
        "time",
        "step",
        "inputs",
        "output_lot_id",
        "output_quantity_kg",
    )
    event_kind = "transformation"

    def parse(self, fields: dict[str, Any]) -> Parsed:
        t, off = parse_time(fields.get("time", ""), "time")
        rec: dict[str, Any] = {
            "record_id": text_field(fields, "record_id", required=True),
            "processor_id": text_field(fields, "processor_id", required=True),
            "time": t.isoformat(),
            "step": choice(fields, "step", PROCESSING_STEPS, required=True),
            "inputs": lot_list(fields, "inputs"),
            "output_lot_id": text_field(fields, "output_lot_id", required=True),
            "output_gtin": _gtin(fields, "output_gtin", required=False),
            "output_quantity_kg": number(
                fields, "output_quantity_kg", required=True, positive=True
            ),
            "output_units": whole_number(fields, "output_units"),
            "extra": extras(fields, self.column_set),
        }
        if rec["output_lot_id"] in {lot for lot, _ in rec["inputs"]}:
            raise FieldError("output_lot_id", "the output lot is also one of the inputs")
        req = [("party", rec["processor_id"])] + [("lot", lot) for lot, _ in rec["inputs"]]
        if rec["output_gtin"]:
            req.append(("product", rec["output_gtin"]))
        return Parsed(rec["record_id"], rec, req, [("lot", rec["output_lot_id"])], t, off)

    def apply(self, load: Loader, p: Parsed, event_id: str) -> list[str]:
        rec = p.record
        for lot, _ in rec["inputs"]:
            load.check_made_before(lot, p.time, "inputs")
        out = rec["output_lot_id"]
        load.event_fields["lot_id"] = out
        load.new_lot(
            out,
            "output_lot_id",
            step=rec["step"],
            plot_id=None,
            gtin=rec["output_gtin"],
            quantity_kg=rec["output_quantity_kg"],
            units=rec["output_units"],
            made_at=p.time,
            made_by=rec["processor_id"],
            event_id=event_id,
        )
        total = sum(kg for _, kg in rec["inputs"])
        for lot, kg in rec["inputs"]:
            load.add(
                "edge",
                {
                    "parent_lot": lot,
                    "child_lot": out,
                    "kg": kg,
                    "share": kg / total,
                    "event_id": event_id,
                },
            )
        return [out, *(lot for lot, _ in rec["inputs"])]


class Shipments(Source):
    id_column = "shipment_id"
    name = "shipments"
    pattern = "shipments*.csv"
    columns = (
        "shipment_id",
        "carrier_id",
        "device_id",
        "from_party",
        "to_party",
        "departed_at",
        "arrived_at",
        "lots",
    )
    required = ("shipment_id", "carrier_id", "from_party", "to_party", "departed_at", "lots")
    made_in = ("shipment", "shipment_id")
    compares_prior = True  # a late copy that only fills in arrived_at completes a shipment

    def parse(self, fields: dict[str, Any]) -> Parsed:
        dep, off = parse_time(fields.get("departed_at", ""), "departed_at")
        arr = None
        if text_field(fields, "arrived_at"):
            arr, _ = parse_time(fields["arrived_at"], "arrived_at")
            if arr < dep:
                raise FieldError("arrived_at", "arrived_at is before departed_at")
        rec: dict[str, Any] = {
            "shipment_id": text_field(fields, "shipment_id", required=True),
            "carrier_id": text_field(fields, "carrier_id", required=True),
            "device_id": text_field(fields, "device_id"),
            "from_party": text_field(fields, "from_party", required=True),
            "to_party": text_field(fields, "to_party", required=True),
            "departed_at": dep.isoformat(),
            "arrived_at": arr.isoformat() if arr else None,
            "lots": lot_list(fields, "lots"),
            "extra": extras(fields, self.column_set),
        }
        if len(rec["device_id"] or "") > MAX_ID:
            raise FieldError("device_id", f"device_id is longer than {MAX_ID} characters")
        req = [("party", rec[k]) for k in ("carrier_id", "from_party", "to_party")]
        req += [("lot", lot) for lot, _ in rec["lots"]]
        return Parsed(rec["shipment_id"], rec, req, [], dep, off)

    def apply(self, load: Loader, p: Parsed, event_id: str) -> list[str]:
        rec = p.record
        for lot, _ in rec["lots"]:
            load.check_made_before(lot, p.time, "lots")
        load.event_fields["party_id"] = rec["from_party"]
        _made_elsewhere(load, "shipment", "shipment_id", rec["shipment_id"])
        arrived = datetime.fromisoformat(rec["arrived_at"]) if rec["arrived_at"] else None
        load.add(
            "shipment",
            {
                **{
                    k: rec[k]
                    for k in ("shipment_id", "carrier_id", "device_id", "from_party", "to_party")
                },
                "departed_at": p.time,
                "arrived_at": arrived,
                "event_id": event_id,
            },
        )
        for lot, kg in rec["lots"]:
            load.add("shipment_lot", {"shipment_id": rec["shipment_id"], "lot_id": lot, "kg": kg})
        return [lot for lot, _ in rec["lots"]]

    def completes(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """A later delivery that only fills in arrived_at completes a shipment in transit."""
        if old.get("arrived_at") or not new.get("arrived_at"):
            return False
        import json

        def same(rec: dict[str, Any]) -> str:  # JSON form: tuples and lists compare equal
            return json.dumps({**rec, "arrived_at": None}, sort_keys=True, default=str)

        return same(old) == same(new)


class Telemetry(Source):
    """Truck logger readings. Stored as readings (not events): there are millions of them."""

    id_column = None  # a reading is named by device and time: file:line until parsed

    name = "telemetry"
    pattern = "telemetry*.jsonl"
    columns = ("device_id", "ts", "temp_c", "humidity_pct", "lon", "lat")

    loads_files = True
    records_events = False

    def rows(self, path: Path) -> Iterator[Row]:
        return read_jsonl(path)

    def load_file(self, conn: Connection, path: Path, file: str, now: datetime) -> FileReport:
        from traceability.columns import load_readings

        return load_readings(conn, self, path, file, now)

    def parse(self, fields: dict[str, Any]) -> Parsed:
        ts, off = parse_time(fields.get("ts", ""), "ts")
        temp = _signed(fields, "temp_c")
        if temp is None:
            raise FieldError("temp_c", "temp_c is missing")
        if not -60 <= temp <= 80:
            raise FieldError("temp_c", f"temp_c {temp} is not a plausible truck temperature")
        lon, lat = _coords(fields, china=False)
        rec = {
            "device_id": text_field(fields, "device_id", required=True),
            "ts": ts.isoformat(),
            "temp_c": temp,
            "humidity_pct": number(fields, "humidity_pct"),
            "lon": lon,
            "lat": lat,
            "extra": extras(fields, self.column_set),
        }
        if len(rec["device_id"] or "") > MAX_ID:
            raise FieldError("device_id", f"device_id is longer than {MAX_ID} characters")
        key = f"{rec['device_id']}@{ts.astimezone(UTC).isoformat()}"
        return Parsed(key, rec, [], [], ts, off)

    def apply(self, load: Loader, p: Parsed, event_id: str) -> list[str]:
        r = p.record
        load.add(
            "reading",
            {
                "device_id": r["device_id"],
                "ts": p.time,
                "ts_offset_min": p.offset,
                "temp_c": r["temp_c"],
                "humidity_pct": r["humidity_pct"],
                "lon": r["lon"],
                "lat": r["lat"],
                "extra": r["extra"],
                "source_file": load.file,
                "line": load.line,
                "content_hash": load.content_hash,
            },
        )
        return []


class Sales(Source):
    name = "sales"
    columns = ("record_id", "retailer_id", "time", "lot_id", "gtin", "quantity_units", "channel")
    required = ("record_id", "retailer_id", "time", "lot_id", "gtin", "quantity_units")
    made_in = ("sale", "record_id")

    def parse(self, fields: dict[str, Any]) -> Parsed:
        t, off = parse_time(fields.get("time", ""), "time")
        units = whole_number(fields, "quantity_units", required=True)
        if not units:
            raise FieldError("quantity_units", "quantity_units must be greater than 0")
        rec = {
            "record_id": text_field(fields, "record_id", required=True),
            "retailer_id": text_field(fields, "retailer_id", required=True),
            "time": t.isoformat(),
            "lot_id": text_field(fields, "lot_id", required=True),
            "gtin": _gtin(fields, "gtin", required=True),
            "quantity_units": units,
            "channel": choice(fields, "channel", CHANNELS, required=False) or "store",
            "extra": extras(fields, self.column_set),
        }
        req = [("party", rec["retailer_id"]), ("lot", rec["lot_id"]), ("product", rec["gtin"])]
        return Parsed(rec["record_id"], rec, req, [], t, off)

    def apply(self, load: Loader, p: Parsed, event_id: str) -> list[str]:
        rec = p.record
        role = load.known["party"][rec["retailer_id"]]
        if role != "retailer":
            raise FieldError(
                "retailer_id", f"party {rec['retailer_id']} is a {role}, not a retailer"
            )
        lot = load.lot(rec["lot_id"])
        if lot["gtin"] != rec["gtin"]:
            packed = f"packed as GTIN {lot['gtin']}" if lot["gtin"] else "not packed with a GTIN"
            raise FieldError("gtin", f"lot {rec['lot_id']} is {packed}, not {rec['gtin']}")
        load.check_made_before(rec["lot_id"], p.time, "time")
        _made_elsewhere(load, "sale", "record_id", rec["record_id"])
        load.event_fields.update(party_id=rec["retailer_id"], lot_id=rec["lot_id"])
        load.add(
            "sale",
            {
                "record_id": rec["record_id"],
                "retailer_id": rec["retailer_id"],
                "lot_id": rec["lot_id"],
                "gtin": rec["gtin"],
                "quantity_units": rec["quantity_units"],
                "channel": rec["channel"],
                "time": p.time,
                "event_id": event_id,
            },
        )
        return [rec["lot_id"]]


class Certificates(Source):
    """Electronic certificates (``inbox/certificates/``): a lot's conformity pledge
    (承诺达标合格证), a geographical indication (地理标志) and its counties, green-food
    (绿色食品) and organic (有机) certificates of a product or of plots.

    One row per record; a certificate of several plots has one row per plot, each its own
    record (``certificate_id#plot_id``), so a re-delivered row is the same record again."""

    id_column = "certificate_id"
    name = "certificates"
    columns = (
        "certificate_id",
        "kind",
        "holder_id",
        "number",
        "issuer",
        "issued_on",
        "valid_until",
        "gtin",
        "lot_id",
        "plot_id",
        "area",
        "items",
    )
    required = ("certificate_id", "kind", "holder_id", "number", "issued_on")
    event_kind = "master"  # a document about lots and plots, not something done to them
    #: Who may pledge a lot's conformity: those who grow or process it.
    PLEDGING_ROLES = ("farm", "coop", "processor")

    @staticmethod
    def record_key(certificate_id: str, plot_id: str | None) -> str:
        return f"{certificate_id}#{plot_id}" if plot_id else certificate_id

    def raw_key(self, fields: dict[str, Any]) -> str | None:
        cert = super().raw_key(fields)
        plot = str(fields.get("plot_id") or "").strip()
        return self.record_key(cert, plot) if cert else None

    def parse(self, fields: dict[str, Any]) -> Parsed:
        kind = choice(fields, "kind", CERTIFICATE_KINDS, required=True)
        issued = iso_date(fields, "issued_on", required=True)
        until = iso_date(fields, "valid_until")
        if issued is not None and until is not None and until < issued:
            raise FieldError(
                "valid_until", f"valid_until {until.isoformat()} is before issued_on {issued}"
            )
        rec: dict[str, Any] = {
            "certificate_id": text_field(fields, "certificate_id", required=True),
            "kind": kind,
            "holder_id": text_field(fields, "holder_id", required=True),
            "number": text_field(fields, "number", required=True),
            "issuer": text_field(fields, "issuer", required=kind != "conformity_pledge"),
            "issued_on": issued.isoformat() if issued else None,
            "valid_until": until.isoformat() if until else None,
            "gtin": _gtin(fields, "gtin", required=False),
            "lot_id": text_field(fields, "lot_id", required=kind == "conformity_pledge"),
            "plot_id": text_field(fields, "plot_id"),
            "area": _semicolon_list(fields, "area", required=kind == "geographical_indication"),
            "items": _semicolon_list(fields, "items", required=kind == "conformity_pledge"),
            "extra": extras(fields, self.column_set),
        }
        _only_for(rec, "lot_id", kind, ("conformity_pledge",), "a lot")
        _only_for(rec, "plot_id", kind, ("green_food", "organic"), "certified plots")
        _only_for(rec, "area", kind, ("geographical_indication",), "the counties of a GI")
        if kind in ("green_food", "organic") and not rec["gtin"] and not rec["plot_id"]:
            raise FieldError(
                "gtin", f"{kind} certificate names neither a product (gtin) nor a plot_id"
            )
        for code in (rec["area"] or "").split(";") if rec["area"] else ():
            if not is_county_code(code):
                raise FieldError(
                    "area", f"area entry {code!r} is not a 6-digit administrative division code"
                )
        req = [("party", rec["holder_id"])]
        req += [(k, rec[c]) for k, c in (("lot", "lot_id"), ("plot", "plot_id")) if rec[c]]
        if rec["gtin"]:
            req.append(("product", rec["gtin"]))
        key = self.record_key(rec["certificate_id"], rec["plot_id"])
        # The event's time: the start of issued_on in Asia/Shanghai, the contract's local time.
        t, off = parse_time(rec["issued_on"], "issued_on")
        return Parsed(key, rec, req, [], t, off)

    def apply(self, load: Loader, p: Parsed, event_id: str) -> list[str]:
        from datetime import date

        rec = p.record
        role = load.known["party"][rec["holder_id"]]
        if rec["kind"] == "conformity_pledge" and role not in self.PLEDGING_ROLES:
            raise FieldError(
                "holder_id",
                f"party {rec['holder_id']} is a {role}: a conformity pledge is made by a "
                f"{', '.join(self.PLEDGING_ROLES)}",
            )
        load.event_fields["party_id"] = rec["holder_id"]
        until = rec["valid_until"]
        load.add(
            "certificate",
            {
                "record_id": p.key,
                **{
                    k: rec[k]
                    for k in (
                        "certificate_id",
                        "kind",
                        "holder_id",
                        "number",
                        "issuer",
                        "gtin",
                        "lot_id",
                        "plot_id",
                        "area",
                        "items",
                        "extra",
                    )
                },
                "issued_on": date.fromisoformat(rec["issued_on"]),
                "valid_until": date.fromisoformat(until) if until else None,
                "event_id": event_id,
            },
        )
        return [rec["lot_id"]] if rec["lot_id"] else []


def _semicolon_list(fields: dict[str, Any], name: str, *, required: bool) -> str | None:
    """A ``;``-separated list, kept as text with its entries trimmed and empty ones dropped."""
    raw = text_field(fields, name, required=required)
    if raw is None:
        return None
    parts = [part.strip() for part in raw.split(";") if part.strip()]
    if not parts:
        raise FieldError(name, f"{name} is empty")
    return ";".join(parts)


def _only_for(rec: dict[str, Any], name: str, kind: str, kinds: tuple[str, ...], what: str) -> None:
    """A column that means something for some kinds only is refused on the others, rather
    than kept and silently ignored."""
    if rec[name] and kind not in kinds:
        raise FieldError(name, f"{name} ({what}) is only for {' or '.join(kinds)}, not {kind}")


def _made_elsewhere(load: Loader, table: str, column: str, key: str) -> None:
    """A shipment or sale another source (an EPCIS event) already made under this id: a
    reject naming it, as for a lot made twice, instead of a duplicate-key error. The ids of a
    batch are looked up at once (``Source.made_in``, ``Loader.prefetch_made``)."""
    made_by = load.made_by(table, column, key)
    if made_by is not None:
        raise FieldError(column, f"{table} {key} was already loaded by {made_by}")


class Epcis(Source):
    """GS1 EPCIS 2.0 documents (``inbox/epcis/``): one row per event, keyed by its eventID.

    The document is checked against the GS1 schema as a whole; a schema-valid event is always
    stored, never parked (the capture rule), and adds the lots, edges, shipments, readings and
    sales it implies where they are missing. Mapping and ids: traceability/epcis/,
    docs/epcis.md."""

    id_column = None  # an event is named by its eventID (or hash) once parsed
    name = "epcis"
    pattern = "*.jsonld"
    suffixes = (".json", ".jsonld")

    def rows(self, path: Path) -> Iterator[Row]:
        from traceability.epcis import document_rows

        return iter(list(document_rows(path)))

    def parse(self, fields: dict[str, Any]) -> Parsed:
        from traceability.epcis import parse_row

        return parse_row(fields)

    def apply(self, load: Loader, p: Parsed, event_id: str) -> list[str]:
        from traceability.epcis import apply_row

        return apply_row(load, p, event_id)


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Parties(),
        Products(),
        Plots(),
        Production(),
        Processing(),
        Shipments(),
        Telemetry(),
        Sales(),
        Certificates(),
        Epcis(),
    )
}

#: Landing-zone folders (the DAGs' unit) -> the sources read from them, in dependency order.
FOLDERS: dict[str, tuple[str, ...]] = {
    "parties": ("parties",),
    "products": ("products",),
    "plots": ("plots",),
    "production": ("production",),
    "processing": ("processing",),
    "transport": ("shipments", "telemetry"),
    "sales": ("sales",),
    "certificates": ("certificates",),
    "epcis": ("epcis",),
}


def source_for(folder: str, path: Path) -> Source | None:
    """Which source reads this file of a landing-zone folder (None: not a contract file)."""
    import fnmatch

    for name in FOLDERS[folder]:
        src = SOURCES[name]
        if isinstance(src, Plots | Epcis):
            if path.suffix.lower() in src.suffixes:
                return src
        elif fnmatch.fnmatch(path.name.lower(), src.pattern):
            return src
    return None
