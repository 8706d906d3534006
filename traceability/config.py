"""Settings read from the environment (see ../shared/CLI.md): one place, plain functions."""

from __future__ import annotations

import os
from pathlib import Path

#: Root of the repository: sql/ and dags/ live beside the packages.
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The queries: a built wheel carries sql/ as traceability/sql/ (pyproject.toml's package-dir);
#: a checkout, or the Makefile's editable install, reads the repository's sql/.
_WHEEL_SQL = Path(__file__).resolve().parent / "sql"
SQL_DIR = _WHEEL_SQL if _WHEEL_SQL.is_dir() else REPO_ROOT / "sql"

DEFAULT_RESOLVER = "id.heitu.cn"


def heitu_home() -> Path:
    """Working folder: store, inbox, archive, codes. ``HEITU_HOME``, default ``./data``."""
    return Path(os.environ.get("HEITU_HOME", "data")).resolve()


def db_url() -> str:
    """SQLAlchemy URL of the lineage store. ``HEITU_DB_URL``, default a SQLite file in home."""
    url = os.environ.get("HEITU_DB_URL")
    if url:
        return url
    return f"sqlite:///{heitu_home() / 'heitu.db'}"


def inbox_dir() -> Path:
    """The landing zone in the contract layout. ``HEITU_INBOX``, default ``HEITU_HOME/inbox``."""
    return Path(os.environ.get("HEITU_INBOX", heitu_home() / "inbox")).resolve()


def archive_dir() -> Path:
    """Where processed files go, with a manifest of their hashes."""
    return Path(os.environ.get("HEITU_ARCHIVE", heitu_home() / "archive")).resolve()


def codes_dir() -> Path:
    """Where QR PNGs of issued codes are written."""
    return Path(os.environ.get("HEITU_CODES_DIR", heitu_home() / "codes")).resolve()


def resolver() -> str:
    """Host name put in issued GS1 Digital Link URIs. ``HEITU_RESOLVER``."""
    return os.environ.get("HEITU_RESOLVER", DEFAULT_RESOLVER)


def open_dir() -> Path:
    """Where the open data files are published (``heitu export open``, the open-data DAG)
    and served from (``/open/``). ``HEITU_OPEN_DIR``, default ``HEITU_HOME/open``."""
    return Path(os.environ.get("HEITU_OPEN_DIR", heitu_home() / "open")).resolve()
