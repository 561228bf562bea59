"""Slow or stalled clients cannot hold a real server: a deadline for receiving requests, and a connection cap."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import Server


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    # one peer may hold every connection here (--max-connections-per-peer), so the cap itself is what is tested
    running = Server(data_dir, "--request-timeout", "1", "--max-connections", "8", "--max-connections-per-peer", "8")
    yield running
    running.stop()


def connect(server: Server) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return connection


def read_all(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_client_that_sends_nothing_is_cut_off_after_the_deadline(server: Server) -> None:
    with connect(server) as connection:
        started = time.monotonic()
        answer = read_all(connection)  # the server closes the connection
    assert 0.8 < time.monotonic() - started < 5
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"


def test_headers_trickling_in_a_byte_at_a_time_are_cut_off(server: Server) -> None:
    request = b"GET /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    with connect(server) as connection:
        started = time.monotonic()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):  # noqa: PT012 - hung up on mid-send
            for byte in request:
                connection.sendall(bytes([byte]))
                time.sleep(0.05)  # 5 s in all: each byte comes well within any per-read timeout
        elapsed = time.monotonic() - started
    assert elapsed < 3


def test_a_body_that_stalls_is_cut_off_and_stores_nothing(server: Server, data_dir: Path) -> None:
    body = orjson.dumps({"name": "never", "status": "running"})
    head = (
        b"POST /api/projects/slow/executions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with connect(server) as connection:
        connection.sendall(head + body[:5])  # then nothing more
        answer = read_all(connection)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")
    assert httpx.get(f"{server.url}/api/projects/slow/executions").json()["total"] == 0
    assert not list(data_dir.glob("projects/slow/executions/*"))


def test_a_request_arriving_in_time_is_served_even_when_slow(server: Server) -> None:
    request = b"GET /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with connect(server) as connection:
        for piece in (request[:10], request[10:30], request[30:]):
            connection.sendall(piece)
            time.sleep(0.2)  # 0.6 s in all: inside the deadline
        answer = read_all(connection)
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_keep_alive_requests_each_get_their_own_deadline(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:  # one connection, reused
        for _ in range(3):
            assert client.get("/api/projects").status_code == 200
            time.sleep(0.6)  # 1.8 s since the connection opened: more than one deadline, less than keep-alive


def test_stalled_connections_beyond_the_cap_get_503_and_the_server_recovers(server: Server) -> None:
    stalled = [connect(server) for _ in range(8)]  # hold every slot, sending nothing
    try:
        time.sleep(0.2)
        refused = httpx.get(f"{server.url}/api/projects", timeout=5)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "unavailable"  # the JSON error form, not uvicorn's plain text
        assert refused.headers["retry-after"] == "1"
    finally:
        for connection in stalled:
            connection.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the slots come back as the stalled connections go
        if httpx.get(f"{server.url}/api/projects", timeout=5).status_code == 200:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the server did not serve again after the stalled connections went")


def test_stalled_connections_are_dropped_so_that_the_cap_frees_itself(server: Server) -> None:
    stalled = [connect(server) for _ in range(8)]
    try:
        time.sleep(1.5)  # past the deadline: the server has closed them, though the clients never did
        assert httpx.get(f"{server.url}/api/projects", timeout=5).status_code == 200
    finally:
        for connection in stalled:
            connection.close()
