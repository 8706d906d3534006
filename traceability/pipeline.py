"""What a DAG task or ``heitu ingest`` does, one function per step, plain values in and out.

The landing zone has one folder per source (../shared/CONTRACT.md). A run finds the files
waiting in a folder, loads them, retries parked records, archives what it read (with a
manifest of hashes) and checks that the folder is not going stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from traceability import config
from traceability.errors import UnreadableFile
from traceability.ingest import FileReport, ingest_file, label
from traceability.ingest import retry_parked as _retry
from traceability.sources import FOLDERS, source_for
from traceability.store import open_store

#: Landing-zone folders in dependency order (a DAG per folder; parties+products share one).
SOURCES: tuple[str, ...] = tuple(FOLDERS)

#: Hours without a new file after which a folder is stale and the operator is alerted.
#: Override with HEITU_FRESHNESS_HOURS_<FOLDER>, e.g. HEITU_FRESHNESS_HOURS_TRANSPORT=12.
FRESHNESS_HOURS: dict[str, float] = {
    "parties": 24 * 90,  # master data changes rarely
    "products": 24 * 90,
    "plots": 24 * 365,  # the land registry delivers once a season or less
    "production": 72,  # farms report sowing/inputs/harvest every few days in season
    "processing": 48,  # mills deliver daily
    "transport": 12,  # loggers upload several times a day while trucks run
    "sales": 48,  # retailers deliver daily
    "epcis": 24 * 30,  # partners who speak EPCIS send documents now and then, not on a clock
}


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


def ingest_files(
    source: str,
    files: list[Path],
    url: str | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Load files of one landing-zone folder. Bad records become rejects; a file that can't be
    read is reported under ``unreadable`` (its caller fails after loading everything else)."""
    eng = open_store(url)
    reports: list[FileReport] = []
    lots: set[str] = set()
    unreadable: list[dict[str, str]] = []
    for path in files:
        src = source_for(source, path)
        if src is None:
            continue
        try:
            rep, touched = ingest_file(eng, src, path)
        except UnreadableFile as exc:
            unreadable.append({"file": str(path), "error": str(exc)})
            rep, touched = FileReport(label(path), error=exc.cause), set()
        reports.append(rep)
        lots |= touched
        if on_file:
            on_file(path)
    totals = {
        k: sum(getattr(r, k) for r in reports)
        for k in ("loaded", "unchanged", "parked", "rejected")
    }
    return {
        "source": source,
        "files": [r.as_dict() for r in reports],
        **totals,
        "lots": sorted(lots),
        "unreadable": unreadable,
    }


def retry_parked(url: str | None = None) -> dict[str, Any]:
    """Retry every parked record of every source; returns {"loaded", "waiting", "by_source"}."""
    return _retry(open_store(url))


def ingest_dir(
    inbox: Path, url: str | None = None, on_file: Callable[[Path], None] | None = None
) -> dict[str, Any]:
    """``heitu ingest DIR``: every folder in dependency order, then the parked records."""
    per_source = {s: ingest_files(s, pending_files(s, inbox), url, on_file) for s in SOURCES}
    retried = retry_parked(url)
    return {
        "sources": per_source,
        "retried": retried,
        "unreadable": [u for r in per_source.values() for u in r["unreadable"]],
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _companions(path: Path) -> list[Path]:
    """A Shapefile travels with its .dbf/.shx/.prj/.cpg: they move together."""
    if path.suffix.lower() != ".shp":
        return [path]
    return sorted(p for p in path.parent.glob(path.stem + ".*") if p.is_file())


def archive_files(source: str, files: list[Path], archive: Path | None = None) -> Path:
    """Move read files to ``archive/<source>/<date>/`` and append each one's sha256 to
    ``archive/manifest.jsonl``. Safe to retry: files already moved are skipped."""
    root = archive or config.archive_dir()
    now = datetime.now(UTC)
    day = root / source / now.strftime("%Y-%m-%d")
    manifest = root / "manifest.jsonl"
    root.mkdir(parents=True, exist_ok=True)
    with manifest.open("a", encoding="utf-8") as out:
        for path in files:
            for f in _companions(path):
                if not f.exists():
                    continue
                digest = _sha256(f)
                received = datetime.fromtimestamp(f.stat().st_mtime, UTC)
                day.mkdir(parents=True, exist_ok=True)
                target = day / f.name
                if target.exists() and _sha256(target) != digest:
                    target = day / f"{f.stem}.{digest[:8]}{f.suffix}"
                shutil.move(str(f), target)
                entry = {
                    "source": source,
                    "file": f.name,
                    "sha256": digest,
                    "bytes": target.stat().st_size,
                    "received_at": received.isoformat(),
                    "archived_at": now.isoformat(),
                    "archived_to": str(target),
                }
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return manifest


def freshness_limit(source: str) -> float:
    raw = os.environ.get(f"HEITU_FRESHNESS_HOURS_{source.upper()}")
    return float(raw) if raw else FRESHNESS_HOURS[source]


def check_freshness(
    source: str, inbox: Path | None = None, archive: Path | None = None
) -> dict[str, Any]:
    """How long since the newest file of ``source`` arrived (waiting or archived)."""
    newest: datetime | None = None
    for path in pending_files(source, inbox):
        t = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        newest = max(newest, t) if newest else t
    manifest = (archive or config.archive_dir()) / "manifest.jsonl"
    if manifest.exists():
        with manifest.open(encoding="utf-8") as f:
            for line in f:
                entry = json.loads(line)
                if entry["source"] == source:
                    t = datetime.fromisoformat(entry["received_at"])
                    newest = max(newest, t) if newest else t
    limit = freshness_limit(source)
    age = (datetime.now(UTC) - newest).total_seconds() / 3600 if newest else None
    stale = age is None or age > limit
    if age is None:
        message = f"{source}: no file has ever arrived (expected one every {limit:g} h)"
    else:
        message = f"{source}: newest file arrived {age:.1f} h ago (limit {limit:g} h)"
    return {
        "source": source,
        "newest_age_hours": age,
        "limit_hours": limit,
        "stale": stale,
        "message": message,
    }


def run_checks(url: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every check over the store; the findings are also stored (table ``finding``) in place
    of the last run's, for the pages that show what is open about a lot."""
    from traceability.checks import run_checks as _run
    from traceability.findings import save_findings

    eng = open_store(url)
    doc = _run(eng)
    save_findings(eng, doc)
    return doc


def issue_codes(url: str | None = None) -> dict[str, Any]:
    from traceability.issuing import issue_codes as _issue

    return _issue(open_store(url))


def summary(url: str | None = None) -> dict[str, Any]:
    from traceability.report import summary as _summary

    return _summary(open_store(url))
