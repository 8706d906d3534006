"""heitu_epcis: GS1 EPCIS 2.0 documents (partners who already speak EPCIS) into the store.

An Airflow DAG built by ``heitu_common.source_dag``: find_new_files -> load_records ->
retry_parked_records -> archive_loaded_files (updates its Asset), and check_freshness ->
alert_operator (an alert once when the folder goes stale, once when it recovers). A
document that fails the GS1 schema fails load_records, naming the file and the schema's
message; every schema-valid event is stored (docs/epcis.md).
"""

from __future__ import annotations

from heitu_common import source_dag

dag = source_dag(
    "heitu_epcis",
    title="GS1 EPCIS 2.0 documents from inbox/epcis/",
    folders=("epcis",),
    offset=11,  # minutes past each quarter hour: after sales, the last of the CSV sources
)
