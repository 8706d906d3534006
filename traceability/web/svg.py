"""Small pictures drawn on the server as inline SVG: the plots on their county's outline, and
a shipment's temperature curve. No tiles, no scripts, no requests to anyone: a phone shows
them as part of the page."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from html import escape

__all__ = ["plot_map", "temperature_curve"]

Ring = list[tuple[float, float]]


def _projector(
    rings: Sequence[Ring], width: float, height: float, pad: float
) -> tuple[float, float, object]:
    """An equirectangular projection (x scaled by cos(latitude)) fitting ``rings`` in the box."""
    xs = [x for r in rings for x, _ in r]
    ys = [y for r in rings for _, y in r]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    k = math.cos(math.radians((y0 + y1) / 2))
    span_x = max((x1 - x0) * k, 1e-9)
    span_y = max(y1 - y0, 1e-9)
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    w = span_x * scale + 2 * pad
    h = span_y * scale + 2 * pad

    def project(lon: float, lat: float) -> tuple[float, float]:
        return (round(pad + (lon - x0) * k * scale, 1), round(pad + (y1 - lat) * scale, 1))

    return w, h, project


def _path(ring: Ring, project: object) -> str:
    pts = [project(x, y) for x, y in ring]  # type: ignore[operator]
    out = [f"M{pts[0][0]} {pts[0][1]}"]
    last = pts[0]
    for p in pts[1:]:
        if p != last:
            out.append(f"L{p[0]} {p[1]}")
            last = p
    return "".join(out) + "Z"


def plot_map(
    county_rings: Sequence[Ring],
    plots: Sequence[tuple[str, float, Sequence[Ring]]],
    title: str,
    width: int = 340,
    height: int = 220,
) -> str:
    """The county outline with each plot drawn (and a dot where it is too small to see), and
    beside it a close-up of the plots themselves. ``plots`` is (label, share, rings)."""
    plot_rings = [r for _, _, rings in plots for r in rings]
    if not plot_rings:
        return ""
    parts: list[str] = []
    base = county_rings or plot_rings
    w, h, project = _projector([*base, *plot_rings], width, height, 8)
    parts.append(
        f'<svg class="map" viewBox="0 0 {w:.0f} {h:.0f}" role="img" '
        f'aria-labelledby="map-title" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="map-title">{escape(title)}</title>'
    )
    for ring in county_rings:
        parts.append(f'<path class="county" d="{_path(ring, project)}"/>')
    for _, _, rings in plots:
        for ring in rings:
            parts.append(f'<path class="plot" d="{_path(ring, project)}"/>')
            cx = sum(x for x, _ in ring) / len(ring)
            cy = sum(y for _, y in ring) / len(ring)
            px, py = project(cx, cy)  # type: ignore[operator]
            parts.append(f'<circle class="dot" cx="{px}" cy="{py}" r="3"/>')
    parts.append("</svg>")
    if county_rings and _close_together(plot_rings):  # the close-up: the plots' own shapes
        w2, h2, project2 = _projector(plot_rings, width, 140, 6)
        parts.append(
            f'<svg class="map zoom" viewBox="0 0 {w2:.0f} {h2:.0f}" role="img" '
            f'aria-label="{escape(title)} (close-up)" xmlns="http://www.w3.org/2000/svg">'
        )
        for label, share, rings in plots:
            for ring in rings:
                parts.append(
                    f'<path class="plot" d="{_path(ring, project2)}">'
                    f"<title>{escape(label)} {share * 100:.1f}%</title></path>"
                )
        parts.append("</svg>")
    return "".join(parts)


#: Least part of the close-up's box the plots must fill: plots scattered over a township would
#: be specks in the corners of a blank box (the county map shows where each is).
CLOSE_UP_FILL = 0.04


def _close_together(rings: Sequence[Ring]) -> bool:
    def box(pts: Sequence[tuple[float, float]]) -> tuple[float, float, float, float]:
        xs = [x for x, _ in pts]
        ys = [y for _, y in pts]
        return min(xs), min(ys), max(xs), max(ys)

    x0, y0, x1, y1 = box([p for r in rings for p in r])
    whole = (x1 - x0) * (y1 - y0)
    if whole <= 0:
        return False
    filled = sum((b[2] - b[0]) * (b[3] - b[1]) for b in map(box, rings))
    return filled / whole >= CLOSE_UP_FILL


def temperature_curve(
    readings: Sequence[tuple[datetime, float]],
    allowed: tuple[float, float] | None,
    label: str,
    width: int = 300,
    height: int = 70,
    max_points: int = 60,
) -> str:
    """A sparkline of a truck's temperatures with the allowed band shaded; readings are
    thinned to at most ``max_points`` (keeping each bucket's extreme) so a long haul costs
    the page the same bytes as a short one."""
    if len(readings) < 2:
        return ""
    if len(readings) > max_points:
        size = math.ceil(len(readings) / max_points)
        thinned = []
        for i in range(0, len(readings), size):
            bucket = readings[i : i + size]
            thinned.append(max(bucket, key=lambda r: abs(r[1] - _mid(allowed))))
        readings = thinned
    t0 = readings[0][0].timestamp()
    t1 = max(readings[-1][0].timestamp(), t0 + 1)
    temps = [t for _, t in readings]
    # the axis fits the readings, and an allowed bound when it is near them (a "cool" class's
    # -30 C floor would squash a 10 C haul into a flat line)
    lo, hi = min(temps) - 2, max(temps) + 2
    for bound in allowed or ():
        if lo - 6 <= bound < lo:
            lo = bound - 1
        if hi < bound <= hi + 6:
            hi = bound + 1
    pad = 4
    left = 30  # room for the temperature labels

    def y_of(temp: float) -> float:
        return pad + (hi - min(max(temp, lo), hi)) / (hi - lo) * (height - 2 * pad)

    def xy(when: datetime, temp: float) -> str:
        x = left + (when.timestamp() - t0) / (t1 - t0) * (width - left - pad)
        return f"{x:.1f},{y_of(temp):.1f}"

    band = ""
    if allowed:
        ya, yb = y_of(allowed[1]), y_of(allowed[0])
        band = (
            f'<rect class="band" x="{left}" y="{ya:.1f}" width="{width - left - pad}" '
            f'height="{max(yb - ya, 0.5):.1f}"/>'
        )
    points = " ".join(xy(w, t) for w, t in readings)
    top, bottom = max(temps), min(temps)
    if y_of(bottom) - y_of(top) >= 12:  # two labels, where the readings' extremes are
        labels = (
            f'<text x="0" y="{y_of(top) + 4:.1f}">{top:g}°</text>'
            f'<text x="0" y="{y_of(bottom) + 4:.1f}">{bottom:g}°</text>'
        )
    else:  # too close to tell apart: one label, the range
        span = f"{bottom:g}–{top:g}°" if top != bottom else f"{top:g}°"
        labels = f'<text x="0" y="{max(y_of(top) - 3, 10):.1f}">{span}</text>'
    return (
        f'<svg class="temp" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}"'
        f' xmlns="http://www.w3.org/2000/svg">{band}'
        f'<polyline class="curve" points="{points}"/>{labels}</svg>'
    )


def _mid(allowed: tuple[float, float] | None) -> float:
    return (allowed[0] + allowed[1]) / 2 if allowed else 0.0
