"""Is an inbox folder being fed? Freshness of the landing zone, and its alerts.

A folder is **stale** when its newest file (waiting in the inbox, or archived per the
manifest) is older than the folder's limit (``HEITU_FRESHNESS_HOURS_<FOLDER>``, defaults in
``FRESHNESS_HOURS``). A folder with no limit (the on-demand EPCIS folder, by default) is never
stale. A folder that has never received a file is stale only once it has been watched for
longer than its limit: a new deployment is not red before anyone could have sent anything.

The operator hears of it **once** when a folder goes stale and once when it recovers, not on
every run: ``watch`` compares the folder's state with the one kept in
``archive/freshness/<folder>.json`` and says whether it changed; ``record`` keeps the new state
once the alert has gone out (``traceability.alerts``), so an alert that could not be delivered
is sent again by the next run.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from traceability import config
from traceability.readers import stored_utc_iso

__all__ = [
    "FRESHNESS_HOURS",
    "check_freshness",
    "contacts",
    "freshness_limit",
    "record",
    "watch",
]

#: Hours without a new file after which a folder is stale and the operator is alerted; None:
#: no limit (files come when there is something to send). Override per folder with
#: HEITU_FRESHNESS_HOURS_<FOLDER>=hours, or =off for no limit.
FRESHNESS_HOURS: dict[str, float | None] = {
    "parties": 24 * 90,  # master data changes rarely
    "products": 24 * 90,
    "plots": 24 * 365,  # the land registry delivers once a season or less
    "production": 72,  # farms report sowing/inputs/harvest every few days in season
    "processing": 48,  # mills deliver daily
    "transport": 12,  # loggers upload several times a day while trucks run
    "sales": 48,  # retailers deliver daily
    "certificates": None,  # issued when a lot is sold or a body certifies, not on a clock
    "epcis": None,  # partners who speak EPCIS send documents when they have them, not on a clock
}
#: Who delivers each folder: the role whose parties the alert names as the ones to call.
DELIVERED_BY = {
    "parties": None,
    "products": None,
    "plots": None,
    "production": "coop",
    "processing": "processor",
    "transport": "carrier",
    "sales": "retailer",
    "certificates": None,
    "epcis": None,
}
_OFF = ("off", "none", "no")


def freshness_limit(source: str) -> float | None:
    """The folder's limit in hours, or None for none. ValueError for a setting that is
    neither a positive number nor ``off``."""
    name = f"HEITU_FRESHNESS_HOURS_{source.upper()}"
    raw = os.environ.get(f"HEITU_FRESHNESS_HOURS_{source.upper()}", "").strip()
    if not raw:
        return FRESHNESS_HOURS[source]
    if raw.lower() in _OFF:
        return None
    try:
        hours = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected hours (a number) or 'off'") from None
    if hours <= 0:
        raise ValueError(f"{name}={raw!r}: expected a positive number of hours, or 'off'")
    return hours


def newest_arrival(source: str, inbox: Path | None = None, archive: Path | None = None) -> Any:
    """When the newest file of ``source`` arrived (waiting in the inbox, or archived), or None."""
    from traceability.inbox import pending_files

    newest: datetime | None = None
    for path in pending_files(source, inbox):
        t = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        newest = max(newest, t) if newest else t
    manifest = (archive or config.archive_dir()) / "manifest.jsonl"
    if manifest.exists():
        with manifest.open(encoding="utf-8") as f:
            for line in f:
                entry = json.loads(line)
                if entry["source"] == source:
                    t = datetime.fromisoformat(entry["received_at"])
                    newest = max(newest, t) if newest else t
    return newest


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def check_freshness(
    source: str,
    inbox: Path | None = None,
    archive: Path | None = None,
    *,
    now: datetime | None = None,
    watching_since: datetime | None = None,
) -> dict[str, Any]:
    """How long since the newest file of ``source`` arrived, against its limit.

    ``stale_since`` is when it went stale (the newest file's arrival plus the limit, or the
    start of watching plus the limit for a folder that never received a file)."""
    now = now or datetime.now(UTC)
    newest = newest_arrival(source, inbox, archive)
    limit = freshness_limit(source)
    age = (now - newest).total_seconds() / 3600 if newest else None
    stale_since: datetime | None = None
    if limit is None:
        stale = False
        when = f"newest file arrived {age:.1f} h ago" if age is not None else "no file yet"
        message = f"{source}: {when}; no limit (files come when there is something to send)"
    elif newest is not None:
        stale = age is not None and age > limit
        stale_since = newest + timedelta(hours=limit) if stale else None
        message = f"{source}: newest file arrived {age:.1f} h ago (limit {limit:g} h)"
    else:
        start = watching_since or now
        stale = (now - start).total_seconds() / 3600 > limit
        stale_since = start + timedelta(hours=limit) if stale else None
        message = (
            f"{source}: no file has arrived since watching began at {_iso(start)} "
            f"(limit {limit:g} h)"
        )
    return {
        "source": source,
        "newest_at": _iso(newest),
        "newest_age_hours": age,
        "limit_hours": limit,
        "never_received": newest is None,
        "stale": stale,
        "stale_since": _iso(stale_since),
        "message": message,
    }


def _state_path(source: str, archive: Path | None) -> Path:
    return (archive or config.archive_dir()) / "freshness" / f"{source}.json"


def _load(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}


def _save(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)  # one folder's state, replaced whole: a crash leaves the old one


def watch(
    source: str,
    inbox: Path | None = None,
    archive: Path | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The folder's freshness and whether it changed since the last alert: ``event`` is
    ``"stale"`` (it went stale), ``"recovered"`` (a file came after it was stale) or None.
    Keeps when watching began (the first call), nothing else: ``record`` keeps the state once
    the alert is out."""
    now = now or datetime.now(UTC)
    path = _state_path(source, archive)
    state = _load(path)
    if "watching_since" not in state:
        state["watching_since"] = _iso(now)
        state.setdefault("state", "fresh")
        _save(path, state)
    since = datetime.fromisoformat(state["watching_since"])
    status = check_freshness(source, inbox, archive, now=now, watching_since=since)
    previous = state.get("state", "fresh")
    current = "stale" if status["stale"] else "fresh"
    event = None
    if current != previous:
        event = "stale" if current == "stale" else "recovered"
    return {**status, "state": current, "previous": previous, "event": event,
            "alerted_at": state.get("alerted_at")}  # fmt: skip


