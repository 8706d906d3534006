"""The Python API: a ``Store`` and its typed results. ``heitu``, the DAGs and the web app use it.

Five lines load a landing zone and trace a bag (docs/api.md)::

    from traceability import Store

    with Store.open("sqlite:///data/heitu.db") as store:
        store.ingest("data/inbox")
        print(store.trace_back("P-2026-000001").as_dict())

Every result has ``as_dict()``: exactly the document the same ``heitu ... --json`` command
prints (../shared/CLI.md), so a script can move between the two. Every error raised is a
``traceability.HeituError``. The modules behind it (pipeline, lineage, checks, issuing, store)
are private: their names and signatures change without notice.

Opening a store that is already at the newest schema imports no SQLAlchemy (the lineage reads
go through the bare driver, traceability.sqlrun); the first write, or an old or empty store,
brings the engine in (and migrates).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from traceability.errors import HeituError, NotFound, UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "RECALL_KINDS",
    "Code",
    "Codes",
    "DeclaredRecall",
    "Findings",
    "Ingest",
    "Labels",
    "OpenData",
    "Recall",
    "Reject",
    "Result",
    "Retry",
    "Store",
    "TraceBack",
    "TraceForward",
    "recall_window",
]

#: What a recall can start from: ``Store.recall(kind, key)``.
RECALL_KINDS = ("plot", "farm", "county", "input", "lot")

#: ``on_file(path, done, total)``: called after each file an ingest read.
FileProgress = Callable[[Path, int, int], None]
#: ``on_progress(stage, done, total)``: the recall spreadsheet's progress.
SheetProgress = Callable[[str, int, int], None]


@cache
def _fields(cls: type) -> tuple[str, ...]:
    """The typed fields a result class declares (annotations, base classes first)."""
    names: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        for name, kind in vars(klass).get("__annotations__", {}).items():
            if not name.startswith("_") and not str(kind).startswith("ClassVar"):
                names[name] = None
    return tuple(names)


class Result:
    """Base of the results: read-only typed fields over the document ``as_dict()`` returns.

    A field is the document's value under its name (``_keys`` renames, ``from`` being a
    keyword). Not dataclasses: making a dozen of them (and importing ``inspect`` for it) costs
    about as much as ``heitu trace back``'s query on a warm store, and a trace imports this
    module."""

    __slots__ = ("_doc",)
    #: field name -> key of the document where they differ
    _keys: ClassVar[dict[str, str]] = {}

    def __init__(self, doc: Any) -> None:
        object.__setattr__(self, "_doc", doc)

    @classmethod
    def _of(cls, doc: Any) -> Any:
        return cls(doc)

    def __getattr__(self, name: str) -> Any:  # only for names not found the usual way
        if name in _fields(type(self)):
            return self._doc.get(self._keys.get(name, name))
        raise AttributeError(f"{type(self).__name__} result has no field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} results are read-only")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._doc == self._doc  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _fields(type(self)))
        return f"{type(self).__name__}({shown})"

    def as_dict(self) -> Any:
        """What ``heitu ... --json`` prints for the same question: a new dict each call (the
        values inside are shared with this result, so copy before changing them)."""
        return dict(self._doc)


class Ingest(Result):
    """What an ingest loaded, parked and rejected, per source folder and file (``heitu ingest
    DIR --json``). ``unreadable`` lists the files that could not be read at all: everything
    else was loaded, and the command exits 1 when it is not empty. ``retried`` is the retry of
    parked records that follows the load (None when ``retry=False``)."""

    sources: dict[str, dict[str, Any]]
    retried: dict[str, Any] | None
    unreadable: list[dict[str, str]]

    def _total(self, key: str) -> int:
        return sum(int(s[key]) for s in self.sources.values())

    @property
    def loaded(self) -> int:
        return self._total("loaded")

    @property
    def unchanged(self) -> int:
        return self._total("unchanged")

    @property
    def parked(self) -> int:
        return self._total("parked")

    @property
    def rejected(self) -> int:
        return self._total("rejected")

    @property
    def files(self) -> list[dict[str, Any]]:
        """One row per file read: file, loaded, unchanged, parked, rejected, error."""
        return [f for s in self.sources.values() for f in s["files"]]

    @property
    def lots(self) -> list[str]:
        """Lot ids the load added or changed, sorted."""
        return sorted({lot for s in self.sources.values() for lot in s["lots"]})


class Retry(Result):
    """Parked records retried: ``loaded`` now, ``waiting`` still, and per source."""

    loaded: int
    waiting: int
    by_source: dict[str, Any]


class TraceBack(Result):
    """``heitu trace back``: the lot's ancestor lots, its plots (sorted), each plot's share of
    the lot's kg, the path that brought each plot its largest part, and the events."""

    lot: str
    plots: list[str]
    lots: list[str]
    shares: dict[str, float]
    paths: dict[str, list[str]]
    plot_versions: dict[str, Any]
    soil: dict[str, Any] | None
    events: list[dict[str, Any]]


