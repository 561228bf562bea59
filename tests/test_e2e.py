"""The real `storehouse serve` on a free loopback port, used over HTTP and alongside the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storehouse", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_served_runs_can_be_created_listed_and_completed(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        created = client.post("/api/projects/demo/executions", json={"name": "triage", "status": "running"})
        assert created.status_code == 201
        location = created.headers["location"]
        done = client.patch(location, json={"status": "completed", "tokenUsage": {"input": 10, "output": 5}})
        assert done.json()["execution"]["tokenUsage"]["total"] == 15
        listed = client.get("/api/projects/demo/executions").json()
        assert [item["status"] for item in listed["executions"]] == ["completed"]
        assert client.get("/api/projects/demo/executions/stats").json()["completed"] == 1
        assert client.get("/").status_code == 200


def test_cli_and_server_see_each_others_writes(server: Server, data_dir: Path) -> None:
    with httpx.Client(base_url=server.url) as client:
        client.put("/api/projects/demo/executions/from-http", json={"status": "failed"})
        listed = _cli(data_dir, "ls", "demo", "--json")
        assert "from-http" in listed.stdout
        assert _cli(data_dir, "rm", "demo", "from-http").returncode == 0
        assert client.get("/api/projects/demo/executions/from-http").status_code == 404
        assert client.get("/api/projects/demo/executions").json()["total"] == 0


def test_server_refuses_other_hosts_and_requires_token_when_set(data_dir: Path) -> None:
    server = Server(data_dir, "--token", "s3cret-Token_e2e0")
    try:
        assert httpx.get(f"{server.url}/api/projects").status_code == 401
        authorized = {"Authorization": "Bearer s3cret-Token_e2e0"}
        assert httpx.get(f"{server.url}/api/projects", headers=authorized).status_code == 200
        rebound = httpx.get(f"{server.url}/api/projects", headers={**authorized, "Host": "attacker.example"})
        assert rebound.status_code == 403
    finally:
        server.stop()


def test_serve_refuses_a_public_address_without_a_token(data_dir: Path) -> None:
    result = _cli(data_dir, "serve", "--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 1
    assert "without a token" in result.stderr


def test_dotdot_in_the_url_never_leaves_the_data_directory(server: Server, data_dir: Path) -> None:
    secret = data_dir.parent / "secret.json"
    secret.write_text('{"id": "secret"}')
    for path in (
        "/api/projects/%2e%2e/executions/secret",
        "/api/projects/demo/executions/%2e%2e",
        "/api/projects/demo/executions/..%2f..%2fsecret",
        "/api/projects/../../executions/secret",
    ):
        answer = httpx.get(server.url + path)
        assert answer.status_code in (400, 404), path
        assert "secret" not in answer.text or answer.json()["error"]["code"] in ("invalid_id", "not_found")


@pytest.mark.parametrize("flag", ["--host", "--port", "--token", "--data-dir"])
def test_serve_help_lists_its_flags(flag: str) -> None:
    result = subprocess.run([sys.executable, "-m", "storehouse", "serve", "--help"], capture_output=True, text=True)
    assert flag in result.stdout
