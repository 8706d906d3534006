"""heitu_codes: a GS1 Digital Link code and QR PNG for every packed lot."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from heitu_common import (
    CODES_ASSET,
    DEFAULT_ARGS,
    MAX_LOTS,
    START_DATE,
    STORE_ASSETS,
    TAGS,
    TIMEZONE,
)

log = logging.getLogger("heitu.dags")
PROCESSING = STORE_ASSETS["processing"]

DOC = f"""
# Codes: a traceability code (追溯码) for every packed lot
Runs `traceability.Store.codes`: every lot packed with a GTIN gets its GS1 Digital
Link URI (`https://<HEITU_RESOLVER>/01/<GTIN>/10/<lot>`) and a QR PNG under
`HEITU_HOME/codes/<gtin>/`, and each bag of a lot packed in units its own signed serial code
(`.../21/<serial>?k=&s=`, with a short code to type). A lot or bag that has a code keeps it (a
printed code never changes); a missing PNG is drawn again.

**Schedule**: when `heitu_processing` updates `{PROCESSING.uri}` (packed lots come from the
mills' records), and every hour at :30 in any case: a mill record parked until its input lots
arrived is loaded by another folder's run, and a processing run that failed on a bad file
still loaded its good records; the hourly run gives those lots their codes too.

**Task**: `issue_codes` issues the codes, then writes a print-ready label sheet (A4 PDF, one
label per bag: QR, short code, product name, lot, pack date, pledge) for every coded lot that
has none yet, at
`HEITU_HOME/labels/<gtin>/<lot>.pdf` (a sheet once written is kept: re-running writes nothing),
and updates `{CODES_ASSET.uri}` with the codes and the sheets written in its extra (at most
{MAX_LOTS} of each, and the counts).

**When it fails**: the store, the codes folder (`HEITU_CODES_DIR`) or `HEITU_HOME/labels` is
not reachable or not writable, or the Chinese font is missing (Debian package
`fonts-noto-cjk`). Retried twice; idempotent, so **Clear** it once fixed. Lots that cannot have a
code are listed in the log, not failed. Print labels with `heitu labels LOT --out F.pdf`.

More: `docs/dags.md`.
"""


@dag(
    dag_id="heitu_codes",
    description="GS1 Digital Link codes and QR PNGs for packed lots",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("30 * * * *", timezone=TIMEZONE),
        assets=PROCESSING,
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "codes"],
    doc_md=DOC,
)
def heitu_codes() -> None:
    @task(
        outlets=[CODES_ASSET],
        doc_md="""Issues the missing codes and QR PNGs of packed lots and writes the label
        sheets not written yet; lists the lots that cannot have one (no GTIN) in the log.""",
    )
    def issue_codes() -> dict[str, Any]:
        from airflow.sdk import get_current_context

        from traceability import Store

        store = Store.open()
        result = store.codes().as_dict()
        lots = [c["lot"] for c in result["codes"] if c["new"]]
        for skipped in result.get("skipped", []):
            log.warning("no code for %s: %s", skipped["lot"], skipped["reason"])
        log.info(
            "%d code(s) issued now, %d bag code(s); %d packed lot(s) have their code and QR PNG",
            result["issued"],
            result["units_issued"],
            result["total"],
        )
        extra = {
            "issued": result["issued"],
            "units_issued": result["units_issued"],
            "total": result["total"],
            "lots": lots[:MAX_LOTS],
            "lot_count": len(lots),
            "lots_truncated": len(lots) > MAX_LOTS,
            "skipped": len(result.get("skipped", [])),
        }
        # a print-ready label sheet (A4 PDF) for each lot coded now, or whose sheet is gone
        # before it was ever written: HEITU_HOME/labels/<gtin>/<lot>.pdf; kept once written
        sheets = store.label_sheets()
        files = [s["out"] for s in sheets["written"]]
        for skipped in sheets["skipped"]:
            log.warning("no label sheet for %s: %s", skipped["lot"], skipped["reason"])
        log.info("%d label sheet(s) written", len(files))
        extra |= {
            "labels": files[:MAX_LOTS],
            "label_count": len(files),
            "labels_truncated": len(files) > MAX_LOTS,
        }
        get_current_context()["outlet_events"][CODES_ASSET].extra = extra
        return extra

    issue_codes()


heitu_codes()