class TraceForward(Result):
    """``heitu trace forward``: every lot made from a plot or lot, and the retailers."""

    _keys: ClassVar[dict[str, str]] = {"from_": "from"}

    from_: str
    kind: str
    lots: list[str]
    retailers: list[str]


class Recall(Result):
    """``heitu recall``: affected lots, units and kg per party, unsold stock, totals, and the
    spreadsheet files written (``files``)."""

    query: dict[str, Any]
    lots: list[str]
    packed_lots: list[Any]
    retailers: list[str]
    parties: list[dict[str, Any]]
    unsold: list[dict[str, Any]]
    totals: dict[str, Any]
    files: list[str]


class DeclaredRecall(Result):
    """A recall a bureau declared (``heitu recall declare``, ``lift``, ``recalls``): every
    page, page JSON and linkset of a lot whose chain holds ``scope`` ``key`` says so while it
    is ``active``. Times are ISO text in UTC."""

    id: int
    scope: str
    key: str
    reason: str
    declared_at: str
    lifted_at: str | None
    active: bool


class Findings(Result):
    """``heitu check``: the findings per check, each with its ``kind`` and the lot, shipment,
    plot or record it is about. ``changes`` (not in ``as_dict()``, which is the command's
    document) says what is new or gone since the last run: ``{"total", "new", "new_ids",
    "gone"}``."""

    mass_balance: list[dict[str, Any]]
    cold_chain: list[dict[str, Any]]
    geo: list[dict[str, Any]]
    codes: list[dict[str, Any]]

    __slots__ = ("_changes",)

    def __init__(self, doc: dict[str, Any], changes: dict[str, Any] | None = None) -> None:
        super().__init__(doc)
        object.__setattr__(self, "_changes", changes)

    @property
    def changes(self) -> dict[str, Any] | None:
        """What is new or gone since the last run (None unless the result is a run's)."""
        return self._changes

    @property
    def total(self) -> int:
        return sum(len(v) for v in self._doc.values())


class Code(Result):
    """``heitu code LOT``: the lot's Digital Link URI and its QR PNG; ``new`` when issued now;
    ``units``: the bags' own codes once issued (``serial``, signed ``uri``, ``short_code``)."""

    lot: str
    gtin: str
    uri: str
    png: str
    new: bool
    units: list[dict[str, str]]


class Codes(Result):
    """Codes of every packed lot: ``issued`` now, ``total`` codes, ``units_issued`` bags'
    codes issued now (lots with units), and the lots ``skipped`` (no GTIN) with the reason."""

    issued: int
    total: int
    units_issued: int
    codes: list[dict[str, Any]]
    skipped: list[dict[str, str]]


class Labels(Result):
    """``heitu labels LOT --out F.pdf``: the label sheet written, an A4 PDF of 3 x 8 labels
    (``labels`` of them on ``pages`` pages)."""

    lot: str
    labels: int
    pages: int
    out: str


class OpenData(Result):
    """``heitu export open``: the open data files written (county, season and crop totals;
    cells from fewer than 5 farms suppressed)."""

    dir: str
    files: list[str]
    rows: int
    suppressed: int
    generated_at: str


class Reject(Result):
    """One open reject (``heitu rejects`` prints a list of them): a record rejected for good
    (``status`` "rejected") or parked waiting for a key (``"waiting"``)."""

    source: str
    file: str
    line: int
    record: str | None
    field: str | None
    reason: str
    status: str
    waiting_for: str | None


When = str | date | datetime | None


