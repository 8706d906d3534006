"""GS1 Digital Link paths as the resolver reads and writes them: ``/01/{gtin}[/10/{lot}[/21/
{serial}]]``, parsed with biip (percent-decoding, AI patterns, check digit)."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

__all__ = ["BadCode", "dl_path", "parse_path"]


class BadCode(Exception):
    """A path that is not a GS1 Digital Link we can read: 400 with the reason."""


@lru_cache(maxsize=8192)
def parse_path(path: str) -> tuple[str, str | None, str | None]:
    """(GTIN-14, lot or None, serial or None) from a Digital Link path ``/01/...``, parsed
    with biip (percent-decoding, AI patterns, check digit). Raises BadCode with the reason.
    Kept per path: biip's parse was a fifth of a warm page's CPU (docs/benchmarks.md)."""
    from biip import ParseError
    from biip.gs1_digital_link_uris import GS1DigitalLinkURI

    if path.endswith("/") and len(path) > 1:
        path = path[:-1]  # a trailing slash is tolerated
    try:
        uri = GS1DigitalLinkURI.parse(f"https://resolver.invalid{path}")
    except ParseError as exc:
        raise BadCode(str(exc)) from None
    values: dict[str, list[str]] = {}
    for es in uri.element_strings:
        values.setdefault(es.ai.ai, []).append(es.value)
    keys = [k for k in values if k != "01"]
    if "01" not in values:
        raise BadCode(f"{path!r} names no GTIN (AI 01)")
    if any(k not in ("10", "21") for k in keys) or any(len(v) > 1 for v in values.values()):
        raise BadCode(f"{path!r}: this resolver reads /01/{{gtin}}[/10/{{lot}}][/21/{{serial}}]")
    gtin_es = next(es for es in uri.element_strings if es.ai.ai == "01")
    if gtin_es.gtin is None:
        raise BadCode(gtin_es.gtin_error or f"GTIN {gtin_es.value!r} is not valid")
    return gtin_es.gtin.as_gtin_14(), values.get("10", [None])[0], values.get("21", [None])[0]


def dl_path(gtin: str, lot: str | None = None, serial: str | None = None) -> str:
    """The Digital Link path of a GTIN, lot and serial, percent-encoded as GS1 asks."""
    out = f"/01/{gtin}"
    if lot is not None:
        out += "/10/" + quote(lot, safe="")
    if serial is not None:
        out += "/21/" + quote(serial, safe="")
    return out
