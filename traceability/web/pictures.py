"""The page's pictures from a lot's facts: the plot map and the shipments' temperature curves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from traceability.web import places, svg
from traceability.web.i18n import STRINGS

__all__ = ["curves", "map_svg"]


def map_svg(facts: dict[str, Any], lang: str) -> str:
    """The plots on the outline of the county that gave the bag its largest share."""
    origin = facts["origin"]
    if not origin["plots"]:
        return ""
    main = origin["counties"][0]
    outline = places.county_outline(main["code"])
    plots = [
        (p["plot"], p["share"], places.plot_rings(p["geometry"] or {}))
        for p in origin["plots"]
        if p["county"] and p["county"]["code"] == main["code"]
    ]
    title = STRINGS[lang]["map_title"].format(county=main[lang])
    return svg.plot_map(outline, plots, title)


def curves(shipments: list[dict[str, Any]], lang: str) -> dict[str, str]:
    """shipment id -> its temperature sparkline (empty without readings)."""
    out = {}
    for s in shipments:
        series = [(datetime.fromisoformat(t), temp) for t, temp in s["readings"]]
        allowed = s["cold_chain"].get("allowed_c")
        label = STRINGS[lang]["temp_chart"].format(shipment=s["shipment"])
        out[s["shipment"]] = svg.temperature_curve(
            series, tuple(allowed) if allowed else None, label
        )
    return out
