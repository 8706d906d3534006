"""Issuing traceability codes: every packed lot with a GTIN gets a Digital Link URI and a QR PNG.

Idempotent: a lot that has a code keeps it (a printed code must never change); a missing PNG
is drawn again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, insert, text

from traceability import config
from traceability import models as m
from traceability.codes import digital_link, write_qr
from traceability.serials import issue_units


def png_path(gtin: str, lot: str, root: Path | None = None) -> Path:
    """Where a lot's QR lives: codes/<gtin>/<lot>.png, the lot made safe as a file name."""
    return (root or config.codes_dir()) / gtin / f"{quote(lot, safe='')}.png"


def issue_code(eng: Engine, lot: str, resolver: str | None = None) -> dict[str, Any]:
    """The code of one lot, issuing it now if needed. ValueError when the lot can't have one."""
    with eng.begin() as conn:
        row = conn.execute(text("SELECT gtin FROM lot WHERE lot_id = :l"), {"l": lot}).first()
        if row is None:
            raise LookupError(f"lot {lot!r} is not in the store")
        if row.gtin is None:
            raise ValueError(f"lot {lot!r} was not packed with a GTIN, so it has no code")
        code = conn.execute(
            text("SELECT uri, png_path FROM code WHERE lot_id = :l"), {"l": lot}
        ).first()
        if code is None:
            uri = digital_link(row.gtin, lot, resolver or config.resolver())
            png = png_path(row.gtin, lot)
            conn.execute(
                insert(m.Code.__table__),
                {
                    "lot_id": lot,
                    "gtin": row.gtin,
                    "uri": uri,
                    "png_path": str(png),
                    "issued_at": datetime.now(UTC),
                },
            )
        else:
            uri, png = code.uri, Path(code.png_path)
    if not png.exists():
        write_qr(uri, png)
    return {
        "lot": lot,
        "gtin": row.gtin,
        "uri": uri,
        "png": str(png),
        "new": code is None,
    }


def issue_codes(eng: Engine, resolver: str | None = None) -> dict[str, Any]:
    """Codes for every packed lot: issued when missing, PNG redrawn when gone, and the bags'
    own codes of lots packed in units. ``issued`` counts the lot codes new in this call,
    ``units_issued`` the bags' codes, ``total`` every packed lot's code."""
    with eng.connect() as conn:
        lots = [
            (r.lot_id, r.units)
            for r in conn.execute(
                text(
                    "SELECT l.lot_id, l.units FROM lot AS l LEFT JOIN code AS c "
                    "ON c.lot_id = l.lot_id WHERE l.gtin IS NOT NULL ORDER BY l.lot_id"
                )
            )
        ]
    issued, skipped = [], []
    units = 0
    for lot, packed_units in lots:
        try:
            code = issue_code(eng, lot, resolver)
        except ValueError as exc:
            skipped.append({"lot": lot, "reason": str(exc)})
            continue
        if packed_units:
            # Each bag its own signed serial (traceability/serials.py): once, the missing ones.
            code["new_units"] = issue_units(eng, lot)
            units += code["new_units"]
        issued.append(code)
    return {
        "issued": sum(c["new"] for c in issued),
        "total": len(issued),
        "units_issued": units,
        "codes": issued,
        "skipped": skipped,
    }
