"""Print-ready label sheets: A4 pages of 3 x 8 labels, each with a lot's QR code and what a
buyer reads beside it (docs/codes.md, "Labels").

``render_labels`` draws any list of label dicts; ``lot_labels`` makes them for one lot from the
store: one label for the lot's own code today, one per unit when the unit codes (serial, URI,
short code) are given. The QR is vector (one filled square per run of dark modules, drawn from
``codes.qr_matrix``), each module a whole number of 300 dpi dots, at least 2 cm a side.
Chinese text is Noto Sans CJK SC, embedded as a subset; the font file is looked up at run time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from traceability import config
from traceability.codes import print_size, qr_matrix
from traceability.errors import HeituError

if TYPE_CHECKING:
    from fpdf import FPDF
    from sqlalchemy import Engine

__all__ = [
    "FONT_PACKAGE",
    "cjk_font",
    "label_path",
    "lot_labels",
    "lot_pledge",
    "render_labels",
    "write_sheets",
]

#: The Debian package that installs Noto Sans CJK (the Makefile's `make apt` installs it).
FONT_PACKAGE = "fonts-noto-cjk"
_FONT_FAMILY = "Noto Sans CJK SC"
_FONT_FILES = ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "NotoSansSC-Regular.otf")
_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")

# A4 in mm; 3 columns x 8 rows of 62.7 x 32 mm labels, 3 mm gutters to cut in, cut marks in
# the page margins on every label edge.
PAGE_W, PAGE_H = 210.0, 297.0
COLS, ROWS = 3, 8
MARGIN_X, MARGIN_Y = 8.0, 10.0
GUTTER = 3.0
LABEL_W = (PAGE_W - 2 * MARGIN_X - (COLS - 1) * GUTTER) / COLS
LABEL_H = (PAGE_H - 2 * MARGIN_Y - (ROWS - 1) * GUTTER) / ROWS
PAD = 1.8  # inside a label, from its cut line
MARK = 4.0  # length of a cut mark
PT = 25.4 / 72  # mm per point
CHINA = timezone(timedelta(hours=8))  # pack dates without a sender's offset


@cache
def cjk_font() -> tuple[Path, int]:
    """Noto Sans CJK's file and the index of its Simplified Chinese face (a .ttc holds the
    JP, KR, SC, TC and HK faces). HeituError naming the Debian package when it is missing."""
    found: list[Path] = []
    if shutil.which("fc-match"):
        out = subprocess.run(
            ["fc-match", "-f", "%{file}", f"{_FONT_FAMILY}:style=Regular"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if out and Path(out).name in _FONT_FILES:
            found.append(Path(out))
    for folder in _FONT_DIRS:
        for name in _FONT_FILES:
            if folder.is_dir():
                found += sorted(folder.rglob(name))
    for path in found:
        index = _sc_face(path)
        if index is not None:
            return path, index
    raise HeituError(
        f"the Chinese font {_FONT_FAMILY} (Regular) was not found, so labels cannot be drawn: "
        f"install the Debian package {FONT_PACKAGE} (`make apt`, or "
        f"`apt-get install {FONT_PACKAGE}`)"
    )


def _sc_face(path: Path) -> int | None:
    """The index of the Simplified Chinese face in a font file (0 for a single font)."""
    from fontTools.ttLib import TTCollection

    if path.suffix.lower() != ".ttc":
        return 0
    with TTCollection(str(path), lazy=True) as collection:
        for i, font in enumerate(collection.fonts):
            if font["name"].getDebugName(1) == _FONT_FAMILY:
                return i
    return None


def label_path(gtin: str, lot: str, root: Path | None = None) -> Path:
    """Where the codes DAG keeps a lot's label sheet: labels/<gtin>/<lot>.pdf under HEITU_HOME,
    the lot made safe as a file name (as the QR PNGs are)."""
    return (root or config.heitu_home() / "labels") / gtin / f"{quote(lot, safe='')}.pdf"


# -- drawing ---------------------------------------------------------------------------------


def _pdf() -> FPDF:
    from fpdf import FPDF

    path, index = cjk_font()
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_creator("heitu")
    pdf.add_font("noto", fname=str(path), collection_font_number=index)
    pdf.set_font("noto", size=7)
    return pdf


def _cut_marks(pdf: FPDF) -> None:
    pdf.set_draw_color(0)
    pdf.set_line_width(0.1)
    for c in range(COLS):
        for x in (MARGIN_X + c * (LABEL_W + GUTTER), MARGIN_X + c * (LABEL_W + GUTTER) + LABEL_W):
            pdf.line(x, MARGIN_Y - 1 - MARK, x, MARGIN_Y - 1)
            pdf.line(x, PAGE_H - MARGIN_Y + 1, x, PAGE_H - MARGIN_Y + 1 + MARK)
    for r in range(ROWS):
        for y in (MARGIN_Y + r * (LABEL_H + GUTTER), MARGIN_Y + r * (LABEL_H + GUTTER) + LABEL_H):
            pdf.line(MARGIN_X - 1 - MARK, y, MARGIN_X - 1, y)
            pdf.line(PAGE_W - MARGIN_X + 1, y, PAGE_W - MARGIN_X + 1 + MARK, y)


def _qr(pdf: FPDF, uri: str, x: float, y: float) -> float:
    """Draw uri's QR with its top-left corner (quiet zone included) at x, y; returns its side."""
    size = print_size(uri)
    m = size.module_mm
    pdf.set_fill_color(255)
    pdf.rect(x, y, size.side_mm, size.side_mm, style="F")
    # One path of rectangles (a run of dark modules each), filled once, written as PDF
    # operators: fpdf2's rect() per run cost 5 ms a label, most of a sheet's time.
    k, top = pdf.k, pdf.h
    ops = []
    for r, row in enumerate(qr_matrix(uri)):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            ops.append(
                f"{(x + start * m) * k:.2f} {(top - y - r * m) * k:.2f} "
                f"{(c - start) * m * k:.2f} {-m * k:.2f} re"
            )
    # in a saved graphics state, black set here: fpdf2 emits its own colours lazily
    pdf._out("q 0 g\n" + "\n".join(ops) + "\nf Q")
    return size.side_mm


