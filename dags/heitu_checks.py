"""heitu_checks: mass balance, cold chain, geo and code checks over the whole store."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from heitu_common import (
    DEFAULT_ARGS,
    FINDINGS_ASSET,
    START_DATE,
    STORE_ASSETS,
    TAGS,
    TIMEZONE,
)

log = logging.getLogger("heitu.dags")

DOC = f"""
# Checks: mass balance, cold chain, geo, codes
Runs `traceability.Store.check` (the same as `heitu check`) over the whole store.

**Schedule**: whenever any source DAG updates its store asset
({", ".join(f"`{a.uri}`" for a in STORE_ASSETS.values())}), and every day at 06:00
Asia/Shanghai in any case (so a day with a failed source run still gets its morning report,
and cold-chain gaps of trucks that went silent show up).

**Task**: `run_checks` stores the findings in place of the last run's (table `finding`: the
consumer page warns about a lot whose chain has an open one), logs the number of findings per
check and the **new** ones (not found by the last run) by kind with their first ids, and
updates `{FINDINGS_ASSET.uri}`: its extra has the counts per check and kind, `new` (new
findings per kind), `new_ids` (the first ids of each, to look up) and `gone` (findings no
longer found).

**Findings are results, not failures**: the task succeeds whatever it finds. Read them with
`heitu check` (`--json` for scripts): each finding has a `kind` and the lot, shipment, plot or
record it is about. The task fails only when the store cannot be read; it is retried twice and
is safe to **Clear** (it reads the store and replaces the stored findings with this run's).

More: `docs/dags.md`.
"""


@dag(
    dag_id="heitu_checks",
    description="Mass balance, cold chain, geo and code checks over the store",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 * * *", timezone=TIMEZONE),
        assets=AssetAny(*STORE_ASSETS.values()),
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "checks"],
    doc_md=DOC,
)
def heitu_checks() -> None:
    @task(
        outlets=[FINDINGS_ASSET],
        doc_md="""Runs every check over the store and logs the findings per check and kind.
        Succeeds whatever it finds; read the findings with `heitu check`.""",
    )
    def run_checks() -> dict[str, Any]:
        from collections import Counter

        from airflow.sdk import get_current_context

        from traceability import Store

        result = Store.open().check()
        findings, changes = result.as_dict(), result.changes
        counts = {check: len(found) for check, found in findings.items()}
        kinds = Counter(f"{check}/{f['kind']}" for check, found in findings.items() for f in found)
        for check, found in findings.items():
            log.info("%s: %d finding(s)", check, len(found))
        for kind, n in changes["new"].items():
            log.warning("NEW %d %s: %s", n, kind, ", ".join(changes["new_ids"][kind]))
        for kind, n in changes["gone"].items():
            log.info("no longer found: %d %s", n, kind)
        if sum(counts.values()):
            log.warning("%d finding(s) in all: see `heitu check`", sum(counts.values()))
        extra = {
            "findings": counts,
            "kinds": dict(sorted(kinds.items())),
            # what appeared since the last run, by kind, with the first ids to look up
            "new": changes["new"],
            "new_ids": changes["new_ids"],
            "gone": changes["gone"],
        }
        get_current_context()["outlet_events"][FINDINGS_ASSET].extra = extra
        return extra

    run_checks()


heitu_checks()
