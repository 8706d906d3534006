"""Who sees what: bureau offices, their API tokens, and the audit log.

An **office** is a role and region codes, from an API token (``heitu token create``) or from
the identity provider's claims (portal sign-in):

- ``county`` (6-digit county codes, 230184 Wuchang): plots, farms and findings of its
  counties, and every lot whose chain touches them (other regions' plots in that chain as
  county and share only);
- ``city`` (4-digit city codes, 2301 Harbin): the same for every county under its cities;
- ``province`` (2-digit code, 23): everything;
- ``market`` (market regulation, any regions): every lot, code, recall, sale and finding, but
  no plot geometry or farm details.

Scope is applied in the queries (``plot_scope``: a SQL condition on a plot's county code), so
a county office's answer is made only of its own rows. A secret is shown once at creation and
stored as its SHA-256 only (a random 256-bit token needs no slow hash). The audit log is
append-only: triggers refuse UPDATE and DELETE (migration 0007).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from traceability.errors import HeituError, NotFound
from traceability.readers import is_division_code
from traceability.readers import stored_utc_iso as _iso

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "ROLES",
    "Office",
    "authenticate",
    "create_token",
    "list_tokens",
    "plot_scope",
    "record",
    "revoke_token",
]

ROLES = ("county", "city", "province", "market")
#: Digits of a region code per role.
REGION_DIGITS = {"county": 6, "city": 4, "province": 2}
TOKEN_PREFIX = "heitu_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class AccessError(HeituError):
    """A token or office that cannot be made as asked (usage: exit 2 on the command line)."""

    exit_code = 2


@dataclass(frozen=True)
class Office:
    """Who is asking: ``who`` (token name or the person's name/subject), ``role``, ``regions``."""

    who: str
    role: str
    regions: tuple[str, ...]
    via: str = "token"

    @property
    def everything(self) -> bool:
        return self.role in ("province", "market")

    @property
    def sees_farms(self) -> bool:
        """Plot geometry and farm details: every role but market regulation."""
        return self.role != "market"

    def covers(self, county_code: str | None) -> bool:
        """Whether a county code is in this office's regions."""
        if self.everything:
            return True
        if not county_code:
            return False
        return any(county_code.startswith(r) for r in self.regions)

    def as_dict(self) -> dict[str, Any]:
        return {"who": self.who, "role": self.role, "regions": list(self.regions), "via": self.via}


def check_office(role: str, regions: list[str]) -> tuple[str, ...]:
    """The region codes of an office, checked against its role; AccessError says why not."""
    if role not in ROLES:
        raise AccessError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    codes = tuple(dict.fromkeys(r.strip() for r in regions if r.strip()))
    for code in codes:
        if not is_division_code(code):
            raise AccessError(f"region {code!r} is not a division code (digits, e.g. 230184)")
    digits = REGION_DIGITS.get(role)
    if digits is not None:
        if not codes:
            raise AccessError(f"a {role} office needs --region (a {digits}-digit code)")
        wrong = [c for c in codes if len(c) != digits]
        if wrong:
            raise AccessError(
                f"a {role} office's regions are {digits}-digit codes; got {', '.join(wrong)}"
            )
    return codes


def plot_scope(office: Office, column: str = "county_code") -> tuple[str, dict[str, Any]]:
    """A SQL condition (and its parameters) that a plot's county code ``column`` is in the
    office's regions: ``1 = 1`` for an office that sees every region."""
    if office.everything:
        return "1 = 1", {}
    parts, params = [], {}
    for i, code in enumerate(office.regions):
        params[f"scope{i}"] = code + "%"
        parts.append(f"{column} LIKE :scope{i}")
    return "(" + " OR ".join(parts or ["1 = 0"]) + ")", params


# --- tokens ------------------------------------------------------------------------------------


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _token_doc(r: Any) -> dict[str, Any]:
    now = _now()
    expires = r.expires_at.replace(tzinfo=UTC) if r.expires_at else None
    state = "revoked" if r.revoked_at else "expired" if expires and expires <= now else "active"
    return {
        "name": r.name,
        "role": r.role,
        "regions": [c for c in r.regions.split(";") if c],
        "created_at": _iso(r.created_at),
        "expires_at": _iso(r.expires_at),
        "revoked_at": _iso(r.revoked_at),
        "state": state,
    }


def create_token(
    eng: Engine, name: str, regions: list[str], role: str = "county", days: float | None = None
) -> dict[str, Any]:
    """A new token: ``{"token": secret, ...}``; the secret is in no other answer, ever."""
    from sqlalchemy import insert, select

    from traceability.models import ApiToken

    if not _NAME.fullmatch(name):
        raise AccessError(f"token name {name!r}: letters, digits, '.', '_', '-' (at most 100)")
    codes = check_office(role, regions)
    if days is not None and days <= 0:
        raise AccessError(f"--expires {days:g}: expected a positive number of days")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = _now()
    with eng.begin() as conn:
        if conn.execute(select(ApiToken.id).where(ApiToken.name == name)).first():
            raise AccessError(f"a token named {name!r} exists already (revoke it or pick another)")
        conn.execute(
            insert(ApiToken).values(
                name=name,
                token_hash=_hash(secret),
                role=role,
                regions=";".join(codes),
                created_at=now,
                expires_at=now + timedelta(days=days) if days else None,
                revoked_at=None,
            )
        )
        row = conn.execute(select(ApiToken).where(ApiToken.name == name)).one()
    return {"token": secret, **_token_doc(row)}


def list_tokens(eng: Engine) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from traceability.models import ApiToken

    with eng.connect() as conn:
        return [_token_doc(r) for r in conn.execute(select(ApiToken).order_by(ApiToken.name))]


def revoke_token(eng: Engine, name: str) -> dict[str, Any]:
    """Revoke a token at once: the store's change counter is bumped, so a server that keeps
    tokens it has seen (traceability/web) asks the store again on the next request."""
    from sqlalchemy import select, update

    from traceability.models import ApiToken
    from traceability.store import touch

    with eng.begin() as conn:
        row = conn.execute(select(ApiToken).where(ApiToken.name == name)).first()
        if row is None:
            raise NotFound(f"no token named {name!r}")
        if row.revoked_at is None:
            conn.execute(update(ApiToken).where(ApiToken.name == name).values(revoked_at=_now()))
        row = conn.execute(select(ApiToken).where(ApiToken.name == name)).one()
    touch(eng)
    return _token_doc(row)


def token_office(reader: Any, secret: str) -> tuple[Office, datetime | None] | None:
    """The office of a token that exists and is not revoked, with its expiry; None else.
    ``reader`` is a lineage ``Reader`` (bare driver connection)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    rows = reader.rows(
        "SELECT name, role, regions, expires_at, revoked_at FROM api_token WHERE token_hash = :h",
        {"h": _hash(secret)},
    )
    if not rows or rows[0].revoked_at is not None:
        return None
    r = rows[0]
    expires = r.expires_at
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires)
    if expires is not None:
        expires = expires.replace(tzinfo=UTC)
    return Office(r.name, r.role, tuple(c for c in r.regions.split(";") if c), "token"), expires


def authenticate(reader: Any, secret: str) -> Office | None:
    """The office of an active token, or None (unknown, revoked or expired alike: 401)."""
    found = token_office(reader, secret)
    if found is None:
        return None
    office, expires = found
    return None if expires is not None and expires <= _now() else office


def token_key(secret: str) -> str:
    """What a cache may keep a token under: its hash, never the secret."""
    return _hash(secret)


# --- audit -------------------------------------------------------------------------------------


def record(
    eng: Engine, office: Office | None, method: str, path: str, status: int, who: str = "-"
) -> None:
    """Append one request to the audit log."""
    from sqlalchemy import insert

    from traceability.models import AuditEntry

    with eng.begin() as conn:
        conn.execute(insert(AuditEntry).values(**_entry(office, method, path, status, who)))


class AuditWriter:
    """Appends audit entries from a thread of its own, a batch per transaction, so that a
    request does not wait for the database's write lock (with SQLite's one writer, 16
    concurrent requests each writing their own row queued for up to 140 ms at p99,
    docs/benchmarks.md). An entry is written within ``interval`` seconds; ``flush`` waits for
    all so far; ``close`` (the app's shutdown) flushes and stops."""

    def __init__(self, eng: Engine, interval: float = 0.05, batch: int = 500) -> None:
        import queue
        import threading

        self.eng = eng
        self.interval = interval
        self.batch = batch
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="heitu-audit", daemon=True)
        self._thread.start()

    def add(self, office: Office | None, method: str, path: str, status: int) -> None:
        self._queue.put(_entry(office, method, path, status))

    def _run(self) -> None:
        import queue

        from sqlalchemy import insert

        from traceability.models import AuditEntry

        stop = False
        while not stop:
            rows = []
            item = self._queue.get()
            while True:
                if item is None:
                    stop = True
                else:
                    rows.append(item)
                if stop or len(rows) >= self.batch:
                    break
                try:
                    item = self._queue.get(timeout=self.interval)
                except queue.Empty:
                    break
            if rows:
                with suppress(Exception), self.eng.begin() as conn:  # a lost batch must
                    conn.execute(insert(AuditEntry), rows)  # not stop the writer
            for _ in range(len(rows) + (1 if stop else 0)):
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every entry added so far is written."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)


def _entry(office: Office | None, method: str, path: str, status: int, who: str = "-") -> Any:
    return {
        "at": datetime.now(UTC),
        "who": office.who if office else who,
        "via": office.via if office else "none",
        "role": office.role if office else None,
        "regions": ";".join(office.regions) if office else None,
        "method": method,
        "path": path[:2000],
        "status": status,
    }


def audit_log(eng: Engine, limit: int | None = None) -> list[dict[str, Any]]:
    """The audit log, oldest first (``heitu audit``)."""
    from sqlalchemy import select

    from traceability.models import AuditEntry

    q = select(AuditEntry).order_by(AuditEntry.id)
    if limit:
        q = q.limit(limit)
    with eng.connect() as conn:
        return [
            {
                "id": r.id,
                "at": _iso(r.at),
                "who": r.who,
                "via": r.via,
                "office": {
                    "role": r.role,
                    "regions": [c for c in (r.regions or "").split(";") if c],
                },
                "method": r.method,
                "path": r.path,
                "status": r.status,
            }
            for r in conn.execute(q)
        ]
