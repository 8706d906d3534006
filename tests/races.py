"""Two writers at once on the real PostgreSQL, in a set order: the first statement stays
uncommitted while the second one runs, in another connection and thread, until it waits for a
lock or ends; then the first commits. Used to check that a trigger keeping a copy waits for a
change in flight instead of copying what it saw before (migration 0005)."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import Engine, text


def second_waits_for_first(
    eng: Engine, first: str, second: str, params: dict[str, Any] | None = None
) -> bool:
    """Run ``first`` (uncommitted), then ``second`` in another connection; commit ``first``
    once ``second`` waits on a lock or has finished. True when ``second`` waited. Both are
    committed when this returns; an error in either is raised here."""
    params = params or {}
    one, two = eng.connect(), eng.connect()
    pid = two.execute(text("SELECT pg_backend_pid()")).scalar()
    two.commit()
    failed: list[BaseException] = []

    def run_second() -> None:
        try:
            with two.begin():
                two.execute(text(second), params)
        except BaseException as exc:  # raised below, in the caller's thread
            failed.append(exc)

    waited = False
    try:
        one.begin()
        one.execute(text(first), params)
        worker = threading.Thread(target=run_second)
        worker.start()
        with eng.connect() as watch:
            for _ in range(200):  # 10 s at most
                state = watch.execute(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"),
                    {"p": pid},
                ).scalar()
                if state == "Lock":
                    waited = True
                    break
                if not worker.is_alive():
                    break
                time.sleep(0.05)
        one.commit()
        worker.join(10)
    finally:
        one.close()
        two.close()
    if failed:
        raise failed[0]
    if worker.is_alive():
        raise TimeoutError(f"still running 10 s after the first committed: {second}")
    return waited
