"""Validation of EPCIS documents against the official GS1 JSON schema."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from traceability import config
from traceability.errors import HeituError


class EpcisError(HeituError):
    """The GS1 EPCIS JSON schema itself cannot be read."""


#: Unmodified copies of ../shared/epcis/ shipped with the package (gs1_epcis/README.md).
BUNDLED_SCHEMA = Path(__file__).parent.parent / "gs1_epcis" / "EPCIS-JSON-Schema.json"
SHARED_SCHEMA = config.REPO_ROOT.parent / "shared" / "epcis" / "EPCIS-JSON-Schema.json"


def schema_path() -> Path:
    """The official EPCIS 2.0 JSON schema, used in place: ``HEITU_EPCIS_SCHEMA``, else
    ``../shared/epcis/`` beside the repository, else the package's unmodified copy."""
    raw = os.environ.get("HEITU_EPCIS_SCHEMA")
    if raw:
        return Path(raw)
    return SHARED_SCHEMA if SHARED_SCHEMA.exists() else BUNDLED_SCHEMA


@cache
def _validator(path: str) -> Any:
    import jsonschema

    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EpcisError(
            f"cannot read the GS1 EPCIS JSON schema {path}: {exc} (set HEITU_EPCIS_SCHEMA)"
        ) from exc
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate(doc: Any) -> str | None:
    """None when ``doc`` is valid against the GS1 schema, else the schema's message with the
    place it is about (``epcisBody.eventList[3].action: 'ADDD' is not valid under ...``)."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator(str(schema_path())).iter_errors(doc))
    if error is None:
        return None
    while error.context:  # "not valid under any of the given schemas": say which rule broke
        error = best_match(error.context)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return f"{where.lstrip('.') or 'document'}: {message}"
