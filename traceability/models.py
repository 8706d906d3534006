"""The lineage store's tables, as SQLAlchemy 2 typed models.

One row per accepted source record in ``event``; the lineage graph is ``lot`` + ``edge``.
Times are stored as naive UTC (``UTCDateTime``) with the sender's offset kept beside them in
minutes, so "08:15 in Harbin" survives a round trip and comparisons work on both dialects.
Schema changes go through Alembic (``traceability/migrations``), never ``create_all``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from traceability.contract import MAX_ID

#: Every identifier column (records, parties, plots, lots, devices); ingest rejects longer ids.
ID = String(MAX_ID)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC on every dialect."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; readers must attach an offset")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite hands back text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Event(Base):
    """One accepted source record: what happened, when, by whom, and where it came from."""

    __tablename__ = "event"
    event_id: Mapped[str] = mapped_column(String(150), primary_key=True)  # "{source}/{record}"
    source: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(20))  # object | transformation | master
    step: Mapped[str] = mapped_column(String(20))  # sowing, input, harvest, milling, shipping...
    time: Mapped[datetime | None]
    time_offset_min: Mapped[int | None] = mapped_column(Integer)
    party_id: Mapped[str | None] = mapped_column(ID)
    lot_id: Mapped[str | None] = mapped_column(ID, index=True)
    plot_id: Mapped[str | None] = mapped_column(ID, index=True)
    input_reg_no: Mapped[str | None] = mapped_column(ID, index=True)
    source_file: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(ID)
    payload: Mapped[dict[str, Any]]
    loaded_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("source", "record_id"),)


class Party(Base):
    __tablename__ = "party"
    party_id: Mapped[str] = mapped_column(ID, primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(Text)
    county_code: Mapped[str | None] = mapped_column(String(6))
    gln: Mapped[str | None] = mapped_column(String(13))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    extra: Mapped[dict[str, Any]]
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"))


class Product(Base):
    __tablename__ = "product"
    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)  # always GTIN-14
    name_zh: Mapped[str | None] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    storage: Mapped[str] = mapped_column(String(10))  # ambient | cool | chilled | frozen
    unit: Mapped[str] = mapped_column(String(10))  # kg | bag | box
    extra: Mapped[dict[str, Any]]
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"))


class Plot(Base):
    """A plot version. Geometry is the GeoJSON (WGS 84) as received: lossless; bbox for SQLite."""

    __tablename__ = "plot"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plot_id: Mapped[str] = mapped_column(ID, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    valid_from: Mapped[datetime]
    farm_id: Mapped[str] = mapped_column(ID, index=True)
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    township: Mapped[str | None] = mapped_column(Text)
    village: Mapped[str | None] = mapped_column(Text)
    crop: Mapped[str | None] = mapped_column(Text)
    declared_area_mu: Mapped[float | None] = mapped_column(Float)
    area_m2: Mapped[float] = mapped_column(Float)
    area_mu: Mapped[float] = mapped_column(Float)
    soil_organic_matter_pct: Mapped[float | None] = mapped_column(Float)
    black_soil_depth_cm: Mapped[float | None] = mapped_column(Float)
    practices: Mapped[str | None] = mapped_column(Text)  # ';'-separated, as in the contract
    geometry: Mapped[str] = mapped_column(Text)  # GeoJSON geometry object
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    extra: Mapped[dict[str, Any]]
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"))
    __table_args__ = (
        UniqueConstraint("plot_id", "version"),
        Index("ix_plot_bbox", "min_lon", "max_lon", "min_lat", "max_lat"),
    )


class Lot(Base):
    """A quantity made together: a harvest (plot_id set) or a transformation's output."""

    __tablename__ = "lot"
    lot_id: Mapped[str] = mapped_column(ID, primary_key=True)
    step: Mapped[str] = mapped_column(String(20))  # harvest, drying, milling, packing, ...
    plot_id: Mapped[str | None] = mapped_column(ID, index=True)
    gtin: Mapped[str | None] = mapped_column(String(14))
    quantity_kg: Mapped[float] = mapped_column(Float)
    units: Mapped[int | None] = mapped_column(Integer)
    made_at: Mapped[datetime]
    made_by: Mapped[str] = mapped_column(ID)
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"))


class Edge(Base):
    """Parent lot -> child lot. ``share`` = kg / all input kg of that transformation.

    ``child_gtin``, ``child_units``, ``child_kg``: a copy of the child lot's fields, kept by
    database triggers on edge and lot (migration 0004; NULL while the child lot is not in the
    store), so a recall's walk reads them from ``ix_edge_walk`` instead of looking up every
    lot it reaches. Written by the triggers only."""

    __tablename__ = "edge"
    parent_lot: Mapped[str] = mapped_column(ID, primary_key=True)
    child_lot: Mapped[str] = mapped_column(ID, primary_key=True)
    kg: Mapped[float] = mapped_column(Float)
    share: Mapped[float] = mapped_column(Float)
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"))
    child_gtin: Mapped[str | None] = mapped_column(String(14))
    child_units: Mapped[int | None] = mapped_column(Integer)
    child_kg: Mapped[float | None] = mapped_column(Float)
    __table_args__ = (
        Index("ix_edge_child", "child_lot", "parent_lot", "share"),
        Index("ix_edge_walk", "parent_lot", "child_lot", "child_gtin", "child_units", "child_kg"),
    )


