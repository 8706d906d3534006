"""heitu_certificates: electronic certificates into the store (承诺达标合格证 pledges, 地理标志
geographical indications, 绿色食品 green food, 有机 organic).

An Airflow DAG built by ``heitu_common.source_dag``: find_new_files -> load_records ->
retry_parked_records -> archive_loaded_files (updates its Asset), and check_freshness ->
alert_operator (an alert once when the folder goes stale, once when it recovers).
A certificate naming a lot, plot, product or party not loaded yet is parked, and loads on a
later run once it is there.
"""

from __future__ import annotations

from heitu_common import source_dag

dag = source_dag(
    "heitu_certificates",
    title="Certificates (pledges, GIs, green food, organic) from inbox/certificates/",
    folders=("certificates",),
    offset=10,  # minutes past each quarter hour: after sales, whose lots they name
)
