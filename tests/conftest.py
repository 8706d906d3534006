"""Shared fixtures: a real store per test (a SQLite file, or a PostgreSQL database), an inbox.

PostgreSQL runs on 127.0.0.1:5432 (trust auth); each test session creates its own database
and drops it at the end, so parallel workers and CI runs never share a store.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from traceability.store import open_store, reset_engines

# Airflow's fixtures (temporary AIRFLOW_HOME, migrated metadata DB, dag.test runner); the
# module sets Airflow's environment on import, before anything imports airflow.
pytest_plugins = ["tests.airflow_harness"]

PG_ADMIN = os.environ.get("HEITU_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a PostgreSQL database made for this test session (dropped afterwards)."""
    name = f"heitu_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the suite needs the real server: fail loudly, never skip
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is needed by the suite: {exc}")
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    yield url
    reset_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _fresh_pg(url: str) -> None:
    reset_engines()
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()


def module_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str
) -> tuple[str, Path]:
    """(empty store URL, home folder) for a module-scoped fixture parametrised with
    ``params=["sqlite", "postgresql"]``: a SQLite file in a home of its own, or the session's
    PostgreSQL database emptied."""
    home = tmp_path_factory.mktemp(f"{name}-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'heitu.db'}"
    else:
        url = request.getfixturevalue("pg_database")
        _fresh_pg(url)
    reset_engines()
    return url, home


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HEITU_HOME of its own: store file, inbox, archive and codes under tmp_path."""
    monkeypatch.setenv("HEITU_HOME", str(tmp_path))
    for var in ("HEITU_DB_URL", "HEITU_INBOX", "HEITU_ARCHIVE", "HEITU_CODES_DIR"):
        monkeypatch.delenv(var, raising=False)
    reset_engines()
    return tmp_path


@pytest.fixture
def sqlite_url(home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{home / 'heitu.db'}"
    monkeypatch.setenv("HEITU_DB_URL", url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The same test on a real SQLite file and on the real PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'heitu.db'}"
    else:
        url = request.getfixturevalue("pg_database")
        _fresh_pg(url)
    monkeypatch.setenv("HEITU_DB_URL", url)
    return url


@pytest.fixture
def engine(sqlite_url: str):  # type: ignore[no-untyped-def]
    return open_store(sqlite_url)


@pytest.fixture
def inbox(home: Path) -> Path:
    path = home / "inbox"
    path.mkdir()
    return path
