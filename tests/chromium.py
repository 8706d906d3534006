"""Debian's Chromium as the browser tests and the screenshot scripts start it (Playwright's
own browser download cannot work here)."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
#: As root in a sandbox without network: no sandbox, no GPU, and none of Chromium's own
#: background requests, which this machine's closed network would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
