"""The resolver's links: the linkset (RFC 9264, GS1's linkset schema), the targets of each
link type, and the resolver description file (GS1-Conformant Resolver Standard 1.2).

A lot's linkset lists, for the lot and the level above it (the GTIN):
``gs1:defaultLink`` and ``gs1:traceability`` (the consumer page, in Chinese and English),
``gs1:pip`` (the product's GTIN-level page), ``gs1:epcis`` (the lot's EPCIS 2.0 events),
``gs1:recallStatus``, and ``gs1:certificationInfo`` (the page's ``#certificates``) when the
lot carries a valid certificate. Link type keys are full URIs (``https://gs1.org/voc/pip``):
the schema accepts no CURIEs as keys. ``?linkType=`` accepts either form.
"""

from __future__ import annotations

from typing import Any

from traceability.web.dl import dl_path

__all__ = ["MEDIA_TYPE", "curie", "description", "headers", "levels", "linkset", "target"]

MEDIA_TYPE = "application/linkset+json"
GS1 = "https://gs1.org/voc/"
#: GS1's JSON-LD context for linksets, announced in a Link header as RFC 9264 section 4.2 asks
#: of a linkset that is also JSON-LD.
CONTEXT = "https://gs1.org/voc/?show=linktypes"
LINKSET_CONTEXT = "https://ref.gs1.org/standards/resolver/linkset-context"
LANGS = ("zh", "en")
TITLES = {
    "defaultLink": {
        "zh": "追溯信息（产地、加工、运输）",
        "en": "Traceability: origin, processing, transport",
    },
    "traceability": {
        "zh": "追溯信息（产地、加工、运输）",
        "en": "Traceability: origin, processing, transport",
    },
    "pip": {"zh": "产品信息", "en": "Product information"},
    "epcis": {"zh": "EPCIS 2.0 追溯事件", "en": "EPCIS 2.0 traceability events"},
    "recallStatus": {"zh": "召回状态", "en": "Recall status"},
    "certificationInfo": {
        "zh": "证书（承诺达标合格证、地理标志、绿色食品、有机）",
        "en": "Certificates: conformity pledge, geographical indication, green food, organic",
    },
}


def curie(uri: str) -> str:
    return "gs1:" + uri.removeprefix(GS1) if uri.startswith(GS1) else uri


def _uri(link_type: str) -> str:
    """``gs1:pip``, ``pip`` or ``https://gs1.org/voc/pip`` -> the full URI."""
    if link_type.startswith(GS1):
        return link_type
    return GS1 + link_type.removeprefix("gs1:")


Level = tuple[str, str, dict[str, list[dict[str, Any]]]]


def levels(
    base: str,
    gtin: str,
    lot: str | None,
    serial: str | None,
    known: bool,
    product: dict[str, Any],
    certified: bool = False,
) -> list[Level]:
    """(anchor, itemDescription, link type URI -> links) per level of the request, most
    granular first: the serial (when asked), the lot (when asked), the GTIN. Every link type
    has one link, in both languages (the page negotiates its language), so a request without
    ``linkType`` has exactly one default to go to. A lot not on record keeps one link at its
    level: its page, which is the product's page with a warning that the lot is unknown."""
    name = product.get("name_zh") or product.get("name_en") or gtin
    out: list[Level] = []

    def link(kind: str, href: str, media: str, langs: tuple[str, ...] = LANGS) -> Any:
        title = " / ".join(TITLES[kind][x] for x in LANGS)
        return [{"href": href, "title": title, "type": media, "hreflang": list(langs)}]

    if lot is not None:
        page = base + "/page" + dl_path(gtin, lot, serial)
        links: dict[str, list[dict[str, Any]]] = {
            GS1 + "defaultLink": link("defaultLink", page, "text/html")
        }
        if known:
            links[GS1 + "traceability"] = link("traceability", page, "text/html")
            # EPCIS events speak GS1's (English) vocabulary; a recall's reason is the bureau's
            # own words, shown to consumers of either language
            links[GS1 + "epcis"] = link(
                "epcis", base + "/epcis" + dl_path(gtin, lot), "application/ld+json", ("en",)
            )
            links[GS1 + "recallStatus"] = link(
                "recallStatus", base + "/recall" + dl_path(gtin, lot), "application/json"
            )
            if certified:
                links[GS1 + "certificationInfo"] = link(
                    "certificationInfo",
                    base + "/page" + dl_path(gtin, lot) + "#certificates",
                    "text/html",
                )
        what = f"{name}, lot {lot}" + ("" if known else " (not on record)")
        if serial is not None:
            out.append((base + dl_path(gtin, lot, serial), f"{what}, serial {serial}", links))
            links = {k: v for k, v in links.items() if k != GS1 + "defaultLink"}
            links[GS1 + "defaultLink"] = link(
                "defaultLink", base + "/page" + dl_path(gtin, lot), "text/html"
            )
        out.append((base + dl_path(gtin, lot), what, links))
    product_page = base + "/page" + dl_path(gtin)
    out.append(
        (
            base + dl_path(gtin),
            name,
            {
                GS1 + "defaultLink": link("defaultLink", product_page, "text/html"),
                GS1 + "pip": link("pip", product_page, "text/html"),
            },
        )
    )
    return out


def link_types(levels_: list[Level]) -> list[str]:
    return sorted({curie(k) for _, _, links in levels_ for k in links})


def target(levels_: list[Level], link_type: str | None) -> str | None:
    """The href a request redirects to: the most granular level's link of ``link_type``
    (``gs1:defaultLink`` when None), or None when this resolver serves no such link."""
    uri = _uri(link_type or "gs1:defaultLink")
    for _, _, links in levels_:
        if uri in links:
            return str(links[uri][0]["href"])
    return None


def linkset(levels_: list[Level]) -> dict[str, Any]:
    """The linkset document: one context object per level, anchored at its Digital Link."""
    return {
        "linkset": [
            {"anchor": anchor, "itemDescription": what, **links} for anchor, what, links in levels_
        ]
    }


def headers(anchor: str) -> dict[str, str]:
    """One Link header on every resolver answer (a proxy that keeps one header of a name keeps
    it whole): where the linkset is, and its JSON-LD context."""
    return {
        "Link": (
            f'<{anchor}?linkType=linkset>; rel="linkset"; type="{MEDIA_TYPE}", '
            f'<{LINKSET_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; '
            f'type="application/ld+json"'
        )
    }


def description(base: str) -> dict[str, Any]:
    """/.well-known/gs1resolver: what this resolver is and serves."""
    return {
        "name": "Heitu traceability resolver (黑土追溯)",
        "resolverRoot": base,
        "supportedPrimaryKeys": ["01"],
        "supportedLinkType": [
            {"namespace": GS1, "prefix": "gs1:", "profile": GS1 + "?show=linktypes"}
        ],
        "linkTypeDefaultCanBeLinkset": False,
        "supportedContextValuesEnumerated": [],
        "jsonLdContextLocation": LINKSET_CONTEXT,
        "contact": {"fn": "Heitu traceability", "email": "resolver@heitu.cn"},
    }
