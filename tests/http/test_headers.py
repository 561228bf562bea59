"""Security headers on every answer (issue #13 item 11): nosniff, a CSP that forbids framing by other sites and
inline script, and Cross-Origin-Resource-Policy, on pages, static files, the API, its errors and the event stream."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from storehouse import Settings, Storehouse
from storehouse.http import create_app
from storehouse.http.middleware import CONTENT_SECURITY_POLICY

WEB = Path(__file__).resolve().parents[2] / "storehouse" / "web"


def assert_secured(answer: httpx.Response) -> None:
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cross-origin-resource-policy"] == "same-origin"
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers.get_list("content-security-policy") == [CONTENT_SECURITY_POLICY]  # once, not doubled


def test_the_policy_forbids_framing_by_other_sites_and_inline_script() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["frame-ancestors"] == "'self'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["object-src"] == "'none'"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("HEAD", "/", 200),
        ("GET", "/docs", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/web/app.js", 200),
        ("GET", "/web/app.css", 200),
        ("GET", "/web/missing.js", 404),
        ("GET", "/api/projects", 200),
        ("GET", "/api/projects/demo/executions?limit=0", 400),
        ("GET", "/api/projects/demo/executions/nope", 404),
        ("PUT", "/api/projects", 405),
        ("GET", "/no/such/route", 404),
        ("POST", "/api/projects/demo/executions", 415),
    ],
)
async def test_every_answer_carries_the_security_headers(
    http: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    answer = await http.request(method, path)
    assert answer.status_code == status
    assert_secured(answer)


@pytest.mark.parametrize(
    ("settings", "headers", "status"),
    [
        ({"token": "s3cret-Token_headers"}, {}, 401),
        ({}, {"Host": "evil.example"}, 403),
        ({"max_body_bytes": 1024}, {"content-type": "application/json", "content-length": "5000"}, 413),
    ],
)
async def test_the_checks_own_refusals_carry_them(
    store: Storehouse, data_dir: Path, settings: dict[str, object], headers: dict[str, str], status: int
) -> None:
    app = create_app(store, Settings(data_dir=data_dir, **settings))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as http:
        answer = await http.post("/api/projects/demo/executions", headers=headers, content=b"{}")
    assert answer.status_code == status
    assert_secured(answer)


async def test_the_markdown_context_cannot_be_run_as_a_script(store: Storehouse, http: httpx.AsyncClient) -> None:
    # a title that is valid JavaScript: with nosniff a browser refuses to run a text/markdown answer as a script,
    # and CORP same-origin keeps another site from loading it with <script src> at all
    store.create_task("demo", {"id": "T-7", "title": "alert(document.domain)//"})
    answer = await http.get("/api/projects/demo/tasks/T-7/context")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/markdown; charset=utf-8"
    assert "alert(document.domain)" in answer.text
    assert_secured(answer)


@pytest.mark.parametrize("name", ["index.html", "docs.html"])
def test_the_pages_have_no_inline_script_or_event_handler(name: str) -> None:
    html = (WEB / name).read_text()
    for script in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S):
        assert not script.strip()  # only <script src>
    assert re.search(r"\son[a-z]+\s*=", html) is None
    assert "javascript:" not in html


def test_the_scripts_use_no_eval() -> None:
    for script in WEB.glob("*.js"):
        text = script.read_text()
        assert re.search(r"\beval\(|new Function\(|innerHTML|insertAdjacentHTML|document\.write", text) is None, script
