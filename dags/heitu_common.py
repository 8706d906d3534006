"""Shared parts of the Heitu DAGs: assets, defaults, docs, and the tasks of a source folder.

Not a DAG file (``.airflowignore`` keeps the DAG processor from parsing it on its own); the DAG
files import it from the DAGs folder, which Airflow puts on ``sys.path``. Like the DAG files it
imports only ``airflow.sdk`` at the top: every task imports ``traceability`` (SQLAlchemy, readers,
geopandas for plots) when it runs, so parsing stays fast.

Every task is a few lines around one call of the Python API, ``traceability.Store`` (or, for the
landing zone's files, archive and freshness, ``traceability.pipeline``): the same functions
``heitu ingest`` runs, so the CLI and the scheduler can never disagree about what a file means.
Tasks never touch Airflow's metadata database, and pass only small JSON between them (file
paths, counts, at most ``MAX_LOTS`` lot ids).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, TaskGroup, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

log = logging.getLogger("heitu.dags")

#: Landing-zone folders in dependency order; the same tuple as ``traceability.pipeline.SOURCES``
#: (a test keeps them equal). Spelled out here so that parsing a DAG file never imports the
#: pipeline.
SOURCES: tuple[str, ...] = (
    "parties", "products", "plots", "production", "processing", "transport", "sales",
    "certificates", "epcis",
)  # fmt: skip

TIMEZONE = "Asia/Shanghai"
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = "heitu-data"

#: Lot ids carried in an asset event's extra; beyond it only ``lot_count`` tells how many.
MAX_LOTS = 1000
#: Per-file rows carried in an asset event's extra.
MAX_FILES = 200
#: Rejected or parked records (file, line, record, field, reason) carried in an asset event's
#: extra; `heitu rejects` lists them all.
MAX_REJECTS_SHOWN = 20

#: Retrying is safe: loading is idempotent (the same record twice changes nothing, each file is
#: one transaction) and archiving skips files already moved. So a transient error (store
#: unreachable, SQLite busy) retries; an unreadable file fails at once
#: (``AirflowFailException``), because retrying cannot fix it. A stale folder fails nothing: it
#: is an alert (``alert_operator``), sent once. ``HEITU_DAG_RETRIES``
#: overrides the count (the demo sets 0 so that a failure shows at once).
DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": int(os.environ.get("HEITU_DAG_RETRIES", "2")),
    "retry_delay": timedelta(minutes=2),
    "execution_timeout": timedelta(minutes=30),
}

TAGS = ["heitu"]


def store_asset(name: str) -> Asset:
    """The asset a source DAG updates: the part of the lineage store fed by one inbox folder.

    ``x-heitu://store/<folder>``: ``x-`` marks a private URI scheme (Airflow normalises no
    ``x-`` URI and looks for no provider for it).
    """
    return Asset(uri=f"x-heitu://store/{name}", name=f"heitu_store_{name}", group="heitu")


#: One asset per landing-zone folder.
STORE_ASSETS: dict[str, Asset] = {s: store_asset(s) for s in SOURCES}
#: Updated by ``heitu_checks`` (findings counts in its extra).
FINDINGS_ASSET = Asset(uri="x-heitu://checks/findings", name="heitu_findings", group="heitu")
#: Updated by ``heitu_codes`` (codes issued in its extra).
CODES_ASSET = Asset(uri="x-heitu://codes/issued", name="heitu_codes", group="heitu")


def freshness_asset(name: str) -> Asset:
    """Updated only when an inbox folder goes stale or recovers: the alert, in the UI."""
    return Asset(uri=f"x-heitu://freshness/{name}", name=f"heitu_freshness_{name}", group="heitu")


FRESHNESS_ASSETS: dict[str, Asset] = {s: freshness_asset(s) for s in SOURCES}


def every_15_minutes(offset: int) -> CronTriggerTimetable:
    """Every 15 minutes, ``offset`` minutes past the quarter: the source DAGs are staggered in
    dependency order so that parties/products land before the lots that name them, and the
    runs don't all write to the store at the same second."""
    return CronTriggerTimetable(f"{offset}-59/15 * * * *", timezone=TIMEZONE)


