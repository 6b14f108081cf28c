"""The bearer scheme's rules, pinned: which Authorization headers carry a key and which are refused.

RFC 6750 (2.1) with RFC 7235 (2.1): the auth-scheme is case-insensitive, so `bearer` and `BEARER`
are `Bearer`; one or more spaces separate it from the token; any other scheme (`Basic`, `Token`),
a missing token or a tab instead of the space is refused with the header's expected form.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import API_KEY

MUST_BE = "the Authorization header must be: Bearer <API key>"


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {API_KEY}",
        f"bearer {API_KEY}",
        f"BEARER {API_KEY}",
        f"BeArEr {API_KEY}",
        f"Bearer   {API_KEY}",
    ],
)
def test_the_bearer_scheme_in_any_case_carries_the_key(client: TestClient, header: str) -> None:
    response = client.get("/v1/models", headers={"Authorization": header})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (f"Basic {API_KEY}", MUST_BE),
        (f"Token {API_KEY}", MUST_BE),
        (f"Bearer:{API_KEY}", MUST_BE),
        (f"Bearer\t{API_KEY}", MUST_BE),
        (f"Bearer{API_KEY}", MUST_BE),
        (API_KEY, MUST_BE),
        ("Bearer", MUST_BE),
        ("Bearer    ", MUST_BE),
        (f"Bearer {API_KEY} {API_KEY}", "invalid API key"),
        (f"Bearer {API_KEY}x", "invalid API key"),
        (f"Bearer {API_KEY.upper()}", "invalid API key"),  # the key itself is case-sensitive
    ],
)
def test_other_schemes_and_malformed_headers_are_refused(
    client: TestClient, header: str, message: str
) -> None:
    response = client.get("/v1/models", headers={"Authorization": header})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == {"type": "authentication_error", "message": message}
    assert response.headers["WWW-Authenticate"] == "Bearer"