class Shipment(Base):
    __tablename__ = "shipment"
    shipment_id: Mapped[str] = mapped_column(ID, primary_key=True)
    carrier_id: Mapped[str] = mapped_column(ID)
    device_id: Mapped[str | None] = mapped_column(ID, index=True)
    from_party: Mapped[str] = mapped_column(ID)
    to_party: Mapped[str] = mapped_column(ID)
    departed_at: Mapped[datetime]
    arrived_at: Mapped[datetime | None]
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"))


class ShipmentLot(Base):
    __tablename__ = "shipment_lot"
    # A lot's shipment lines straight from the index (recall walks thousands of lots).
    __table_args__ = (Index("ix_shipment_lot_lot_cover", "lot_id", "shipment_id", "kg"),)
    shipment_id: Mapped[str] = mapped_column(ForeignKey("shipment.shipment_id"), primary_key=True)
    lot_id: Mapped[str] = mapped_column(ID, primary_key=True)
    kg: Mapped[float] = mapped_column(Float)


class Reading(Base):
    """A truck logger reading; matched to its shipment by device and time when checked."""

    __tablename__ = "reading"
    device_id: Mapped[str] = mapped_column(ID, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    ts_offset_min: Mapped[int] = mapped_column(Integer)
    temp_c: Mapped[float] = mapped_column(Float)
    humidity_pct: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    source_file: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(ID)


class Sale(Base):
    __tablename__ = "sale"
    record_id: Mapped[str] = mapped_column(ID, primary_key=True)
    retailer_id: Mapped[str] = mapped_column(ID, index=True)
    time: Mapped[datetime]
    lot_id: Mapped[str] = mapped_column(ID, index=True)
    gtin: Mapped[str] = mapped_column(String(14))
    quantity_units: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"))


class Certificate(Base):
    """A certificate row (certificates/*.csv): a lot's conformity pledge, a geographical
    indication with its counties, a green-food or organic certificate of a product or of one
    plot. A certificate of several plots is several rows, ``record_id`` =
    ``certificate_id#plot_id``; otherwise ``record_id`` = ``certificate_id``. Dates are
    calendar days in Asia/Shanghai."""

    __tablename__ = "certificate"
    record_id: Mapped[str] = mapped_column(ID, primary_key=True)
    certificate_id: Mapped[str] = mapped_column(ID, index=True)
    kind: Mapped[str] = mapped_column(String(30))
    holder_id: Mapped[str] = mapped_column(ID, index=True)
    number: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str | None] = mapped_column(Text)
    issued_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    gtin: Mapped[str | None] = mapped_column(String(14), index=True)
    lot_id: Mapped[str | None] = mapped_column(ID, index=True)
    plot_id: Mapped[str | None] = mapped_column(ID, index=True)
    area: Mapped[str | None] = mapped_column(Text)  # ';'-separated county codes (GI)
    items: Mapped[str | None] = mapped_column(Text)  # ';'-separated pledge items
    extra: Mapped[dict[str, Any]]
    event_id: Mapped[str] = mapped_column(ForeignKey("event.event_id"))


class LotFlow(Base):
    """Per lot and party: kg received and shipped on (shipment lines) and units sold (till
    records), with the number of records behind the row. Kept by database triggers on sale,
    shipment_lot and shipment (migration 0003), so a recall reads one row per lot and party
    instead of every line, shipment and till record; the stock a party holds of a lot is
    (received_kg - shipped_kg) / kg per unit - sold_units. Written by the triggers only."""

    __tablename__ = "lot_flow"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy's own form
    lot_id: Mapped[str] = mapped_column(ID, primary_key=True)
    party_id: Mapped[str] = mapped_column(ID, primary_key=True)
    received_kg: Mapped[float] = mapped_column(Float)
    shipped_kg: Mapped[float] = mapped_column(Float)
    sold_units: Mapped[int] = mapped_column(BigInteger)
    records: Mapped[int] = mapped_column(Integer)


class Code(Base):
    """An issued traceability code: the GS1 Digital Link URI printed as a QR code."""

    __tablename__ = "code"
    lot_id: Mapped[str] = mapped_column(ID, primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14))
    uri: Mapped[str] = mapped_column(Text, unique=True)
    png_path: Mapped[str | None] = mapped_column(Text)
    issued_at: Mapped[datetime]


