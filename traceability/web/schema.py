"""The JSON twin's shape, as pydantic models: they document the page's JSON in the generated
OpenAPI (``/openapi.json``, ``/docs``), and the tests validate real twins against them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LotPage", "ProductFacts", "RecallStatus"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Code(_Open):
    gtin: str = Field(description="GTIN-14")
    lot: str | None
    serial: str | None
    path: str = Field(description="the Digital Link path, percent-encoded")
    uri: str


class Place(_Open):
    code: str = Field(description="6-digit administrative division code")
    zh: str
    en: str
    city_zh: str
    city_en: str


class County(Place):
    share: float = Field(description="part of the bag's kg from this county")


class Verdict(_Open):
    status: Literal["traced", "warning", "incomplete", "recalled", "lot_unknown"]
    plots: int
    counties: list[County]
    warnings: list[str] = Field(
        default_factory=list, description="kinds of open findings about the lot's chain"
    )
    missing: list[str] = Field(default_factory=list, description="stages without records")
    reason: str | None = Field(default=None, description="a recall's reason")
    since: str | None = Field(default=None, description="when the recall was declared")


class Party(_Open):
    role: str | None
    name: str | None = Field(description="None for a family farm: it is a person's name")
    place: Place | None


class ProductFacts(_Open):
    gtin: str
    name_zh: str | None
    name_en: str | None
    category: str | None
    storage: str
    unit: str
    lots_on_record: int
    units_on_record: int
    first_packed: str | None
    last_packed: str | None


class Plot(_Open):
    plot: str
    share: float
    county: Place | None
    township: str | None
    village: str | None
    crop: str | None
    area_mu: float | None
    farmed_by: Party
    geometry: dict[str, Any] = Field(description="GeoJSON geometry, WGS 84")


class Origin(_Open):
    plots: list[Plot]
    counties: list[County]
    area_mu: float
    soil: dict[str, Any] | None = Field(description="black-soil attributes weighted by share")


class ColdChain(_Open):
    status: Literal["in_range", "excursion", "gap", "no_telemetry", "not_required"]
    minutes: int | None = None
    peak_c: float | None = None
    readings: int
    min_c: float | None
    max_c: float | None
    allowed_c: list[float] | None


class Shipment(_Open):
    shipment: str
    carrier: Party
    from_: Party = Field(alias="from")
    to: Party
    departed_at: str | None
    arrived_at: str | None
    lots: list[str]
    kg: float
    storage: str
    cold_chain: ColdChain
    readings: list[tuple[str, float]] = Field(description="[time, temperature C]")


class SoldIn(_Open):
    city_zh: str | None
    city_en: str | None
    channel: str
    retailers: int
    records: int
    units: int


class Lot(_Open):
    id: str
    gtin: str
    step: str
    kg: float
    units: int | None
    packed_at: str | None
    packed_by: Party


class Certificate(_Open):
    """A certificate the lot carries, valid when it was packed (its pledge, its product's GI,
    green-food or organic certificate)."""

    id: str
    kind: Literal["conformity_pledge", "geographical_indication", "green_food", "organic"]
    kind_name: dict[str, str] = Field(description="the kind in Chinese (zh) and English (en)")
    number: str
    issuer: str | None
    issued_on: str
    valid_until: str | None
    area: list[str] = Field(description="the county codes of a geographical indication")
    items: list[str] = Field(description="what a conformity pledge pledges")


class LotPage(_Open):
    """A lot's page as JSON (``Accept: application/json`` or ``.json``). For a lot not on
    record only ``code``, ``lang``, ``verdict`` (``lot_unknown``), ``summary``, ``product`` and
    ``links`` are there; for a GTIN alone ``verdict`` is null."""

    code: Code
    lang: Literal["zh", "en"]
    verdict: Verdict | None
    summary: str = Field(description="the verdict line in the page's language")
    product: ProductFacts
    links: dict[str, str]
    lot: Lot | None = None
    completeness: dict[str, bool] | None = Field(
        default=None, description="plot, inputs, harvest, processing, transport, sale"
    )
    certificates: list[Certificate] | None = Field(
        default=None, description="valid certificates; the page's #certificates anchor"
    )
    origin: Origin | None = None
    timeline: list[dict[str, Any]] | None = None
    shipments: list[Shipment] | None = None
    sales: list[SoldIn] | None = None
    findings: list[dict[str, Any]] | None = None
    recalls: list[dict[str, Any]] | None = None
    ancestor_lots: int | None = None


class RecallStatus(_Open):
    gtin: str
    lot: str
    recalled: bool
    recalls: list[dict[str, Any]]
