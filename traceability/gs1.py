"""GS1 identifiers: GTIN, GLN and batch/lot ids, checked with biip (never our own arithmetic).

Each function takes a plain string and returns a plain string (or a reason), so the readers,
the CLI and the code issuer can share them without knowing about biip.
"""

from __future__ import annotations

import re
from functools import lru_cache

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gln import Gln
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gtin import Gtin

__all__ = ["LOT_MAX_LENGTH", "check_lot", "check_serial", "gln", "gtin14"]

_GTIN_LENGTHS = (8, 12, 13, 14)

#: AI (10) batch/lot and AI (21) serial are both "X..20": 1..20 characters of character set 82.
LOT_MAX_LENGTH = 20

# Shown in reasons so a producer knows what to rename a lot to. Only this text is ours: the
# check itself uses biip's pattern for the AI, so a wrong line here cannot let a bad lot through.
_SET_82_HUMAN = "A-Z a-z 0-9 and ! \" % & ' ( ) * + , - . / : ; < = > ? _"


def _digits(raw: str) -> str:
    # Codes are often copied from printed labels as "6 901234 567892".
    return "".join(raw.split())


def _check_digit_reason(kind: str, value: str) -> str:
    """Reason for a bad check digit, naming the digit biip computes for the rest."""
    # Weights run from the right, so leading zeros (GTIN-13 written as 14 digits) change nothing.
    expected = gs1_standard_check_digit(value[:-1])
    return f"{kind} {value!r} has check digit {value[-1]}, expected {expected}"


def gtin14(raw: str) -> str:
    """GTIN-8/12/13/14 (spaces allowed) -> GTIN-14, after checking the check digit."""
    return _gtin14(raw)


@lru_cache(maxsize=4096)
def _gtin14(raw: str) -> str:
    # A season names a few hundred products on hundreds of thousands of rows: each is parsed
    # by biip once (errors are not cached: each bad row raises anew).
    value = _digits(raw)
    if len(value) not in _GTIN_LENGTHS or not value.isdecimal():
        raise ValueError(f"GTIN {value!r} is not 8, 12, 13 or 14 digits")
    if not value.strip("0"):
        # All zeros passes the check-digit test but is a spreadsheet placeholder, not a product.
        raise ValueError(f"GTIN {value!r} is all zeros")
    try:
        return Gtin.parse(value).as_gtin_14()
    except ParseError as exc:
        if "check digit" in str(exc):
            raise ValueError(_check_digit_reason("GTIN", value)) from exc
        raise ValueError(f"GTIN {value!r} is not valid: {exc}") from exc


def gln(raw: str) -> str:
    """A GS1 Global Location Number: 13 digits with a valid check digit."""
    value = _digits(raw)
    if len(value) != 13 or not value.isdecimal():
        raise ValueError(f"GLN {value!r} is not 13 digits")
    try:
        return Gln.parse(value).as_gln()
    except ParseError as exc:
        if "check digit" in str(exc):
            raise ValueError(_check_digit_reason("GLN", value)) from exc
        raise ValueError(f"GLN {value!r} is not valid: {exc}") from exc


def _bad_characters(value: str, ai: GS1ApplicationIdentifier) -> list[str]:
    """Characters of value that biip's pattern for ai rejects, each once, in order of appearance."""
    bad: list[str] = []
    for char in value:
        if char not in bad and not re.fullmatch(ai.pattern, f"{ai.ai}{char}"):
            bad.append(char)
    return bad


def _check_x20(value: str, ai_code: str, what: str) -> str | None:
    ai = GS1ApplicationIdentifier.extract(ai_code)
    if re.fullmatch(ai.pattern, f"{ai.ai}{value}"):
        return None
    if not value:
        return f"{what} is empty; GS1 AI ({ai.ai}) needs 1 to {LOT_MAX_LENGTH} characters"
    bad = _bad_characters(value, ai)
    if bad:
        shown = ", ".join(repr(char) for char in bad)
        return (
            f"{what} {value!r} has characters GS1 AI ({ai.ai}) cannot carry: {shown}; "
            f"allowed are {_SET_82_HUMAN}"
        )
    return (
        f"{what} {value!r} is {len(value)} characters; "
        f"GS1 AI ({ai.ai}) allows at most {LOT_MAX_LENGTH}"
    )


def check_lot(lot: str) -> str | None:
    """None when lot can be a GS1 AI (10) batch/lot, else the reason it cannot."""
    return _check_x20(lot, "10", "lot")


def check_serial(serial: str) -> str | None:
    """None when serial can be a GS1 AI (21) serial number, else the reason it cannot."""
    return _check_x20(serial, "21", "serial")
