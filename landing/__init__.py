"""Files of the landing zone as text, and the errors for files that cannot be read.

Standard library only, and below both ``traceability`` and ``geo``: the contract readers and
the plot-file readers decode text the same way (UTF-8 with or without BOM, else GB18030) and
raise the same ``UnreadableFile``, without ``geo`` importing ``traceability``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

__all__ = ["Decoded", "HeituError", "UnreadableFile", "decode", "decode_lines"]


class HeituError(Exception):
    """Base of the errors the CLI turns into a message and an exit code."""

    exit_code = 1


class UnreadableFile(HeituError):
    """A whole input file could not be parsed: the task or command fails, naming the file."""

    def __init__(self, path: Path | str, cause: str) -> None:
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: cannot read file: {cause}")


class Decoded(NamedTuple):
    """A line-based file's text. ``bad_lines``: physical line number -> why its bytes are not
    text in ``encoding`` (those lines are decoded with U+FFFD for the bad bytes, so the rest
    of the line keeps its commas and quotes)."""

    text: str
    encoding: str
    bad_lines: dict[int, str]


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(path, exc.strerror or str(exc)) from exc


def _by_line(data: bytes, encoding: str) -> tuple[str, dict[int, str]]:
    """Decode line by line: the text (bad bytes replaced) and the lines that are not valid."""
    parts: list[str] = []
    bad: dict[int, str] = {}
    name = "UTF-8" if encoding == "utf-8" else "GB18030"
    for n, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            parts.append(raw.decode(encoding))
        except UnicodeDecodeError as exc:
            byte = raw[exc.start]
            bad[n] = f"line {n} is not valid {name} (byte 0x{byte:02x} at position {exc.start + 1})"
            parts.append(raw.decode(encoding, "replace"))
    return "".join(parts), bad


def _mostly_utf8(data: bytes) -> bool:
    """Whether a file that is not valid UTF-8 as a whole still is UTF-8 with a few broken
    bytes: more of its non-ASCII characters decode as UTF-8 than not. GB18030 text read as
    UTF-8 is almost all broken sequences, so a GB18030 file has (nearly) no valid ones."""
    text = data.decode("utf-8", "replace")
    broken = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return non_ascii - broken > broken


def decode_lines(path: Path) -> Decoded:
    """Text of a line-based contract file (CSV, JSON lines) and the encoding found: UTF-8
    (with or without BOM) or GB18030; a line whose bytes are not valid is named in
    ``bad_lines`` instead of failing the file.

    Strict decoding decides: UTF-8 is tried first because valid GB18030 text is almost never
    valid UTF-8, while GB18030 accepts nearly any byte string, so it cannot go first. A file
    that is not valid UTF-8 as a whole is still UTF-8 when most of its non-ASCII characters
    are (one corrupted line must not turn every Chinese name of the file into GB18030 mojibake);
    otherwise it is GB18030 when it is valid GB18030, and else whichever of the two leaves
    fewer broken lines. A file where more than half the lines are not text in the encoding
    found is unreadable.
    """
    data = _read_bytes(path)
    if data.startswith(b"\xef\xbb\xbf"):
        body, encoding = data[3:], "utf-8-sig"
        try:
            return Decoded(body.decode("utf-8"), encoding, {})
        except UnicodeDecodeError as exc:
            text, bad = _by_line(body, "utf-8")
            if _too_broken(text, bad):
                raise UnreadableFile(
                    path, f"starts with a UTF-8 BOM but is not UTF-8: {exc}"
                ) from exc
            return Decoded(text, encoding, bad)
    try:
        return Decoded(data.decode("utf-8"), "utf-8", {})
    except UnicodeDecodeError:
        pass
    if _mostly_utf8(data):
        text, bad = _by_line(data, "utf-8")
        return Decoded(text, "utf-8", bad)
    try:
        return Decoded(data.decode("gb18030"), "gb18030", {})
    except UnicodeDecodeError as exc:
        # Neither as a whole: the encoding with fewer broken lines (UTF-8 on a tie).
        text, bad = _by_line(data, "utf-8")
        encoding = "utf-8"
        text_gb, bad_gb = _by_line(data, "gb18030")
        if len(bad_gb) < len(bad):
            text, bad, encoding = text_gb, bad_gb, "gb18030"
        if _too_broken(text, bad):
            raise UnreadableFile(
                path, f"text is neither UTF-8 nor GB18030 (byte {exc.start} is not valid)"
            ) from exc
        return Decoded(text, encoding, bad)


def _too_broken(text: str, bad: dict[int, str]) -> bool:
    """More than half the lines broken (or the only one): not a text file with a bad line."""
    lines = text.count("\n") + text.count("\r") - text.count("\r\n") + 1
    return 2 * len(bad) > lines


def decode(path: Path) -> tuple[str, str]:
    """Text of a whole-document contract file (GeoJSON, EPCIS) and the encoding found, by the
    rules of ``decode_lines``; a document has no rows to reject, so any line of bytes that is
    not text makes it unreadable."""
    text, encoding, bad = decode_lines(path)
    if bad:
        more = f" (and {len(bad) - 1:,} more lines)" if len(bad) > 1 else ""
        raise UnreadableFile(path, bad[min(bad)] + more)
    return text, encoding
