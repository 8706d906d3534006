"""The landing zone's folders: which files are waiting in one (``pending_files``).

Shared by the pipeline (what a run loads) and the freshness checks (when a folder was last
fed), so that both read the inbox the same way.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from traceability import config
from traceability.sources import FOLDERS, source_for

__all__ = ["PARTIAL_SUFFIXES", "pending_files", "settle_seconds"]

#: Names of files still being uploaded or edited: never picked up.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".filepart", ".crdownload", ".swp")


def settle_seconds() -> float:
    """How long a file must sit unchanged before a scheduled run takes it (``HEITU_SETTLE_SECONDS``,
    default 30): a partner's upload still in progress must not be loaded and archived half-way."""
    return float(os.environ.get("HEITU_SETTLE_SECONDS", "30"))


def pending_files(source: str, inbox: Path | None = None, settle: float = 0.0) -> list[Path]:
    """Contract files of ``source`` waiting in the inbox, by name (arrival order is no rule).

    Hidden files and upload leftovers (``*.part``, ``*.tmp`` ...) are skipped, and so are files
    modified less than ``settle`` seconds ago (the DAGs pass ``settle_seconds()``)."""
    folder = (inbox or config.inbox_dir()) / source
    if not folder.is_dir():
        return []
    cutoff = datetime.now(UTC).timestamp() - settle
    files = [
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith((".", "~"))
        and not p.name.lower().endswith(PARTIAL_SUFFIXES)
        and (settle <= 0 or p.stat().st_mtime <= cutoff)
        and source_for(source, p)
    ]
    order = {name: i for i, name in enumerate(FOLDERS[source])}
    return sorted(files, key=lambda p: (order[source_for(source, p).name], p.name))  # type: ignore[union-attr]