FAILURE_HELP = """
### When a task fails
- `find_new_files`: the inbox folder cannot be listed (mount gone, permissions). Fix it, then
  **Clear** the task.
- `load_records` with *cannot read file*: a file could not be parsed at all (not CSV/JSON or a
  vector file, undecodable, required columns missing). Everything else was loaded; the bad file
  stays in the inbox and nothing was archived this run. The error names the file and the
  cause: ask the partner to resend, replace or remove the file, then **Clear** (or wait for the
  next run). Records already loaded are not loaded twice.
- `load_records` with *store unreachable* or *database is locked*: retried twice by itself;
  if it still fails, check `HEITU_DB_URL` and the database, then **Clear**.
- `retry_parked_records`, `archive_loaded_files`: store or disk problem; fix, **Clear** (both
  are idempotent).
- `check_freshness`, `alert_operator`: these never fail because a folder is stale (a stale
  folder is an alert, not a broken run); they fail only when the archive folder cannot be
  read or written, or the alert webhook (`HEITU_ALERT_WEBHOOK`) does not take the alert
  (retried; the alert is sent again until it is delivered).

### When a folder goes stale
`alert_operator` runs once when a folder goes stale and once when it is fed again (skipped in
between): it logs the alert, posts it to `HEITU_ALERT_WEBHOOK` if set, and updates the asset
`x-heitu://freshness/<folder>` with the folder, since when and whom to call. Call them; if the
silence is expected (out of season), raise `HEITU_FRESHNESS_HOURS_<FOLDER>` (or set it to
`off`).

Bad *records* never fail a task: they are stored as rejects with file, line, field and reason;
see them with `heitu rejects` (`--json` for scripts). Records naming a key the store does not
know yet are *parked* (status `waiting`) and load by themselves once the key arrives.
"""


def load_summary(result: dict[str, Any]) -> dict[str, Any]:
    """What ``pipeline.ingest_files`` did, bounded in size: it travels by XCom and ends up in
    the asset event's extra."""
    lots = list(result["lots"])
    files = [
        {k: f.get(k) for k in ("file", "loaded", "unchanged", "parked", "rejected")}
        for f in result["files"]
    ]
    rejects = result.get("rejects", [])
    return {
        "source": result["source"],
        "files": files[:MAX_FILES],
        # what to fix without a shell: the files with rejects and the first records' reasons
        "rejected_files": sorted(f["file"] for f in files if f["rejected"] or f["parked"]),
        "rejects": rejects[:MAX_REJECTS_SHOWN],
        "rejects_shown": min(len(rejects), MAX_REJECTS_SHOWN),
        "file_count": len(files),
        "loaded": result["loaded"],
        "unchanged": result["unchanged"],
        "parked": result["parked"],
        "rejected": result["rejected"],
        "lots": lots[:MAX_LOTS],
        "lot_count": len(lots),
        "lots_truncated": len(lots) > MAX_LOTS,
    }


def source_tasks(source: str, *, group: bool = False) -> tuple[Any, Any]:
    """The tasks that move one inbox folder into the store; returns (first, last) task.

    ``find_new_files -> load_records -> retry_parked_records -> archive_loaded_files`` and,
    beside them, ``check_freshness -> alert_operator``. With ``group=True`` they sit in a task
    group named after the folder (``parties.load_records``), for DAGs with several folders.
    """
    asset = STORE_ASSETS[source]
    if group:
        with TaskGroup(group_id=source, tooltip=f"inbox/{source} -> {asset.uri}"):
            return _chain(source, asset)
    return _chain(source, asset)


