"""heitu_plots: the land registry's plot polygons (inbox/plots/) into the store."""

from __future__ import annotations

from airflow.sdk import dag
from heitu_common import DEFAULT_ARGS, START_DATE, TAGS, every_15_minutes, source_doc, source_tasks

TITLE = "Plot registry: farm polygons from inbox/plots/"
OFFSET = 1  # minutes past each quarter hour: source DAGs run staggered, in dependency order


@dag(
    dag_id="heitu_plots",
    description=TITLE,
    schedule=every_15_minutes(OFFSET),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "source", "plots"],
    doc_md=source_doc(TITLE, ("plots",), OFFSET),
)
def heitu_plots() -> None:
    source_tasks("plots")


heitu_plots()