class UnitCode(Base):
    """One bag's code: a random serial of a packed lot's unit, signed (traceability/serials.py).
    Issued once; the URI and short code are made from these fields."""

    __tablename__ = "unit_code"
    __table_args__ = (UniqueConstraint("lot_id", "unit", name="uq_unit_code_lot_unit"),)
    serial: Mapped[str] = mapped_column(String(20), primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14))
    lot_id: Mapped[str] = mapped_column(ID)
    unit: Mapped[int] = mapped_column(Integer)  # 1..the lot's units
    key_id: Mapped[str] = mapped_column(String(10))
    signature: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime]


class Scan(Base):
    """One scan of a code at the resolver (or a short code typed on the page): when, the code,
    what its signature said, a coarse place and the kind of client. Never an IP address: the
    place is the page's shared location rounded to 0.1 degree (about 10 km), or the province
    the configured IP ranges give."""

    __tablename__ = "scan"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    gtin: Mapped[str] = mapped_column(String(14))
    lot_id: Mapped[str | None] = mapped_column(ID, index=True)
    serial: Mapped[str | None] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(15))  # ok | no_signature | unknown_key | ...
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    province: Mapped[str | None] = mapped_column(String(2))  # GB/T 2260 code, from IP ranges
    client: Mapped[str] = mapped_column(String(10))  # wechat | alipay | ios | android | ...
    typed: Mapped[bool] = mapped_column(default=False)  # a short code typed, not scanned


class Reject(Base):
    """A record that broke the contract (status rejected) or waits for a key (status waiting).

    Identity is (source, record_key, content_hash): re-delivering the same bad record updates
    its row instead of adding one. ``raw`` keeps the record as read so parked ones can be
    retried without the file. A loaded record's reject turns ``resolved`` and leaves the list.
    """

    __tablename__ = "reject"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(20))
    record_key: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(ID)
    file: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer)
    record_id: Mapped[str | None] = mapped_column(ID)
    field: Mapped[str | None] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), index=True)  # waiting|rejected|resolved
    waiting_for: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    __table_args__ = (UniqueConstraint("source", "record_key", "content_hash"),)


class StoreState(Base):
    """One row: a counter every writer bumps after it commits (ingest, checks, recalls), so a
    reader holding a cached page knows with one indexed read whether anything changed since it
    built it (traceability/web caches pages by it). ``changed_at`` is the Last-Modified."""

    __tablename__ = "store_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime]


class Finding(Base):
    """A finding of the last run of the checks (``heitu check``, the checks DAG), kept so a
    page can say "the store holds an open finding about this lot" without running them. Each
    run replaces the set: a finding that no longer holds is gone."""

    __tablename__ = "finding"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check_name: Mapped[str] = mapped_column(String(20))  # mass_balance | cold_chain | geo | codes
    kind: Mapped[str] = mapped_column(String(40))
    lot_id: Mapped[str | None] = mapped_column(ID, index=True)
    shipment_id: Mapped[str | None] = mapped_column(ID, index=True)
    plot_id: Mapped[str | None] = mapped_column(ID, index=True)
    county_code: Mapped[str | None] = mapped_column(String(6))
    detail: Mapped[dict[str, Any]]
    found_at: Mapped[datetime]


class RecallNotice(Base):
    """A declared recall (``heitu recall declare``): every lot made from its scope (a lot and
    what was made of it, an input, a plot, a county) is shown as recalled until it is lifted."""

    __tablename__ = "recall_notice"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(10))  # lot | input | plot | county
    key: Mapped[str] = mapped_column(ID)
    reason: Mapped[str] = mapped_column(Text)
    declared_at: Mapped[datetime]
    lifted_at: Mapped[datetime | None]


class ConsumerReport(Base):
    """A consumer's report from a lot's page ("this bag may be fake"): no login, no personal
    data. The bureau works them through ``status`` (new -> investigating -> closed)."""

    __tablename__ = "consumer_report"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gtin: Mapped[str] = mapped_column(String(14))
    lot_id: Mapped[str | None] = mapped_column(ID, index=True)
    serial: Mapped[str | None] = mapped_column(ID)
    known_lot: Mapped[bool]
    category: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(15), default="new")
    assignee: Mapped[str | None] = mapped_column(Text)


class ReportEvent(Base):
    """One change of a consumer report in the bureau's queue: status, assignee, note, by whom."""

    __tablename__ = "report_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("consumer_report.id"), index=True)
    at: Mapped[datetime]
    who: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(15))
    assignee: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class ApiToken(Base):
    """A script's credential for the bureau API (``heitu token create``): the office it acts
    for (role and region codes) and a hash of the secret, which is shown once and never kept."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # county | city | province | market
    regions: Mapped[str] = mapped_column(Text)  # ';'-separated region codes
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    """One bureau request (portal or API): who, which office, what, when, the answer's status.
    Append-only: database triggers refuse UPDATE and DELETE (migration 0007)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    who: Mapped[str] = mapped_column(Text)
    via: Mapped[str] = mapped_column(String(10))  # token | oidc | none
    role: Mapped[str | None] = mapped_column(String(20))
    regions: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
