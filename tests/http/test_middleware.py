"""The safety checks in front of every route: the Host check, the bearer token, the body size limit,
and JSON answers for unknown routes and wrong methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from storehouse import Settings, Storehouse
from storehouse.http import create_app

BASE = "/api/projects/demo/executions"
LIMIT = 1024


@asynccontextmanager
async def client(store: Storehouse, data_dir: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client over an app built with these settings (the rest default)."""
    app = create_app(store, Settings(data_dir=data_dir, **settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as opened:
        yield opened


def assert_error(answer: httpx.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["code"] == code
    message: str = error["message"]
    assert message
    return message


def stored_files(data_dir: Path) -> list[str]:
    directory = data_dir / "projects" / "demo" / "executions"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# -- Host ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8420", "127.0.0.1.evil.example", "localhost.evil"])
@pytest.mark.parametrize("path", ["/api/projects", BASE, "/openapi.json", "/"])
async def test_foreign_host_is_403_forbidden(store: Storehouse, data_dir: Path, host: str, path: str) -> None:
    async with client(store, data_dir) as http:
        message = assert_error(await http.get(path, headers={"Host": host}), 403, "forbidden")
        assert host in message


async def test_foreign_host_writes_nothing(store: Storehouse, data_dir: Path) -> None:
    async with client(store, data_dir) as http:
        answer = await http.post(BASE, json={"name": "x"}, headers={"Host": "evil.example"})
        assert_error(answer, 403, "forbidden")
    assert store.list_executions("demo").total == 0
    assert stored_files(data_dir) == []


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8420", "LOCALHOST:8420", "127.0.0.1", "127.0.0.1:8420", "[::1]", "[::1]:8420"]
)
async def test_loopback_hosts_are_allowed(store: Storehouse, data_dir: Path, host: str) -> None:
    async with client(store, data_dir) as http:
        answer = await http.get("/api/projects", headers={"Host": host})
        assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("host", ["storehouse.internal", "storehouse.internal:8420", "Storehouse.Internal"])
async def test_configured_allowed_host_is_allowed(store: Storehouse, data_dir: Path, host: str) -> None:
    async with client(store, data_dir, allowed_hosts=("storehouse.internal",)) as http:
        assert (await http.get("/api/projects", headers={"Host": host})).status_code == 200
        assert_error(await http.get("/api/projects", headers={"Host": "other.internal"}), 403, "forbidden")


# -- token -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong", "Bearer s3cret2", "Bearer s3cre", "Basic s3cret", "s3cret"],
)
async def test_missing_or_wrong_token_is_401_asking_for_bearer(
    store: Storehouse, data_dir: Path, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with client(store, data_dir, token="s3cret") as http:
        answer = await http.get("/api/projects", headers=headers)
        assert_error(answer, 401, "unauthorized")
        assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_right_token_is_200(store: Storehouse, data_dir: Path) -> None:
    async with client(store, data_dir, token="s3cret") as http:
        answer = await http.get("/api/projects", headers={"Authorization": "Bearer s3cret"})
        assert answer.status_code == 200
        assert answer.json() == {"projects": [], "total": 0}


async def test_bearer_scheme_is_case_insensitive(store: Storehouse, data_dir: Path) -> None:
    # RFC 9110 section 11.1: the authentication scheme is a case-insensitive token.
    async with client(store, data_dir, token="s3cret") as http:
        answer = await http.get("/api/projects", headers={"Authorization": "bearer s3cret"})
        assert answer.status_code == 200, answer.text


async def test_wrong_token_writes_nothing(store: Storehouse, data_dir: Path) -> None:
    async with client(store, data_dir, token="s3cret") as http:
        for method in ("POST", "DELETE"):
            answer = await http.request(method, BASE, json={"name": "x"} if method == "POST" else None)
            assert_error(answer, 401, "unauthorized")
        put = await http.put(f"{BASE}/r", json={}, headers={"Authorization": "Bearer nope"})
        assert_error(put, 401, "unauthorized")
    assert store.list_executions("demo").total == 0
    assert stored_files(data_dir) == []


async def test_right_token_writes(store: Storehouse, data_dir: Path) -> None:
    async with client(store, data_dir, token="s3cret") as http:
        answer = await http.put(f"{BASE}/r", json={}, headers={"Authorization": "Bearer s3cret"})
        assert answer.status_code == 201
    assert store.get_execution("demo", "r")["version"] == 1


async def test_without_a_token_no_authorization_is_needed(store: Storehouse, data_dir: Path) -> None:
    async with client(store, data_dir) as http:
        assert (await http.get("/api/projects")).status_code == 200


# -- body size -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), [("POST", BASE), ("PUT", f"{BASE}/big"), ("PATCH", f"{BASE}/kept")])
async def test_declared_body_over_the_limit_is_413_and_writes_nothing(
    store: Storehouse, data_dir: Path, method: str, path: str
) -> None:
    kept = store.put_execution("demo", "kept", {"name": "kept"})
    body = {"input": "x" * (LIMIT * 2)}
    async with client(store, data_dir, max_body_bytes=LIMIT) as http:
        answer = await http.request(method, path, json=body)
        assert "content-length" in answer.request.headers
        assert "1024" in assert_error(answer, 413, "payload_too_large")
    assert store.list_executions("demo").total == 1
    assert store.get_execution("demo", "kept") == kept
    assert stored_files(data_dir) == ["kept.json"]


async def chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    """A JSON body of about total bytes, sent in chunks without a content-length."""
    yield b'{"input": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


async def test_streamed_body_over_the_limit_is_413_and_writes_nothing(store: Storehouse, data_dir: Path) -> None:
    async with client(store, data_dir, max_body_bytes=LIMIT) as http:
        answer = await http.post(BASE, content=chunks(LIMIT * 4), headers={"content-type": "application/json"})
        assert "content-length" not in answer.request.headers
        assert_error(answer, 413, "payload_too_large")
        answer = await http.put(f"{BASE}/big", content=chunks(LIMIT * 4), headers={"content-type": "application/json"})
        assert_error(answer, 413, "payload_too_large")
    assert store.list_executions("demo").total == 0
    assert stored_files(data_dir) == []


async def test_streamed_body_under_the_limit_is_accepted(store: Storehouse, data_dir: Path) -> None:
    async with client(store, data_dir, max_body_bytes=LIMIT) as http:
        answer = await http.post(BASE, content=chunks(LIMIT // 2), headers={"content-type": "application/json"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["execution"]["input"] == "x" * (LIMIT // 2)


async def test_body_of_exactly_the_limit_is_accepted(store: Storehouse, data_dir: Path) -> None:
    prefix, suffix = b'{"input": "', b'"}'
    body = prefix + b"x" * (LIMIT - len(prefix) - len(suffix)) + suffix
    assert len(body) == LIMIT
    async with client(store, data_dir, max_body_bytes=LIMIT) as http:
        answer = await http.post(BASE, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 201, answer.text


# -- unknown routes and methods --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/api/nope", "/api/projects/demo/nothing", "/api/projects/demo/executions/a/b", "/nope"]
)
async def test_unknown_route_is_a_json_404(store: Storehouse, data_dir: Path, path: str) -> None:
    async with client(store, data_dir) as http:
        assert_error(await http.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", BASE),
        ("PUT", BASE),
        ("POST", f"{BASE}/stats"),
        ("POST", f"{BASE}/a"),
        ("POST", "/api/projects"),
        ("DELETE", "/api/projects"),
        ("POST", "/openapi.json"),
    ],
)
async def test_wrong_method_is_a_json_405(store: Storehouse, data_dir: Path, method: str, path: str) -> None:
    async with client(store, data_dir) as http:
        answer = await http.request(method, path, json={})
        assert_error(answer, 405, "method_not_allowed")
    assert store.list_executions("demo").total == 0


@pytest.mark.parametrize(
    ("path", "allowed"),
    [(BASE, {"GET", "POST", "DELETE"}), ("/api/projects", {"GET"}), (f"{BASE}/a", {"GET", "PUT", "PATCH", "DELETE"})],
)
async def test_wrong_method_names_the_allowed_ones_in_allow(
    store: Storehouse, data_dir: Path, path: str, allowed: set[str]
) -> None:
    # RFC 9110 section 15.5.6: a 405 response must carry an Allow header listing the supported methods.
    async with client(store, data_dir) as http:
        answer = await http.request("TRACE", path)
        assert answer.status_code == 405
        assert "allow" in answer.headers, answer.headers
        assert {m.strip() for m in answer.headers["allow"].split(",")} - {"HEAD"} == allowed