def _chain(source: str, asset: Asset) -> tuple[Any, Any]:
    @task(
        task_id="find_new_files",
        doc_md=f"""Lists the contract files waiting in `inbox/{source}/` (`HEITU_INBOX`).
        Skips the rest of the run (no asset event) when there are none.""",
    )
    def find_new_files() -> list[str]:
        from traceability import config, pipeline

        files = pipeline.pending_files(source, settle=pipeline.settle_seconds())
        if not files:
            raise AirflowSkipException(f"no new files in {config.inbox_dir() / source}")
        log.info("%d new %s file(s): %s", len(files), source, ", ".join(f.name for f in files))
        return [str(f) for f in files]

    @task(
        task_id="load_records",
        doc_md=f"""Loads every record of the new `{source}` files into the store
        (`traceability.Store.ingest`, the same code as `heitu ingest`).
        Bad records become rejects (`heitu rejects`), records waiting for a key are parked.
        **Fails** after loading everything else when a file cannot be read at all, naming the
        file and the cause; that file stays in the inbox. Safe to retry: a re-load changes
        nothing.""",
    )
    def load_records(files: list[str]) -> dict[str, Any]:
        from pathlib import Path

        from traceability import Store

        store = Store.open()
        # the parked records are retried by the next task, after the load committed
        loaded = store.ingest([Path(f) for f in files], source=source, retry=False)
        result = loaded.sources[source]
        for f in result["files"]:
            log.log(
                logging.ERROR if f.get("error") else logging.INFO,
                "%s: loaded %s, unchanged %s, parked %s, rejected %s%s",
                f["file"], f["loaded"], f["unchanged"], f["parked"], f["rejected"],
                f"; cannot read: {f['error']}" if f.get("error") else "",
            )  # fmt: skip
        if result["rejected"] or result["parked"]:
            log.warning("%d %s record(s) rejected, %d parked: see `heitu rejects`",
                        result["rejected"], source, result["parked"])  # fmt: skip
            for r in result.get("rejects", [])[:MAX_REJECTS_SHOWN]:
                log.warning("  %s %s:%s %s %s: %s", r["status"], r["file"], r["line"],
                            r["record"] or "-", r["field"] or "-", r["reason"])  # fmt: skip
        if result["unreadable"]:
            lines = "\n".join(f"  {u['error']}" for u in result["unreadable"])
            raise AirflowFailException(
                f"{len(result['unreadable'])} {source} file(s) could not be read; everything "
                f"else was loaded, these stay in the inbox and nothing was archived:\n{lines}\n"
                "Ask the partner to resend; replace or remove the file, then clear this task."
            )
        summary = {**load_summary(result), "paths": files}
        if source == "plots":
            # The registry's own findings (overlaps, area mismatches, plots outside their
            # county), summarised where the operator looks first; details: `heitu check`.
            from collections import Counter

            from traceability.checks import plot_checks

            kinds = dict(Counter(f["kind"] for f in plot_checks(store.engine)))
            log.info("plot registry findings: %s (details: heitu check)", kinds or "none")
            summary["geo_findings"] = kinds
        return summary

    @task(
        task_id="retry_parked_records",
        doc_md="""Retries every parked record of every folder: what this run loaded may be the
        key they were waiting for (a harvest lot named by a mill's record, ...).""",
    )
    def retry_parked_records(loaded: dict[str, Any]) -> dict[str, int]:
        from traceability import Store

        retried = Store.open().retry_parked()
        log.info("parked records: %d loaded now, %d still waiting", retried.loaded,
                 retried.waiting)  # fmt: skip
        return retried.as_dict()

    @task(
        task_id="archive_loaded_files",
        outlets=[asset],
        doc_md=f"""Moves the files this run read to `archive/{source}/<date>/` and appends their
        sha256 to `archive/manifest.jsonl`. Then updates the asset `{asset.uri}`: its extra
        says what the run did (files, records loaded/unchanged/parked/rejected, lot ids touched,
        at most {MAX_LOTS}, and `lot_count`). Safe to retry: moved files are skipped.""",
    )
    def archive_loaded_files(loaded: dict[str, Any], retried: dict[str, int]) -> dict[str, Any]:
        from pathlib import Path

        from traceability import pipeline

        paths = loaded["paths"]
        manifest = pipeline.archive_files(source, [Path(f) for f in paths])
        extra = {k: v for k, v in loaded.items() if k != "paths"}
        extra.update(retried_loaded=retried["loaded"], still_waiting=retried["waiting"],
                     manifest=str(manifest))  # fmt: skip
        get_current_context()["outlet_events"][asset].extra = extra
        log.info("archived %d file(s); manifest %s", len(paths), manifest)
        return {"archived": len(paths), "manifest": str(manifest)}

    @task(
        task_id="check_freshness",
        doc_md=f"""Is `inbox/{source}/` being fed? Compares the newest file's arrival (waiting
        or archived) with the folder's limit, `HEITU_FRESHNESS_HOURS_{source.upper()}` hours,
        and with the state of the last alert. Never fails because the folder is stale:
        `alert_operator` says so, once. Independent of the load.""",
    )
    def check_freshness() -> dict[str, Any]:
        from traceability import pipeline

        result = pipeline.watch_freshness(source)
        log.info("%s (%s)", result["message"], "stale" if result["stale"] else "fresh")
        return result

    @task(
        task_id="alert_operator",
        outlets=[FRESHNESS_ASSETS[source]],
        doc_md=f"""Runs only when `inbox/{source}/` went stale or was fed again since the last
        alert (skipped otherwise): logs the alert, posts it to `HEITU_ALERT_WEBHOOK` when set,
        and updates `{FRESHNESS_ASSETS[source].uri}` with which folder, since when, and whom
        to call. Fails (and is retried) only when the webhook does not take the alert.""",
    )
    def alert_operator(result: dict[str, Any]) -> dict[str, Any]:
        from traceability import pipeline

        if not result["event"]:
            raise AirflowSkipException(f"no change: {result['message']}")
        context = get_current_context()
        where = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"]}
        delivered = pipeline.alert_freshness(result, where)
        level = logging.ERROR if result["event"] == "stale" else logging.INFO
        log.log(level, "%s%s", result["text"],
                "" if delivered else " (no HEITU_ALERT_WEBHOOK: logged only)")  # fmt: skip
        extra = {k: result.get(k) for k in ("source", "state", "event", "stale_since",
                 "newest_at", "limit_hours", "contacts", "text")}  # fmt: skip
        extra["webhook"] = delivered
        context["outlet_events"][FRESHNESS_ASSETS[source]].extra = extra
        return extra

    files = find_new_files()
    loaded = load_records(files)
    retried = retry_parked_records(loaded)
    archived = archive_loaded_files(loaded, retried)
    alert_operator(check_freshness())
    return files, archived


