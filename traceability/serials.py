"""Per-bag codes: a random serial per unit of a packed lot, signed, with a short code to type.

A lot's code names the lot, so one genuine bag's QR copied onto a thousand fakes reads as
genuine. A unit code names one bag::

    https://{resolver}/01/{GTIN-14}/10/{lot}/21/{serial}?k={key id}&s={signature}

- **serial**: 10 characters of Crockford's base32 (digits and capitals without I, L, O, U),
  drawn by ``secrets``: 50 random bits, so serials cannot be guessed from one another.
  Unique in the whole store (so the short code alone finds the bag), stored, and issued once:
  ``issue_units`` gives a lot the units it lacks and never a second set.
- **signature**: HMAC-SHA256 (``cryptography``) over GTIN-14, lot and serial, truncated to 80
  bits, base64url (14 characters), with the id of the key that made it. The resolver checks it
  without the store, so a made-up serial is refused offline; new codes are signed with the
  current key, older ones keep verifying with theirs (rotation: ``rotate_key``).
- **short code**: the serial and one check character (Crockford's mod-37 check symbol;
  serials are drawn so that it is never one of the symbols * ~ $ = U), printed as
  ``7KQ2-M9XD-41R`` under the QR: what a consumer types when the camera fails.
  A wrong character or two swapped neighbours give another check character, so a typo is
  caught, not sent to another bag. Case, spaces, hyphens and the look-alikes I/L (1) and
  O (0) are forgiven as Crockford's alphabet intends.

docs/codes.md documents the format.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac
from sqlalchemy import Engine, text

from traceability import config
from traceability.codes import digital_link
from traceability.writes import any_of

#: Crockford's base32 alphabet; its check symbols add five more for the mod-37 remainder.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_SYMBOLS = ALPHABET + "*~$=U"
SERIAL_LENGTH = 10  # 50 random bits
SIGNATURE_BYTES = 10  # 80 bits of HMAC-SHA256
_LOOK_ALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})

__all__ = [
    "CodeCheck",
    "check_short_code",
    "issue_units",
    "looks_like_short_code",
    "rotate_key",
    "short_code",
    "sign",
    "unit_uri",
    "units_of",
    "verify",
]


# --- keys ----------------------------------------------------------------------------------------


def keys_file() -> Path:
    """The signing keys: ``HEITU_CODE_KEYS``, default ``HEITU_HOME/keys/codes.json`` (made
    with one key on first use, readable by its owner only). Not in the store: a copy of the
    database must not be enough to sign codes."""
    return Path(os.environ.get("HEITU_CODE_KEYS", config.heitu_home() / "keys" / "codes.json"))


def _write_keys(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
    os.replace(tmp, path)


def _keys() -> dict[str, Any]:
    """The keys file's contents, read again only when it changed (a rotation by another
    process is seen at the next scan)."""
    path = keys_file()
    if not path.exists():
        _write_keys(path, {"current": "1", "keys": {"1": _new_secret()}})
    stat = path.stat()
    return _read_keys(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _read_keys(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if doc.get("current") not in doc.get("keys", {}):
        raise ValueError(f"{path}: the current key id {doc.get('current')!r} has no key")
    return doc


def _new_secret() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def rotate_key() -> str:
    """A new signing key becomes the current one; the old ones keep verifying. Returns its id."""
    path = keys_file()
    doc = json.loads(json.dumps(_keys()))  # a copy: the cached one stays as read
    new_id = str(max(int(k) for k in doc["keys"]) + 1)
    doc["keys"][new_id] = _new_secret()
    doc["current"] = new_id
    _write_keys(path, doc)
    return new_id


def _mac(secret: str, gtin: str, lot: str, serial: str) -> str:
    h = hmac.HMAC(base64.b64decode(secret), hashes.SHA256())
    # Unit separators: no field can run into the next (a lot id may hold almost anything).
    h.update(f"{gtin}\x1f{lot}\x1f{serial}".encode())
    return base64.urlsafe_b64encode(h.finalize()[:SIGNATURE_BYTES]).decode().rstrip("=")


def sign(gtin: str, lot: str, serial: str, key_id: str | None = None) -> tuple[str, str]:
    """(key id, signature) of a unit code, by the current key unless ``key_id`` is given."""
    doc = _keys()
    kid = key_id or doc["current"]
    return kid, _mac(doc["keys"][kid], gtin, lot, serial)


@dataclass(frozen=True)
class CodeCheck:
    """What the signature of a scanned unit code says: ``ok``, or why not."""

    status: str  # ok | no_signature | unknown_key | bad_signature

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def verify(
    gtin: str, lot: str, serial: str, key_id: str | None, signature: str | None
) -> CodeCheck:
    """Whether a unit code's signature is ours (no store needed)."""
    if not key_id or not signature:
        return CodeCheck("no_signature")
    secret = _keys()["keys"].get(key_id)
    if secret is None:
        return CodeCheck("unknown_key")
    expected = _mac(secret, gtin, lot, serial)
    return CodeCheck("ok" if secrets.compare_digest(expected, signature) else "bad_signature")


# --- serials and short codes -----------------------------------------------------------------


def new_serial() -> str:
    """A random serial whose check character is a plain one: Crockford's five extra check
    symbols (* ~ $ = U) are hard to type on a phone, so serials that would need one are drawn
    again (13.5% of them: 0.2 of the 50 bits)."""
    while True:
        serial = "".join(secrets.choice(ALPHABET) for _ in range(SERIAL_LENGTH))
        if _check_symbol(serial) in ALPHABET:
            return serial


