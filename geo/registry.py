"""The plot registry reader: a plot file -> plot records (WGS 84) and rejects.

Rules per feature (the contract's plots section, docs/plots.md): property rules are checked
one feature at a time in Python; geometry rules run over all features at once with shapely 2
and numpy, so 100,000 plots read in seconds.
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geo import geometry as geom
from geo.formats import Features, read_features

CONTRACT_PROPERTIES = (
    "plot_id",
    "farm_id",
    "county_code",
    "township",
    "village",
    "crop",
    "declared_area_mu",
    "soil_organic_matter_pct",
    "black_soil_depth_cm",
    "practices",
)
NUMBER_PROPERTIES = ("declared_area_mu", "soil_organic_matter_pct", "black_soil_depth_cm")
COUNTY_CODE = re.compile(r"\d{6}")
HEILONGJIANG = "23"  # province part of the administrative division code
GEOS_REASON = re.compile(r"(.+)\[(\S+) (\S+)\]")


@dataclass
class PlotRead:
    """What a plot file held: records to load and rejects (line = 1-based feature number)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)


class Reject(ValueError):
    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(reason)


def read_plots(path: Path) -> PlotRead:
    """Read a GeoJSON FeatureCollection, GeoPackage or Shapefile of plots.

    Raises ``UnreadableFile`` when the file as a whole cannot be read (not JSON, not a
    FeatureCollection, a CRS that is not accepted, ...); every other problem rejects one
    feature and the rest still load.
    """
    path = Path(path)
    with _gc_paused():
        return _check(read_features(path))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Building 100,000 features makes millions of small containers, and Python's cyclic GC
    rescans them over and over: measured 3.0 s for json.loads of 100k plots with it, 0.85 s
    without. Nothing here makes reference cycles, so pausing it loses nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check(features: Features) -> PlotRead:
    result = PlotRead()
    candidates: list[tuple[int, dict[str, Any], list[geom.Rings]]] = []
    for line, (props, geometry) in enumerate(
        zip(features.properties, features.geometries, strict=True), start=1
    ):
        record: dict[str, Any] = {"line": line, "plot_id": None}
        try:
            fill_properties(record, props)
            parts = geom.polygon_parts(geometry)
        except (Reject, geom.GeometryProblem) as exc:
            field = exc.field if isinstance(exc, Reject) else "geometry"
            result.rejects.append(_reject(line, record["plot_id"], field, str(exc)))
            continue
        record["geometry"] = {"type": geometry["type"], "coordinates": geometry["coordinates"]}
        candidates.append((line, record, parts))
    accepted = _check_geometries(candidates, result)
    result.records.extend(_without_duplicates(accepted, result))
    result.rejects.sort(key=lambda r: r["line"])
    return result


def _reject(line: int, plot_id: str | None, field: str | None, reason: str) -> dict[str, Any]:
    return {"line": line, "record": plot_id, "field": field, "reason": reason}


# --- properties ------------------------------------------------------------------------------


def fill_properties(record: dict[str, Any], props: Any) -> None:
    """A feature's properties -> the record's attribute fields, checked. Raises Reject; the
    record keeps what was read before it (plot_id first, so a reject can name the plot)."""
    if props is None:
        raise Reject(None, "feature is not a GeoJSON Feature object")
    if not isinstance(props, dict):
        raise Reject(None, "feature properties are not a JSON object")
    fields, clashes = normalise_properties(props)
    record["plot_id"] = text(fields, "plot_id")
    if clashes:
        raise Reject(clashes[0][0], clashes[0][1])
    if record["plot_id"] is None:
        raise Reject("plot_id", "plot_id is missing or empty; every plot needs a unique id")
    record["farm_id"] = text(fields, "farm_id")
    if record["farm_id"] is None:
        raise Reject("farm_id", "farm_id is missing; a plot needs the id of the farm that farms it")
    record["county_code"] = county_code(fields)
    for name in ("township", "village", "crop"):
        record[name] = text(fields, name)
    for name in NUMBER_PROPERTIES:
        record[name] = non_negative_number(fields, name)
    record["practices"] = practices(fields.get("practices"))
    record["extra"] = {
        k: v for k, v in fields.items() if k not in CONTRACT_PROPERTIES and v not in (None, "")
    }


