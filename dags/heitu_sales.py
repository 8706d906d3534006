"""heitu_sales: retailers' sales records into the store."""

from __future__ import annotations

from airflow.sdk import dag
from heitu_common import DEFAULT_ARGS, START_DATE, TAGS, every_15_minutes, source_doc, source_tasks

TITLE = "Retail sales from inbox/sales/"
OFFSET = 9  # minutes past each quarter hour: source DAGs run staggered, in dependency order


@dag(
    dag_id="heitu_sales",
    description=TITLE,
    schedule=every_15_minutes(OFFSET),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "source", "sales"],
    doc_md=source_doc(TITLE, ("sales",), OFFSET),
)
def heitu_sales() -> None:
    source_tasks("sales")


heitu_sales()
