"""heitu_processing: mills' transformations (drying, milling, packing) into the store."""

from __future__ import annotations

from airflow.sdk import dag
from heitu_common import DEFAULT_ARGS, START_DATE, TAGS, every_15_minutes, source_doc, source_tasks

TITLE = "Mill records: drying, milling, packing lots from inbox/processing/"
OFFSET = 5  # minutes past each quarter hour: source DAGs run staggered, in dependency order


@dag(
    dag_id="heitu_processing",
    description=TITLE,
    schedule=every_15_minutes(OFFSET),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "source", "processing"],
    doc_md=source_doc(TITLE, ("processing",), OFFSET),
)
def heitu_processing() -> None:
    source_tasks("processing")


heitu_processing()
