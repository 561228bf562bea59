"""The API reference at /docs: Swagger UI, vendored at a pinned version, on an HTML page whose assets are local
files the app serves (it works offline), reachable without the bearer token, like /openapi.json."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from storehouse import Settings, Storehouse
from storehouse.http import create_app

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "storehouse" / "web"
VENDOR = WEB / "vendor" / "swagger-ui"
FILES = ("docs.html", "docs.js", "docs.css")  # ours; the vendored bundle names hosts in strings it never loads
NAMED = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""")  # every src= and href= of the page
IMPORTED = re.compile(r"""^import\b[^;]*?\bfrom\s+["']([^"']+)["']""", re.MULTILINE)
# a reference to another host: a scheme, a protocol-relative URL, or a CSS import (which could name one)
FOREIGN = re.compile(r"""https?:|\b(?:src|href)\s*=\s*["']//|url\(\s*["']?//|@import""", re.IGNORECASE)


def named_assets() -> list[str]:
    """The URLs docs.html names (scripts, styles, links) and the modules docs.js imports, as absolute paths."""
    html = (WEB / "docs.html").read_text()
    named = [url for url in NAMED.findall(html) if url and not url.startswith(("#", "data:"))]
    imported = [urljoin("/web/docs.js", url) for url in IMPORTED.findall((WEB / "docs.js").read_text())]
    return named + imported


async def test_docs_is_served_as_html(http: httpx.AsyncClient) -> None:
    answer = await http.get("/docs")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "<title>storehouse API</title>" in answer.text
    assert answer.text == (WEB / "docs.html").read_text()


@pytest.mark.parametrize("name", FILES)
def test_docs_files_name_no_other_host(name: str) -> None:
    text = (WEB / name).read_text()
    assert not FOREIGN.findall(text), f"{name} refers to another host"


def test_docs_names_its_script_style_and_the_links_back() -> None:
    assert {
        "/web/vendor/swagger-ui/swagger-ui-bundle.js",
        "/web/vendor/swagger-ui/swagger-ui.css",
        "/web/docs.js",
        "/web/docs.css",
        "/web/lib.js",
        "/",
        "/openapi.json",
    } <= set(named_assets())


async def test_docs_assets_are_served(http: httpx.AsyncClient) -> None:
    for url in named_assets():
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        answer = await http.get(url)
        assert answer.status_code == 200, url
    script = await http.get("/web/docs.js")
    assert "javascript" in script.headers["content-type"]
    style = await http.get("/web/docs.css")
    assert style.headers["content-type"].startswith("text/css")
    bundle = await http.get("/web/vendor/swagger-ui/swagger-ui-bundle.js")
    assert "javascript" in bundle.headers["content-type"]
    assert "SwaggerUIBundle" in bundle.text


def vendored() -> dict[str, str]:
    """The fields of vendor/swagger-ui/VERSION ("npm package: swagger-ui-dist" ...)."""
    lines = (VENDOR / "VERSION").read_text().splitlines()
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}


def test_swagger_ui_is_vendored_whole_at_the_version_the_script_pins() -> None:
    version = vendored()
    script = (ROOT / "scripts" / "vendor_swagger_ui.py").read_text()
    assert version["npm package"] == "swagger-ui-dist"
    assert f'VERSION = "{version["version"]}"' in script
    assert f'INTEGRITY = "{version["integrity"]}"' in script
    shipped = sorted(path.name for path in VENDOR.iterdir())
    assert shipped == sorted([*version["files"].split(", "), "VERSION"])
    assert "Apache License" in (VENDOR / "LICENSE").read_text()  # and its NOTICE, as the licence asks
    assert (VENDOR / "NOTICE").read_text().startswith("swagger-ui")
    assert not [name for name in shipped if name.endswith(".map") or "es-bundle" in name]


async def test_docs_is_not_behind_the_token(store: Storehouse, data_dir: Path) -> None:
    app = create_app(store, Settings(data_dir=data_dir, token="s3cret"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as http:
        for url in ["/docs", "/openapi.json", *named_assets()]:
            assert (await http.get(url)).status_code == 200, url
        assert (await http.get("/api/projects")).status_code == 401
