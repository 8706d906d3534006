"""Traceability codes (追溯码): GS1 Digital Link URIs for a lot, and the QR images that carry them.

The URI is `https://{resolver}/01/{GTIN-14}/10/{lot}[/21/{serial}]`: any phone camera opens it,
any GS1-aware scanner reads GTIN and lot out of it. biip builds and parses it, so the
percent-encoding and the AI rules are GS1's, not ours.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from biip import ParseError
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString, GS1ElementStrings

from traceability.gs1 import check_lot, check_serial, gtin14

if TYPE_CHECKING:  # qrcode pulls in PIL: imported where a QR image is made, so that
    # `heitu trace back <code>` (which only parses codes) does not pay for it
    from qrcode.main import QRCode

__all__ = [
    "QR_BORDER",
    "QR_ERROR_CORRECTION",
    "QR_MASK",
    "QR_MIN_MM",
    "PrintSize",
    "digital_link",
    "parse_code",
    "print_size",
    "qr_matrix",
    "qr_png_bytes",
    "qr_pngs",
    "qr_svg",
    "write_qr",
]

# Level M restores up to ~15% of the symbol. Our codes are printed on woven rice bags and
# cartons that are stacked, dragged and scuffed in trucks and shops; L (7%) leaves little
# margin for a worn corner, while Q/H make the symbol denser, and finer modules hurt more on
# coarse bag print than the extra redundancy helps.
QR_ERROR_CORRECTION = 0  # qrcode.constants.ERROR_CORRECT_M (checked in _qr)
# ISO/IEC 18004 asks for a 4-module quiet zone; phone cameras misread codes printed close to a
# bag's seam or artwork without it.
QR_BORDER = 4
# The data mask, fixed instead of searched: the search draws the symbol 8 times and scores each
# (most of a code's time). Pattern 2 (every third column) is the one the search itself picks
# for most of our URIs, and close to the best score for the rest (the codes benchmark measures
# this on every run: docs/codes.md, docs/benchmarks.md). Any mask is valid ISO/IEC 18004: the
# symbol's format information names it and every reader applies it.
QR_MASK = 2
# The smallest printed side of a code, quiet zone included: 2 cm, so a phone camera at arm's
# length resolves the modules of our longest (serial) URIs.
QR_MIN_MM = 20.0


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


@lru_cache(maxsize=64)
def _version(nbytes: int) -> int:
    """The smallest QR version that holds nbytes in byte mode at level M (cached per length:
    a season's serial URIs come in one or two lengths)."""
    import qrcode.util
    from qrcode.main import QRCode

    qr = QRCode(error_correction=QR_ERROR_CORRECTION, border=QR_BORDER)
    qr.add_data(qrcode.util.QRData(b"0" * nbytes, mode=qrcode.util.MODE_8BIT_BYTE))
    return qr.best_fit()


def _qr(uri: str, box_size: int = 10) -> QRCode:
    """The QR symbol of uri: level M, quiet zone 4, mask QR_MASK, smallest version that fits.

    The URI goes in as one byte-mode segment: a Digital Link URI is ASCII, and one segment
    makes the version a function of the length alone, so it is looked up once per length."""
    import qrcode.constants
    import qrcode.util
    from qrcode.main import QRCode

    assert QR_ERROR_CORRECTION == qrcode.constants.ERROR_CORRECT_M
    data = uri.encode("ascii")
    qr = QRCode(
        version=_version(len(data)),
        error_correction=QR_ERROR_CORRECTION,
        box_size=box_size,
        border=QR_BORDER,
        mask_pattern=QR_MASK,
    )
    qr.add_data(qrcode.util.QRData(data, mode=qrcode.util.MODE_8BIT_BYTE))
    qr.make(fit=False)
    return qr


def qr_matrix(uri: str) -> list[list[bool]]:
    """The modules of uri's QR symbol, quiet zone included, row by row (True = dark): what a
    label draws as vector squares."""
    return _qr(uri).get_matrix()


class PrintSize(NamedTuple):
    """How big to print one code: ``modules`` across (quiet zone included), ``dots`` printer
    dots per module at ``dpi``, hence ``module_mm`` and ``side_mm`` (>= the minimum) on paper."""

    version: int
    modules: int
    dpi: int
    dots: int
    module_mm: float
    side_mm: float


def print_size(uri: str, dpi: int = 300, min_mm: float = QR_MIN_MM) -> PrintSize:
    """The smallest print of uri's code whose side is at least min_mm with every module a
    whole number of printer dots (a module split across dots prints unevenly)."""
    version = _version(len(uri.encode("ascii")))
    modules = 17 + 4 * version + 2 * QR_BORDER
    dots = max(1, math.ceil(min_mm / 25.4 * dpi / modules))
    module_mm = dots * 25.4 / dpi
    return PrintSize(version, modules, dpi, dots, module_mm, module_mm * modules)


def qr_png_bytes(uri: str, box_size: int = 10) -> bytes:
    """The QR code for uri as a 1-bit PNG, box_size pixels per module (the web page; a label
    printed at 300 dpi wants ``print_size(uri).dots``)."""
    import numpy as np
    from PIL import Image

    dark = np.array(_qr(uri).get_matrix(), dtype=bool)
    n = dark.shape[0] * box_size
    # one pixel per module, scaled by whole pixels (nearest), deflated fast: a third less time
    # than scaling in numpy and PNG's default compression, for a few more bytes
    image = Image.fromarray(~dark).resize((n, n), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _png_of(job: tuple[str, int]) -> bytes:
    return qr_png_bytes(*job)


def qr_pngs(uris: Iterable[str], box_size: int = 10, processes: int = 1) -> Iterator[bytes]:
    """The PNG of every uri, in order; in ``processes`` worker processes when more than one
    (a season's codes: docs/codes.md has the measured rates)."""
    jobs = ((uri, box_size) for uri in uris)
    if processes <= 1:
        yield from map(_png_of, jobs)
        return
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        yield from pool.imap(_png_of, jobs, chunksize=256)


def qr_svg(uri: str, module_mm: float | None = None) -> str:
    """The QR code for uri as an SVG document (qrcode's path image on a white square, so the
    quiet zone stays light over any artwork; one path, no seams between modules), each module
    module_mm wide (default: ``print_size(uri).module_mm``)."""
    from qrcode.image.svg import SvgPathFillImage

    size = module_mm if module_mm is not None else print_size(uri).module_mm
    # qrcode's SVG unit is box_size / 10 mm and box_size an integer: drawn at 1 mm a module
    # (viewBox in modules), the printed size is set by width and height alone.
    qr = _qr(uri, box_size=10)
    image = qr.make_image(image_factory=SvgPathFillImage)
    side = f"{(qr.modules_count + 2 * QR_BORDER) * size:.3f}".rstrip("0").rstrip(".") + "mm"
    image._img.set("width", side)
    image._img.set("height", side)
    return image.to_string(encoding="unicode")


def write_qr(uri: str, path: Path, box_size: int = 10) -> Path:
    """Write the QR code for uri at path, creating folders: an SVG when path ends in .svg (at
    the printable module size), otherwise a PNG of box_size pixels per module; returns path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".svg":
        path.write_text(qr_svg(uri), encoding="utf-8")
    else:
        path.write_bytes(qr_png_bytes(uri, box_size))
    return path