def normalise_properties(props: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Property names are case-insensitive and may carry surrounding whitespace. Returns the
    normalised properties and (name, reason) for names given twice with different values."""
    fields = {str(key).strip().lower(): value for key, value in props.items()}
    if len(fields) == len(props):  # the usual case: no two names collapse into one
        return fields, []
    fields = {}
    given_as: dict[str, str] = {}
    clashes: list[tuple[str, str]] = []
    for key, value in props.items():
        name = str(key).strip().lower()
        if name in fields and fields[name] != value:
            reason = (
                f"properties {given_as[name]!r} and {key!r} both mean {name} "
                "(names ignore case and surrounding spaces) but hold different values"
            )
            clashes.append((name, reason))
            continue
        fields[name] = value
        given_as[name] = key
    return fields, clashes


def text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if type(value) is str:  # the usual case first: this runs ~6 times per feature
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Reject(name, f"{name} {value!r} is not text")
    return str(value)


def county_code(fields: dict[str, Any]) -> str:
    value = text(fields, "county_code")
    if value is None:
        raise Reject(
            "county_code", "county_code is missing; expected a 6-digit administrative code"
        )
    if not COUNTY_CODE.fullmatch(value):
        raise Reject("county_code", f"county_code {value!r} is not a 6-digit administrative code")
    if not value.startswith(HEILONGJIANG):
        raise Reject(
            "county_code",
            f"county_code {value!r} is not in Heilongjiang (its codes start with "
            f"{HEILONGJIANG}); Heitu registers Heilongjiang plots only",
        )
    return value


def non_negative_number(fields: dict[str, Any], name: str) -> float | None:
    """A JSON number, or numeric text ("12.5"): some tools write every property as text."""
    value = fields.get(name)
    kind = type(value)
    if kind is float or kind is int:  # not bool: type() is exact, True is no number here
        number = float(value)
    elif value is None:
        return None
    elif kind is str:
        if not value.strip():
            return None
        try:
            number = float(value)
        except ValueError:
            raise Reject(name, f"{name} {value!r} is not a number") from None
    else:
        raise Reject(name, f"{name} {value!r} is not a number")
    if not math.isfinite(number):
        raise Reject(name, f"{name} {value!r} is not a finite number")
    if number < 0:
        raise Reject(name, f"{name} must not be negative, got {value!r}")
    return number


def practices(value: Any) -> list[str]:
    """``straw_return;no_till`` -> ["straw_return", "no_till"] (a JSON list is taken too)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(";")
    return [str(p).strip() for p in items if str(p).strip()]


# --- geometry --------------------------------------------------------------------------------


def _check_geometries(
    candidates: list[tuple[int, dict[str, Any], list[geom.Rings]]], result: PlotRead
) -> list[tuple[dict[str, Any], shapely.Geometry]]:
    """Range, validity (with repair), bbox and geodesic area for all candidates at once.
    Returns the accepted records, in file order, each with its (valid) shapely shape."""
    if not candidates:
        return []
    b = geom.batch([parts for _, _, parts in candidates])
    box = geom.bounds(b)
    drawn = geom.shapes(b)
    in_range = _in_range(box)
    valid = np.zeros(len(b), dtype=bool)
    valid[in_range] = shapely.is_valid(drawn[in_range])
    area = geom.areas(b)
    accepted: list[tuple[dict[str, Any], shapely.Geometry]] = []
    for i, (line, record, _) in enumerate(candidates):
        try:
            if not in_range[i]:
                raise Reject("geometry", _range_reason(box[i]))
            if valid[i]:
                shape = drawn[i]
                _set_geometry_fields(record, box[i], float(area[i]), repaired=False)
            else:
                shape = _repair_into(record, drawn[i], float(area[i]))
        except Reject as exc:
            result.rejects.append(_reject(line, record["plot_id"], exc.field, exc.reason))
            continue
        accepted.append((record, shape))
    return accepted


def _in_range(box: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # NaN compares False: out of range, as it should be
        return (box[:, 0] >= -180) & (box[:, 2] <= 180) & (box[:, 1] >= -90) & (box[:, 3] <= 90)


def _range_reason(box: np.ndarray) -> str:
    min_lon, min_lat, max_lon, max_lat = box.tolist()
    if not all(math.isfinite(v) for v in (min_lon, min_lat, max_lon, max_lat)):
        return "coordinates are not finite numbers (NaN or infinity)"
    if max(abs(min_lon), abs(max_lon), abs(min_lat), abs(max_lat)) > 1000:
        hint = "; these look like projected metres, but a GeoJSON plot file is in degrees"
    elif abs(min_lon) <= 90 and abs(max_lon) <= 90 and (max_lat > 90 or min_lat < -90):
        hint = "; these look like latitude, longitude, but GeoJSON order is longitude, latitude"
    else:
        hint = ""
    return (
        f"coordinates out of range: longitude {min_lon:g}..{max_lon:g}, latitude "
        f"{min_lat:g}..{max_lat:g}; expected longitude -180..180 and latitude -90..90{hint}"
    )


def _set_geometry_fields(
    record: dict[str, Any], box: np.ndarray, area_m2: float, *, repaired: bool
) -> None:
    record["min_lon"], record["min_lat"], record["max_lon"], record["max_lat"] = box.tolist()
    record["area_m2"] = area_m2
    record["area_mu"] = area_m2 / geom.M2_PER_MU
    record["repaired"] = repaired


def _repair_into(
    record: dict[str, Any], shape: shapely.Geometry, drawn_m2: float
) -> shapely.Geometry:
    """An invalid geometry is accepted repaired only if the repair keeps its area within 5%:
    a bigger change means the repair guessed at a shape nobody drew."""
    why = _validity_reason(shapely.is_valid_reason(shape))
    fixed = geom.repair(shape)
    if not fixed.keeps_area(drawn_m2):
        if fixed.geometry is None:
            detail = "nothing with an area is left after repair"
        elif drawn_m2 <= 0:
            detail = "its rings enclose no area as drawn (e.g. a symmetric bow-tie)"
        else:
            change = abs(fixed.area_m2 - drawn_m2) / drawn_m2
            detail = (
                f"repair would change its area from {drawn_m2:.0f} m2 to "
                f"{fixed.area_m2:.0f} m2 ({change:.0%}), more than the 5% allowed"
            )
        raise Reject("geometry", f"geometry is not a valid polygon ({why}) and {detail}")
    assert fixed.geometry is not None
    record["geometry"] = geom.to_geojson(fixed.geometry)
    box = np.asarray(shapely.bounds(fixed.geometry), dtype=np.float64)
    _set_geometry_fields(record, box, fixed.area_m2, repaired=True)
    return fixed.geometry


def _validity_reason(geos_reason: str) -> str:
    """GEOS says "Self-intersection[126.6007 45.0003]"; users read "self-intersection at
    longitude 126.6007, latitude 45.0003"."""
    match = GEOS_REASON.fullmatch(geos_reason)
    if match is None:
        return geos_reason
    what, lon, lat = match.groups()
    return f"{what.lower()} at longitude {lon}, latitude {lat}"


# --- duplicates ------------------------------------------------------------------------------


def _without_duplicates(
    accepted: list[tuple[dict[str, Any], shapely.Geometry]], result: PlotRead
) -> Iterator[dict[str, Any]]:
    """A plot_id is one plot per file until versioning (a later issue). A second feature with
    the same plot_id is dropped when it repeats the first exactly (files are delivered more
    than once, sometimes concatenated) and rejected when it differs."""
    first: dict[str, tuple[dict[str, Any], shapely.Geometry]] = {}
    for record, shape in accepted:
        seen = first.get(record["plot_id"])
        if seen is None:
            first[record["plot_id"]] = (record, shape)
            yield record
            continue
        earlier, earlier_shape = seen
        same_shape = earlier["geometry"] == record["geometry"] or shapely.equals(
            earlier_shape, shape
        )
        if not same_shape:
            reason = (
                f"plot_id {record['plot_id']!r} already appears at feature {earlier['line']} "
                "with a different geometry; a file may hold one version of a plot"
            )
            result.rejects.append(_reject(record["line"], record["plot_id"], "geometry", reason))
            continue
        differing = [k for k in (*CONTRACT_PROPERTIES, "extra") if earlier.get(k) != record.get(k)]
        if differing:
            reason = (
                f"plot_id {record['plot_id']!r} already appears at feature {earlier['line']} "
                f"with different {', '.join(differing)}; a file may hold one version of a plot"
            )
            result.rejects.append(_reject(record["line"], record["plot_id"], differing[0], reason))
