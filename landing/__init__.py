"""Files of the landing zone as text, and the errors for files that cannot be read.

Standard library only, and below both ``traceability`` and ``geo``: the contract readers and
the plot-file readers decode text the same way (UTF-8 with or without BOM, else GB18030) and
raise the same ``UnreadableFile``, without ``geo`` importing ``traceability``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["HeituError", "UnreadableFile", "decode"]


class HeituError(Exception):
    """Base of the errors the CLI turns into a message and an exit code."""

    exit_code = 1


class UnreadableFile(HeituError):
    """A whole input file could not be parsed: the task or command fails, naming the file."""

    def __init__(self, path: Path | str, cause: str) -> None:
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: cannot read file: {cause}")


def decode(path: Path) -> tuple[str, str]:
    """Text of a contract file and the encoding found: UTF-8 (with or without BOM) or GB18030.

    Strict decoding decides: UTF-8 is tried first because valid GB18030 text is almost never
    valid UTF-8, while GB18030 accepts nearly any byte string, so it cannot go first.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(path, exc.strerror or str(exc)) from exc
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise UnreadableFile(path, f"starts with a UTF-8 BOM but is not UTF-8: {exc}") from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            path, f"text is neither UTF-8 nor GB18030 (byte {exc.start} is not valid)"
        ) from exc
