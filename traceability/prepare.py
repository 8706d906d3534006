"""Parsing read rows: what the engine needs of a row before it asks the store.

``prepare`` turns read rows into :class:`Prepared` rows: the source's ``parse`` (or the field
rule it broke), the record's canonical JSON and its content hash, made once for both the
re-delivery check and the stored payload. None of it looks at the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, NamedTuple

from traceability.contract import FieldError, Parsed
from traceability.writes import Item, canonical_json, check_id_lengths


class Prepared(NamedTuple):
    """A row as the engine takes it: parsed, or the field rule it broke."""

    item: Item
    parsed: Parsed | None
    field: str | None = None  # the rule it broke (parsed is None)
    reason: str | None = None
    canon: str = ""  # the record's canonical JSON and its SHA-256 (parsed rows)
    hash: str = ""


def prepare(src: Any, items: Iterable[Item]) -> list[Prepared]:
    """Parse each row; a row refused while reading or by a field rule keeps why."""
    out: list[Prepared] = []
    sha = hashlib.sha256
    for item in items:
        if item.row.problem:
            out.append(Prepared(item, None, item.row.problem_field, item.row.problem))
            continue
        try:
            p = src.parse(item.row.fields)
            check_id_lengths(src, p)
        except FieldError as exc:
            out.append(Prepared(item, None, exc.field, exc.reason))
            continue
        canon = canonical_json(p.record)
        out.append(Prepared(item, p, None, None, canon, sha(canon.encode()).hexdigest()))
    return out