def recall_window(
    date_from: When, date_to: When, names: tuple[str, str] = ("date_from", "date_to")
) -> tuple[datetime | None, datetime | None]:
    """A recall's window [from, to) from ISO dates or times (naive means Asia/Shanghai), dates
    or datetimes; a bare date as the end includes that whole day. UsageError, naming the
    bound by ``names`` (the CLI says ``--from``/``--to``), for a bound that is not a date or
    an empty window."""
    start = _when(date_from, end=False, name=names[0])
    end = _when(date_to, end=True, name=names[1])
    if start and end and start >= end:
        raise UsageError(f"{names[0]} {date_from} is not before {names[1]} {date_to}")
    return start, end


def _when(value: When, *, end: bool, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        value = value.isoformat()
    from traceability.readers import FieldError, parse_time

    try:
        when, _ = parse_time(value, name)
    except FieldError as exc:
        raise UsageError(f"{exc.field}: {exc.reason}") from None
    if end and len(value) == 10:
        when += timedelta(days=1)
    return when


class Store:
    """The lineage store at one URL (SQLite or PostgreSQL), and what can be done with it.

    Open it with ``Store.open(url)``; None means ``HEITU_DB_URL`` (default a SQLite file under
    ``HEITU_HOME``). An empty or old store is migrated to the newest schema on opening; an
    unreachable one raises ``StoreUnreachable``. Use it as a context manager, or ``close()``.
    """

    def __init__(self, url: str | None = None) -> None:
        from traceability import config, sqlrun

        self.url: str = url or config.db_url()
        self._engine: Engine | None = None
        # at the newest schema already: the lineage reads skip SQLAlchemy (the bare driver)
        self._reader: Any = sqlrun.ready_url(self.url) or self.engine

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """The store at ``url`` (``Store(url)`` does the same)."""
        return cls(url)

    @property
    def engine(self) -> Engine:
        """The store's SQLAlchemy engine (migrated), for the package's own writers and the web
        app. Not part of the stable API."""
        if self._engine is None:
            from traceability.store import open_store

            self._engine = open_store(self.url)
        return self._engine

    def close(self) -> None:
        """Close the store's pooled connections (a later call opens new ones)."""
        if "traceability.store" in sys.modules:  # else no engine was ever made: nothing open
            from traceability.store import engine_for

            # the engine a load or check used, too: one per URL in the process
            engine_for(self.url).dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- loading ---------------------------------------------------------------------------

    def ingest(
        self,
        path: str | Path | Iterable[str | Path],
        *,
        source: str | None = None,
        retry: bool = True,
        on_file: FileProgress | None = None,
    ) -> Ingest:
        """Load a landing zone, one source folder, or files into the store.

        ``path`` is a landing zone in the contract layout (``plots/``, ``parties/``, ...: the
        same as ``heitu ingest DIR``), a source folder (``inbox/sales``), or a file or list of
        files. A file's source is its folder's name (``.../sales/2026-10.csv``) and, in a
        folder that holds two kinds (``transport``: shipments, telemetry), its name; or say
        ``source=`` (the landing-zone folder name). Then the parked records are retried,
        unless ``retry=False``. Bad records become rejects and unreadable files are listed in
        ``unreadable``: neither raises."""
        from traceability import pipeline
        from traceability.sources import source_for

        if isinstance(path, str | Path) and Path(path).is_dir():
            folder = Path(path)
            if source is None and not self._source_folder(folder):
                return self._ingest_zone(folder, on_file)
            source = source or folder.name
            if source not in pipeline.SOURCES:
                known = ", ".join(pipeline.SOURCES)
                raise UsageError(f"source {source!r}: expected one of {known}")
            if folder.name == source:
                files = pipeline.pending_files(source, folder.parent)
            else:  # a folder of another name holding this source's files
                files = [f for f in sorted(folder.iterdir()) if source_for(source, f)]
            batches = {source: files}
        else:
            paths = [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]
            batches = self._by_source(paths, source)
        total = sum(len(fs) for fs in batches.values())
        done = 0

        def step(p: Path) -> None:
            nonlocal done
            done += 1
            if on_file:
                on_file(p, done, total)

        loaded = {
            s: pipeline.ingest_files(s, fs, self.url, step)
            for s in pipeline.SOURCES
            if (fs := batches.get(s)) is not None
        }
        retried = self.retry_parked().as_dict() if retry else None
        unreadable = [u for r in loaded.values() for u in r["unreadable"]]
        return Ingest._of({"sources": loaded, "retried": retried, "unreadable": unreadable})

    @staticmethod
    def _source_folder(folder: Path) -> bool:
        """A landing-zone folder of one source (``inbox/sales``), not a landing zone."""
        from traceability.pipeline import SOURCES

        return folder.name in SOURCES and not any((folder / s).is_dir() for s in SOURCES)

    def _ingest_zone(self, inbox: Path, on_file: FileProgress | None) -> Ingest:
        from traceability import pipeline

        total = sum(len(pipeline.pending_files(s, inbox)) for s in pipeline.SOURCES)
        done = 0

        def step(p: Path) -> None:
            nonlocal done
            done += 1
            if on_file:
                on_file(p, done, total)

        return Ingest._of(pipeline.ingest_dir(inbox, self.url, step))

    @staticmethod
    def _by_source(paths: list[Path], source: str | None) -> dict[str, list[Path]]:
        from traceability.pipeline import SOURCES
        from traceability.sources import source_for

        batches: dict[str, list[Path]] = {}
        for p in paths:  # a file that is gone is reported under ``unreadable``, like a bad one
            folder = source or p.parent.name
            if folder not in SOURCES:
                raise UsageError(
                    f"{p}: the source of a file is its folder's name ({', '.join(SOURCES)}); "
                    "put it in one or pass source="
                )
            if source_for(folder, p) is None:
                raise UsageError(f"{p}: not a {folder} file of the data contract")
            batches.setdefault(folder, []).append(p)
        return batches

    def retry_parked(self) -> Retry:
        """Retry every parked record of every source (their key may have arrived)."""
        from traceability import pipeline

        return Retry._of(pipeline.retry_parked(self.url))

    # -- lineage ---------------------------------------------------------------------------

    def trace_back(self, lot_or_code: str) -> TraceBack:
        """Where a lot (or the lot a traceability code names) came from. NotFound when the
        store has no such lot or the code is not one."""
        from traceability.lineage import trace_back

        return TraceBack._of(trace_back(self._reader, lot_or_code))

    def trace_forward(self, plot_or_lot: str) -> TraceForward:
        """Every lot made from a plot or lot, and the retailers that got any of it."""
        from traceability.lineage import trace_forward

        return TraceForward._of(trace_forward(self._reader, plot_or_lot))

    def recall(
        self,
        kind: str,
        key: str,
        *,
        date_from: When = None,
        date_to: When = None,
        xlsx: str | Path | None = None,
        csv: str | Path | None = None,
        on_progress: SheetProgress | None = None,
    ) -> Recall:
        """Everything made from a plot, farm, county (6-digit code), input (registration
        number) or lot: where it went, what was sold, what is unsold per retailer.

        ``date_from``/``date_to`` bound the harvests (or input applications) that start the
        recall: ISO dates or times (naive: Asia/Shanghai), a bare date as ``date_to`` taking
        the whole day. ``xlsx``/``csv`` also write the recall spreadsheet there (``files``).
        UsageError for a malformed question, NotFound when the key is not in the store."""
        from traceability.lineage import recall
        from traceability.readers import is_county_code

        if kind not in RECALL_KINDS:
            raise UsageError(f"recall by {kind!r}: expected one of {', '.join(RECALL_KINDS)}")
        if kind == "county" and not is_county_code(key):
            raise UsageError(f"county {key!r}: a county is its 6-digit code, e.g. 230184")
        start, end = recall_window(date_from, date_to)
        sheets = [(fmt, Path(p)) for fmt, p in (("xlsx", xlsx), ("csv", csv)) if p]
        # the spreadsheets read the store through SQLAlchemy: then so does the recall
        doc = recall(self.engine if sheets else self._reader, kind, key, start, end)
        written: list[str] = []
        if sheets:
            from traceability.recall_sheet import write_recall_sheet

            for fmt, p in sheets:
                progress = {"on_progress": on_progress} if on_progress else {}
                out = write_recall_sheet(self.engine, doc, p, fmt, **progress)
                written += [str(f) for f in out]
        doc["files"] = written
        return Recall._of(doc)

    def declare_recall(self, scope: str, key: str, reason: str) -> DeclaredRecall:
        """Declare a recall of a ``lot``, ``input``, ``plot`` or ``county`` (a farm's recall
        is declared plot by plot), with the reason consumers read on the page. UsageError
        for a scope that cannot be or an empty reason; NotFound when the store knows no such
        key (a recall of a typo would cover nothing)."""
        from traceability.readers import is_county_code
        from traceability.recalls import declare

        if scope == "county" and not is_county_code(key):
            raise UsageError(f"county {key!r}: a county is its 6-digit code, e.g. 230184")
        try:
            return DeclaredRecall._of(declare(self.engine, scope, key, reason))
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def lift_recall(self, recall_id: int) -> DeclaredRecall:
        """End a declared recall: the pages switch back at once. NotFound for an unknown id,
        HeituError for one lifted already."""
        from traceability.recalls import lift

        return DeclaredRecall._of(lift(self.engine, recall_id))

    def recalls(self, *, include_lifted: bool = False) -> list[DeclaredRecall]:
        """The declared recalls, oldest first: the active ones, or all."""
        from traceability.recalls import list_recalls

        found = list_recalls(self.engine, include_lifted=include_lifted)
        return [DeclaredRecall._of(r) for r in found]

    # -- checks and codes ------------------------------------------------------------------

    def check(self) -> Findings:
        """Run every check (mass balance, cold chain, geo, codes) over the store. The findings
        are also stored in place of the last run's, for the pages that show them."""
        from traceability.pipeline import check_store

        result = check_store(self.url)
        return Findings(result["findings"], result["changes"])

    def code(self, lot: str, *, serials: bool = False) -> Code:
        """The traceability code of a packed lot, issued now (with its QR PNG) if it had none,
        with its bags' codes once issued; ``serials`` issues the bags' codes it lacks (one
        signed serial per unit, docs/codes.md). NotFound for an unknown lot; HeituError for a
        lot packed without a GTIN (or, with ``serials``, without units)."""
        from traceability.issuing import issue_code
        from traceability.serials import issue_units, units_of

        try:
            doc = issue_code(self.engine, lot)
            if serials:
                issue_units(self.engine, lot)
        except LookupError as exc:
            raise NotFound(str(exc.args[0])) from None
        except ValueError as exc:
            raise HeituError(str(exc)) from None
        return Code._of({**doc, "units": units_of(self.engine, lot)})  # the bags, not a count

    def codes(self) -> Codes:
        """Codes for every packed lot: issued where missing, QR PNGs drawn where gone. A
        printed code never changes: a lot that has one keeps it."""
        from traceability.issuing import issue_codes

        return Codes._of(issue_codes(self.engine))

    def labels(
        self,
        lot: str,
        out: str | Path,
        *,
        units: Iterable[dict[str, Any]] | None = None,
        pledge: dict[str, Any] | None = None,
    ) -> Labels:
        """Write a packed lot's print-ready label sheet (A4 PDF) at ``out``: the lot's own code
        (issued now if it had none) on one label, or one label per unit when ``units`` (each
        ``{"serial", "uri", "short_code"}``) are given; the conformity ``pledge``
        (``{"number", "holder", "items"}``) on each when given. NotFound for an unknown lot,
        HeituError for one without a GTIN or when the Chinese font is missing."""
        from traceability.labels import lot_labels, render_labels

        try:
            found = lot_labels(self.engine, lot, units=units, pledge=pledge)
        except LookupError as exc:
            raise NotFound(str(exc.args[0])) from None
        except ValueError as exc:
            raise HeituError(str(exc)) from None
        return Labels._of({"lot": lot, **render_labels(found, out)})

    def label_sheets(self) -> dict[str, Any]:
        """A label sheet for every coded lot that has none yet, under HEITU_HOME/labels/<gtin>/
        (the codes DAG): ``{"written": [{"lot", "gtin", "out", "labels", "pages"}], "total",
        "skipped"}``. A sheet once written is kept, so running again writes nothing."""
        from traceability.labels import write_sheets

        return write_sheets(self.engine)

    def publish_open_data(self, out: str | Path | None = None) -> OpenData:
        """Write the open data (anonymised county aggregates per season and crop, CSV and
        JSON, with their dictionary) into ``out``, default ``HEITU_OPEN_DIR``."""
        from traceability.pipeline import publish_open_data

        return OpenData._of(publish_open_data(self.url, Path(out) if out else None))

    def rejects(self, *, include_resolved: bool = False) -> list[Reject]:
        """Open rejects, by source, file and line: records rejected for good or waiting."""
        from traceability.rejects import open_rejects

        return [Reject._of(r) for r in open_rejects(self.engine, include_resolved=include_resolved)]
