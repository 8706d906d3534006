"""GS1 keys -> constrained canonical GS1 Digital Link URIs: EPC URIs, EPC class and pattern
URIs, and Digital Link URIs on any host, as the EPCIS event hash wants them (CBV 2.0, 8.9)."""

from __future__ import annotations

import re

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
    return body + check_digit(body)


def _keyed(cp: str, ref: str) -> str:
    return cp + ref + check_digit(cp + ref)


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


def check_digit(body: str) -> str:
    """The GS1 check digit of a key's digits (GTIN, GLN, SSCC...), by biip."""
    from biip.checksums import gs1_standard_check_digit

    return str(gs1_standard_check_digit(body))
