"""heitu_parties_products: master data, parties then products (GTINs), into the store.

An Airflow DAG built by ``heitu_common.source_dag``: find_new_files -> load_records ->
retry_parked_records -> archive_loaded_files (updates its Asset), and check_freshness ->
alert_operator (an alert once when the folder goes stale, once when it recovers).
"""

from __future__ import annotations

from heitu_common import source_dag

dag = source_dag(
    "heitu_parties_products",
    title="Master data: parties, then products (GTINs), from inbox/",
    folders=("parties", "products"),
    offset=0,  # minutes past each quarter hour: source DAGs run staggered, in order
)
