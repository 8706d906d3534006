"""Running the queries of ``sql/`` on a bare DB-API connection (sqlite3 or psycopg).

The lineage reads (trace back, trace forward, recall) go through here rather than through
SQLAlchemy, for two reasons the lineage benchmark measured (docs/benchmarks.md):

- ``heitu trace back`` is a command a bureau runs per bag: importing SQLAlchemy alone takes
  longer than the whole trace, so the command opens the store with the driver itself
  (``connect``) when the store is already at the newest schema;
- a county recall returns some 25,000 rows, and SQLAlchemy's Row objects cost more than the
  Python that reads them; the driver's tuples do not.

A caller holding a SQLAlchemy engine passes the engine's own DB-API connection (``reading``
in traceability.lineage), so both paths run the same SQL the same way. The files keep the
``:name`` parameters SQLAlchemy uses; ``prepare`` turns them into the driver's style, and a
list or tuple value after ``IN`` into one parameter per item.
"""

from __future__ import annotations

import re
import threading
from collections import namedtuple
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from traceability.config import SQL_DIR

MIGRATIONS = Path(__file__).parent / "migrations"
#: SQLite page cache per connection, in KiB when negative (the default is 2 MiB): a county
#: recall reads some 11,000 lots' index pages, which a 2 MiB cache reads again on every run
#: (~7 % of the recall at 200,000 plots, bench/lineage.py). Pages are only held once read.
SQLITE_CACHE = -65536

#: Keys per ``IN (...)`` list when a query runs a chunk of keys at a time: well under SQLite's
#: old 999-variable limit, small enough for any planner.
CHUNK = 500

T = TypeVar("T")

_PARAM = re.compile(r"(?<![:\w]):(\w+)")  # :name, not a PostgreSQL ::cast
_IN_LIST = re.compile(r"\bIN\s+:(\w+)", re.IGNORECASE)


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """``items`` in order, in lists of at most ``size``: the ``IN`` lists of a query run once
    per chunk of keys (the ingest engine, the EPCIS export, the recall sheet)."""
    seq = list(items)
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


@cache
def sql_text(name: str, dialect: str) -> str:
    """Text of sql/<name>.<dialect>.sql when a dialect needs its own, else sql/<name>.sql.
    Comments are dropped: ``:name`` in a comment would count as a parameter."""
    path = SQL_DIR / f"{name}.{dialect}.sql"
    if not path.exists():
        path = SQL_DIR / f"{name}.sql"
    return re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))


def _bind(value: Any, dialect: str) -> Any:
    # SQLite stores datetimes as text in SQLAlchemy's layout (models.UTCDateTime); bind them in
    # the same layout so that comparisons are text comparisons of like with like.
    if dialect == "sqlite" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def prepare(sql: str, params: dict[str, Any], dialect: str) -> tuple[str, dict[str, Any]]:
    """(statement, parameters) for the driver: ``IN :xs`` with a list becomes
    ``IN (:xs_0, :xs_1, ...)`` (an empty list an empty subquery), then ``:name`` becomes
    ``%(name)s`` on PostgreSQL (sqlite3 takes ``:name`` as it is)."""
    args: dict[str, Any] = {}

    def expand(m: re.Match[str]) -> str:
        name = m.group(1)
        items = params[name]
        if not isinstance(items, (list, tuple)):
            return m.group(0)
        if not items:  # no rows: IN is false and NOT IN true, as with an empty list
            return "IN (SELECT NULL WHERE 1 = 0)"
        for i, item in enumerate(items):
            args[f"{name}__{i}"] = _bind(item, dialect)
        return "IN (" + ", ".join(f":{name}__{i}" for i in range(len(items))) + ")"

    sql = _IN_LIST.sub(expand, sql)
    for name in set(_PARAM.findall(sql)) - args.keys():
        args[name] = _bind(params[name], dialect)
    if dialect == "postgresql":
        sql = _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))
    return sql, args


@cache
def _row_type(columns: tuple[str, ...]) -> Any:
    return namedtuple("Row", columns)


def _fetch(
    dbapi: Any, dialect: str, sql: str, params: dict[str, Any]
) -> tuple[list[tuple[Any, ...]], tuple[str, ...]]:
    statement, args = prepare(sql, params, dialect)
    cursor = dbapi.cursor()
    try:
        cursor.execute(statement, args)
        return cursor.fetchall(), tuple(d[0] for d in cursor.description)
    finally:
        cursor.close()


