"""Small helpers shared by the benchmark sections: percentiles, memory, machine facts."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import statistics
import sys
from pathlib import Path

from rich.console import Console

console = Console(stderr=True)
ROOT = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    console.log(msg)


def pct(values: list[float], q: int) -> float:
    """q-th percentile (1-99) of a list of timings."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def med(values: list[float]) -> float:
    return statistics.median(values)


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start (or the last reset_peak_rss)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def reset_peak_rss() -> None:
    """Start a new peak (Linux: writing 5 to clear_refs resets VmHWM); no-op elsewhere."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def machine() -> str:
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.1f} at the start"
    return (
        f"{os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, "
        f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}{load}"
    )


def ms(seconds: float) -> float:
    return seconds * 1000.0
