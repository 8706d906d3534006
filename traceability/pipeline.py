"""What a DAG task or ``heitu ingest`` does, one function per step, plain values in and out.

Private: scripts, the CLI and the DAGs go through ``traceability.Store`` (traceability.api),
which calls these. Functions here take a store URL; the ones that take an engine live beside
the work they do, under names of their own (``ingest.retry_waiting``, ``checks.run_checks``,
``issuing.issue_codes``).

The landing zone has one folder per source (../shared/CONTRACT.md). A run finds the files
waiting in a folder, loads them, retries parked records, archives what it read (with a
manifest of hashes) and checks that the folder is not going stale.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from traceability import config
from traceability.errors import UnreadableFile
from traceability.inbox import PARTIAL_SUFFIXES as PARTIAL_SUFFIXES  # re-exported: the DAGs
from traceability.inbox import pending_files as pending_files  # call pipeline.pending_files
from traceability.inbox import settle_seconds as settle_seconds
from traceability.ingest import FileReport, ingest_file, label
from traceability.ingest import retry_waiting as _retry
from traceability.sources import FOLDERS, source_for
from traceability.store import open_store

#: Landing-zone folders in dependency order (a DAG per folder; parties+products share one).
SOURCES: tuple[str, ...] = tuple(FOLDERS)

#: Rejects (with their reasons) an ingest result lists; the counts per file are always whole.
MAX_REJECTS = 1000


def ingest_files(
    source: str,
    files: list[Path],
    url: str | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Load files of one landing-zone folder. Bad records become rejects; a file that can't be
    read is reported under ``unreadable`` (its caller fails after loading everything else)."""
    from traceability.rejects import rejects_in

    eng = open_store(url)
    started = datetime.now(UTC)
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
    with_rejects = [r.file for r in reports if r.rejected or r.parked]
    return {
        "source": source,
        "files": [r.as_dict() for r in reports],
        **totals,
        "lots": sorted(lots),
        "unreadable": unreadable,
        # what this load rejected or parked, with the reasons (at most MAX_REJECTS)
        "rejects": rejects_in(eng, with_rejects, started, MAX_REJECTS),
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


def check_freshness(
    source: str, inbox: Path | None = None, archive: Path | None = None
) -> dict[str, Any]:
    """How long since the newest file of ``source`` arrived (waiting or archived), against
    its limit (traceability.freshness)."""
    from traceability.freshness import check_freshness as _check

    return _check(source, inbox, archive)


def watch_freshness(source: str) -> dict[str, Any]:
    """The folder's freshness and whether it went stale or recovered since the last alert
    (``event``), with the alert's text and whom to call when it did."""
    from traceability import freshness

    result = freshness.watch(source)
    if result["event"]:
        people = freshness.contacts(source) if result["event"] == "stale" else []
        result["contacts"] = people
        result["text"] = freshness.alert_text(result, people)
    return result


def alert_freshness(result: dict[str, Any], extra: dict[str, Any] | None = None) -> bool:
    """Send a freshness alert (``watch_freshness``'s result) to the webhook, then record the
    folder's new state. True when a webhook took it; the state is recorded either way, so the
    operator hears once, unless the webhook failed (then nothing is recorded and it raises)."""
    from traceability import alerts, freshness

    payload = {
        "kind": "freshness",
        "text": result["text"],
        "folder": result["source"],
        "state": result["state"],
        "event": result["event"],
        "since": result["stale_since"] if result["event"] == "stale" else result["newest_at"],
        "newest_file_at": result["newest_at"],
        "limit_hours": result["limit_hours"],
        "contacts": result.get("contacts", []),
        **(extra or {}),
    }
    delivered = alerts.send(payload)
    freshness.record(result["source"], result)
    return delivered


def check_store(url: str | None = None) -> dict[str, Any]:
    """Every check over the store (``Store.check``); the findings are also stored (table
    ``finding``) in place of the last run's, for the pages that show what is open about a lot.
    Returns them and what changed since the last run: ``{"findings": {check: [...]},
    "changes": {"total", "new": {kind: n}, "new_ids": {kind: [ids]}, "gone": {kind: n}}}``."""
    from traceability.checks import run_checks as _run
    from traceability.findings import save_findings

    eng = open_store(url)
    doc = _run(eng)
    return {"findings": doc, "changes": save_findings(eng, doc)}


def publish_open_data(url: str | None = None, out: Path | None = None) -> dict[str, Any]:
    """The open data files (traceability.opendata) into ``out`` (default HEITU_OPEN_DIR)."""
    from traceability.opendata import publish
    from traceability.sqlrun import ready_url

    open_store(url)  # migrated, or why not
    store = ready_url(url or config.db_url()) or open_store(url)
    return publish(store, out or config.open_dir())


def summary(url: str | None = None) -> dict[str, Any]:
    from traceability.report import summary as _summary

    return _summary(open_store(url))