def rows(dbapi: Any, dialect: str, sql: str, params: dict[str, Any]) -> list[Any]:
    """Rows of ``sql`` as named tuples (``r.lot_id``; they unpack like tuples)."""
    data, columns = _fetch(dbapi, dialect, sql, params)
    row = _row_type(columns)
    return [row._make(r) for r in data]


def tuples(dbapi: Any, dialect: str, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` as the driver's plain tuples: the cheapest form for a large result."""
    return _fetch(dbapi, dialect, sql, params)[0]


def driver_of(url: str) -> str | None:
    """The dialect ``connect`` can open for a SQLAlchemy URL ("sqlite", "postgresql"), or None
    for any other kind of URL (the caller then goes through SQLAlchemy)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return "sqlite"
    if url.startswith(("postgresql://", "postgresql+psycopg://")):
        return "postgresql"
    return None


@contextmanager
def connect(url: str, *, any_thread: bool = False) -> Iterator[Any]:
    """A DB-API connection to the store at ``url`` for reading, set as traceability.store sets
    SQLAlchemy's: SQLite waits out a writer's lock (30 s), PostgreSQL runs with JIT off (see
    store.engine_for); both in autocommit, so a read is one round trip. ``any_thread``: a
    SQLite connection that may be used from another thread than its maker's (its user then
    keeps it to one thread at a time)."""
    dialect = driver_of(url)
    if dialect == "sqlite":
        import sqlite3

        path = Path(url.removeprefix("sqlite:///").split("?", 1)[0]).resolve()
        # mode=ro: reading must not create an empty file where a store was expected
        conn: Any = sqlite3.connect(
            f"{path.as_uri()}?mode=ro",
            uri=True,
            timeout=30,
            isolation_level=None,
            check_same_thread=not any_thread,
        )
        conn.execute(f"PRAGMA cache_size={SQLITE_CACHE}")
    elif dialect == "postgresql":
        import psycopg

        dsn = "postgresql://" + url.split("://", 1)[1]
        conn = psycopg.connect(dsn, autocommit=True, options="-c jit=off")
    else:
        raise ValueError(f"no bare driver for {url!r}")
    try:
        yield conn
    finally:
        conn.close()


@cache
def head_revision() -> str:
    """Newest migration id, read from the files so that Alembic stays off the fast path."""
    revs: set[str] = set()
    downs: set[str] = set()
    for f in (MIGRATIONS / "versions").glob("*.py"):
        src = f.read_text(encoding="utf-8")
        if m := re.search(r'^revision\s*[:=].*?"(\w+)"', src, re.M):
            revs.add(m.group(1))
        if m := re.search(r'^down_revision\s*[:=].*?"(\w+)"', src, re.M):
            downs.add(m.group(1))
    heads = revs - downs
    if len(heads) != 1:
        raise RuntimeError(f"expected one migration head, found {sorted(heads)}")
    return heads.pop()


def ready_url(url: str) -> str | None:
    """``url`` when the bare driver can read the store there and it is at the newest schema,
    else None: then the caller opens it through traceability.store, which migrates an old or
    empty store and names the cause when it cannot be reached."""
    if driver_of(url) is None:
        return None
    try:
        with connect(url) as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT version_num FROM alembic_version")
            row = cursor.fetchone()
    except Exception:  # missing file, no schema yet, server down: the full path decides
        return None
    return url if row is not None and row[0] == head_revision() else None


class Pool:
    """Bare connections to one store kept open per thread, for a long-running process (the
    web app): a request's reads then cost no connection set-up (about 1 ms each on SQLite, more
    on PostgreSQL). Each thread has its own connection, as sqlite3 requires; a connection that
    fails is dropped and made anew by the next use."""

    def __init__(self, url: str) -> None:
        dialect = driver_of(url)
        if dialect is None:
            raise ValueError(f"no bare driver for {url!r}")
        self.url = url
        self.dialect = dialect
        self._local = threading.local()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        held = getattr(self._local, "held", None)
        if held is None:
            # used by this thread only, but closed by whichever thread collects the finished
            # thread's locals: sqlite3 refuses that close unless the check is off
            manager = connect(self.url, any_thread=True)
            held = (manager, manager.__enter__())
            self._local.held = held
        try:
            yield held[1]
        except BaseException:
            if self.dialect == "postgresql" and held[1].closed:
                self._drop()
            raise

    def _drop(self) -> None:
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None:
            with suppress(Exception):
                held[0].__exit__(None, None, None)

    def __repr__(self) -> str:
        return f"Pool({self.url!r})"