def _lines(pdf: FPDF, text: str, width: float) -> list[str]:
    """text broken into lines that fit width at the current font size (by character: Chinese
    has no spaces to break at). Remembered per sheet: a lot's labels repeat the same lines."""
    memo: dict[tuple[str, float, float], list[str]] = pdf.__dict__.setdefault("_heitu_lines", {})
    key = (text, width, pdf.font_size_pt)
    if key not in memo:
        memo[key] = _break(pdf, text, width)
    return memo[key]


def _break(pdf: FPDF, text: str, width: float) -> list[str]:
    lines, line = [], ""
    for ch in text:
        if line and pdf.get_string_width(line + ch) > width:
            lines.append(line)
            line = ""
        line += ch
    return [*lines, line] if line else lines


def _text(pdf: FPDF, x: float, y: float, size: float, text: str) -> float:
    """One line at baseline-free top y; returns the y below it."""
    pdf.set_font_size(size)
    pdf.text(x, y + size * PT * 0.88, text)
    return y + size * PT * 1.25


def _label(pdf: FPDF, label: dict[str, Any], x0: float, y0: float) -> None:
    x, y = x0 + PAD, y0 + PAD
    side = _qr(pdf, label["uri"], x, y)
    if label.get("short_code"):
        code = str(label["short_code"])
        pdf.set_font_size(7)
        if pdf.get_string_width(code) > side:  # as wide as the QR at most
            pdf.set_font_size(7 * side / pdf.get_string_width(code))
        pdf.text(x + (side - pdf.get_string_width(code)) / 2, y + side + 2.6, code)
    tx = x + side + 1.5
    width = x0 + LABEL_W - PAD - tx
    bottom = y0 + LABEL_H - PAD
    ty = y + 0.6
    pdf.set_font_size(9)
    for line in _lines(pdf, label.get("name_zh") or "", width)[:2]:
        ty = _text(pdf, tx, ty, 9, line)
    ty += 0.6
    for line in (f"批次 Lot  {label['lot']}", f"包装日期  {label.get('packed_on') or '-'}"):
        pdf.set_font_size(6.5)
        for part in _lines(pdf, line, width):
            ty = _text(pdf, tx, ty, 6.5, part)
    pledge = label.get("pledge")
    if not pledge:
        return
    ty += 0.6
    facts = [f"承诺达标合格证 {pledge.get('number') or ''}".rstrip()]
    if pledge.get("holder"):
        facts.append(f"开具者 {pledge['holder']}")
    items = pledge.get("items") or []
    if isinstance(items, str):
        items = [i for i in items.split(";") if i.strip()]
    facts += [f"· {item.strip()}" for item in items]
    pdf.set_font_size(5.5)
    lines = [part for fact in facts for part in _lines(pdf, fact, width)]
    room = int((bottom - ty) // (5.5 * PT * 1.25))
    if len(lines) > room:  # never silently: the last line that fits says items were cut
        lines = [*lines[: max(room - 1, 0)], "…(见追溯页 see the code's page)"]
    for line in lines:
        ty = _text(pdf, tx, ty, 5.5, line)


def render_labels(labels: Sequence[dict[str, Any]], out: Path | str) -> dict[str, Any]:
    """Write labels as an A4 PDF at out (folders created), 3 x 8 to a page in order.

    A label dict: ``uri`` (what the QR carries), ``lot``, ``name_zh``, ``packed_on`` (a local
    date, ISO), ``short_code`` (printed under the QR; None for none) and ``pledge`` (None, or
    ``{"number", "holder", "items"}``, items a list or a ``;``-separated string). Returns
    ``{"labels", "pages", "out"}``. ValueError for an empty list or a label without a URI."""
    if not labels:
        raise ValueError("no labels to print")
    for i, label in enumerate(labels, 1):
        if not label.get("uri") or not label.get("lot"):
            raise ValueError(f"label {i} has no uri or lot: {label!r}")
    pdf = _pdf()
    per_page = COLS * ROWS
    for i, label in enumerate(labels):
        if i % per_page == 0:
            pdf.add_page()
            _cut_marks(pdf)
        r, c = divmod(i % per_page, COLS)
        _label(pdf, label, MARGIN_X + c * (LABEL_W + GUTTER), MARGIN_Y + r * (LABEL_H + GUTTER))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    pdf.output(str(partial))
    partial.replace(out)  # a reader never sees half a sheet
    return {"labels": len(labels), "pages": pdf.pages_count, "out": str(out)}


# -- from the store --------------------------------------------------------------------------


def _packed_on(made_at: Any, offset_min: int | None) -> str:
    when = made_at if isinstance(made_at, datetime) else datetime.fromisoformat(str(made_at))
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    tz = CHINA if offset_min is None else timezone(timedelta(minutes=offset_min))
    return when.astimezone(tz).date().isoformat()


def lot_labels(
    eng: Engine,
    lot: str,
    units: Iterable[dict[str, Any]] | None = None,
    pledge: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The label dicts of one packed lot: its product's Chinese name, the lot id, the pack date
    (the lot's made_at in the packer's own offset) and its conformity pledge.

    ``units`` (``{"serial", "uri", "short_code"}`` each) default to the bags' codes issued for
    the lot (traceability/serials.py): one label per bag, in unit order, each with its short
    code. A lot with none issued gets one label carrying the lot's own code (issued now if it
    had none), no short code. ``pledge`` (``{"number", "holder", "items"}``) defaults to the
    lot's own newest conformity pledge in the store (certificates/), if any. LookupError for a
    lot not in the store, ValueError for one packed without a GTIN (as ``issue_code``)."""
    from sqlalchemy import text

    from traceability.issuing import issue_code
    from traceability.serials import units_of

    if units is None:
        units = units_of(eng, lot) or None
    if pledge is None:
        pledge = lot_pledge(eng, lot)

    with eng.connect() as conn:
        row = conn.execute(
            text(
                "SELECT l.gtin, l.made_at, e.time_offset_min, p.name_zh FROM lot AS l "
                "JOIN event AS e ON e.event_id = l.event_id "
                "LEFT JOIN product AS p ON p.gtin = l.gtin WHERE l.lot_id = :l"
            ),
            {"l": lot},
        ).first()
    if row is None:
        raise LookupError(f"lot {lot!r} is not in the store")
    base = {
        "lot": lot,
        "gtin": row.gtin,
        "name_zh": row.name_zh or "",
        "packed_on": _packed_on(row.made_at, row.time_offset_min),
        "pledge": pledge,
    }
    if units is None:
        code = issue_code(eng, lot)  # ValueError without a GTIN
        return [{**base, "uri": code["uri"], "short_code": None, "serial": None}]
    if row.gtin is None:
        raise ValueError(f"lot {lot!r} was not packed with a GTIN, so it has no code")
    return [
        {**base, "uri": u["uri"], "short_code": u.get("short_code"), "serial": u.get("serial")}
        for u in units
    ]


def lot_pledge(eng: Engine, lot: str) -> dict[str, Any] | None:
    """The lot's own newest conformity pledge (承诺达标合格证): number, holder (the party's
    name, else its id) and items; None when it has none."""
    from sqlalchemy import text

    with eng.connect() as conn:
        row = conn.execute(
            text(
                "SELECT c.number, c.holder_id, c.items, p.name FROM certificate AS c "
                "LEFT JOIN party AS p ON p.party_id = c.holder_id "
                "WHERE c.lot_id = :l AND c.kind = 'conformity_pledge' "
                "ORDER BY c.issued_on DESC, c.record_id DESC"
            ),
            {"l": lot},
        ).first()
    if row is None:
        return None
    items = [i.strip() for i in (row.items or "").split(";") if i.strip()]
    return {"number": row.number, "holder": row.name or row.holder_id, "items": items}


def write_sheets(eng: Engine, root: Path | None = None) -> dict[str, Any]:
    """A label sheet for every lot that has a code and no sheet yet, at ``label_path``: the
    codes DAG's step after issuing. A sheet once written is kept (a reprint is ``heitu labels``),
    so running again writes nothing. ``written``: ``{"lot", "gtin", "out", "labels", "pages"}``
    for each sheet written now; ``total``: the coded lots; ``skipped``: lots whose sheet could not
    be drawn, with the reason."""
    from sqlalchemy import text

    with eng.connect() as conn:
        coded = conn.execute(text("SELECT lot_id, gtin FROM code ORDER BY lot_id")).all()
    todo = [(lot, gtin, label_path(gtin, lot, root)) for lot, gtin in coded]
    todo = [t for t in todo if not t[2].exists()]
    url = eng.url.render_as_string(hide_password=False)
    jobs = [(url, lot, str(out)) for lot, _, out in todo]
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers > 1 and ":memory:" not in url:
        # A lot's sheet is a file of its own: the lots are drawn side by side, one process per
        # core (a bag's QR and its label cost a few ms; a season has tens of thousands of bags).
        results = _draw_apart(jobs, workers)
    else:
        results = [_sheet_job(job, eng) for job in jobs]
    written, skipped = [], []
    for (lot, gtin, _), result in zip(todo, results, strict=True):
        if "reason" in result:
            skipped.append({"lot": lot, "reason": result["reason"]})
        else:
            written.append({"lot": lot, "gtin": gtin, **result})
    return {"written": written, "total": len(coded), "skipped": skipped}


def _draw_apart(jobs: list[tuple[str, str, str]], workers: int) -> list[dict[str, Any]]:
    """The sheets of ``jobs`` drawn by ``workers`` child processes (``python -m
    traceability.labels``, a share of the lots each, as JSON on stdin and stdout): plain
    subprocesses, which an Airflow task may start where multiprocessing may not (its task
    processes are daemonic). A child that fails has its share drawn here instead."""
    import json

    root = str(Path(__file__).resolve().parent.parent)  # the same code as ours, first
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    shares = [jobs[i::workers] for i in range(workers)]
    children = []
    for share in shares:
        child = subprocess.Popen(
            [sys.executable, "-m", "traceability.labels"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )  # fmt: skip
        assert child.stdin is not None
        child.stdin.write(json.dumps(share).encode())
        child.stdin.close()
        children.append(child)
    done: dict[tuple[str, ...], dict[str, Any]] = {}
    for share, child in zip(shares, children, strict=True):
        assert child.stdout is not None
        answer = child.stdout.read()
        if child.wait() == 0:
            for job, result in zip(share, json.loads(answer), strict=True):
                done[tuple(job)] = result
        else:  # its error is on our stderr; the share is drawn here, where it shows again
            for job in share:
                done[tuple(job)] = _sheet_job(job)
    return [done[tuple(job)] for job in jobs]


def _sheet_job(job: tuple[str, str, str], eng: Engine | None = None) -> dict[str, Any]:
    """One lot's sheet (in a worker process: the store opened from its URL)."""
    url, lot, out = job
    if eng is None:
        from traceability.store import open_store

        eng = open_store(url, upgrade=False)
    try:
        return render_labels(lot_labels(eng, lot), out)
    except (LookupError, ValueError) as exc:
        return {"reason": str(exc)}


def _main() -> None:
    """``python -m traceability.labels``: draw the sheets of the jobs on stdin (a JSON list of
    [store URL, lot, out]) and print their results as a JSON list."""
    import json

    jobs = json.loads(sys.stdin.read())
    print(json.dumps([_sheet_job(tuple(job)) for job in jobs]))


if __name__ == "__main__":
    _main()
