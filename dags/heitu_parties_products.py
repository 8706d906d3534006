"""heitu_parties_products: master data, parties then products (GTINs), into the store."""

from __future__ import annotations

from airflow.sdk import dag
from heitu_common import DEFAULT_ARGS, START_DATE, TAGS, every_15_minutes, source_doc, source_tasks

TITLE = "Master data: parties, then products (GTINs), from inbox/"
OFFSET = 0  # minutes past each quarter hour: source DAGs run staggered, in dependency order


@dag(
    dag_id="heitu_parties_products",
    description=TITLE,
    schedule=every_15_minutes(OFFSET),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "source", "parties", "products"],
    doc_md=source_doc(TITLE, ("parties", "products"), OFFSET),
)
def heitu_parties_products() -> None:
    _, parties_done = source_tasks("parties", group=True)
    products_first, _ = source_tasks("products", group=True)
    # Products follow the parties of the same run; they still run when there was no new
    # parties file (skipped), not when loading parties failed.
    products_first.operator.trigger_rule = "none_failed"
    parties_done >> products_first


heitu_parties_products()