def source_doc(title: str, sources: tuple[str, ...], offset: int) -> str:
    """The DAG's doc_md: what it does, its asset(s), when it fails and what to do."""
    from textwrap import dedent

    folders = ", ".join(f"`inbox/{s}/`" for s in sources)
    assets = ", ".join(f"`{STORE_ASSETS[s].uri}`" for s in sources)
    limits = ", ".join(f"`HEITU_FRESHNESS_HOURS_{s.upper()}`" for s in sources)
    return (
        dedent(f"""
    # {title}
    Loads the partner files waiting in {folders} into the Heitu lineage store, then moves them
    to the archive with a sha256 manifest. Runs every 15 minutes ({offset} min past the
    quarter, Asia/Shanghai); a run with no new file is skipped and updates no asset.

    **Tasks**: `find_new_files` -> `load_records` -> `retry_parked_records` ->
    `archive_loaded_files` (updates {assets}), and beside them `check_freshness` ->
    `alert_operator` (limit: {limits}, hours; the alert goes out once when a folder goes
    stale and once when it recovers, never as a failed run).

    **Assets**: {assets}; `heitu_checks` runs on every update, `heitu_codes` on
    `x-heitu://store/processing`. The event's extra: files, loaded, unchanged, parked,
    rejected, lots (at most {MAX_LOTS}), lot_count.
    """)
        + FAILURE_HELP
        + "\nMore: `docs/dags.md`."
    )


def source_dag(dag_id: str, title: str, folders: tuple[str, ...], offset: int) -> Any:
    """A source DAG: the folder tasks of each of ``folders``, in order, every 15 minutes
    ``offset`` minutes past the quarter. With several folders (parties, then products) each
    sits in its own task group, and a later folder still runs when an earlier one had no new
    file (skipped), not when it failed."""

    @dag(
        dag_id=dag_id,
        description=title,
        schedule=every_15_minutes(offset),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=[*TAGS, "source", *folders],
        doc_md=source_doc(title, folders, offset),
    )
    def source() -> None:
        previous = None
        for folder in folders:
            first, last = source_tasks(folder, group=len(folders) > 1)
            if previous is not None:
                first.operator.trigger_rule = "none_failed"
                previous >> first
            previous = last

    return source()
