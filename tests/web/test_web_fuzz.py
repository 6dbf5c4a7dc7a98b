"""A schema-driven fuzz test of the gallery (schemathesis, over the app's own OpenAPI schema):
every route, signed in as a group member with a valid CSRF token (so writes reach the policy),
with values that fit the schema and values that do not, against the real app on the embedded
Postgres. No answer is a 5xx and none takes long. Bounded: a few dozen examples per route,
derandomized, so it runs in CI in well under a minute of requests."""

from __future__ import annotations

import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from web_testkit import BOB, Gallery

EXAMPLES_PER_ROUTE = 12
SLOW_S = 10.0
SKIPPED = {"/logout", "/logout/everywhere"}  # they would end the fuzzing session (tests/web/test_web_sessions.py)


@pytest.fixture(scope="module")
def signed_in(gallery: Gallery) -> tuple[requests.Session, str]:
    http = gallery.sign_in(BOB)
    token = gallery.csrf(http)
    session = requests.Session()
    session.cookies.update(dict(http.cookies.items()))
    session.headers.update({"accept": "text/html", "x-csrf-token": token})
    return session, token


def test_no_request_the_schema_allows_or_breaks_reaches_a_5xx(
    gallery: Gallery, signed_in: tuple[requests.Session, str]
) -> None:
    import schemathesis
    from schemathesis import GenerationMode

    session, _ = signed_in
    schema = schemathesis.openapi.from_dict(gallery.app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path not in SKIPPED]
    assert len(operations) >= 15, [op.path for op in operations]
    seen: dict[int, int] = {}

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_ROUTE,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: object) -> None:
                started = time.monotonic()
                response = case.call(  # type: ignore[attr-defined]
                    base_url=gallery.url, session=session, timeout=SLOW_S, allow_redirects=False
                )
                took = time.monotonic() - started
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                assert response.status_code < 500, (case, response.status_code, response.text[:500])  # type: ignore[attr-defined]
                assert took < SLOW_S

            try:
                run()
            except Unsatisfiable:  # a route without parameters has nothing to get wrong
                assert mode == GenerationMode.NEGATIVE, operation.path
    assert any(400 <= status < 500 for status in seen), seen  # the negative cases were refused, not served
    assert any(status < 400 for status in seen), seen
