"""Pages cached until the store changes.

Every writer bumps ``store_state.generation`` after it commits (traceability.store.touch:
ingest, checks, recalls). A request reads that number (one indexed read of one row) and
serves the cached page only if it was built under the same number; on a new number the whole
cache is dropped. So a page is never older than the last committed load, and a warm page costs
one small read plus a dictionary lookup.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from typing import Any

from traceability import sqlrun

__all__ = ["Generation", "PageCache"]


class Generation:
    """The store's change counter, read on a connection kept open for it (reconnected after
    an error). Used from the event loop thread only; a read is ~20 us on SQLite."""

    def __init__(self, reader: Callable[[], Any]) -> None:
        self._open = reader
        self._stack: ExitStack | None = None
        self._conn: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        stack = ExitStack()
        self._conn = stack.enter_context(self._open())
        self._stack = stack
        return self._conn

    def read(self) -> tuple[int, datetime]:
        with self._lock:
            for attempt in (0, 1):
                conn = self._conn or self._connect()
                try:
                    cur = conn.cursor()
                    cur.execute("SELECT generation, changed_at FROM store_state WHERE id = 1")
                    row = cur.fetchone()
                    break
                except Exception:
                    self.close()
                    if attempt:
                        raise
        if row is None:  # no write recorded yet: generation 0, changed at the epoch
            return 0, datetime(1970, 1, 1, tzinfo=UTC)
        generation, changed = row
        if isinstance(changed, str):
            changed = datetime.fromisoformat(changed)
        return int(generation), changed.replace(tzinfo=UTC)

    def close(self) -> None:
        if self._stack is not None:
            with suppress(Exception):  # closing a broken connection
                self._stack.close()
        self._stack, self._conn = None, None


def url_reader(url: str) -> Callable[[], Any]:
    """Opens the connection the counter is read on. SQLite's may be read from whichever thread
    runs the event loop (a test client runs it in a thread of its own), hence no same-thread
    check; the lock in Generation keeps it to one user at a time."""
    return lambda: sqlrun.connect(url, any_thread=True)


class PageCache:
    """A bounded LRU of built pages, all valid for one generation of the store."""

    def __init__(self, size: int = 4096, enabled: bool = True) -> None:
        self.size = size
        self.enabled = enabled
        self.generation: int | None = None
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def sync(self, generation: int) -> None:
        """Drop everything built under another generation."""
        if generation != self.generation:
            with self._lock:
                self._items.clear()
                self.generation = generation

    def get(self, key: Hashable) -> Any:
        if not self.enabled:
            return None
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return value

    def put(self, key: Hashable, value: Any, generation: int) -> None:
        if not self.enabled or generation != self.generation:
            return  # built from an older store than the cache now serves: don't keep it
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
