"""/docs and /redoc load their scripts from this server (the installed fastapi-offline files), not a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", ["swagger-ui-bundle.js", "swagger-ui.css"]),
        ("/redoc", ["redoc.standalone.js"]),
    ],
)
def test_docs_pages_reference_only_local_assets(client: TestClient, page: str, assets: list[str]) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert urls, html
    assert not [url for url in urls if "://" in url or url.startswith("//")], urls
    assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html
    assert "/openapi.json" in html
    for asset in assets:
        (url,) = [u for u in urls if u.endswith(asset)]
        served = client.get(url)
        assert served.status_code == 200, url
        assert len(served.content) > 10_000  # the real bundle, not an error page
