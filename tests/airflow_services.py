"""Heitu on a real Airflow 3 deployment, at scale, in subprocesses.

Airflow's metadata DB is a fresh PostgreSQL database; the executor is the CeleryExecutor with
Redis as broker and PostgreSQL as result backend; the Heitu lineage store is another fresh
PostgreSQL database. Four long-running processes, each in its own process group:

- ``airflow api-server``: UI, REST API, and the execution API the Task SDK workers talk to
  (``AIRFLOW__CORE__EXECUTION_API_SERVER_URL``);
- ``airflow scheduler``: creates DAG runs (cron, asset events), queues tasks to Celery;
- ``airflow dag-processor``: parses ``dags/`` into the metadata DB;
- ``airflow celery worker``: runs the tasks (concurrency 2), each in a Task SDK subprocess.

``tests/test_scheduler.py`` drives one; ``python -m tests.airflow_services`` (``make
airflow-celery``) starts one on the demo data and keeps it up for an operator to look at.

Every child gets a complete environment built here (``Deployment.env``): nothing named
``AIRFLOW*`` or ``HEITU_*`` is inherited, so the test process's own Airflow settings
(``tests/airflow_harness.py`` sets them at import) never leak into the deployment. Secrets
(JWT, API, Fernet) are made per deployment and shared by all four processes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "dags"
VENV_BIN = Path(sys.executable).parent

#: PostgreSQL server (trust auth) and Redis server; override for another host.
PG_ADMIN = os.environ.get("HEITU_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("HEITU_TEST_REDIS", "redis://127.0.0.1:6379")

#: DAGs every deployment must have: the source DAGs in dependency order, then the ones the
#: store assets trigger. ``Deployment.heitu_dags()`` finds the others a deployment has (a new
#: source DAG is tagged ``source`` and runs at its cron offset), and ``run_season`` runs them all.
REQUIRED_SOURCE_DAGS: tuple[str, ...] = (
    "heitu_parties_products", "heitu_plots", "heitu_production", "heitu_processing",
    "heitu_transport", "heitu_sales",
)  # fmt: skip
ASSET_DAGS: tuple[str, ...] = ("heitu_checks", "heitu_codes")
REQUIRED_DAGS: frozenset[str] = frozenset(REQUIRED_SOURCE_DAGS + ASSET_DAGS)
STORE_PREFIX = "x-heitu://store/"
PROCESSING_URI = STORE_PREFIX + "processing"
#: Which asset events each consumer must have been triggered by: heitu_checks by every store
#: update, heitu_codes by the processing ones.
CONSUMES: dict[str, Callable[[str], bool]] = {
    "heitu_checks": lambda uri: uri.startswith(STORE_PREFIX),
    "heitu_codes": lambda uri: uri == PROCESSING_URI,
}


@dataclass(frozen=True)
class HeituDags:
    """The heitu DAGs a deployment parsed: source DAGs in dependency order (their cron offset:
    the stagger of docs/dags.md), the inbox folders of each (its tags), the consumers."""

    sources: tuple[str, ...]
    folders: dict[str, tuple[str, ...]]
    consumers: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.sources + self.consumers


#: Variables never inherited by a child: the deployment sets its own.
_NOT_INHERITED = ("AIRFLOW", "_AIRFLOW", "HEITU_", "PYTEST_", "CELERY_")

FINISHED = {"success", "failed"}


def deliver_season(inbox: Path, plots: int, seed: int) -> list[Path]:
    """A season in the contract layout: the sample (``traceability.sample``) and, when the store
    reads EPCIS, the GS1 EPCIS examples, as tests/test_dags.py delivers them."""
    import shutil

    from traceability.sample import write_sample

    files = write_sample(inbox, plots=plots, seed=seed)
    try:
        from traceability.epcis import schema_path
    except ImportError:
        return files
    (inbox / "epcis").mkdir(parents=True, exist_ok=True)
    for example in sorted((schema_path().parent / "examples").glob("*.jsonld")):
        shutil.copy(example, inbox / "epcis" / example.name)
        files.append(inbox / "epcis" / example.name)
    return files


class DeploymentError(RuntimeError):
    """A process died, or something did not happen in time; the message says what."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_url(database: str, driver: str = "postgresql+psycopg") -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].split("://", 1)[1]
    return f"{driver}://{base}/{database}"


