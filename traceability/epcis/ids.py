"""EPCIS ids: GS1 URNs where we have a GTIN or GLN, our own stable URIs otherwise, and the
vocabularies (namespaces) the events are written in."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

from traceability import config
from traceability.contract import MAX_ID
from traceability.epcis.digital_link import check_digit, normalise_gs1_uri

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
#: Our extension vocabulary (event extensions, ILMD and master data attributes), prefix "heitu".
HEITU_NS = "https://id.heitu.cn/voc/"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"heitu": HEITU_NS}]
CBV = "https://ref.gs1.org/cbv/"
GS1_VOC = "https://gs1.org/voc/"
CBV_MDA_NAME = "urn:epcglobal:cbv:mda#name"
VTYPE_LOCATION = "urn:epcglobal:epcis:vtype:BusinessLocation"
VTYPE_CLASS = "urn:epcglobal:epcis:vtype:EPCClass"


def our_base() -> str:
    """The resolver's root, under which our own URIs live (``HEITU_RESOLVER``)."""
    return f"https://{config.resolver().strip().strip('/')}/"


def our_uri(kind: str, value: str) -> str:
    """Our stable URI for a lot, party, plot, device or shipment without a GS1 key."""
    return f"{our_base()}{kind}/{quote(value, safe='')}"


def ours_in(uri: str, kind: str) -> str | None:
    """The value of one of our URIs of ``kind`` (``our_uri``'s inverse); None for others."""
    prefix = f"{our_base()}{kind}/"
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


def gln_of(uri: str) -> str | None:
    """The GLN behind an SGLN/PGLN URN or a Digital Link 414/417 URI."""
    dl = normalise_gs1_uri(uri)
    m = re.match(r"https://id\.gs1\.org/41[47]/(\d{13})(?:/254/.*)?$", dl or "")
    return m.group(1) if m else None


def lot_of(uri: str) -> tuple[str, str | None] | None:
    """(lot id, GTIN-14 or None) named by an epcClass or EPC; None when no id fits the store.

    Our lot URIs give the lot id back; a GTIN + lot (LGTIN URN or Digital Link 01/10) gives
    the lot with its GTIN; any other identifier (a serialised item, a foreign class) is a lot
    whose id is the URI itself, so that the same URI named again links up."""
    ours = ours_in(uri, "lot")
    if ours is not None:
        return (ours, None) if 0 < len(ours) <= MAX_ID else None
    m = re.match(r"urn:epc:class:lgtin:(\d+)\.(\d+)\.(.+)$", uri)
    if m and len(m.group(1)) + len(m.group(2)) == 13:
        body = m.group(2)[0] + m.group(1) + m.group(2)[1:]
        lot = unquote(m.group(3))
        return (lot, body + check_digit(body)) if len(lot) <= MAX_ID else None
    m = re.match(r"https?://[^/?#]+(?:/[^?#]*)?/01/(\d{14})/10/([^/?#]+)$", uri)
    if m:
        lot = unquote(m.group(2))
        return (lot, m.group(1)) if len(lot) <= MAX_ID else None
    return (uri, None) if len(uri) <= MAX_ID else None
