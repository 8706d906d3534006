"""GS1 EPCIS 2.0: the store as an EPCISDocument (export), EPCIS documents into the store (import).

Export (``heitu export epcis``) turns the lineage store into JSON-LD events: a harvest is an
ObjectEvent ADD (commissioning) with the plot in its ILMD, a processing record a
TransformationEvent, a shipment a shipping and a receiving ObjectEvent (and a transporting one
carrying the truck's temperature readings), a sale a retail_selling ObjectEvent. Parties, plots
and products go along as master data in the header, so a store rebuilt from the document answers
``trace back`` and ``trace forward`` exactly as the one that wrote it.

Import (the ``epcis`` source, ``inbox/epcis/``) reads a document, checks it against the GS1
JSON schema (a document that fails is unreadable as a whole), and feeds each event to the same
ingest engine as the CSV sources: one row per event, keyed by its eventID. A schema-valid event
is always stored (never parked), whatever lots and parties it names; the lots, edges, shipments,
readings and sales it implies are added where they are missing, so lineage links up when the
other side arrives.

Event ids are EPCIS event hashes (``ni:///sha-256;...?ver=CBV2.0``), computed by our own
implementation of the CBV 2.0 algorithm (``event_hash``), tested against GS1's reference
implementation (epcis-event-hash-generator). docs/epcis.md has the mapping both ways.

Only the standard library, SQLAlchemy, biip and (for validation) jsonschema are imported: no
pandas, no GIS stack.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from traceability import config
from traceability.errors import HeituError, UnreadableFile

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from traceability.ingest import Loader
    from traceability.readers import Row
    from traceability.sources import Parsed

__all__ = [
    "CONTEXT",
    "HEITU_NS",
    "document_rows",
    "event_hash",
    "export_epcis",
    "normalise_gs1_uri",
    "prehash",
    "schema_path",
    "validate",
]

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
#: Our extension vocabulary (event extensions, ILMD and master data attributes), prefix "heitu".
HEITU_NS = "https://id.heitu.cn/voc/"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"heitu": HEITU_NS}]
CBV = "https://ref.gs1.org/cbv/"
GS1_VOC = "https://gs1.org/voc/"
CBV_MDA_NAME = "urn:epcglobal:cbv:mda#name"
VTYPE_LOCATION = "urn:epcglobal:epcis:vtype:BusinessLocation"
VTYPE_CLASS = "urn:epcglobal:epcis:vtype:EPCClass"


class EpcisError(HeituError):
    pass


# === ids: GS1 URNs where we have a GTIN/GLN, our own stable URIs otherwise ====================


def _base() -> str:
    return f"https://{config.resolver().strip().strip('/')}/"


def our_uri(kind: str, value: str) -> str:
    """Our stable URI for a lot, party, plot, device or shipment without a GS1 key."""
    return f"{_base()}{kind}/{quote(value, safe='')}"


def _ours(uri: str, kind: str) -> str | None:
    prefix = f"{_base()}{kind}/"
    if uri.startswith(prefix) and "/" not in uri[len(prefix) :]:
        return unquote(uri[len(prefix) :])
    return None


def _company_prefix(key: str) -> str | None:
    """The GS1 company prefix of a GTIN-13 body or GLN, from biip's prefix list."""
    from biip.gs1_prefixes import GS1CompanyPrefix

    found = GS1CompanyPrefix.extract(key)
    return found.value if found else None


#: Characters an EPC URI component must percent-encode (TDS 2.x, table A-1).
_EPC_ESCAPE = {c: f"%{ord(c):02X}" for c in '"%&/<>?'}


def lot_class(lot_id: str, gtin: str | None) -> str:
    """epcClass of a lot: ``urn:epc:class:lgtin`` when it has a GTIN whose company prefix is
    known and a lot id GS1 can carry, the GS1 Digital Link form when only the prefix is
    unknown, our own lot URI otherwise."""
    from traceability.gs1 import check_lot

    if gtin and check_lot(lot_id) is None:
        cp = _company_prefix(gtin[1:13])
        if cp:
            item = gtin[0] + gtin[1 + len(cp) : 13]
            lot = "".join(_EPC_ESCAPE.get(c, c) for c in lot_id)
            return f"urn:epc:class:lgtin:{cp}.{item}.{lot}"
        return f"https://id.gs1.org/01/{gtin}/10/{quote(lot_id, safe='')}"
    return our_uri("lot", lot_id)


def product_class(gtin: str) -> str:
    cp = _company_prefix(gtin[1:13])
    if cp:
        return f"urn:epc:idpat:sgtin:{cp}.{gtin[0] + gtin[1 + len(cp) : 13]}.*"
    return f"https://id.gs1.org/01/{gtin}"