def _admin_engine() -> Any:
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")


def create_database(name: str) -> str:
    from sqlalchemy import text

    eng = _admin_engine()
    try:
        with eng.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        eng.dispose()
    return pg_url(name)


def drop_database(name: str) -> None:
    from sqlalchemy import text

    eng = _admin_engine()
    try:
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        eng.dispose()


def tail(path: Path, lines: int = 60, skip: str | None = None) -> str:
    """The last ``lines`` lines of a log, without those containing ``skip``."""
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if skip:
        text = [line for line in text if skip not in line]
    return "\n".join(text[-lines:])


@dataclass
class Deployment:
    """One deployment: its folders, databases, Redis keys, environment and processes.

    ``root`` holds ``heitu/`` (HEITU_HOME: inbox, archive, codes) and ``airflow/``
    (AIRFLOW_HOME: airflow.cfg, ``logs/`` of tasks and DAG processing, ``process-logs/`` of
    the four processes). Databases are named ``<name>_meta`` and ``<name>_store``; Redis keys
    start with ``<name>:`` in database ``redis_db``."""

    root: Path
    name: str = field(default_factory=lambda: f"heitu_af_{uuid.uuid4().hex[:10]}")
    redis_db: int = 13
    port: int = field(default_factory=free_port)
    concurrency: int = 2
    #: HEITU_DAG_RETRIES for the DAG processor: 0 shows a failure at once instead of after
    #: two retries 2 minutes apart; ``None`` keeps the DAGs' own count.
    dag_retries: int | None = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)
    _secrets: dict[str, str] = field(default_factory=dict)

    def elapsed(self) -> float:
        """Seconds since this deployment was made."""
        return time.monotonic() - self.created

    # --- layout ---------------------------------------------------------------------------

    @property
    def heitu_home(self) -> Path:
        return self.root / "heitu"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def process_logs(self) -> Path:
        return self.airflow_home / "process-logs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def meta_db(self) -> str:
        return f"{self.name}_meta"

    @property
    def store_db(self) -> str:
        return f"{self.name}_store"

    @property
    def meta_url(self) -> str:
        return pg_url(self.meta_db)

    @property
    def store_url(self) -> str:
        return pg_url(self.store_db)

    @property
    def broker_url(self) -> str:
        return f"{REDIS}/{self.redis_db}"

    @property
    def redis_prefix(self) -> str:
        return f"{self.name}:"

    def env(self) -> dict[str, str]:
        """The complete environment of every Airflow child."""
        if not self._secrets:
            self._secrets = {
                "jwt": secrets.token_urlsafe(32),
                "api": secrets.token_urlsafe(32),
                "fernet": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            }
        base = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
        env = {
            **base,
            "PATH": f"{VENV_BIN}{os.pathsep}{base.get('PATH', '/usr/bin:/bin')}",
            "PYTHONUNBUFFERED": "1",
            # --- the Heitu side: store on PostgreSQL, files in HEITU_HOME
            "HEITU_HOME": str(self.heitu_home),
            "HEITU_DB_URL": self.store_url,
            "HEITU_SETTLE_SECONDS": "0",
            # --- Airflow: home, DAGs, metadata DB on PostgreSQL (psycopg 3, sync and async)
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.meta_url,
            # Airflow derives an asyncpg URL by default, which is not installed: psycopg 3
            # does async itself.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.meta_url,
            "AIRFLOW__CORE__FERNET_KEY": self._secrets["fernet"],
            # --- CeleryExecutor: Redis broker (own DB number, own key prefix), PG results
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": self.redis_prefix,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.meta_url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            # --- API server, and the execution API the workers' Task SDK calls
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self._secrets["api"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secrets["jwt"],
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # --- small machine: one parser, idle scheduler loop short
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            # A worker's task supervisor wakes at most this often (default 5 s), and under
            # Celery it tends to notice a finished task only then: ~5 s more per task, over
            # 40 short tasks. 1 s: a heartbeat a second per running task to the API server.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
        if self.dag_retries is not None:
            env["HEITU_DAG_RETRIES"] = str(self.dag_retries)
        env.update(self.extra_env)
        return env

    # --- life cycle -----------------------------------------------------------------------

    def create_databases(self) -> None:
        for db in (self.meta_db, self.store_db):
            create_database(db)
            self.databases.append(db)

    def airflow(self, *args: str, timeout: float = 300, log: str | None = None) -> str:
        """Run one ``airflow`` command to completion; its output, or DeploymentError."""
        self.process_logs.mkdir(parents=True, exist_ok=True)
        out = self.process_logs / f"{log or args[0]}.log"
        with out.open("wb") as f:
            done = subprocess.run(
                [str(VENV_BIN / "airflow"), *args], env=self.env(), stdout=f,
                stderr=subprocess.STDOUT, timeout=timeout, start_new_session=True,
            )  # fmt: skip
        if done.returncode:
            raise DeploymentError(f"airflow {' '.join(args)} failed:\n{tail(out)}")
        return out.read_text(encoding="utf-8", errors="replace")

    def migrate(self) -> None:
        """``airflow db migrate``: the metadata schema, and ``airflow.cfg`` written once before
        four processes start at the same moment."""
        self.airflow("db", "migrate", timeout=300, log="db-migrate")

    def commands(self) -> dict[str, list[str]]:
        return {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port)],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
            # The API server reads task logs from AIRFLOW_HOME/logs (one machine): no log
            # server needed, so no fixed port (8793) to collide on.
            "celery-worker": [
                "celery", "worker", "--concurrency", str(self.concurrency), "--skip-serve-logs",
                "--without-gossip", "--without-mingle",
                "--celery-hostname", f"{self.name}@%h",
            ],
        }  # fmt: skip

    def start(self) -> None:
        """Start the four processes, each in its own session (process group)."""
        self.process_logs.mkdir(parents=True, exist_ok=True)
        env = self.env()
        for name, args in self.commands().items():
            log = (self.process_logs / f"{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                [str(VENV_BIN / "airflow"), *args], env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                cwd=self.root, preexec_fn=_die_with_parent,
            )  # fmt: skip
            log.close()

    def stop(self, grace: float = 20) -> None:
        """SIGTERM each process group, SIGKILL what is left after ``grace`` seconds."""
        for proc in self.procs.values():
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # children of the group (Celery pool, task processes, uvicorn) too
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def cleanup(self) -> None:
        """Drop the databases and delete this deployment's Redis keys (only those)."""
        errors = []
        for db in self.databases:
            try:
                drop_database(db)
            except Exception as exc:  # keep dropping the others
                errors.append(f"{db}: {exc}")
        self.databases.clear()
        try:
            import redis

            client = redis.Redis.from_url(self.broker_url)
            keys = list(client.scan_iter(match=f"{self.redis_prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
        except Exception as exc:
            errors.append(f"redis: {exc}")
        if errors:
            raise DeploymentError("cleanup: " + "; ".join(errors))

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise DeploymentError(
                    f"airflow {name} exited with code {proc.returncode}:\n"
                    f"{tail(self.process_logs / f'{name}.log')}"
                )

    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float,
                 every: float = 0.5) -> Any:  # fmt: skip
        """Poll ``probe`` until it returns something truthy; fail when a process died or
        ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise DeploymentError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(every)

    # --- talking to it --------------------------------------------------------------------

    def meta(self) -> Any:
        """An engine on the metadata DB, for reading DAG runs, task instances, asset events."""
        from sqlalchemy import create_engine

        if not hasattr(self, "_meta_engine"):
            self._meta_engine = create_engine(self.meta_url, pool_size=1, max_overflow=1)
        return self._meta_engine

    def query(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.meta().connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def dispose(self) -> None:
        if hasattr(self, "_meta_engine"):
            self._meta_engine.dispose()
            del self._meta_engine

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to the public REST API (``/api/v2``); all users are admins here."""
        import httpx

        try:
            r = httpx.request(method, f"{self.api_url}/api/v2{path}", timeout=30, **kwargs)
        except httpx.HTTPError as exc:
            raise DeploymentError(f"{method} /api/v2{path}: {exc}") from exc
        if r.is_error:
            raise DeploymentError(f"{method} /api/v2{path}: HTTP {r.status_code} {r.text[:500]}")
        return r.json()

    def healthy(self) -> bool:
        import httpx

        try:
            r = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
        except httpx.HTTPError:
            return False
        if r.status_code != 200:
            return False
        health = r.json()
        return all(
            (health.get(c) or {}).get("status") == "healthy"
            for c in ("metadatabase", "scheduler", "dag_processor")
        )

    def parsed_dags(self) -> set[str]:
        rows = self.query("SELECT dag_id FROM dag WHERE NOT is_stale")
        return {r.dag_id for r in rows}

    def heitu_dags(self) -> HeituDags:
        rows = self.query(
            "SELECT d.dag_id, d.timetable_summary, t.name AS tag FROM dag AS d "
            "LEFT JOIN dag_tag AS t ON t.dag_id = d.dag_id "
            "WHERE d.dag_id LIKE 'heitu%' AND NOT d.is_stale"
        )
        tags: dict[str, set[str | None]] = {}
        cron: dict[str, str] = {}
        for r in rows:
            tags.setdefault(r.dag_id, set()).add(r.tag)
            cron[r.dag_id] = r.timetable_summary or ""

        def offset(dag_id: str) -> tuple[int, str]:  # "5-59/15 * * * *" -> 5
            head = cron[dag_id].split(" ", 1)[0].split("-", 1)[0].split("/", 1)[0]
            return (int(head) if head.isdigit() else 99, dag_id)

        sources = sorted((d for d in tags if "source" in tags[d]), key=offset)
        return HeituDags(
            sources=tuple(sources),
            folders={d: tuple(sorted(tags[d] - {"heitu", "source", None})) for d in sources},
            consumers=tuple(sorted(d for d in tags if "source" not in tags[d])),
        )

    def import_errors(self) -> dict[str, str]:
        return {r.filename: r.stacktrace for r in self.query(
            "SELECT filename, stacktrace FROM import_error")}  # fmt: skip

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def runs(self, dag_id: str) -> list[Any]:
        return self.query(
            "SELECT id, run_id, run_type, state, triggered_by FROM dag_run WHERE dag_id = :d "
            "ORDER BY id",
            d=dag_id,
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        rows = self.query(
            "SELECT task_id, state FROM task_instance WHERE dag_id = :d AND run_id = :r",
            d=dag_id, r=run_id,
        )  # fmt: skip
        return {r.task_id: r.state for r in rows}

    def wait_runs_finished(self, dag_id: str, timeout: float, at_least: int = 1) -> list[Any]:
        """Wait until ``dag_id`` has ``at_least`` runs and none queued or running."""

        def done() -> list[Any] | None:
            runs = self.runs(dag_id)
            if len(runs) >= at_least and all(r.state in FINISHED for r in runs):
                return runs
            return None

        return self.wait_for(f"{dag_id}: {at_least} finished run(s)", done, timeout)

    def asset_events(self, dag_id: str | None = None) -> list[Any]:
        """Asset events (uri, extra, source dag/run), oldest first."""
        where = "WHERE e.source_dag_id = :d" if dag_id else ""
        return self.query(
            "SELECT e.id, a.uri, e.extra, e.source_dag_id, e.source_run_id, e.timestamp "
            f"FROM asset_event AS e JOIN asset AS a ON a.id = e.asset_id {where} ORDER BY e.id",
            d=dag_id,
        )

    def consumed(self, dag_id: str) -> dict[str, set[int]]:
        """{asset uri: ids of the asset events} consumed by asset-triggered runs of
        ``dag_id``: what triggered them."""
        found: dict[str, set[int]] = {}
        for r in self.query(
            "SELECT a.uri, e.id FROM dag_run AS r "
            "JOIN dagrun_asset_event AS c ON c.dag_run_id = r.id "
            "JOIN asset_event AS e ON e.id = c.event_id JOIN asset AS a ON a.id = e.asset_id "
            "WHERE r.dag_id = :d AND r.run_type = 'asset_triggered'",
            d=dag_id,
        ):
            found.setdefault(r.uri, set()).add(r.id)
        return found

    def events_consumed(self) -> bool:
        """Every store asset event reached heitu_checks, every processing event heitu_codes,
        and no run of any DAG is queued or running."""
        events: dict[str, set[int]] = {}
        for e in self.asset_events():
            events.setdefault(e.uri, set()).add(e.id)
        for dag_id, wanted in CONSUMES.items():
            consumed = self.consumed(dag_id)
            for uri, ids in events.items():
                if wanted(uri) and not ids <= consumed.get(uri, set()):
                    return False
        busy = self.query("SELECT 1 FROM dag_run WHERE state NOT IN ('success', 'failed')")
        return not busy

    def run_season(
        self, timeout: float = 150, say: Callable[[str], None] = print
    ) -> tuple[HeituDags, dict[str, float]]:
        """Put the DAGs to work on what waits in the inbox, as an operator would on a first
        deployment.

        The consumers go first (asset events queue runs only for unpaused DAGs); unpausing
        runs each once at once for its cron part (the latest 06:00 / :30), on the still empty
        store: two tasks opening it at the same moment. Then every source DAG in dependency
        order (their cron offsets), each waited for. Unpausing *is* their trigger: with
        ``catchup=False`` a CronTriggerTimetable schedules the latest cron time already past,
        so the scheduler starts a run at once (a manual trigger on top would queue a second run
        that finds nothing new). Last, until heitu_checks and heitu_codes consumed every asset
        event.
        Returns the DAGs it ran and the seconds since ``created`` at each step."""
        timings: dict[str, float] = {}
        self.wait_for("the API server, scheduler and DAG processor to be healthy",
                      self.healthy, timeout)  # fmt: skip
        self.wait_for("the DAG processor to register the heitu DAGs",
                      lambda: self.parsed_dags() >= REQUIRED_DAGS or self.import_errors(),
                      timeout)  # fmt: skip
        if self.import_errors():
            raise DeploymentError(f"DAG import errors: {self.import_errors()}")
        timings["up"] = self.elapsed()
        dags = self.heitu_dags()
        say(f"up in {timings['up']:.0f} s; unpausing {', '.join(dags.consumers)}")
        for dag_id in dags.consumers:
            self.unpause(dag_id)
        for dag_id in dags.consumers:
            self.wait_runs_finished(dag_id, timeout)
        timings["first checks and codes"] = self.elapsed()
        for dag_id in dags.sources:
            say(f"unpausing {dag_id}")
            self.unpause(dag_id)
            self.wait_runs_finished(dag_id, timeout)
            timings[dag_id] = self.elapsed()
        say("waiting for heitu_checks and heitu_codes to consume the asset events")
        self.wait_for("heitu_checks and heitu_codes to consume the asset events",
                      self.events_consumed, timeout)  # fmt: skip
        timings["done"] = self.elapsed()
        return dags, timings

    # --- explaining a failure -------------------------------------------------------------

    def task_logs(self, states: Iterable[str] = ("failed",)) -> list[Path]:
        """Log files of task instances in ``states`` (newest attempt of each)."""
        rows = self.query(
            "SELECT dag_id, run_id, task_id FROM task_instance "
            "WHERE state = ANY(:s) ORDER BY dag_id, run_id, task_id",
            s=list(states),
        )
        logs = self.airflow_home / "logs"
        found = []
        for r in rows:
            folder = logs / f"dag_id={r.dag_id}" / f"run_id={r.run_id}" / f"task_id={r.task_id}"
            attempts = sorted(folder.glob("attempt=*.log")) if folder.is_dir() else []
            if attempts:
                found.append(attempts[-1])
        return found

    def diagnostics(self, lines: int = 40) -> str:
        """What CI output needs to explain a failure: the log of every failed task (errors
        with their exception and frames), every DAG run's state, import errors, then the
        tails of the four processes' logs (without the API server's access log)."""
        parts = []
        try:
            for log in self.task_logs():
                parts.append(f"===== failed task: {log} =====\n{task_log_text(log, lines)}")
            runs = self.query(
                "SELECT dag_id, run_id, run_type, state FROM dag_run ORDER BY dag_id, id"
            )
            parts.append("===== DAG runs =====\n" + "\n".join(
                f"{r.dag_id} {r.run_id} ({r.run_type}): {r.state}" for r in runs))  # fmt: skip
            for path, trace in self.import_errors().items():
                parts.append(f"===== import error in {path} =====\n{trace}")
        except Exception as exc:  # the metadata DB may be the problem
            parts.append(f"(metadata DB not readable: {exc})")
        for name in ["db-migrate", *self.commands()]:
            path = self.process_logs / f"{name}.log"
            if path.exists():
                text = tail(path, lines, skip="[http.access]")
                parts.append(f"===== airflow {name}: {path} =====\n{text}")
        return "\n\n".join(parts)


def task_log_text(path: Path, lines: int = 40) -> str:
    """A task log (JSON lines) as text: time, level, logger, message; an error's exception
    and its last frames."""
    out = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(raw)
        except ValueError:
            out.append(raw)
            continue
        if not isinstance(rec, dict):
            out.append(raw)
            continue
        out.append(f"{str(rec.get('timestamp', ''))[11:19]} {rec.get('level', '')} "
                   f"{rec.get('logger', '')}: {rec.get('event', '')}")  # fmt: skip
        for exc in rec.get("error_detail") or []:
            out.append(f"    {exc.get('exc_type')}: {exc.get('exc_value')}")
            frames = exc.get("frames") or []
            # ours (dags/, traceability/, geo/) first: that is where the fix usually goes
            ours = [f for f in frames if _is_ours(str(f.get("filename", "")))]
            for fr in ours[-6:] + [f for f in frames[-3:] if f not in ours]:
                out.append(f"      {fr.get('filename')}:{fr.get('lineno')} in {fr.get('name')}")
    return "\n".join(out[-lines:])


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies (Linux), so
    that a test process killed outright does not leave a scheduler running."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _is_ours(filename: str) -> bool:
    return filename.startswith(str(REPO)) and "/.venv/" not in filename


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # start_new_session: the group id is the child's pid


# --- make airflow-celery ----------------------------------------------------------------------

MARKER = ".heitu-airflow-celery"


def main(argv: list[str] | None = None) -> int:
    """``make airflow-celery``: the deployment above on a demo season, up until Ctrl-C."""
    import argparse
    import shutil

    parser = argparse.ArgumentParser(
        prog="python -m tests.airflow_services",
        description="Heitu at scale for a look: Airflow with the CeleryExecutor (Redis broker), "
        "metadata and store on PostgreSQL, a sample season loaded. Ctrl-C stops it and drops "
        "its databases.",
    )
    parser.add_argument("--port", type=int, default=8080, help="API server and UI port")
    parser.add_argument("--plots", type=int, default=60, help="plots in the sample season")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the sample season")
    parser.add_argument("--redis-db", type=int, default=12, help="Redis database number")
    args = parser.parse_args(argv)

    from traceability import config

    root = config.heitu_home() / "airflow-celery"
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise SystemExit(f"{root} holds files this command did not make; not wiping it")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / MARKER).write_text("made by python -m tests.airflow_services\n", encoding="utf-8")

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def stop_on_sigterm(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    # the DAGs' own retries (2, 2 minutes apart), as in production
    d = Deployment(root, name=f"heitu_celery_{uuid.uuid4().hex[:6]}", port=args.port,
                   redis_db=args.redis_db, dag_retries=None)  # fmt: skip
    try:
        d.create_databases()
        files = deliver_season(d.heitu_home / "inbox", plots=args.plots, seed=args.seed)
        say(f"sample season: {len(files)} files in {d.heitu_home / 'inbox'}")
        say(f"airflow db migrate: PostgreSQL database {d.meta_db}")
        d.migrate()
        names = [" ".join(c[:2]) if c[0] == "celery" else c[0] for c in d.commands().values()]
        say("starting: " + ", ".join(f"airflow {n}" for n in names))
        d.start()
        d.run_season(timeout=600, say=say)
        say(
            f"\nAirflow UI: {d.api_url}  (every user is admin; bound to 127.0.0.1)\n"
            f"Store:      HEITU_DB_URL={d.store_url}\n"
            f"            e.g. HEITU_DB_URL={d.store_url} heitu check\n"
            f"Inbox:      {d.heitu_home / 'inbox'}  (HEITU_HOME={d.heitu_home})\n"
            f"Logs:       {d.airflow_home / 'logs'} (tasks), {d.process_logs} (processes)\n"
            "Ctrl-C stops Airflow and drops the databases."
        )
        while True:
            d.check_alive()
            time.sleep(2)
    except KeyboardInterrupt:
        say("\nstopping")
    except DeploymentError as exc:
        say(f"{exc}\n\n{d.diagnostics()}")
        return 1
    finally:
        d.stop()
        d.dispose()
        d.cleanup()
        say(f"stopped; databases {d.meta_db}, {d.store_db} dropped; files kept in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