def record(source: str, result: dict[str, Any], archive: Path | None = None) -> None:
    """Keep the folder's new state after its alert went out (``result`` from ``watch``)."""
    path = _state_path(source, archive)
    state = _load(path)
    state.update(state=result["state"], alerted_at=_iso(datetime.now(UTC)),
                 stale_since=result.get("stale_since"))  # fmt: skip
    _save(path, state)


def contacts(source: str, url: str | None = None, limit: int = 5) -> list[dict[str, Any]]:
    """Whom to call about a silent folder: ``HEITU_CONTACT_<FOLDER>`` when set, else the
    partners of the role that delivers it, from the store. For transport, the carriers with
    the time their loggers last reported, the longest silent first."""
    configured = os.environ.get(f"HEITU_CONTACT_{source.upper()}", "").strip()
    if configured:
        return [{"name": configured}]
    role = DELIVERED_BY.get(source)
    if role is None:
        return []
    from traceability.lineage import reading
    from traceability.sqlrun import ready_url
    from traceability.store import open_store

    store: Any = ready_url(url or config.db_url()) or open_store(url)
    with reading(store) as r:
        if source == "transport":
            rows = r.rows(
                "SELECT p.party_id, p.name, MAX(rd.ts) AS last_reading FROM party AS p "
                "JOIN shipment AS s ON s.carrier_id = p.party_id "
                "LEFT JOIN reading AS rd ON rd.device_id = s.device_id "
                "WHERE p.role = 'carrier' GROUP BY p.party_id, p.name "
                "ORDER BY MAX(rd.ts) IS NOT NULL, MAX(rd.ts), p.party_id",
                {},
            )
            return [
                {
                    "party": x.party_id,
                    "name": x.name,
                    "last_reading": stored_utc_iso(x.last_reading),
                }
                for x in rows[:limit]
            ]
        rows = r.rows(
            "SELECT party_id, name FROM party WHERE role = :role ORDER BY party_id", {"role": role}
        )
    return [{"party": x.party_id, "name": x.name} for x in rows[:limit]]


def alert_text(result: dict[str, Any], people: list[dict[str, Any]]) -> str:
    """One line an operator can act on: which folder, since when, whom to call."""
    folder = result["source"]
    call = ", ".join(
        p["name"] + (f" (last logger reading {p['last_reading']})" if p.get("last_reading") else "")
        for p in people
    )
    who = f" Call: {call}." if call else ""
    if result["event"] == "recovered":
        return f"inbox/{folder} is fed again: a file arrived at {result['newest_at']}."
    return (
        f"inbox/{folder} is STALE since {result['stale_since']}: {result['message']}.{who} "
        f"If the silence is expected, raise HEITU_FRESHNESS_HOURS_{folder.upper()}."
    )
