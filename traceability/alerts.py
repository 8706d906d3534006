"""Alerts to the operator's chat or pager: a JSON POST to ``HEITU_ALERT_WEBHOOK``.

The body is one JSON object: ``text`` (one line to read, as chat webhooks expect), and the
facts beside it (``kind``, ``folder``, ``state``, ``since``, ``contacts``, ...). No webhook set:
the alert is only logged by the caller. A webhook that does not answer 2xx raises
``AlertNotDelivered``, so the task that sends it fails, is retried, and the state it guards is
not recorded: the next run sends the alert again.
"""

from __future__ import annotations

import os
from typing import Any

from traceability.errors import HeituError

__all__ = ["AlertNotDelivered", "send", "webhook_url"]

TIMEOUT_S = 10.0


class AlertNotDelivered(HeituError):
    pass


def webhook_url() -> str | None:
    return os.environ.get("HEITU_ALERT_WEBHOOK", "").strip() or None


def send(payload: dict[str, Any], url: str | None = None) -> bool:
    """POST ``payload`` as JSON to the webhook; False when none is configured."""
    import httpx

    url = url or webhook_url()
    if not url:
        return False
    try:
        resp = httpx.post(url, json=payload, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise AlertNotDelivered(f"alert webhook {url} unreachable: {exc}") from exc
    if not resp.is_success:
        raise AlertNotDelivered(f"alert webhook {url} answered {resp.status_code}")
    return True