def party_location(party_id: str, gln: str | None) -> str:
    """Where a party is (readPoint, bizLocation): its GLN as an SGLN, else our party URI."""
    if gln:
        cp = _company_prefix(gln)
        return (
            f"urn:epc:id:sgln:{cp}.{gln[len(cp) : 12]}.0" if cp else f"https://id.gs1.org/414/{gln}"
        )
    return our_uri("party", party_id)


def party_id_uri(party_id: str, gln: str | None) -> str:
    """Who a party is (source/destination owning_party): its GLN as a PGLN, else our URI."""
    if gln:
        cp = _company_prefix(gln)
        return (
            f"urn:epc:id:pgln:{cp}.{gln[len(cp) : 12]}" if cp else f"https://id.gs1.org/417/{gln}"
        )
    return our_uri("party", party_id)


def _gln_of(uri: str) -> str | None:
    """The GLN behind an SGLN/PGLN URN or a Digital Link 414/417 URI."""
    dl = normalise_gs1_uri(uri)
    m = re.match(r"https://id\.gs1\.org/41[47]/(\d{13})(?:/254/.*)?$", dl or "")
    return m.group(1) if m else None


def lot_of(uri: str) -> tuple[str, str | None] | None:
    """(lot id, GTIN-14 or None) named by an epcClass or EPC; None when no id fits the store.

    Our lot URIs give the lot id back; a GTIN + lot (LGTIN URN or Digital Link 01/10) gives
    the lot with its GTIN; any other identifier (a serialised item, a foreign class) is a lot
    whose id is the URI itself, so that the same URI named again links up."""
    ours = _ours(uri, "lot")
    if ours is not None:
        return (ours, None) if 0 < len(ours) <= 128 else None
    m = re.match(r"urn:epc:class:lgtin:(\d+)\.(\d+)\.(.+)$", uri)
    if m and len(m.group(1)) + len(m.group(2)) == 13:
        body = m.group(2)[0] + m.group(1) + m.group(2)[1:]
        lot = unquote(m.group(3))
        return (lot, body + _check_digit(body)) if len(lot) <= 128 else None
    m = re.match(r"https?://[^/?#]+(?:/[^?#]*)?/01/(\d{14})/10/([^/?#]+)$", uri)
    if m:
        lot = unquote(m.group(2))
        return (lot, m.group(1)) if len(lot) <= 128 else None
    return (uri, None) if len(uri) <= 128 else None


def _check_digit(body: str) -> str:
    from biip.checksums import gs1_standard_check_digit

    return str(gs1_standard_check_digit(body))


# === the EPCIS event hash (CBV 2.0, section 8.9) =============================================
#
# The pre-hash string of an event: its type, then its fields in the canonical property order,
# each "name=value" with values canonicalised (times in UTC with milliseconds, numbers without
# trailing zeros, CBV bare words and URNs as web URIs, GS1 keys as constrained canonical Digital
# Link URIs, extension names as {namespace}name), list members sorted, and what the order does
# not name (ILMD, lists of typed pairs, extensions) sorted at the end. The details below follow
# GS1's reference implementation wherever the prose of the standard leaves a choice, so that
# our ids equal its ids; tests/test_epcis.py checks them against it.

_QTY = [("epcClass", None), ("quantity", None), ("uom", None)]
_QTY_LIST = [("quantityElement", _QTY)]
_EPCS = [("epc", None)]
_SENSOR_METADATA = [
    (n, None)
    for n in (
        "time",
        "startTime",
        "endTime",
        "deviceID",
        "deviceMetadata",
        "rawData",
        "dataProcessingMethod",
        "bizRules",
    )
]
_SENSOR_REPORT = [
    (n, None)
    for n in (
        "type",
        "exception",
        "deviceID",
        "deviceMetadata",
        "rawData",
        "dataProcessingMethod",
        "time",
        "microorganism",
        "chemicalSubstance",
        "value",
        "component",
        "stringValue",
        "booleanValue",
        "hexBinaryValue",
        "uriValue",
        "minValue",
        "maxValue",
        "meanValue",
        "sDev",
        "percRank",
        "percValue",
        "uom",
        "coordinateReferenceSystem",
    )
]
#: Canonical property order; a second element is the order of the field's own children.
ORDER: list[tuple[str, Any]] = [
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", _EPCS),
    ("inputEPCList", _EPCS),
    ("childEPCs", _EPCS),
    ("quantityList", _QTY_LIST),
    ("childQuantityList", _QTY_LIST),
    ("inputQuantityList", _QTY_LIST),
    ("outputEPCList", _EPCS),
    ("outputQuantityList", _QTY_LIST),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", [("set", None), ("unset", None)]),
    ("readPoint", [("id", None)]),
    ("bizLocation", [("id", None)]),
    # Lists of (type, id) pairs: never matched here, they come with the unordered rest.
    ("bizTransactionList", None),
    ("sourceList", None),
    ("destinationList", None),
    (
        "sensorElementList",
        [
            (
                "sensorElement",
                [("sensorMetadata", _SENSOR_METADATA), ("sensorReport", _SENSOR_REPORT)],
            )
        ],
    ),
]
_PAIR_LISTS = ("sourceList", "destinationList", "bizTransactionList")
_UNORDERED = ("bizTransaction", "source", "destination")  # keys whose siblings keep their order
_NOT_HASHED = ("recordTime", "eventID", "type", "errorDeclaration")

