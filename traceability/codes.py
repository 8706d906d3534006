"""Traceability codes (追溯码): GS1 Digital Link URIs for a lot, and the QR images that carry them.

The URI is `https://{resolver}/01/{GTIN-14}/10/{lot}[/21/{serial}]`: any phone camera opens it,
any GS1-aware scanner reads GTIN and lot out of it. biip builds and parses it, so the
percent-encoding and the AI rules are GS1's, not ours.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from biip import ParseError
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString, GS1ElementStrings

from traceability.gs1 import check_lot, check_serial, gtin14

if TYPE_CHECKING:  # qrcode pulls in PIL: imported where a QR image is made, so that
    # `heitu trace back <code>` (which only parses codes) does not pay for it
    from qrcode.image.pil import PilImage

__all__ = [
    "QR_BORDER",
    "QR_ERROR_CORRECTION",
    "digital_link",
    "parse_code",
    "qr_png_bytes",
    "write_qr",
]

# Level M restores up to ~15% of the symbol. Our codes are printed on woven rice bags and
# cartons that are stacked, dragged and scuffed in trucks and shops; L (7%) leaves little
# margin for a worn corner, while Q/H make the symbol denser, and finer modules hurt more on
# coarse bag print than the extra redundancy helps.
QR_ERROR_CORRECTION = 0  # qrcode.constants.ERROR_CORRECT_M (checked in _qr_image)
# ISO/IEC 18004 asks for a 4-module quiet zone; phone cameras misread codes printed close to a
# bag's seam or artwork without it.
QR_BORDER = 4


def _split_resolver(resolver: str) -> tuple[str, str | None]:
    """'id.example.cn' or 'example.cn/dl' -> (host, path prefix or None)."""
    if "://" in resolver:
        raise ValueError(
            f"resolver {resolver!r} should be a host name (and optional path), without a scheme"
        )
    parts = urlsplit(f"https://{resolver.strip().strip('/')}")
    if not parts.hostname or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"resolver {resolver!r} is not a host name (and optional path)")
    prefix = parts.path.strip("/") or None
    return parts.netloc, prefix


def _element(ai: str, value: str) -> GS1ElementString:
    return GS1ElementString.parse(f"{ai}{value}")


def digital_link(gtin: str, lot: str, resolver: str, serial: str | None = None) -> str:
    """The GS1 Digital Link URI for one lot (and unit serial) of one product on our resolver.

    Raises ValueError naming the reason when the GTIN, lot or serial cannot be encoded.
    """
    # Checked first so the user gets our plain reason, not a regex from inside biip.
    for reason in (check_lot(lot), None if serial is None else check_serial(serial)):
        if reason:
            raise ValueError(reason)
    elements = GS1ElementStrings([_element("01", gtin14(gtin)), _element("10", lot)])
    if serial is not None:
        elements.append(_element("21", serial))
    host, prefix = _split_resolver(resolver)
    # biip percent-encodes each value with no safe characters, so '/' in a lot becomes %2F and
    # cannot be read as a path separator; that is the GS1 Digital Link rule.
    return GS1DigitalLinkURI.from_element_strings(elements).as_uri(domain=host, prefix=prefix)


def _only_value(uri: GS1DigitalLinkURI, ai: str, name: str) -> str | None:
    """The value of ai in uri; an error when it appears twice with different values."""
    values = {es.value for es in uri.element_strings if es.ai.ai == ai}
    if len(values) > 1:
        shown = ", ".join(repr(v) for v in sorted(values))
        raise ValueError(f"{uri.value!r} has more than one {name} (AI {ai}): {shown}")
    return values.pop() if values else None


def parse_code(text: str) -> tuple[str, str, str | None]:
    """(GTIN-14, lot, serial or None) from a GS1 Digital Link URI on any resolver host.

    A bare lot id is not a code: the caller looks those up directly.
    """
    value = text.strip()
    try:
        uri = GS1DigitalLinkURI.parse(value)
    except ParseError as exc:
        raise ValueError(f"{value!r} is not a GS1 Digital Link URI: {exc}") from exc
    gtin_element = next((es for es in uri.element_strings if es.ai.ai == "01"), None)
    if gtin_element is None or gtin_element.gtin is None:
        reason = gtin_element.gtin_error if gtin_element else "it names no GTIN (AI 01)"
        raise ValueError(f"{value!r} is not a product code: {reason}")
    lot = _only_value(uri, "10", "batch/lot")
    if lot is None:
        raise ValueError(f"{value!r} names no batch/lot (AI 10)")
    return gtin_element.gtin.as_gtin_14(), lot, _only_value(uri, "21", "serial")


def _qr_image(uri: str, box_size: int) -> PilImage:
    import qrcode
    import qrcode.constants
    from qrcode.image.pil import PilImage

    assert QR_ERROR_CORRECTION == qrcode.constants.ERROR_CORRECT_M
    qr = qrcode.QRCode(
        error_correction=QR_ERROR_CORRECTION,
        box_size=box_size,
        border=QR_BORDER,
        image_factory=PilImage,
    )
    qr.add_data(uri)
    qr.make(fit=True)  # smallest version that holds the URI: bigger modules on the same label
    return qr.make_image()


def qr_png_bytes(uri: str, box_size: int = 10) -> bytes:
    """The QR code for uri as PNG bytes (for the web page and label PDFs)."""
    buffer = io.BytesIO()
    _qr_image(uri, box_size).save(buffer, format="PNG")
    return buffer.getvalue()


def write_qr(uri: str, path: Path, box_size: int = 10) -> Path:
    """Write the QR code for uri as a PNG at path, creating folders; returns path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(qr_png_bytes(uri, box_size))
    return path
