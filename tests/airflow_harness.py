"""Real Airflow for the DAG tests: a throwaway AIRFLOW_HOME with a migrated SQLite metadata DB.

Load it from ``tests/conftest.py`` with ``pytest_plugins = ["tests.airflow_harness"]``.

Airflow reads its configuration once, when ``airflow`` is first imported, so this module sets
``AIRFLOW_HOME`` and friends *at import time*: pytest imports it with the conftest, before any
test module imports ``airflow``. Each pytest process (each xdist worker) gets its own home,
removed at exit. The metadata DB is migrated lazily, by the first test that asks for
``airflow_db``, so test files that don't touch Airflow pay nothing.

The tests may read Airflow's metadata DB (DagRuns, task instances, asset events); the tasks
under test never do: they only call ``traceability``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from traceability.demo import DAG_IDS as _DEMO_DAG_IDS  # imports no Airflow

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "dags"
VENV_BIN = Path(sys.executable).parent

if "airflow" in sys.modules:  # too late: Airflow has read its config from the real environment
    raise RuntimeError(
        "airflow was imported before tests/airflow_harness.py; load the harness first "
        '(pytest_plugins = ["tests.airflow_harness"] in tests/conftest.py)'
    )

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="heitu-airflow-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)

#: The environment every Airflow test runs in (also given to the ``airflow db migrate`` child).
AIRFLOW_ENV: dict[str, str] = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
}
os.environ.update(AIRFLOW_ENV)
os.environ.pop("HEITU_DAG_RETRIES", None)  # the DAGs' own retry counts are under test

#: Every DAG id, in the order the demo runs them.
#: The DAGs in the order ``make demo`` runs them: the tests run what the demo runs.
DAG_IDS: tuple[str, ...] = _DEMO_DAG_IDS


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """AIRFLOW_HOME with a freshly migrated SQLite metadata DB (``airflow db migrate``)."""
    env = {**os.environ, **AIRFLOW_ENV, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [str(VENV_BIN / "airflow"), "db", "migrate"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode:
        pytest.fail(f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path) -> Any:
    """Every DAG of ``dags/``, parsed the way the DAG processor parses them (the DAGs folder
    goes on ``sys.path``, so ``import heitu_common`` works afterwards too)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=DAGS_FOLDER, bundle_path=DAGS_FOLDER, bundle_name="dags-folder")


@pytest.fixture(scope="module")
def heitu_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A HEITU_HOME of this test module's own (SQLite store, inbox, archive, codes), set in the
    environment the in-process tasks read, and removed from it afterwards."""
    from traceability.store import reset_engines

    home = tmp_path_factory.mktemp("heitu-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEITU_HOME", str(home))
        mp.setenv("HEITU_SETTLE_SECONDS", "0")  # tests deliver files a moment before the run
        for var in ("HEITU_DB_URL", "HEITU_INBOX", "HEITU_ARCHIVE", "HEITU_CODES_DIR"):
            mp.delenv(var, raising=False)
        reset_engines()
        yield home
        reset_engines()


@pytest.fixture(scope="session")
def run_dag(dagbag: Any) -> Callable[[str], Any]:
    """``run_dag(dag_id)``: one real run of the DAG with ``dag.test()`` (in this process, no
    scheduler), returning the finished DagRun. Retries are switched off for the run, so a
    failing task fails at once instead of waiting out its retry delay; that DAGs *have*
    retries is checked on the parsed DAGs."""

    def run(dag_id: str) -> Any:
        dag = dagbag.dags[dag_id]
        retries = {t.task_id: t.retries for t in dag.tasks}
        try:
            for t in dag.tasks:
                t.retries = 0
            return dag.test()
        finally:
            for t in dag.tasks:
                t.retries = retries[t.task_id]

    return run


def task_states(dag_run: Any) -> dict[str, str]:
    """``{task_id: state}`` of a finished DagRun (read from the metadata DB)."""
    return {ti.task_id: str(getattr(ti.state, "value", ti.state))
            for ti in dag_run.get_task_instances()}  # fmt: skip


def asset_events(dag_run: Any) -> dict[str, dict[str, Any]]:
    """``{asset uri: extra}`` of the asset events a DagRun emitted."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent).where(
                AssetEvent.source_dag_id == dag_run.dag_id,
                AssetEvent.source_run_id == dag_run.run_id,
            )
        ).all()
        return {e.uri: dict(e.extra or {}) for e in events}
