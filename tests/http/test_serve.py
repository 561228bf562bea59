"""``storehouse serve`` against a real server: a taken port, and the answers uvicorn or the guard give before the
app (issue #14). The 503 beyond --max-connections is in test_slow_clients.py."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import Server, free_port

TOKEN = "s3cret-token-for-the-tests-0123456789"


def test_a_taken_port_exits_1_with_one_line_and_never_says_serving(server: Server, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "storehouse", "serve", "--data-dir", str(tmp_path / "other")]
    done = subprocess.run([*command, "--port", str(server.port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == f"error: port {server.port} on 127.0.0.1 is in use; pick another with --port\n"
    assert done.stdout == ""


def test_the_serving_line_comes_once_the_port_takes_connections(data_dir: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "storehouse", "serve", "--data-dir", str(data_dir), "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line.endswith(f"serving {data_dir} at http://127.0.0.1:{port}/\n")
        assert httpx.get(f"http://127.0.0.1:{port}/api/projects", timeout=10).status_code == 200  # no retry needed
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr:
            process.stderr.close()


def test_a_request_that_is_not_http_gets_the_json_error(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"NOT HTTP AT ALL\x00\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head.lower()
    error = httpx.Response(400, content=body).json()["error"]
    assert error["code"] == "invalid_request"
    assert "not valid HTTP/1.1" in error["message"]


def test_a_wrong_token_is_told_apart_from_a_missing_one(data_dir: Path) -> None:
    guarded = Server(data_dir, "--token", TOKEN)
    try:
        url = f"{guarded.url}/api/projects"
        missing = httpx.get(url, timeout=5)
        wrong = httpx.get(url, headers={"Authorization": "Bearer not-the-token"}, timeout=5)
        basic = httpx.get(url, headers={"Authorization": "Basic dXNlcjpwYXNz"}, timeout=5)
        right = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    finally:
        guarded.stop()
    assert (missing.status_code, wrong.status_code, basic.status_code, right.status_code) == (401, 401, 401, 200)
    assert missing.json()["error"]["message"].startswith("no token sent: ")
    assert basic.json()["error"]["message"].startswith("no token sent: ")
    assert wrong.json()["error"]["message"].startswith("the token is wrong: ")
    assert "not-the-token" not in wrong.text  # never echoed
