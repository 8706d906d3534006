"""Codes benchmark: per-bag codes and their QR PNGs for a 1,000,000-bag season.

A sample of N URIs shaped like the serial codes (``/01/{GTIN}/10/{lot}/21/{12-char serial}
?k=1&s={14 base64url chars}``) is made with ``codes.digital_link`` and drawn by heitu's QR path
(``codes.qr_pngs``: fixed mask, byte mode, 1-bit PNG) in one process and in worker processes;
the season's time is the measured rate extrapolated to 1,000,000 bags. In the same run, on the
same URIs: bare qrcode and bare segno (each with its mask search, PNG at the print size), qrcode
with the mask fixed through its own PIL image, and the matrix alone (what a label sheet draws
at print time). A random sample of heitu's PNGs is decoded with zbar back to its URI, and the
mask choice is checked: for a sample of URIs, qrcode's penalty score of every mask, which one
the search would pick and how far mask 2 is from it.
"""

from __future__ import annotations

import base64
import io
import os
import random
import string
import time
from collections.abc import Callable
from typing import Any

from bench.common import log

SEASON = 1_000_000
GTIN = "06901234567892"
LOT = "WC2026-0917-01"
RESOLVER = "id.heitu.cn"
TARGET = 1000  # codes a second on 2 cores


def sample_uris(n: int, seed: int) -> list[str]:
    """n serial-shaped URIs: random 12-character serials, key id 1, a 14-character base64url
    signature (random here: the signing is not what is measured)."""
    from traceability.codes import digital_link

    rnd = random.Random(seed)
    chars = string.ascii_uppercase + string.digits
    out = []
    for _ in range(n):
        serial = "".join(rnd.choice(chars) for _ in range(12))
        sig = base64.urlsafe_b64encode(rnd.randbytes(12)).decode()[:14]
        out.append(f"{digital_link(GTIN, LOT, RESOLVER, serial)}?k=1&s={sig}")
    return out


def _rate(fn: Callable[[str], Any], uris: list[str]) -> dict[str, Any]:
    start = time.perf_counter()
    for uri in uris:
        fn(uri)
    took = time.perf_counter() - start
    return {"n": len(uris), "s": took, "rate": len(uris) / took}


def _bare_qrcode(uri: str, mask: int | None = None, scale: int = 5) -> bytes:
    import qrcode
    import qrcode.constants
    from qrcode.image.pil import PilImage

    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=scale, border=4,
        image_factory=PilImage, mask_pattern=mask,
    )  # fmt: skip
    qr.add_data(uri)
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


def _bare_segno(uri: str, scale: int = 5) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False, boost_error=False).save(
        buffer, kind="png", scale=scale, border=4
    )
    return buffer.getvalue()


def _heitu_code(uri_parts: tuple[str, str], scale: int = 5) -> bytes:
    from traceability.codes import digital_link, qr_png_bytes

    serial, query = uri_parts
    return qr_png_bytes(digital_link(GTIN, LOT, RESOLVER, serial) + query, scale)


def masks(uris: list[str]) -> dict[str, Any]:
    """qrcode's penalty score of each of the 8 masks per URI: how often each is the one the
    search picks, and its mean and worst excess over the best."""
    import qrcode.util
    from qrcode.main import QRCode

    from traceability.codes import QR_MASK, _version

    best = [0] * 8
    excess: list[list[int]] = [[] for _ in range(8)]
    for uri in uris:
        scores = []
        for mask in range(8):
            qr = QRCode(version=_version(len(uri)), error_correction=0, mask_pattern=mask)
            qr.add_data(qrcode.util.QRData(uri.encode(), mode=qrcode.util.MODE_8BIT_BYTE))
            qr.make(fit=False)
            scores.append(qrcode.util.lost_point(qr.modules))
        low = min(scores)
        best[scores.index(low)] += 1
        for mask in range(8):
            excess[mask].append(scores[mask] - low)
    return {
        "n": len(uris),
        "fixed": QR_MASK,
        "rows": [
            {"mask": m, "best": best[m], "mean_excess": sum(e) / len(e), "max_excess": max(e)}
            for m, e in enumerate(excess)
        ],
    }


