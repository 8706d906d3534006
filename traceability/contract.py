"""The data contract's types and words (../shared/CONTRACT.md), for every source alike.

A leaf, standard library only: the readers, the source rules, the ingest engine and the EPCIS
capture all speak these types without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

__all__ = [
    "CERTIFICATE_KINDS",
    "CHANNELS",
    "MAX_ID",
    "PROCESSING_STEPS",
    "PRODUCTION_EVENTS",
    "ROLES",
    "STORAGE",
    "UNITS",
    "FieldError",
    "Parsed",
    "Row",
]

ROLES = ("farm", "coop", "processor", "carrier", "warehouse", "retailer")
STORAGE = ("ambient", "cool", "chilled", "frozen")
UNITS = ("kg", "bag", "box")
PRODUCTION_EVENTS = ("sowing", "input", "harvest")
PROCESSING_STEPS = ("drying", "milling", "packing", "blending", "splitting")
CHANNELS = ("store", "ecommerce", "wholesale")
#: certificates/*.csv: 承诺达标合格证, 地理标志, 绿色食品, 有机.
CERTIFICATE_KINDS = ("conformity_pledge", "geographical_indication", "green_food", "organic")

#: Longest id (record, party, plot, lot, device) accepted; longer ones are rejected.
MAX_ID = 128


class Row(NamedTuple):
    line: int
    fields: dict[str, str]  # normalised header -> cell text ("" = missing)
    problem: str | None = None  # a problem found while reading (wrong number of cells...)
    problem_field: str | None = None


class FieldError(ValueError):
    """A field broke a rule: permanent reject naming the field."""

    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass
class Parsed:
    key: str  # the source's record id: what makes a re-delivery "the same record"
    record: dict[str, Any]  # normalised values (JSON-able); hashed for re-delivery checks
    requires: list[tuple[str, str]] = field(default_factory=list)  # (kind, key) to exist first
    creates: list[tuple[str, str]] = field(default_factory=list)  # (kind, key) it makes
    time: datetime | None = None
    offset: int | None = None
