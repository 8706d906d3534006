"""heitu_production: farm records (sowing, inputs, harvest lots) into the store."""

from __future__ import annotations

from airflow.sdk import dag
from heitu_common import DEFAULT_ARGS, START_DATE, TAGS, every_15_minutes, source_doc, source_tasks

TITLE = "Farm records: sowing, inputs, harvest lots from inbox/production/"
OFFSET = 3  # minutes past each quarter hour: source DAGs run staggered, in dependency order


@dag(
    dag_id="heitu_production",
    description=TITLE,
    schedule=every_15_minutes(OFFSET),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "source", "production"],
    doc_md=source_doc(TITLE, ("production",), OFFSET),
)
def heitu_production() -> None:
    source_tasks("production")


heitu_production()
