"""Errors that reach users: each names the file (and line and field where there is one).

``HeituError`` and ``UnreadableFile`` are defined in ``landing``, below ``geo`` too.
"""

from __future__ import annotations

from landing import HeituError, UnreadableFile

__all__ = [
    "HeituError",
    "LineageCycle",
    "NotFound",
    "StoreUnreachable",
    "UnreadableFile",
    "UsageError",
]


class UsageError(HeituError):
    """A malformed question: an option missing or out of range, a date that is not one."""

    exit_code = 2


class StoreUnreachable(HeituError):
    """The store's database cannot be reached or migrated: the URL and the driver's reason."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"store {url!r} is unreachable: {cause}")


class NotFound(HeituError):
    """A lot, plot or code asked for on the command line is not in the store."""

    exit_code = 1


class LineageCycle(HeituError):
    """A lot's lineage goes deeper than the walk follows: a cycle in the records."""
