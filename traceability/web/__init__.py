"""The web side: the GS1 Digital Link resolver and the consumer page (``heitu serve``).

A package of its own that the core never imports: ``traceability.web.app.create_app``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app_from_env"]


def app_from_env() -> Any:
    """The app on the store of ``HEITU_DB_URL``: uvicorn's factory for ``heitu serve``."""
    from traceability.web.app import create_app

    return create_app()