def _check_symbol(serial: str) -> str:
    value = 0
    for ch in serial:
        value = value * 32 + ALPHABET.index(ch)
    return CHECK_SYMBOLS[value % 37]


def short_code(serial: str) -> str:
    """The serial with its check character, in groups of four: ``7KQ2-M9XD-41R``."""
    s = serial + _check_symbol(serial)
    return "-".join(s[i : i + 4] for i in range(0, len(s), 4))


def looks_like_short_code(typed: str) -> bool:
    """Whether a typed text has a short code's shape (it may still be a lot id)."""
    s = "".join(typed.split()).replace("-", "").upper().translate(_LOOK_ALIKES)
    return len(s) == SERIAL_LENGTH + 1 and all(ch in CHECK_SYMBOLS for ch in s)


def check_short_code(typed: str) -> str:
    """The serial a typed short code names. ValueError with a plain reason when it cannot be
    one (wrong length, a character not in the alphabet, a check character that does not fit:
    a typo)."""
    s = "".join(typed.split()).replace("-", "").upper().translate(_LOOK_ALIKES)
    if len(s) != SERIAL_LENGTH + 1:
        raise ValueError(
            f"a code has {SERIAL_LENGTH + 1} characters (e.g. 7KQ2-M9XD-41R); "
            f"{typed.strip()!r} has {len(s)}"
        )
    serial, check = s[:-1], s[-1]
    bad = sorted({ch for ch in serial if ch not in ALPHABET})
    if bad:
        raise ValueError(f"{', '.join(bad)} cannot appear in a code (check {typed.strip()!r})")
    if check not in CHECK_SYMBOLS or _check_symbol(serial) != check:
        raise ValueError(f"{typed.strip()!r} is not a valid code: check for a mistyped character")
    return serial


def unit_uri(gtin: str, lot: str, serial: str, key_id: str, signature: str, resolver: str) -> str:
    """The printed URI of one unit: the Digital Link with the key id and signature."""
    return f"{digital_link(gtin, lot, resolver, serial)}?k={key_id}&s={signature}"


# --- issuing -----------------------------------------------------------------------------------


def units_of(eng: Engine, lot: str, resolver: str | None = None) -> list[dict[str, str]]:
    """The unit codes issued for a lot, in unit order: serial, URI, short code."""
    resolver = resolver or config.resolver()
    with eng.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT serial, gtin, key_id, signature FROM unit_code WHERE lot_id = :l "
                "ORDER BY unit"
            ),
            {"l": lot},
        ).all()
    return [
        {
            "serial": r.serial,
            "uri": unit_uri(r.gtin, lot, r.serial, r.key_id, r.signature, resolver),
            "short_code": short_code(r.serial),
        }
        for r in rows
    ]


def issue_units(eng: Engine, lot: str) -> int:
    """Give a packed lot one signed serial per unit it lacks; returns how many were issued.

    Idempotent: units already coded keep their codes (a printed code never changes) and a lot
    whose units grew gets only the missing ones. Units are numbered 1..units; the store's
    unique (lot_id, unit) and serial keys refuse a second set from a run racing this one, and
    the caller's retry then finds the units issued."""
    with eng.begin() as conn:
        row = conn.execute(
            text("SELECT gtin, units FROM lot WHERE lot_id = :l"), {"l": lot}
        ).first()
        if row is None:
            raise LookupError(f"lot {lot!r} is not in the store")
        if row.gtin is None:
            raise ValueError(f"lot {lot!r} was not packed with a GTIN, so it has no code")
        if not row.units:
            raise ValueError(f"lot {lot!r} has no output_units: there are no bags to code")
        have = conn.execute(
            text("SELECT COALESCE(MAX(unit), 0) FROM unit_code WHERE lot_id = :l"), {"l": lot}
        ).scalar()
        todo = range(int(have) + 1, int(row.units) + 1)
        if not todo:
            return 0
        gtin = row.gtin
        now = datetime.now(UTC).replace(tzinfo=None)
        doc = _keys()
        kid = doc["current"]
        serials = _fresh_serials(conn, len(todo))
        conn.execute(
            text(
                "INSERT INTO unit_code (serial, gtin, lot_id, unit, key_id, signature, issued_at) "
                "VALUES (:serial, :gtin, :lot, :unit, :kid, :sig, :at)"
            ),
            [
                {
                    "serial": s,
                    "gtin": gtin,
                    "lot": lot,
                    "unit": n,
                    "kid": kid,
                    "sig": _mac(doc["keys"][kid], gtin, lot, s),
                    "at": now,
                }
                for n, s in zip(todo, serials, strict=True)
            ],
        )
    return len(todo)


def _fresh_serials(conn: Any, n: int) -> list[str]:
    """n new serials no unit holds yet (a clash in 2^50 is rare; it is drawn again)."""
    out: set[str] = set()
    while len(out) < n:
        batch = {new_serial() for _ in range(n - len(out))} - out
        where, params = any_of(conn, "serial", batch)
        taken = {
            r[0] for r in conn.execute(text(f"SELECT serial FROM unit_code WHERE {where}"), params)
        }
        out |= batch - taken
    return list(out)
