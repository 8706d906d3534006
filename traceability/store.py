"""Opening the lineage store: engine, SQLite pragmas, schema migrations.

``open_store()`` is what every entry point calls. It migrates an empty or old store to the
newest Alembic revision; a current store costs one tiny query, so short commands stay fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from traceability import config
from traceability.errors import StoreUnreachable
from traceability.sqlrun import MIGRATIONS, SQLITE_CACHE
from traceability.sqlrun import head_revision as _head_revision

_engines: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the consumer page read while a DAG writes; busy_timeout waits out short locks
    # when two DAG runs write at once instead of failing the task.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA cache_size={SQLITE_CACHE}")
    cur.close()


def engine_for(url: str | None = None) -> Engine:
    url = url or config.db_url()
    if url in _engines:
        return _engines[url]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        # Lineage queries are short index walks, but PostgreSQL cannot estimate a recursive
        # term and its huge guesses trigger JIT compilation: 20-100 ms per query for nothing
        # (bench/lineage.py measures it). Off for our connections only.
        kwargs["connect_args"] = {"options": "-c jit=off"}
    eng = create_engine(url, future=True, **kwargs)
    if eng.dialect.name == "sqlite":
        event.listen(eng, "connect", _sqlite_pragmas)
    _engines[url] = eng
    return eng


#: Key of the PostgreSQL advisory lock that serialises migrations ("heitu" in ASCII).
MIGRATION_LOCK = 0x6865697475


def migrate(eng: Engine) -> None:
    """Bring the schema to the newest revision with Alembic.

    Two tasks may open an empty store at the same moment (a new deployment starts several
    DAGs at once): on PostgreSQL an advisory lock makes the second wait and then find the
    schema done; SQLite serialises writers itself, and ``open_store`` re-checks the revision
    when a concurrent migration beat this one."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _current_revision(eng: Engine) -> str | None:
    try:
        with eng.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        return None


def open_store(url: str | None = None, *, upgrade: bool = True) -> Engine:
    """Engine of a ready store. Raises StoreUnreachable when the database can't be reached."""
    url = url or config.db_url()
    eng = engine_for(url)
    try:
        with eng.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError) as exc:
        if "alembic_version" not in str(exc) and "no such table" not in str(exc):
            raise StoreUnreachable(url, str(exc.orig)) from exc
        current = None
    if current != _head_revision() and upgrade:
        try:
            migrate(eng)
        except (OperationalError, IntegrityError, ProgrammingError) as exc:
            # Another process migrated the same store meanwhile: fine if it got to the head.
            if _current_revision(eng) != _head_revision():
                raise StoreUnreachable(url, str(exc.orig)) from exc
    return eng


def reset_engines() -> None:
    """Forget cached engines (tests that switch HEITU_DB_URL between stores)."""
    for eng in _engines.values():
        eng.dispose()
    _engines.clear()


def touch(eng: Engine) -> None:
    """Bump the store's change counter (``store_state``), after a writer has committed.

    A short transaction of its own, never inside the writer's: on PostgreSQL an UPDATE of the
    one row inside a long load would make concurrent loads wait on each other, and a bump
    before the data commits would let a reader cache the old data under the new number. A
    reader that builds a page between the commit and the bump caches new data under the old
    number, which the bump then retires: never a stale page after a write."""
    from datetime import UTC, datetime

    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with eng.begin() as conn:
        bumped = conn.execute(
            text(
                "UPDATE store_state SET generation = generation + 1, changed_at = :now WHERE id = 1"
            ),
            {"now": now},
        )
        if bumped.rowcount == 0:  # a store whose row was lost (made by hand, restored in part)
            conn.execute(
                text("INSERT INTO store_state (id, generation, changed_at) VALUES (1, 1, :now)"),
                {"now": now},
            )