#: Fields whose bare words are CBV/GS1 vocabulary terms, and the URI prefix of those terms.
_VOCAB_PREFIX = {
    "bizStep": CBV + "BizStep-",
    "disposition": CBV + "Disp-",
    "btt": CBV + "BTT-",
    "sdt": CBV + "SDT-",
    "reason": CBV + "ER-",
    "component": CBV + "Comp-",
    "measurement": GS1_VOC,
}
_URN_VOCAB = (
    ("urn:epcglobal:cbv:bizstep:", CBV + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", CBV + "Disp-"),
    ("urn:epcglobal:cbv:btt:", CBV + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", CBV + "SDT-"),
    ("urn:epcglobal:cbv:er:", CBV + "ER-"),
)

Node = tuple[Any, str, list[Any]]  # (name, text, children); a pair-list item is (Node, Node)


def prefixes(context: Any) -> dict[str, str]:
    """Namespace prefixes a document's @context declares inline ({"heitu": "https://..."})."""
    out: dict[str, str] = {}
    for entry in context if isinstance(context, list) else [context]:
        if isinstance(entry, dict):
            out.update({k: v for k, v in entry.items() if isinstance(v, str)})
    return out


def _vocab_values(event: dict[str, Any]) -> set[str]:
    """The web URIs that the event's vocabulary fields stand for (JSON-LD expansion of the
    bare words through the EPCIS context), and every value already written as such a URI."""
    found: set[str] = set()

    def term(value: Any, kind: str) -> None:
        if isinstance(value, str) and value and ":" not in value:
            found.add(_VOCAB_PREFIX[kind] + value)

    term(event.get("bizStep"), "bizStep")
    term(event.get("disposition"), "disposition")
    pd = event.get("persistentDisposition")
    if isinstance(pd, dict):
        for v in [*(pd.get("set") or []), *(pd.get("unset") or [])]:
            term(v, "disposition")
    for item in event.get("bizTransactionList") or []:
        if isinstance(item, dict):
            term(item.get("type"), "btt")
    for name in ("sourceList", "destinationList"):
        for item in event.get(name) or []:
            if isinstance(item, dict):
                term(item.get("type"), "sdt")
    err = event.get("errorDeclaration")
    if isinstance(err, dict):
        term(err.get("reason"), "reason")
    for element in event.get("sensorElementList") or []:
        for report in (element.get("sensorReport") or []) if isinstance(element, dict) else []:
            if isinstance(report, dict):
                term(report.get("type"), "measurement")
                term(report.get("exception"), "measurement")
                term(report.get("component"), "component")

    def walk(obj: Any) -> None:
        if isinstance(obj, str):
            if obj.startswith((CBV, "https://gs1.org/voc")):
                found.add(obj)
        elif isinstance(obj, list):
            for x in obj:
                walk(x)
        elif isinstance(obj, dict):
            for x in obj.values():
                walk(x)

    walk(event)
    return found


def _expand_bare_words(obj: Any, expanded: set[str]) -> Any:
    """A bare word that exactly one vocabulary URI of the event ends with (after a ``-`` or a
    ``/``) becomes that URI."""
    return _expand_with(obj, _endings(frozenset(expanded)))


@lru_cache(maxsize=256)
def _endings(uris: frozenset[str]) -> dict[str, list[str]]:
    """Each text that follows a ``-`` or ``/`` in one of ``uris`` -> the URIs ending so."""
    out: dict[str, list[str]] = {}
    for u in uris:
        ends = {u[i + 1 :] for i, ch in enumerate(u) if ch in "-/"}
        for end in ends:
            out.setdefault(end, []).append(u)
    return out


def _expand_with(obj: Any, endings: dict[str, list[str]]) -> Any:
    if isinstance(obj, str):
        hits = endings.get(obj, ())
        return hits[0] if len(hits) == 1 else obj
    if isinstance(obj, list):
        return [_expand_with(x, endings) for x in obj]
    if isinstance(obj, dict):
        return {k: _expand_with(v, endings) for k, v in obj.items()}
    return obj


def _tree(obj: Any, ns: dict[str, str]) -> Node:
    """JSON -> (name, text, children). A list value repeats its key once per member; members
    of an object are sorted, except beside a bizTransaction/source/destination key."""

    def qualify(key: str) -> str:
        prefix, sep, rest = key.partition(":")
        return "{" + ns[prefix] + "}" + rest if sep and prefix in ns else key

    if isinstance(obj, dict):
        name = obj.get("type", "")
        kids: list[Any] = []
        for key, val in obj.items():
            if key in ("#text", "comment", "rdfs:comment"):
                continue
            child = _tree(val, ns)
            if isinstance(val, list):
                kids += [(qualify(key), c[1], c[2]) for c in child[2]]
            else:
                kids.append((qualify(key), child[1], child[2]))
        if not any(k in obj for k in _UNORDERED):
            kids.sort()
        return (name, obj.get("#text", "") if isinstance(obj.get("#text"), str) else "", kids)
    if isinstance(obj, list):
        kids = [_tree(x, ns) for x in obj]
        if not any(k in obj for k in _UNORDERED):
            kids.sort()
        return ("", "", kids)
    if isinstance(obj, str):
        prefix, sep, rest = obj.partition(":")
        return ("", ns[prefix] + rest if sep and prefix in ns else obj, [])
    return ("", str(obj), [])


def _regroup(node: Node) -> Node:
    """The JSON shape of lists -> the XML shape the order speaks of: ``epcList`` holds ``epc``
    members, ``quantityList`` holds ``quantityElement`` members, pair lists hold pairs."""
    name, text, kids = node
    plain: list[Any] = []
    lists: dict[str, list[Node]] = {}
    for k in kids:
        if isinstance(k[0], str) and k[0].endswith("List"):
            lists.setdefault(k[0], []).append((k[0][:-4], k[1], k[2]))
        else:
            plain.append(k)
    for list_name, members in lists.items():
        if list_name in _PAIR_LISTS:
            plain.append((list_name, "", [(m[2][0], m[2][1]) for m in members]))
        else:
            plain.append((list_name, "", members))
    child_epcs = [("epc", k[1], []) for k in plain if k[0] == "childEPCs"]
    if child_epcs:
        plain = [k for k in plain if k[0] != "childEPCs"] + [("childEPCs", "", child_epcs)]
    out = [k if k[0] in _PAIR_LISTS else _regroup(k) for k in plain]
    if name in ("inputEPC", "outputEPC"):
        name = "epc"
    elif name in ("inputQuantity", "outputQuantity", "childQuantity") or (
        name == "quantity" and out
    ):
        name = "quantityElement"
    return (name, text, out)


@lru_cache(maxsize=1 << 16)
def _utc_millis(value: str) -> str:
    try:
        t = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return value
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = t.astimezone(UTC)
    millis = round(t.microsecond, -3)
    t = t.replace(microsecond=0) + timedelta(microseconds=millis)
    return t.isoformat(timespec="milliseconds")[:-6] + "Z"


def _number(value: str) -> str:
    try:
        x = float(value)
        return str(int(x)) if int(x) == x else str(x)
    except (ValueError, OverflowError):
        return value


@lru_cache(maxsize=1 << 16)
def _canonical(value: str) -> str:
    for urn, web in _URN_VOCAB:
        value = value.replace(urn, web)
    value = _number(value)
    return normalise_gs1_uri(value) or value


def _nested_extensions(kids: list[Any]) -> list[Any]:
    """Extensions inside a standard field (readPoint, sensorElement, ...) go at the end of it."""
    if len(kids) <= 1 or any(
        isinstance(k[0], str) and ("eventTime" in k[0] or "action" in k[0]) for k in kids
    ):
        return []
    found = [k for k in kids if isinstance(k[0], str) and "{" in k[0] and "/}" in k[0]]
    for k in found:
        kids.remove(k)
    return found


def _ordered(kids: list[Any], order: list[tuple[str, Any]]) -> str:
    """Fields named by ``order``, in its order; consumed children are removed from ``kids``.
    The children are grouped by name once (a transport event has hundreds of sensor reports,
    each walked against the whole order list)."""
    out = ""
    extensions = _nested_extensions(kids)
    by_name: dict[str, list[Any]] = {}
    for k in kids:
        if isinstance(k[0], str):
            by_name.setdefault(k[0], []).append(k)
    for name, sub in order:
        matched = by_name.get(name)
        if not matched:
            continue
        values = []
        kept = []
        for k in matched:
            s = _field(k, sub)
            if s:
                values.append(s)
            if k[2]:
                kept.append(k)
            else:
                kids.remove(k)
        by_name[name] = kept  # what a repeated name in ``order`` would still find
        out += "".join(sorted(values))
    if extensions:
        out += _rest(extensions)
    return out


def _field(node: Node, sub: list[tuple[str, Any]] | None) -> str:
    name, text, kids = node
    inner = _ordered(kids, sub) if sub else ""
    value = text.strip() if text else ""
    if value:
        low = name.lower()
        value = _utc_millis(value) if "time" in low and "offset" not in low else _canonical(value)
        value = "=" + value if value else ""
    return name + value + inner if value or inner else ""


def _rest(kids: list[Any]) -> str:
    """What the order does not name: each member as name=value + its children, sorted."""
    values = []
    for k in kids:
        if len(k) == 2 and isinstance(k[0], tuple):  # a (type, id) pair: type first, as given
            values.append(_rest(list(k)))
        else:
            name, text, sub = k
            value = text.strip()
            values.append(name + ("=" + _canonical(value) if value else "") + _rest(sub))
    if len(kids) > 1 and not any(k[0] in _UNORDERED for k in kids if isinstance(k[0], str)):
        values.sort()
    return "".join(values)


def prehash(event: dict[str, Any], context: Any = None) -> str:
    """The canonical pre-hash string of one event (``context``: its document's @context)."""
    ns = prefixes(context)
    event = _expand_bare_words(event, _vocab_values(event))
    root = _regroup(_tree(event, ns))
    kids = list(root[2])
    ordered = _ordered(kids, ORDER)
    rest = _rest([k for k in kids if k[0] not in _NOT_HASHED])
    return f"eventType={root[0]}{ordered}{rest}"


def event_hash(event: dict[str, Any], context: Any = None) -> str:
    """The EPCIS event hash id, ``ni:///sha-256;<hex>?ver=CBV2.0``."""
    digest = hashlib.sha256(prehash(event, context).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"


# --- GS1 keys -> constrained canonical GS1 Digital Link URIs -----------------------------------

_EPC_CHAR = r"(?:%[0-9A-Fa-f]{2}|[!')(*+,.0-9:;=A-Za-z_-])"
_DL_SAFE = str.maketrans({c: f"%{ord(c):02X}" for c in "!()*+,:"})
_DL_CHARS = r"[\"'\-.0-9;-?A-Z_a-z]"
_DL_VALID = [
    r"00/\d{18}",
    rf"01/\d{{14}}(?:/21/{_DL_CHARS}{{0,20}}|/10/{_DL_CHARS}{{0,20}}|/235/{_DL_CHARS}{{0,28}})?",
    rf"253/\d{{13}}{_DL_CHARS}{{0,17}}",
    r"255/\d{13}\d{0,12}",
    rf"401/{_DL_CHARS}{{0,30}}",
    r"402/\d{17}",
    rf"414/\d{{13}}(?:/254/{_DL_CHARS}{{0,20}})?",
    r"417/\d{13}",
    rf"8003/\d{{14}}{_DL_CHARS}{{0,16}}",
    rf"8004/{_DL_CHARS}{{0,30}}",
    rf"8006/\d{{18}}(?:/21/{_DL_CHARS}{{0,20}}|/10/{_DL_CHARS}{{0,20}})?",
    r"8010/[#\-/0-9A-Z]{0,30}(?:/8011/\d{0,12})?",
    r"8017/\d{18}",
    r"8018/\d{18}",
]
_DL_VALID_RE = re.compile(r"https://id\.gs1\.org/(?:" + "|".join(_DL_VALID) + r")$")
_DL_NAMES = {
    "gtin": "01", "itip": "8006", "cpid": "8010", "gln": "414", "party": "417",
    "gsrnp": "8017", "gsrn": "8018", "gcn": "255", "sscc": "00", "gdti": "253",
    "ginc": "401", "gsin": "402", "grai": "8003", "giai": "8004", "cpv": "22", "lot": "10",
    "ser": "21",
}  # fmt: skip
_DL_PRIMARY = ("00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006",
               "8010", "8017", "8018")  # fmt: skip
_DL_KEYS = "|".join((*_DL_PRIMARY, *(n for n, ai in _DL_NAMES.items() if ai in _DL_PRIMARY)))
_DL_RE = re.compile(rf"https?://[^/?#]*[^?#]*/(?:{_DL_KEYS})/\d{{4}}[^/]+")


def _split(body: str, total: int) -> tuple[str, str] | None:
    """'CP.REF' of an EPC URI whose two digit parts make ``total`` digits (CP 6..12 digits)."""
    cp, dot, ref = body.partition(".")
    if dot and 6 <= len(cp) <= 12 and (cp + ref).isdigit() and len(cp) + len(ref) == total:
        return cp, ref
    return None


def _gtin14(cp: str, item: str) -> str:
    body = item[:1] + cp + item[1:]
    return body + _check_digit(body)


def _keyed(cp: str, ref: str) -> str:
    return cp + ref + _check_digit(cp + ref)


def _epc_to_dl(uri: str) -> str | None:
    """An EPC URI, EPC class URI or EPC pattern URI -> canonical GS1 Digital Link URI."""
    m = re.match(r"urn:epc:(id|class|idpat):([a-z]+):(.*)$", uri)
    if not m:
        return None
    kind, scheme, body = m.groups()
    parts = body.split(".")
    dl = "https://id.gs1.org/"

    def serial(value: str, most: int) -> str | None:
        ok = re.fullmatch(rf"{_EPC_CHAR}{{1,{most}}}", value)
        return value.translate(_DL_SAFE) if ok else None

    head2 = ".".join(parts[:2])
    tail = ".".join(parts[2:])
    if kind == "id":
        if scheme in ("sgtin", "upui") and len(parts) >= 3 and (s := _split(head2, 13)):
            ser = serial(tail, 20 if scheme == "sgtin" else 28)
            ai = "21" if scheme == "sgtin" else "235"
            return f"{dl}01/{_gtin14(*s)}/{ai}/{ser}" if ser else None
        if scheme == "sscc" and (s := _split(body, 17)):
            return f"{dl}00/{_gtin14(*s)}"
        if scheme == "sgln" and len(parts) >= 3 and (s := _split(head2, 12)):
            ext = serial(tail, 20)
            if ext is None:
                return None
            return f"{dl}414/{_keyed(*s)}" + ("" if ext == "0" else f"/254/{ext}")
        if scheme == "pgln" and (s := _split(body, 12)):
            return f"{dl}417/{_keyed(*s)}"
        if scheme == "grai" and len(parts) >= 3 and (s := _split(head2, 12)):
            ser = serial(tail, 16)
            return f"{dl}8003/0{_keyed(*s)}{ser}" if ser else None
        if scheme in ("giai", "ginc") and len(parts) >= 2 and 6 <= len(parts[0]) <= 12:
            ref = serial(".".join(parts[1:]), 30 - len(parts[0]))
            ai = "8004" if scheme == "giai" else "401"
            return f"{dl}{ai}/{parts[0]}{ref}" if ref and parts[0].isdigit() else None
        if scheme in ("gsrn", "gsrnp") and (s := _split(body, 17)):
            return f"{dl}{'8018' if scheme == 'gsrn' else '8017'}/{_keyed(*s)}"
        if scheme == "gsin" and (s := _split(body, 16)):
            return f"{dl}402/{_keyed(*s)}"
        if scheme == "gdti" and len(parts) >= 3 and (s := _split(head2, 12)):
            ser = serial(tail, 17)
            return f"{dl}253/{_keyed(*s)}{ser}" if ser else None
        if scheme == "sgcn" and len(parts) == 3 and (s := _split(head2, 12)):
            ok = re.fullmatch(r"\d{1,12}", tail)
            return f"{dl}255/{_keyed(*s)}{tail}" if ok else None
        if scheme == "cpi" and len(parts) >= 3 and re.fullmatch(r"\d{1,12}", parts[-1]):
            cp, ref = parts[0], ".".join(parts[1:-1])
            if cp.isdigit() and 6 <= len(cp) <= 12:
                return f"{dl}8010/{(cp + ref).translate(_DL_SAFE)}/8011/{parts[-1]}"
            return None
        if scheme == "itip" and len(parts) >= 5 and (s := _split(head2, 13)):
            piece, total = parts[2], parts[3]
            ser = serial(".".join(parts[4:]), 20)
            if ser and re.fullmatch(r"\d\d", piece) and re.fullmatch(r"\d\d", total):
                return f"{dl}8006/{_gtin14(*s)}{piece}{total}/21/{ser}"
        return None
    if kind == "class":
        if scheme == "lgtin" and len(parts) >= 3 and (s := _split(head2, 13)):
            lot = serial(tail, 20)
            return f"{dl}01/{_gtin14(*s)}/10/{lot}" if lot else None
        return None
    # idpat: only the key itself stays
    if tail != "*" and not tail.endswith(".*"):
        return None
    if scheme in ("sgtin", "upui") and len(parts) == 3 and (s := _split(head2, 13)):
        return f"{dl}01/{_gtin14(*s)}"
    if scheme in ("grai", "gdti", "sgcn") and len(parts) == 3 and (s := _split(head2, 12)):
        ai = {"grai": "8003", "gdti": "253", "sgcn": "255"}[scheme]
        return f"{dl}{ai}/{'0' if scheme == 'grai' else ''}{_keyed(*s)}"
    if scheme == "cpi" and len(parts) == 3 and parts[0].isdigit():
        return f"{dl}8010/{(parts[0] + parts[1]).translate(_DL_SAFE)}"
    if scheme == "itip" and len(parts) == 5 and (s := _split(head2, 13)):
        return f"{dl}8006/{_gtin14(*s)}{parts[2]}{parts[3]}"
    return None


def _canonical_dl(uri: str) -> str | None:
    """A GS1 Digital Link URI on any host -> constrained canonical form on id.gs1.org: no
    query, AIs instead of short names, no CPV, the finest key level only, GTIN-14."""
    if not _DL_RE.match(uri):
        return None
    uri = uri.split("?", 1)[0]
    for short, ai in _DL_NAMES.items():
        uri = uri.replace(f"/{short}/", f"/{ai}/")
    if not re.match(rf"https://id\.gs1\.org/(?:{'|'.join(_DL_PRIMARY)})/\d{{4}}", uri):
        at = next((uri.find(f"/{k}/") for k in _DL_PRIMARY if f"/{k}/" in uri), -1)
        if at < 0:
            return None
        uri = "https://id.gs1.org" + uri[at:]
    m = re.match(r"(https://id\.gs1\.org/01/)(\d+)", uri)
    if m and len(m.group(2)) < 14:
        pad = {13: 1, 12: 2}.get(len(m.group(2)), 6 if len(m.group(2)) >= 8 else 0)
        uri = uri.replace("/01/", "/01/" + "0" * pad)
    cpv = re.match(
        rf"(https://id\.gs1\.org/(?:01/\d{{14}}|8006/\d{{18}}))/22/({_DL_CHARS}|/)*$", uri
    )
    if cpv and len(uri) - len(cpv.group(1)) - 4 <= 20:
        after = uri[len(cpv.group(1)) + 4 :]
        uri = cpv.group(1) + (after[after.find("/") :] if "/" in after else "")
    finest = re.match(
        rf"(https://id\.gs1\.org/(?:01/\d{{14}}|8006/\d{{18}}))/10/{_DL_CHARS}{{0,20}}"
        rf"(/21/{_DL_CHARS}{{0,20}})$",
        uri,
    )
    if finest:
        uri = finest.group(1) + finest.group(2)
    return uri if _DL_VALID_RE.match(uri) else None


def normalise_gs1_uri(uri: str) -> str | None:
    """Any URI carrying a GS1 key (EPC URI, EPC class/pattern URI, GS1 Digital Link) as a
    constrained canonical Digital Link URI on id.gs1.org; None for every other value."""
    if not isinstance(uri, str) or "." not in uri:
        return None
    if uri.startswith("urn:epc:"):
        return _epc_to_dl(uri)
    if uri.startswith(("http://", "https://")):
        return _canonical_dl(uri)
    return None


# === validation against the GS1 JSON schema ====================================================


#: Unmodified copies of ../shared/epcis/ shipped with the package (gs1_epcis/README.md).
BUNDLED_SCHEMA = Path(__file__).parent / "gs1_epcis" / "EPCIS-JSON-Schema.json"
SHARED_SCHEMA = config.REPO_ROOT.parent / "shared" / "epcis" / "EPCIS-JSON-Schema.json"


def schema_path() -> Path:
    """The official EPCIS 2.0 JSON schema, used in place: ``HEITU_EPCIS_SCHEMA``, else
    ``../shared/epcis/`` beside the repository, else the package's unmodified copy."""
    raw = os.environ.get("HEITU_EPCIS_SCHEMA")
    if raw:
        return Path(raw)
    return SHARED_SCHEMA if SHARED_SCHEMA.exists() else BUNDLED_SCHEMA


@cache
def _validator(path: str) -> Any:
    import jsonschema

    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EpcisError(
            f"cannot read the GS1 EPCIS JSON schema {path}: {exc} (set HEITU_EPCIS_SCHEMA)"
        ) from exc
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate(doc: Any) -> str | None:
    """None when ``doc`` is valid against the GS1 schema, else the schema's message with the
    place it is about (``epcisBody.eventList[3].action: 'ADDD' is not valid under ...``)."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator(str(schema_path())).iter_errors(doc))
    if error is None:
        return None
    while error.context:  # "not valid under any of the given schemas": say which rule broke
        error = best_match(error.context)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return f"{where.lstrip('.') or 'document'}: {message}"


# === export: the store -> an EPCISDocument =====================================================


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


def _chunks(keys: Iterable[Any], size: int = 500) -> Iterator[list[Any]]:
    keys = list(keys)
    for i in range(0, len(keys), size):
        yield keys[i : i + size]


def _rows_in(
    conn: Connection, table: Any, column: str, keys: Iterable[Any]
) -> list[dict[str, Any]]:
    from sqlalchemy import select

    out: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(set(keys))):
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
            _h("gtin"): out.get("gtin") if klass.startswith(_base()) else None,
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

    def chunks() -> Iterator[list[dict[str, Any]]]:
        stmt = select(t).where(t.c.kind != "master").order_by(t.c.time, t.c.event_id)
        result = conn.execution_options(yield_per=EXPORT_CHUNK).execute(stmt)
        for part in result.mappings().partitions():
            yield [dict(r) for r in part]

    return chunks(), None


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


# === import: an EPCIS document -> rows of the ``epcis`` source =================================

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
_MAX_ID = 128


def document_rows(path: Path) -> Iterator[Row]:
    """Rows of an EPCIS document: one per master data element (line 0), then one per event
    (line = its position in the event list, from 1). A file that is not JSON or fails the GS1
    schema raises UnreadableFile with the schema's message: nothing of it is loaded."""
    from traceability.readers import Row, decode

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
    return key if len(key) <= _MAX_ID else "md:" + hashlib.sha256(element_id.encode()).hexdigest()


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
    from traceability.sources import Parsed

    context = fields.get("@context")
    if "element" in fields:
        record = {"vocabulary": fields.get("vocabulary"), "element": fields["element"]}
        if context:
            record["@context"] = context
        return Parsed(_md_key(str(fields["element"].get("id"))), record)
    ev = fields["event"]
    eid = ev.get("eventID")
    key = eid if isinstance(eid, str) and 0 < len(eid) <= _MAX_ID else event_hash(ev, context)
    if ev.get("errorDeclaration"):  # it names the event it corrects by that event's own id
        key = f"{key}#error" if len(key) <= _MAX_ID - 6 else event_hash(ev, context)
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
    for urn, web in _URN_VOCAB:
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
        ours = _ours(uri, "party")
        if ours:
            return ours
        gln = _gln_of(uri)
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
        return uri if len(uri) <= _MAX_ID else None

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
            return plot[:_MAX_ID]
        for name in ("readPoint", "bizLocation"):
            where = self.ev.get(name)
            found = _ours(where.get("id", ""), "plot") if isinstance(where, dict) else None
            if found:
                return found[:_MAX_ID]
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
                made_at=self.time or self.load.now, made_by=maker[:_MAX_ID],
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
        if isinstance(sid, str) and 0 < len(sid) <= _MAX_ID:
            return sid
        for item in self.ev.get("bizTransactionList") or []:
            ref = item.get("bizTransaction") if isinstance(item, dict) else None
            if isinstance(ref, str):
                ours = _ours(ref, "shipment")
                found = ours if ours is not None else ref
                return found if 0 < len(found) <= _MAX_ID else None
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
            device = _ours(device, "device") or device
        row = {
            "shipment_id": sid, "carrier_id": carrier, "device_id": device[:_MAX_ID] if
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
            if count is None or not gtin or len(rid) > _MAX_ID:
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
                dev = _ours(device, "device") or device
                if t is None or not dev or len(dev) > _MAX_ID:
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
        fields["input_reg_no"] = reg[:_MAX_ID]
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
        fields["party_id"] = str(fields["party_id"])[:_MAX_ID]
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
    from traceability.readers import is_county_code

    """Master data: a party, plot or product the store does not have yet (ours: the heitu
    attributes); other elements are kept with their event row only."""
    from traceability import gs1
    from traceability.sources import ROLES, STORAGE, UNITS

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
    if isinstance(pid, str) and 0 < len(pid) <= _MAX_ID and h.get("role") in ROLES:
        gln = _gln_of(eid)
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
    elif isinstance(plot, str) and 0 < len(plot) <= _MAX_ID and isinstance(h.get("farmID"), str):
        box = _geometry_box(h.get("geometry"))
        load.event_fields.update(plot_id=plot, party_id=str(h["farmID"])[:_MAX_ID])
        if box and county and not load.exists("plot", plot):
            load.add(
                "plot",
                {"plot_id": plot, "version": 1, "valid_from": load.now,
                 "farm_id": str(h["farmID"])[:_MAX_ID], "county_code": county,
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
