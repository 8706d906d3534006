"""Heitu: produce traceability from black-soil plots to the bag (docs/api.md).

The public API is what this module exports: ``Store`` (open a lineage store by URL, then
ingest, trace back and forward, recall, check, codes), its typed results, and one family of
errors under ``HeituError``. Everything else in the package is private.

    from traceability import Store

    with Store.open("sqlite:///data/heitu.db") as store:
        store.ingest("data/inbox")
        print(store.trace_back("K1").as_dict())

``Store`` and the results are imported when first asked for, so that importing the package
(``heitu --help``) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from traceability.errors import (
    HeituError,
    LineageCycle,
    NotFound,
    StoreUnreachable,
    UnreadableFile,
    UsageError,
)

if TYPE_CHECKING:
    from traceability.api import (
        Code,
        Codes,
        DeclaredRecall,
        Findings,
        Ingest,
        Labels,
        OpenData,
        Recall,
        Reject,
        Retry,
        Store,
        TraceBack,
        TraceForward,
    )

__all__ = [
    "Code",
    "Codes",
    "DeclaredRecall",
    "Findings",
    "HeituError",
    "Ingest",
    "Labels",
    "LineageCycle",
    "NotFound",
    "OpenData",
    "Recall",
    "Reject",
    "Retry",
    "Store",
    "StoreUnreachable",
    "TraceBack",
    "TraceForward",
    "UnreadableFile",
    "UsageError",
]

_LAZY = {
    "Code",
    "Codes",
    "DeclaredRecall",
    "Findings",
    "Ingest",
    "Labels",
    "OpenData",
    "Recall",
    "Reject",
    "Retry",
    "Store",
    "TraceBack",
    "TraceForward",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from traceability import api

        return getattr(api, name)
    raise AttributeError(f"module 'traceability' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
