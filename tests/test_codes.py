"""GS1 identifiers, Digital Link URIs and QR codes (traceability/gs1.py, traceability/codes.py)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import biip
import pytest
import qrcode
from PIL import Image

from traceability.codes import digital_link, parse_code, qr_png_bytes, write_qr
from traceability.gs1 import check_lot, check_serial, gln, gtin14

RESOLVER = "id.heitu.cn"
GTIN13 = "6901234567892"  # a GS1 China (690-699) GTIN-13 with a valid check digit


def zbar_decode() -> Callable[..., list]:
    """pyzbar's decoder; fails (never skips) when libzbar0 is missing, so CI cannot go green
    without having really read a QR code back."""
    try:
        from pyzbar.pyzbar import decode
    except (ImportError, OSError) as exc:
        pytest.fail(
            f"pyzbar cannot load the zbar library ({exc}). `make test` installs the Debian "
            "package libzbar0 through its `apt` target; or run `make apt` "
            "(or apt-get install -y libzbar0) and re-run the tests."
        )
    return decode


# --- GTIN -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("614141123452", "00614141123452"),  # GTIN-12 (UPC-A)
        (GTIN13, "06901234567892"),  # GTIN-13
        ("10614141123459", "10614141123459"),  # GTIN-14 with packaging indicator 1
        ("06901234567892", "06901234567892"),  # GTIN-13 already padded
        ("6 901234 567892", "06901234567892"),  # as copied from a printed label
        (" 6901234567892\n", "06901234567892"),
    ],
)
def test_gtin14_normalises_every_length(raw: str, expected: str) -> None:
    assert gtin14(raw) == expected


def test_gtin14_bad_check_digit_names_expected_digit() -> None:
    with pytest.raises(ValueError) as info:
        gtin14("6901234567890")
    assert str(info.value) == "GTIN '6901234567890' has check digit 0, expected 2"


def test_gtin14_bad_check_digit_on_padded_and_short_forms() -> None:
    with pytest.raises(ValueError, match="has check digit 0, expected 2"):
        gtin14("06901234567890")
    with pytest.raises(ValueError, match=r"GTIN '96385075' has check digit 5, expected 4"):
        gtin14("96385075")


@pytest.mark.parametrize("raw", ["abc", "", "123", "690123456789212", "6901234x67892"])
def test_gtin14_rejects_wrong_length_or_non_digits(raw: str) -> None:
    with pytest.raises(ValueError, match=r"is not 8, 12, 13 or 14 digits"):
        gtin14(raw)


def test_gtin14_message_for_letters() -> None:
    with pytest.raises(ValueError) as info:
        gtin14("abc")
    assert str(info.value) == "GTIN 'abc' is not 8, 12, 13 or 14 digits"


def test_gtin14_rejects_all_zeros() -> None:
    with pytest.raises(ValueError, match="all zeros"):
        gtin14("00000000000000")


# --- GLN --------------------------------------------------------------------------------------


def test_gln_valid() -> None:
    assert gln("6901234567892") == "6901234567892"
    assert gln("690 1234 56789 2") == "6901234567892"


def test_gln_bad_check_digit() -> None:
    with pytest.raises(ValueError) as info:
        gln("6901234567890")
    assert str(info.value) == "GLN '6901234567890' has check digit 0, expected 2"


@pytest.mark.parametrize("raw", ["690123456789", "06901234567892", "69012345678AB", ""])
def test_gln_needs_13_digits(raw: str) -> None:
    with pytest.raises(ValueError, match="is not 13 digits"):
        gln(raw)


# --- lot ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lot",
    [
        "WC2024-0917-01",
        "A/B",  # '/' is in character set 82; it is percent-encoded in the URI
        "50%",
        "x" * 20,  # the maximum
        "a!\"%&'()*+,-./:;<=",  # every symbol of set 82, in two lots of at most 20
        "Z>?_09",
    ],
)
def test_check_lot_accepts_set_82(lot: str) -> None:
    assert check_lot(lot) is None


@pytest.mark.parametrize(
    ("lot", "fragment"),
    [
        ("WC 2024", "cannot carry: ' '"),
        ("WC#2024", "cannot carry: '#'"),
        ("五常2024", "cannot carry: '五', '常'"),
        ("稻花香2号", "cannot carry: '稻', '花', '香', '号'"),
        ("x" * 21, "is 21 characters; GS1 AI (10) allows at most 20"),
        ("HL-231283-101-0007-2024-10", "is 26 characters"),
        ("", "lot is empty"),
        ("tab\there", r"cannot carry: '\t'"),
    ],
)
def test_check_lot_rejects_with_reason(lot: str, fragment: str) -> None:
    reason = check_lot(lot)
    assert reason is not None
    assert fragment in reason
    assert "AI (10)" in reason


def test_check_serial_uses_ai_21() -> None:
    assert check_serial("000123") is None
    reason = check_serial("袋 1")
    assert reason is not None
    assert "AI (21)" in reason


# --- Digital Link URIs ------------------------------------------------------------------------


def test_digital_link_shape() -> None:
    uri = digital_link(GTIN13, "WC2024-0917-01", RESOLVER)
    assert uri == "https://id.heitu.cn/01/06901234567892/10/WC2024-0917-01"


def test_digital_link_with_serial() -> None:
    uri = digital_link("96385074", "L1", RESOLVER, serial="000042")
    assert uri == "https://id.heitu.cn/01/00000096385074/10/L1/21/000042"


def test_digital_link_keeps_resolver_path_prefix() -> None:
    uri = digital_link(GTIN13, "L1", "trace.example.cn/dl")
    assert uri == "https://trace.example.cn/dl/01/06901234567892/10/L1"


@pytest.mark.parametrize(
    ("lot", "encoded"),
    [
        ("A/B", "A%2FB"),  # '/' must not split the path
        ("50%", "50%25"),  # '%' must not start an escape
        ("A?B", "A%3FB"),  # '?' must not start a query
        ("A&B=C", "A%26B%3DC"),
        ("(1)+*!", "%281%29%2B%2A%21"),
        ("a-b.c_D9", "a-b.c_D9"),  # unreserved characters stay as they are
    ],
)
def test_digital_link_percent_encodes_lot(lot: str, encoded: str) -> None:
    uri = digital_link(GTIN13, lot, RESOLVER)
    assert uri == f"https://id.heitu.cn/01/06901234567892/10/{encoded}"


@pytest.mark.parametrize(
    ("lot", "serial"),
    [
        ("WC2024-0917-01", None),
        ("A/B%C", None),
        ("a!\"%&'()*+,-./:;<=>", None),
        ("?_Z0", "S/1%"),
        ("x" * 20, "y" * 20),
    ],
)
def test_digital_link_round_trips_through_biip(lot: str, serial: str | None) -> None:
    uri = digital_link(GTIN13, lot, RESOLVER, serial=serial)
    parsed = biip.parse(uri)
    dl = parsed.gs1_digital_link_uri
    assert dl is not None, parsed
    values = {es.ai.ai: es.value for es in dl.element_strings}
    assert values["01"] == "06901234567892"
    assert values["10"] == lot
    assert values.get("21") == serial
    assert parse_code(uri) == ("06901234567892", lot, serial)


@pytest.mark.parametrize("lot", ["WC 2024", "WC#1", "五常-2024", "x" * 21, ""])
def test_digital_link_refuses_unencodable_lot(lot: str) -> None:
    with pytest.raises(ValueError) as info:
        digital_link(GTIN13, lot, RESOLVER)
    assert str(info.value) == check_lot(lot)


def test_digital_link_refuses_bad_gtin_and_serial() -> None:
    with pytest.raises(ValueError, match="check digit 0, expected 2"):
        digital_link("6901234567890", "L1", RESOLVER)
    with pytest.raises(ValueError, match="AI \\(21\\)"):
        digital_link(GTIN13, "L1", RESOLVER, serial="no 1")


def test_digital_link_refuses_resolver_with_scheme() -> None:
    with pytest.raises(ValueError, match="without a scheme"):
        digital_link(GTIN13, "L1", "https://id.heitu.cn")


# --- parse_code -------------------------------------------------------------------------------


def test_parse_code_on_another_resolver_host() -> None:
    # A retailer's or GS1's resolver: the code identifies the product, not our server.
    assert parse_code("https://id.gs1.org/01/6901234567892/10/A%2FB") == (
        "06901234567892",
        "A/B",
        None,
    )
    assert parse_code("http://scan.shop.example/qr/01/06901234567892/10/L7/21/9?17=261231") == (
        "06901234567892",
        "L7",
        "9",
    )


def test_parse_code_reads_what_digital_link_writes_on_any_host() -> None:
    ours = digital_link(GTIN13, "L/7", RESOLVER, serial="42")
    theirs = ours.replace(RESOLVER, "resolver.example.org")
    assert parse_code(theirs) == parse_code(ours) == ("06901234567892", "L/7", "42")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("WC2024-0917-01", "is not a GS1 Digital Link URI"),  # a bare lot is not a code
        ("https://id.heitu.cn/lot/WC1", "is not a GS1 Digital Link URI"),
        ("ftp://id.heitu.cn/01/06901234567892/10/L1", "is not a GS1 Digital Link URI"),
        ("https://id.heitu.cn/01/06901234567890/10/L1", "check digit"),
        ("https://id.heitu.cn/01/06901234567892", "names no batch/lot (AI 10)"),
        ("https://id.heitu.cn/00/106141412345678908", "names no GTIN (AI 01)"),
        ("https://id.heitu.cn/01/06901234567892/10/A?10=B", "more than one batch/lot"),
        ("https://id.heitu.cn/01/06901234567892/10/%E4%BA%94", "is not a GS1 Digital Link URI"),
    ],
)
def test_parse_code_rejects_with_reason(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_code(text)
    assert fragment in str(info.value)


# --- QR ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://id.heitu.cn/01/06901234567892/10/WC2024-0917-01",
        "https://id.heitu.cn/01/06901234567892/10/A%2FB%25C/21/000042",
    ],
)
def test_write_qr_decodes_back_to_exact_uri(tmp_path: Path, uri: str) -> None:
    decode = zbar_decode()
    path = write_qr(uri, tmp_path / "codes" / "nested" / "lot.png")
    assert path.is_file()
    results = decode(Image.open(path))
    assert [r.data.decode("ascii") for r in results] == [uri]
    assert results[0].type == "QRCODE"
    assert parse_code(results[0].data.decode("ascii"))[0] == "06901234567892"


def test_qr_png_bytes_decode(tmp_path: Path) -> None:
    decode = zbar_decode()
    uri = digital_link(GTIN13, "HL-2024/10", RESOLVER)
    png = qr_png_bytes(uri)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert [r.data.decode("ascii") for r in decode(Image.open(io.BytesIO(png)))] == [uri]
    assert write_qr(uri, tmp_path / "a.png").read_bytes() == png


def test_qr_settings_are_level_m_with_4_module_quiet_zone() -> None:
    uri = digital_link(GTIN13, "L1", RESOLVER)
    # qrcode with the same settings and the mask fixed (docs/codes.md: the mask search is the
    # only step skipped; the URI is one byte-mode segment), drawn by qrcode's own PIL factory:
    # the same pixels as our PNG
    reference = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=3, mask_pattern=2
    )
    reference.add_data(uri.encode("ascii"), optimize=0)
    reference.make(fit=True)
    ours = Image.open(io.BytesIO(qr_png_bytes(uri, box_size=3))).convert("L")
    assert ours.tobytes() == reference.make_image().get_image().convert("L").tobytes()

    image = Image.open(io.BytesIO(qr_png_bytes(uri, box_size=3))).convert("L")
    quiet = 4 * 3
    # the first 4 modules are white, the finder pattern starts right after them
    assert {image.getpixel((x, y)) for y in range(quiet) for x in range(image.width)} == {255}
    assert image.getpixel((quiet, quiet)) == 0
    assert image.getpixel((quiet - 1, quiet)) == 255
