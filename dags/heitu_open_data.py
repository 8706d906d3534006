"""heitu_open_data: the daily open-data files (公共数据开放), anonymised county aggregates."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, dag, task
from heitu_common import DEFAULT_ARGS, START_DATE, TAGS, TIMEZONE

log = logging.getLogger("heitu.dags")

OPEN_DATA_ASSET = Asset(uri="x-heitu://open/county_season_crop", name="heitu_open_data",
                        group="heitu")  # fmt: skip

DOC = f"""
# Open data: county aggregates per season and crop
Runs `traceability.Store.publish_open_data` (the same as `heitu export open`) every day at
07:00 Asia/Shanghai: one row per county, season and crop (plots, area in mu, harvest kg, units
packed and sold, findings by kind) as CSV and JSON with a data dictionary, in
`HEITU_OPEN_DIR` (default `HEITU_HOME/open`), which `heitu serve` publishes at `/open/`.

**Anonymised**: a row built from fewer than 5 farms is published with its figures withheld
(`suppressed: true`). No plot, farm or lot id is in the files.

**Task**: `publish_open_data` writes the three files (each replaced whole, so a reader never
sees half a file) and updates `{OPEN_DATA_ASSET.uri}` with the row counts. Safe to **Clear**:
it only reads the store and rewrites the files. It fails only when the store cannot be read or
the folder cannot be written; it is retried twice.

More: `docs/bureau.md`.
"""


@dag(
    dag_id="heitu_open_data",
    description="Daily open data: anonymised county aggregates per season and crop",
    schedule=CronTriggerTimetable("0 7 * * *", timezone=TIMEZONE),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "open-data"],
    doc_md=DOC,
)
def heitu_open_data() -> None:
    @task(
        outlets=[OPEN_DATA_ASSET],
        doc_md="""Writes county_season_crop.csv/.json and dictionary.json into HEITU_OPEN_DIR;
        cells from fewer than 5 farms are suppressed.""",
    )
    def publish_open_data() -> dict[str, Any]:
        from airflow.sdk import get_current_context

        from traceability import Store

        done = Store.open().publish_open_data().as_dict()
        log.info("%d row(s), %d suppressed, in %s", done["rows"], done["suppressed"], done["dir"])
        extra = {k: done[k] for k in ("rows", "suppressed", "generated_at", "dir")}
        get_current_context()["outlet_events"][OPEN_DATA_ASSET].extra = extra
        return extra

    publish_open_data()


heitu_open_data()