def run(
    n: int = 20_000,
    seed: int = 2026,
    *,
    bare_n: int = 500,
    decode_n: int = 300,
    mask_n: int = 200,
    processes: int | None = None,
) -> dict[str, Any]:
    """Measure (see the module's doc); n heitu codes, bare_n for each bare library."""
    from PIL import Image
    from pyzbar.pyzbar import ZBarSymbol, decode

    from traceability.codes import print_size, qr_matrix, qr_png_bytes, qr_pngs

    processes = processes or min(os.cpu_count() or 1, 2)
    uris = sample_uris(n, seed)
    bare = uris[:bare_n]
    one = uris[: max(n // 4, min(n, 50))]
    res: dict[str, Any] = {"n": n, "season": SEASON, "processes": processes, "target": TARGET}
    res["uri_len"] = len(uris[0])
    res["print"] = print_size(uris[0])._asdict()
    # every PNG at the print size: 2 cm at 300 dpi, whole dots a module (5 for these URIs)
    scale = res["scale"] = res["print"]["dots"]
    log(f"codes: URIs of {res['uri_len']} characters; bare qrcode on {len(bare)}")
    res["bare_qrcode"] = _rate(lambda u: _bare_qrcode(u, None, scale), bare)
    log("codes: bare segno")
    res["bare_segno"] = _rate(lambda u: _bare_segno(u, scale), bare)
    res["qrcode_fixed_mask"] = _rate(lambda u: _bare_qrcode(u, 2, scale), bare)
    log(f"codes: heitu on {len(one)} in one process, matrix only")
    res["matrix"] = _rate(qr_matrix, one)
    parts = [(u.split("/21/")[1].split("?")[0], "?" + u.split("?", 1)[1]) for u in uris]
    res["heitu_1"] = _rate(lambda p: _heitu_code(p, scale), parts[: len(one)])
    log(f"codes: heitu on {n} in {processes} processes")
    start = time.perf_counter()
    pngs = list(qr_pngs(uris, box_size=scale, processes=processes))
    took = time.perf_counter() - start
    res["heitu_n"] = {"n": n, "s": took, "rate": n / took}
    picked = random.Random(seed + 1).sample(range(n), min(decode_n, n))
    bad = []
    for i in picked:
        found = decode(Image.open(io.BytesIO(pngs[i])), symbols=[ZBarSymbol.QRCODE])
        if [r.data.decode("ascii") for r in found] != [uris[i]]:
            bad.append(uris[i])
    res["decoded"] = {"n": len(picked), "ok": len(picked) - len(bad), "failed": bad[:5]}
    res["same_as_single"] = all(pngs[i] == qr_png_bytes(uris[i], scale) for i in picked[:20])
    log("codes: mask scores")
    res["masks"] = masks(uris[:mask_n])
    return res


def _season(rate: float) -> str:
    s = SEASON / rate
    return f"{s / 60:.1f} min" if s < 3600 else f"{s / 3600:.1f} h"


def markdown(res: dict[str, Any]) -> list[str]:
    p = res["print"]
    base = res["bare_qrcode"]["rate"]
    rows = [
        ("bare qrcode 8.2 (mask search, PIL PNG)", res["bare_qrcode"]),
        ("bare segno 1.6 (mask search, PNG)", res["bare_segno"]),
        ("qrcode, mask fixed (its PIL PNG)", res["qrcode_fixed_mask"]),
        ("heitu: matrix only (drawn at print time)", res["matrix"]),
        ("heitu: URI + PNG, 1 process", res["heitu_1"]),
        (f"**heitu: PNG, {res['processes']} processes (`codes.qr_pngs`)**", res["heitu_n"]),
    ]
    out = [
        f"{res['n']:,} serial-shaped URIs of {res['uri_len']} characters (QR version "
        f"{p['version']}, {p['modules']} modules with the quiet zone: at 300 dpi {p['dots']} dots "
        f"a module, {p['side_mm']:.1f} mm a side); the bare libraries on the first "
        f"{res['bare_qrcode']['n']:,}. A season is {res['season']:,} bags: its time is the rate "
        f"extrapolated. Every PNG at the print size, {res['scale']} px a module (2 cm at 300 dpi).",
        "",
        "| what | codes | s | codes/s | x bare qrcode | season of 1,000,000 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        out.append(
            f"| {name} | {r['n']:,} | {r['s']:.1f} | {r['rate']:,.0f} | "
            f"{r['rate'] / base:.1f} | {_season(r['rate'])} |"
        )
    d = res["decoded"]
    m = res["masks"]
    fixed = m["rows"][m["fixed"]]
    top = max(m["rows"], key=lambda r: r["best"])
    out += [
        "",
        f"Decoded with zbar: {d['ok']} of a random {d['n']} of heitu's PNGs back to their exact "
        f"URI. Target {res['target']:,} codes/s on 2 cores: "
        f"{'met' if res['heitu_n']['rate'] >= res['target'] else 'NOT met'} "
        f"({res['heitu_n']['rate']:,.0f}/s).",
        "",
        f"Mask: over {m['n']} of these URIs the search would pick mask {top['mask']} for "
        f"{top['best']}; the fixed mask {m['fixed']} is the best for {fixed['best']} and "
        f"{fixed['mean_excess']:.0f} penalty points above the best on average "
        f"(worst {fixed['max_excess']}).",
        "",
        "| mask | best for | mean excess | worst excess |",
        "|---:|---:|---:|---:|",
        *(
            f"| {r['mask']} | {r['best']} | {r['mean_excess']:.0f} | {r['max_excess']} |"
            for r in m["rows"]
        ),
    ]
    return out
