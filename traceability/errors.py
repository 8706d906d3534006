"""Errors that reach users: each names the file (and line and field where there is one).

``HeituError`` and ``UnreadableFile`` are defined in ``landing``, below ``geo`` too.
"""

from __future__ import annotations

from landing import HeituError, UnreadableFile

__all__ = ["HeituError", "NotFound", "StoreUnreachable", "UnreadableFile"]


class StoreUnreachable(HeituError):
    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"store {url!r} is unreachable: {cause}")


class NotFound(HeituError):
    """A lot, plot or code asked for on the command line is not in the store."""

    exit_code = 1
