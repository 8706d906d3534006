"""QR images (PNG, SVG) and print-ready label sheets (traceability/codes.py, labels.py): every
QR read back by zbar to its exact URI, from the PNG, from the SVG as rsvg-convert draws it, and
from a label sheet as pdftoppm prints it at 300 dpi; the sheet's text read by pdftotext."""

from __future__ import annotations

import base64
import io
import json
import random
import shutil
import string
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFilter

from tests.season import GTIN_RICE, write_season
from tests.test_cli import heitu
from tests.test_codes import zbar_decode
from traceability import HeituError, Store
from traceability import labels as labels_mod
from traceability.codes import (
    QR_MASK,
    QR_MIN_MM,
    digital_link,
    print_size,
    qr_matrix,
    qr_png_bytes,
    qr_svg,
    write_qr,
)
from traceability.labels import lot_labels, render_labels
from traceability.pipeline import ingest_dir
from traceability.store import open_store

RESOLVER = "id.heitu.cn"
NAME = "五常稻花香大米 5kg"


def serial_uris(n: int, seed: int = 3, lot: str = "WC2024-0917-01") -> list[str]:
    """URIs shaped like the per-bag codes: a random 12-character serial, key id and a
    14-character base64url signature."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        serial = "".join(rnd.choice(string.ascii_uppercase + string.digits) for _ in range(12))
        sig = base64.urlsafe_b64encode(rnd.randbytes(12)).decode()[:14]
        out.append(f"{digital_link(GTIN_RICE, lot, RESOLVER, serial)}?k=1&s={sig}")
    return out


def qr_texts(image: Image.Image) -> list[str]:
    from pyzbar.pyzbar import ZBarSymbol

    decode = zbar_decode()
    return [r.data.decode("ascii") for r in decode(image, symbols=[ZBarSymbol.QRCODE])]


def label_qr_texts(page: Image.Image) -> list[str]:
    """The QR codes of a sheet's page, decoded label by label (each cell of the 3 x 8 grid on
    its own, as a phone sees one label): every label must decode, not just most of a page."""
    from traceability import labels as lb

    dots = page.width / lb.PAGE_W  # pixels per mm
    found = []
    for row in range(lb.ROWS):
        for col in range(lb.COLS):
            x = (lb.MARGIN_X + col * (lb.LABEL_W + lb.GUTTER)) * dots
            y = (lb.MARGIN_Y + row * (lb.LABEL_H + lb.GUTTER)) * dots
            cell = page.crop(
                (int(x), int(y), int(x + lb.LABEL_W * dots), int(y + lb.LABEL_H * dots))
            )
            found += qr_texts(cell)
    return found


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if not found:  # fail, never skip: `make apt` installs it
        pytest.fail(f"{name} is missing: `make apt` installs the Debian package {package}")
    return found


# --- QR: PNG and SVG --------------------------------------------------------------------------


def test_png_of_every_shape_decodes_to_its_uri() -> None:
    lot_code = digital_link(GTIN_RICE, "HL/2024/10", RESOLVER)
    for uri in [lot_code, *serial_uris(25)]:
        assert qr_texts(Image.open(io.BytesIO(qr_png_bytes(uri)))) == [uri]
        # at the print size a 300 dpi label uses, too
        small = qr_png_bytes(uri, box_size=print_size(uri).dots)
        assert qr_texts(Image.open(io.BytesIO(small))) == [uri]


def test_the_symbol_is_level_m_mask_2_quiet_zone_4() -> None:
    """Our matrix is qrcode's own with the same settings and the mask fixed: only the mask
    search is skipped, nothing else of the encoding is ours."""
    for uri in serial_uris(5):
        ref = qrcode.QRCode(
            error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, mask_pattern=QR_MASK
        )
        ref.add_data(uri.encode("ascii"), optimize=0)
        ref.make(fit=True)
        assert qr_matrix(uri) == ref.get_matrix()
    matrix = qr_matrix(serial_uris(1)[0])
    assert not any(matrix[0]) and not any(row[3] for row in matrix)  # 4 light modules
    assert all(matrix[4][4:11])  # the finder pattern starts right after them


def test_fixed_mask_codes_still_decode_when_worn() -> None:
    """Scan robustness: printed small (2 px a module), blurred, with a scuff over part of the
    data, every fixed-mask code still reads (level M recovers ~15%), as does the searched-mask
    code of the same URI."""
    for uri in serial_uris(20, seed=11):
        for fixed in (True, False):
            if fixed:
                png = qr_png_bytes(uri, box_size=2)
            else:
                auto = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=2)
                auto.add_data(uri)
                buffer = io.BytesIO()
                auto.make_image().save(buffer, format="PNG")
                png = buffer.getvalue()
            image = Image.open(io.BytesIO(png)).convert("L")
            w = image.width
            ImageDraw.Draw(image).rectangle((w * 0.45, w * 0.45, w * 0.55, w * 0.52), fill=255)
            image = image.filter(ImageFilter.GaussianBlur(0.6))
            assert qr_texts(image) == [uri], (uri, fixed)


@pytest.mark.parametrize("length", range(20, 200, 7))
def test_print_size_is_at_least_2_cm_in_whole_dots(length: int) -> None:
    uri = "https://id.heitu.cn/" + "a" * (length - 20)
    size = print_size(uri)
    assert size.side_mm >= QR_MIN_MM and size.modules == len(qr_matrix(uri))
    assert size.side_mm == pytest.approx(size.modules * size.dots * 25.4 / 300)
    assert (size.dots - 1) * size.modules * 25.4 / 300 < QR_MIN_MM  # the smallest that fits


def test_print_size_of_our_uris() -> None:
    """docs/codes.md's table: serial codes are version 6 (49 modules with the quiet zone), 5 dots
    a module at 300 dpi = 0.42 mm, 20.7 mm; lot codes version 4, 6 dots, 20.8 mm."""
    assert print_size(serial_uris(1)[0])[:4] == (6, 49, 300, 5)
    assert print_size(digital_link(GTIN_RICE, "WC2024-0917-01", RESOLVER))[:4] == (4, 41, 300, 6)


def test_svg_rendered_by_rsvg_decodes(tmp_path: Path) -> None:
    rsvg = tool("rsvg-convert", "librsvg2-bin")
    for uri in [*serial_uris(5), digital_link(GTIN_RICE, "K1", RESOLVER)]:
        path = write_qr(uri, tmp_path / "q.svg")
        svg = path.read_text(encoding="utf-8")
        assert svg == qr_svg(uri) and svg.startswith("<svg")
        side = f"{print_size(uri).side_mm:.3f}".rstrip("0").rstrip(".")
        assert f'width="{side}mm"' in svg and float(side) >= QR_MIN_MM
        png = tmp_path / "q.png"
        subprocess.run([rsvg, "-d", "300", "-p", "300", str(path), "-o", str(png)], check=True)
        image = Image.open(png)
        assert abs(image.width - print_size(uri).side_mm / 25.4 * 300) <= 1  # printed size
        assert qr_texts(image.convert("L")) == [uri]


# --- label sheets -----------------------------------------------------------------------------


def pages_at_300_dpi(pdf: Path, out: Path) -> list[Image.Image]:
    pdftoppm = tool("pdftoppm", "poppler-utils")
    subprocess.run([pdftoppm, "-r", "300", "-gray", "-png", str(pdf), str(out / "p")], check=True)
    return [Image.open(p) for p in sorted(out.glob("p-*.png"))]


def pdf_text(pdf: Path) -> str:
    pdftotext = tool("pdftotext", "poppler-utils")
    return subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True).stdout


def test_a_sheet_of_unit_labels_prints_every_code(tmp_path: Path) -> None:
    uris = serial_uris(30, seed=5)
    pledge = {
        "number": "HLJ-2026-000123",
        "holder": "五常市稻香米业有限公司",
        "items": "不使用禁用农药兽药;常规农药兽药残留不超标",
    }
    labels = [
        {"uri": u, "lot": "WC2024-0917-01", "name_zh": NAME, "packed_on": "2026-10-01",
         "short_code": f"7KQ2-M9XD-{i:04d}-R", "pledge": pledge}
        for i, u in enumerate(uris)
    ]  # fmt: skip
    out = tmp_path / "sheet.pdf"
    assert render_labels(labels, out) == {"labels": 30, "pages": 2, "out": str(out)}
    first, second = pages_at_300_dpi(out, tmp_path)
    assert abs(first.width - 2480) <= 1 and first.height == 3508  # A4 at 300 dpi
    assert label_qr_texts(first) == uris[:24]  # 3 x 8 on a page, in order
    assert label_qr_texts(second) == uris[24:]
    text = pdf_text(out)
    for part in (NAME, "WC2024-0917-01", "2026-10-01", "7KQ2-M9XD-0029-R", "HLJ-2026-000123",
                 "五常市稻香米业有限公司", "常规农药兽药残留不超标"):  # fmt: skip
        assert part in text, part


def test_labels_refuse_what_cannot_print(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no labels"):
        render_labels([], tmp_path / "x.pdf")
    with pytest.raises(ValueError, match="label 1 has no uri"):
        render_labels([{"lot": "K1"}], tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()


def test_a_missing_font_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labels_mod, "_FONT_DIRS", ())
    monkeypatch.setattr(labels_mod.shutil, "which", lambda _: None)
    labels_mod.cjk_font.cache_clear()
    try:
        with pytest.raises(HeituError, match="install the Debian package fonts-noto-cjk"):
            labels_mod.cjk_font()
    finally:
        labels_mod.cjk_font.cache_clear()
    monkeypatch.undo()
    assert labels_mod.cjk_font()[0].name == "NotoSansCJK-Regular.ttc"


def test_pack_date_is_the_packers_local_date() -> None:
    late = datetime(2026, 9, 30, 23, 30)  # UTC, as stored
    assert labels_mod._packed_on(late, 480) == "2026-10-01"
    assert labels_mod._packed_on(late, 0) == "2026-09-30"
    assert labels_mod._packed_on(late, None) == "2026-10-01"  # China's offset by default


@pytest.fixture
def season_store(inbox: Path, sqlite_url: str) -> Store:
    write_season(inbox)
    ingest_dir(inbox)
    return Store.open(sqlite_url)


def test_lot_labels_from_the_store(season_store: Store) -> None:
    eng = open_store()
    [label] = lot_labels(eng, "K1")
    assert label == {
        "lot": "K1", "gtin": GTIN_RICE, "name_zh": "五常大米 5kg", "packed_on": "2026-10-01",
        "pledge": None, "uri": "https://id.heitu.cn/01/06901234567892/10/K1",
        "short_code": None, "serial": None,
    }  # fmt: skip
    assert season_store.code("K1").uri == label["uri"]  # the lot's issued code
    # the seam for per-unit codes: one label per unit given, in order
    units = [{"serial": f"S{i}", "uri": u, "short_code": f"C{i}"} for i, u in
             enumerate(serial_uris(3, lot="K1"))]  # fmt: skip
    made = lot_labels(eng, "K1", units=units, pledge={"number": "N1"})
    assert [(m["serial"], m["uri"], m["short_code"]) for m in made] == [
        (u["serial"], u["uri"], u["short_code"]) for u in units
    ]
    assert {m["pledge"]["number"] for m in made} == {"N1"}
    with pytest.raises(LookupError, match="lot 'NOPE' is not in the store"):
        lot_labels(eng, "NOPE")
    with pytest.raises(ValueError, match="not packed with a GTIN"):
        lot_labels(eng, "M1")


def test_heitu_labels_cli(season_store: Store, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "print" / "K1.pdf"
    r = heitu("labels", "K1", "--out", str(out), "--json", home=home)
    assert r.returncode == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    assert doc == {"lot": "K1", "labels": 1, "pages": 1, "out": str(out)}
    assert doc == season_store.labels("K1", out).as_dict()
    [page] = pages_at_300_dpi(out, tmp_path)
    assert qr_texts(page) == ["https://id.heitu.cn/01/06901234567892/10/K1"]
    assert "五常大米 5kg" in pdf_text(out) and "2026-10-01" in pdf_text(out)

    r = heitu("labels", "K1", "--out", str(tmp_path / "h.pdf"), home=home)
    assert r.returncode == 0 and "1 label(s) of lot K1 on 1 A4 page(s)" in r.stdout

    r = heitu("labels", "NOPE", "--out", str(tmp_path / "n.pdf"), "--json", home=home)
    assert r.returncode == 1 and "lot 'NOPE' is not in the store" in r.stderr
    assert "error" in json.loads(r.stdout) and "Traceback" not in r.stderr
    r = heitu("labels", "M1", "--out", str(tmp_path / "m.pdf"), home=home)
    assert r.returncode == 1 and "not packed with a GTIN" in r.stderr
    assert not (tmp_path / "n.pdf").exists() and not (tmp_path / "m.pdf").exists()
    r = heitu("labels", "K1", home=home)
    assert r.returncode == 2 and "--out" in r.stderr


def test_label_sheets_are_written_once(season_store: Store, home: Path) -> None:
    season_store.codes()
    first = season_store.label_sheets()
    assert sorted(s["lot"] for s in first["written"]) == ["K1", "K2"] and first["total"] == 2
    k1 = home / "labels" / GTIN_RICE / "K1.pdf"
    assert {Path(s["out"]) for s in first["written"]} == {k1, k1.with_name("K2.pdf")}
    stamp = k1.stat().st_mtime_ns
    again = season_store.label_sheets()
    assert again["written"] == [] and again["total"] == 2 and k1.stat().st_mtime_ns == stamp
