"""The steps a DAG runs: finding files, archiving with a manifest, freshness."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from tests.season import write_season
from traceability import pipeline


def test_pending_files_per_folder(inbox: Path) -> None:
    write_season(inbox)
    (inbox / "transport" / "notes.txt").write_text("not a contract file")
    names = [p.name for p in pipeline.pending_files("transport", inbox)]
    assert names == ["shipments.csv", "telemetry.jsonl"]  # shipments before their readings
    assert pipeline.pending_files("sales", inbox / "missing") == []


def test_archive_moves_files_and_records_hashes(inbox: Path, home: Path) -> None:
    write_season(inbox)
    files = pipeline.pending_files("sales", inbox)
    digest = hashlib.sha256(files[0].read_bytes()).hexdigest()
    manifest = pipeline.archive_files("sales", files, home / "archive")
    assert not files[0].exists()
    [entry] = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert entry["sha256"] == digest and entry["source"] == "sales"
    assert (
        Path(entry["archived_to"]).read_bytes() and Path(entry["archived_to"]).name == "sales.csv"
    )
    # Retrying the task is safe: the file is gone, nothing is added.
    pipeline.archive_files("sales", files, home / "archive")
    assert len(manifest.read_text().splitlines()) == 1


def test_same_name_different_content_kept_apart(inbox: Path, home: Path) -> None:
    write_season(inbox)
    f = inbox / "sales" / "sales.csv"
    pipeline.archive_files("sales", [f], home / "archive")
    write_season(inbox)
    f.write_text(f.read_text() + "\n")
    pipeline.archive_files("sales", [f], home / "archive")
    assert len(list((home / "archive" / "sales").glob("*/*.csv"))) == 2


def test_freshness(inbox: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_season(inbox)
    fresh = pipeline.check_freshness("sales", inbox, home / "archive")
    assert not fresh["stale"] and fresh["newest_age_hours"] < 1
    old = time.time() - 80 * 3600
    os.utime(inbox / "sales" / "sales.csv", (old, old))
    stale = pipeline.check_freshness("sales", inbox, home / "archive")
    assert stale["stale"] and "limit 48 h" in stale["message"]
    monkeypatch.setenv("HEITU_FRESHNESS_HOURS_SALES", "100")
    assert not pipeline.check_freshness("sales", inbox, home / "archive")["stale"]
    # Archived files count: the folder was fed, even if the inbox is empty now.
    pipeline.archive_files("sales", pipeline.pending_files("sales", inbox), home / "archive")
    assert pipeline.check_freshness("sales", inbox, home / "archive")["newest_age_hours"] > 79
    # a folder that never received a file is stale once watched for longer than its limit
    from datetime import UTC, datetime, timedelta

    from traceability.freshness import check_freshness

    never = check_freshness("plots", home / "empty", home / "archive")
    assert not never["stale"] and never["never_received"]
    assert "no file has arrived since watching began" in never["message"]
    long_ago = datetime.now(UTC) - timedelta(days=400)
    never = check_freshness("plots", home / "empty", home / "archive", watching_since=long_ago)
    assert never["stale"] and never["stale_since"]
    # the on-demand EPCIS folder has no limit unless one is set
    epcis = check_freshness("epcis", home / "empty", home / "archive", watching_since=long_ago)
    assert not epcis["stale"] and epcis["limit_hours"] is None
    monkeypatch.setenv("HEITU_FRESHNESS_HOURS_EPCIS", "24")
    assert check_freshness("epcis", home / "empty", home / "archive", watching_since=long_ago)[
        "stale"
    ]
    monkeypatch.setenv("HEITU_FRESHNESS_HOURS_SALES", "off")
    assert pipeline.check_freshness("sales", inbox, home / "archive")["limit_hours"] is None
    monkeypatch.setenv("HEITU_FRESHNESS_HOURS_SALES", "-3")
    with pytest.raises(ValueError, match="HEITU_FRESHNESS_HOURS_SALES"):
        pipeline.check_freshness("sales", inbox, home / "archive")


def test_freshness_state_changes_once(
    inbox: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """watch() says "stale" once and "recovered" once; record() keeps the state."""
    from datetime import UTC, datetime, timedelta

    from traceability import freshness

    archive = home / "archive"
    write_season(inbox)
    now = datetime.now(UTC)
    first = freshness.watch("sales", inbox, archive, now=now)
    assert first["event"] is None and first["state"] == "fresh"
    later = now + timedelta(hours=49)
    gone = freshness.watch("sales", inbox, archive, now=later)
    assert gone["event"] == "stale" and gone["stale_since"]
    assert freshness.watch("sales", inbox, archive, now=later)["event"] == "stale"  # not sent
    freshness.record("sales", gone, archive)
    assert freshness.watch("sales", inbox, archive, now=later)["event"] is None
    os.utime(inbox / "sales" / "sales.csv", (later.timestamp(), later.timestamp()))
    back = freshness.watch("sales", inbox, archive, now=later)
    assert back["event"] == "recovered"
    freshness.record("sales", back, archive)
    assert freshness.watch("sales", inbox, archive, now=later)["event"] is None


def test_uploads_in_progress_are_not_picked_up(inbox: Path) -> None:
    write_season(inbox)
    (inbox / "sales" / ".sales2.csv").write_text("hidden")
    (inbox / "sales" / "sales3.csv.part").write_text("half")
    assert [p.name for p in pipeline.pending_files("sales", inbox)] == ["sales.csv"]
    # A scheduled run waits until the file has been quiet for the settle time.
    assert pipeline.pending_files("sales", inbox, settle=60) == []
    old = time.time() - 120
    os.utime(inbox / "sales" / "sales.csv", (old, old))
    assert [p.name for p in pipeline.pending_files("sales", inbox, settle=60)] == ["sales.csv"]
