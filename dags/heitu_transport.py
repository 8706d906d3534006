"""heitu_transport: shipments and truck telemetry (cold chain readings) into the store."""

from __future__ import annotations

from airflow.sdk import dag
from heitu_common import DEFAULT_ARGS, START_DATE, TAGS, every_15_minutes, source_doc, source_tasks

TITLE = "Shipments and truck telemetry from inbox/transport/"
OFFSET = 7  # minutes past each quarter hour: source DAGs run staggered, in dependency order


@dag(
    dag_id="heitu_transport",
    description=TITLE,
    schedule=every_15_minutes(OFFSET),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "source", "transport"],
    doc_md=source_doc(TITLE, ("transport",), OFFSET),
)
def heitu_transport() -> None:
    source_tasks("transport")


heitu_transport()
