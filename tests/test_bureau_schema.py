"""schemathesis over the bureau API's OpenAPI document, with a valid token: whatever a client
sends within the schema, no 500, and every answer (status, content type, body) is one the
document declares. Driven through hypothesis directly (one test per operation), since
schemathesis' own pytest plugin does not run under this pytest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.test_bureau_api import write_two_counties
from traceability import Store, pipeline
from traceability.access import create_token
from traceability.store import open_store, reset_engines
from traceability.web.app import create_app

OPERATIONS = [
    "GET /api/v1/plots/{plot_id}",
    "GET /api/v1/plots/{plot_id}/forward",
    "GET /api/v1/lots/{lot_id}",
    "GET /api/v1/lots/{lot_id}/back",
    "GET /api/v1/recall",
    "GET /api/v1/findings",
    "GET /api/v1/reports",
    "GET /api/v1/me",
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    home: Path = tmp_path_factory.mktemp("schema")
    url = f"sqlite:///{home / 'heitu.db'}"
    reset_engines()
    write_two_counties(home / "inbox")
    pipeline.ingest_dir(home / "inbox", url=url)
    Store.open(url).check()
    token = create_token(open_store(url), "schema-county", ["230184"])["token"]
    app = create_app(url)
    yield schemathesis.openapi.from_asgi("/openapi.json", app), token
    reset_engines()


def test_every_operation_is_covered(api: tuple[Any, str]) -> None:
    schema, _ = api
    found = {
        f"{r.ok().method.upper()} {r.ok().path}"
        for r in schema.get_all_operations()
        if r.ok().path.startswith("/api/v1/")
    }
    assert found == set(OPERATIONS)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_api_answers_as_documented(api: tuple[Any, str], operation: str) -> None:
    schema, token = api
    method, path = operation.split(" ", 1)
    op = schema[path][method]

    # /recall takes exactly one of its five keys, which OpenAPI's parameters cannot say: a
    # request with none or two is a documented 400 there, not "valid data rejected"
    excluded = [positive_data_acceptance] if path == "/api/v1/recall" else []

    @given(case=op.as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, excluded_checks=excluded
        )

    check()
