"""The EPCIS event hash (CBV 2.0, section 8.9): ``prehash`` and ``event_hash``."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from traceability.epcis.digital_link import normalise_gs1_uri
from traceability.epcis.ids import CBV, GS1_VOC

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
#: CBV 1.x URN vocabularies and their CBV 2.0 web URIs: the hash writes the web form, capture
#: reads either as a bare word.
URN_VOCAB = (
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
    for urn, web in URN_VOCAB:
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
