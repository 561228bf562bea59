"""Attacks on a real ``storehouse serve`` over HTTP (issue #13, items 2, 3 and 5), each reproduced as it was
reported and shown to hold:

- cross-site requests: a page on another origin posts to ``/history/cleanup`` (a form, a ``no-cors`` fetch,
  from raw sockets and from a real Chromium on another loopback address), or probes which ids exist;
- a JSON flood: 16 MiB bodies of tiny containers, which once stalled every route for seconds and left
  ~900 MB of RSS behind each;
- the connection cap exhausted before authentication: idle sockets from one peer reopened as they are cut,
  event streams holding request slots, and connections that never send a byte.

Several peers on one machine are addresses of 127/8 (all loopback on Linux): a client socket bound to
127.0.0.2 reaches the server on 127.0.0.1 as a peer of its own.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from storehouse import Storehouse
from tests.conftest import Server, free_port

TOKEN = "s3cret-Token_4c9e-attack"
MIB = 1024 * 1024


def connect(port: int, peer: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    """A TCP connection to the server from the loopback address peer."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(peer, 0))


def exchange(port: int, request: bytes, peer: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    """Send request on a new connection from peer; the answer's status, headers and body."""
    with connect(port, peer) as connection:
        connection.sendall(request)
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()


def raw(method: str, target: str, port: int, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def error_code(body: bytes) -> str:
    code: str = orjson.loads(body)["error"]["code"]
    return code


# -- item 2: cross-site requests ------------------------------------------------------------------------------
def seed_history(data_dir: Path) -> int:
    """A task log of 150 entries, past the default cap of 100 (and below the 200 that compacts it): a cleanup
    would remove 50 of them from the file."""
    with Storehouse(data_dir) as store:
        store.add_history("demo", "t1", [{"type": "log", "content": str(number)} for number in range(150)])
    return 50


def cleanup_now(server: Server) -> int:
    """What a same-origin cleanup removes now (and so what no earlier request removed)."""
    answer = httpx.post(f"{server.url}/api/projects/demo/history/cleanup", json={})
    assert answer.status_code == 200, answer.text
    deleted: int = answer.json()["deleted"]
    return deleted


@pytest.mark.attack("cross-site cleanup")
def test_a_cross_site_form_post_or_no_cors_fetch_cannot_clean_up_history(data_dir: Path) -> None:
    prunable = seed_history(data_dir)
    server = Server(data_dir)
    try:
        target = "/api/projects/demo/history/cleanup"
        evil = "http://127.0.0.2:8000"
        attempts = [  # (what a browser sends, status, code)
            (
                {"Origin": evil, "Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"},
                403,
            ),
            ({"Origin": evil, "Sec-Fetch-Site": "same-site", "Content-Type": "text/plain"}, 403),
            ({"Origin": evil, "Content-Type": "text/plain"}, 403),  # an older browser: Origin alone
            ({"Origin": "null", "Content-Type": "text/plain"}, 403),  # a sandboxed frame or a redirect
            ({"Sec-Fetch-Site": "cross-site"}, 403),  # a no-cors fetch with no body
            ({"Content-Type": "application/x-www-form-urlencoded"}, 415),  # no browser marks: still needs JSON
            ({}, 415),  # no body at all
            ({"Content-Type": "application/json"}, 400),  # an empty JSON body
        ]
        for headers, status in attempts:
            body = b"" if "Content-Type" not in headers or headers["Content-Type"] == "application/json" else b"a=1"
            got, _, answer = exchange(server.port, raw("POST", target, server.port, headers, body))
            assert got == status, (headers, answer)
            assert error_code(answer) == {403: "forbidden", 415: "unsupported_media_type", 400: "invalid_body"}[got]
        # the server's own page (same origin, as a browser marks it) and a non-browser client are served
        own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}
        got, _, answer = exchange(server.port, raw("POST", target, server.port, own, b'{"force": true}'))
        assert (got, error_code(answer)) == (400, "invalid_body"), answer  # cleanup takes {} and nothing else
        assert cleanup_now(server) == prunable  # nothing above removed anything
    finally:
        server.stop()


@pytest.mark.attack("existence oracle")
def test_cross_site_reads_answer_403_whatever_the_id(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        store.put_execution("demo", "known-run", {"name": "seen", "status": "running"})
        store.create_task("demo", {"id": "known-task", "title": "t"})
    server = Server(data_dir)
    try:
        answers: dict[str, set[tuple[int, bytes]]] = {"cross-site": set(), "same-site": set()}
        for path in (
            "/api/projects/demo/executions/known-run",
            "/api/projects/demo/executions/missing-run",
            "/api/projects/demo/tasks/known-task",
            "/api/projects/demo/tasks/missing-task",
            "/api/projects/nowhere/executions",
            "/api/projects",
        ):
            for site, seen in answers.items():
                status, _, body = exchange(server.port, raw("GET", path, server.port, {"Sec-Fetch-Site": site}))
                seen.add((status, body))
        for seen in answers.values():
            assert len(seen) == 1, seen  # one answer for every id: nothing to tell them apart
            [(status, body)] = seen
            assert (status, error_code(body)) == (403, "forbidden")
        # the same reads from the server's own page, or typed into the address bar, are served
        for marks in ({"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {}):
            status, _, _ = exchange(
                server.port, raw("GET", "/api/projects/demo/executions/known-run", server.port, marks)
            )
            assert status == 200
    finally:
        server.stop()


class _Page(http.server.BaseHTTPRequestHandler):
    html = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.html)))
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *_: object) -> None:
        pass


@contextlib.contextmanager
def page_on(address: str, html: bytes) -> Iterator[str]:
    """Serve html at http://address:<port>/ from a thread; yields the URL."""
    handler = type("Page", (_Page,), {"html": html})
    site = http.server.ThreadingHTTPServer((address, free_port()), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()


@pytest.mark.attack("cross-site cleanup from chromium")
def test_a_page_on_another_loopback_address_cannot_clean_up_in_chromium(data_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    from tests.servers import chromium_path

    try:
        executable = chromium_path()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    prunable = seed_history(data_dir)
    server = Server(data_dir)
    cleanup = f"{server.url}/api/projects/demo/history/cleanup"
    html = f"""<!doctype html><body>
<form id="f" method="post" action="{cleanup}" enctype="text/plain"><input name="a" value="1"></form>
<script>
window.fetched = fetch("{cleanup}", {{method: "POST", mode: "no-cors", body: "{{}}"}})
  .then(() => "sent", (e) => "failed: " + e);
</script></body>""".encode()
    statuses: list[int] = []
    blocked: list[str] = []  # answered, but the answer's Cross-Origin-Resource-Policy keeps it from the page
    try:
        with page_on("127.0.0.2", html) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True)
            try:
                page = browser.new_page()
                page.on("response", lambda r: statuses.append(r.status) if "/cleanup" in r.url else None)
                page.on("requestfailed", lambda r: blocked.append(r.failure or "") if "/cleanup" in r.url else None)
                page.goto(url)
                # sent; its answer is opaque to the page, and Cross-Origin-Resource-Policy even fails the fetch
                assert page.evaluate("window.fetched") in ("sent", "failed: TypeError: Failed to fetch")
                with page.expect_navigation() as navigation:
                    page.evaluate("document.getElementById('f').submit()")
                response = navigation.value
                assert response is not None
                assert response.status == 403
                assert error_code(response.body()) == "forbidden"
            finally:
                browser.close()
        # the fetch reached the server and was answered (403, or an answer the browser withheld), and so did the form
        assert sorted(statuses) == [403, 403] or (statuses == [403] and blocked[0].startswith("net::ERR_BLOCKED_BY")), (
            statuses,
            blocked,
        )
        assert cleanup_now(server) == prunable  # neither the fetch nor the form removed an entry
    finally:
        server.stop()


# -- item 3: a flood of JSON values ---------------------------------------------------------------------------
def tiny_containers(size: int) -> bytes:
    """A JSON body of exactly size bytes: ``{"metadata": {"a": [[],[],...]}}``."""
    head, tail = b'{"metadata": {"a": [', b"]}}"
    count = (size - len(head) - len(tail) + 1) // 3
    body = head + b",".join([b"[]"] * count) + tail
    return body + b" " * (size - len(body))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.attack("json value flood")
def test_bodies_of_tiny_containers_neither_stall_the_server_nor_keep_its_memory(data_dir: Path) -> None:
    body = tiny_containers(16 * MIB)  # the default --max-body-bytes
    head = (
        b"POST /api/projects/flood/executions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    server = Server(data_dir)
    try:
        rss_before = rss_bytes(server.process.pid)
        answers: list[tuple[int, bytes]] = []
        queue = list(range(10))
        lock = threading.Lock()

        def send_bodies() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    queue.pop()
                with connect(server.port, timeout=120) as connection:
                    connection.sendall(head + body)
                    answer = http.client.HTTPResponse(connection)
                    answer.begin()
                    answers.append((answer.status, answer.read()))

        senders = [threading.Thread(target=send_bodies) for _ in range(3)]  # three at once, ten in all
        for sender in senders:
            sender.start()
        # a probe every 50 ms, its latency counted from when it was due: a probe held up by a stalled server
        # delays the probes after it, and they count the wait too (else one 20 s stall is one slow probe of many)
        latencies: list[float] = []
        with httpx.Client(base_url=server.url, timeout=60) as client:
            due = time.perf_counter()
            while any(sender.is_alive() for sender in senders):
                time.sleep(max(0.0, due - time.perf_counter()))
                assert client.get("/api/projects").status_code == 200
                latencies.append(time.perf_counter() - due)
                due += 0.05
        for sender in senders:
            sender.join()
        time.sleep(0.5)
        rss_after = rss_bytes(server.process.pid)
        print(
            f"\njson flood: {len(latencies)} probes, median {statistics.median(latencies) * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms; RSS {rss_before / MIB:.0f} MiB before, {rss_after / MIB:.0f} MiB "
            f"after ten; answers {sorted(status for status, _ in answers)}"
        )
        assert len(answers) == 10
        for status, answer in answers:
            assert status in (400, 503), answer[:200]
            if status == 400:
                assert error_code(answer) == "invalid_body"
                assert b"JSON values" in answer, answer
                assert b"STOREHOUSE_MAX_JSON_VALUES" in answer
        assert statistics.median(latencies) < 0.1  # the target of the issue: the loop is never held for long
        assert rss_after < 300 * MIB
    finally:
        server.stop()


@pytest.mark.attack("body bytes in flight")
def test_bodies_in_flight_past_the_budget_get_503_at_once(data_dir: Path) -> None:
    server = Server(data_dir, "--max-body-bytes", str(MIB))  # a budget of 4 MiB of bodies at once
    held: list[socket.socket] = []
    try:
        head = (
            b"POST /api/projects/demo/executions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n{" % MIB
        )
        for _ in range(4):  # four bodies of 1 MiB on their way, each stalled after its first byte
            connection = connect(server.port)
            connection.sendall(head)
            held.append(connection)
        time.sleep(0.3)
        started = time.monotonic()
        status, headers, body = exchange(server.port, head.replace(b"\r\n\r\n{", b"\r\nConnection: close\r\n\r\n{"))
        assert time.monotonic() - started < 2  # answered at once, not after its body
        assert (status, error_code(body), headers["retry-after"]) == (503, "unavailable", "1"), body
        small = httpx.post(f"{server.url}/api/projects/demo/executions", json={"name": "small", "status": "running"})
        assert small.status_code == 503  # the budget is of bytes: even a small body waits for room
        for connection in held:
            connection.close()
        deadline = time.monotonic() + 5
        while small.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
            small = httpx.post(f"{server.url}/api/projects/demo/executions", json={"name": "ok", "status": "running"})
        assert small.status_code == 201  # the room comes back as the stalled bodies go
    finally:
        for connection in held:
            connection.close()
        server.stop()


# -- item 5: the connection cap, exhausted before authentication -----------------------------------------------
class IdleSockets:
    """Keeps count connections open from peer, sending nothing, and reopens each as the server cuts it."""

    def __init__(self, port: int, peer: str, count: int) -> None:
        self.port, self.peer, self.count = port, peer, count
        self.stopping = threading.Event()
        self.opened = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> IdleSockets:
        self.thread.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join()

    def _run(self) -> None:
        sockets: list[socket.socket] = []
        try:
            while not self.stopping.is_set():
                for connection in list(sockets):  # drop the ones the server has closed
                    connection.setblocking(False)
                    try:
                        if connection.recv(65536, socket.MSG_PEEK) != b"":
                            connection.recv(65536)
                            raise ConnectionResetError
                    except BlockingIOError:
                        continue
                    except OSError:
                        pass
                    sockets.remove(connection)
                    connection.close()
                while len(sockets) < self.count:
                    sockets.append(connect(self.port, self.peer))
                    self.opened += 1
                time.sleep(0.05)
        finally:
            for connection in sockets:
                connection.close()


@pytest.mark.attack("idle sockets fill the connection cap")
def test_idle_sockets_from_one_peer_leave_room_for_authorised_requests(data_dir: Path) -> None:
    server = Server(data_dir, "--token", TOKEN, "--max-connections", "20", "--request-timeout", "2")
    try:
        with IdleSockets(server.port, "127.0.0.2", 20) as attacker:
            statuses = []
            for _ in range(30):  # each on a new connection, over ~3 s: across several cuts and reopenings
                answer = httpx.get(f"{server.url}/api/projects", headers={"Authorization": f"Bearer {TOKEN}"})
                statuses.append(answer.status_code)
                time.sleep(0.1)
            status, headers, body = exchange(server.port, raw("GET", "/api/projects", server.port), "127.0.0.2")
        assert statuses == [200] * 30
        assert attacker.opened > 20  # the server did cut them, and they were reopened
        # the attacker's own connections past its share (a quarter of 20) get the JSON 503
        assert (status, error_code(body), headers["retry-after"]) == (503, "unavailable", "1")
        assert b"--max-connections-per-peer" in body
    finally:
        server.stop()


def open_stream(port: int, peer: str) -> tuple[int, socket.socket, bytes]:
    """GET the events of project demo from peer: the status, the open connection, and what came with the head."""
    connection = connect(port, peer)
    connection.sendall(f"GET /api/projects/demo/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    return int(received.split(b" ", 2)[1]), connection, received


@pytest.mark.attack("event streams fill the connection cap")
def test_event_streams_have_their_own_budget_apart_from_request_slots(data_dir: Path) -> None:
    server = Server(data_dir, "--max-connections", "10", "--max-streams", "6", "--max-streams-per-peer", "3")
    opened: list[socket.socket] = []
    try:
        by_peer = {}
        for peer, count in (("127.0.0.2", 10), ("127.0.0.3", 3), ("127.0.0.4", 1)):
            statuses = []
            for _ in range(count):
                status, connection, received = open_stream(server.port, peer)
                statuses.append(status)
                if status == 200:
                    opened.append(connection)
                else:
                    assert b"retry-after: 5" in received.lower(), received
                    connection.close()
            by_peer[peer] = statuses
        assert by_peer == {
            "127.0.0.2": [200] * 3 + [503] * 7,  # its share of streams
            "127.0.0.3": [200] * 3,
            "127.0.0.4": [503],  # all six streams taken
        }
        # the streams hold none of the ten request slots: requests are served from every peer
        for peer in ("127.0.0.1", "127.0.0.2", "127.0.0.4"):
            for _ in range(5):
                assert exchange(server.port, raw("GET", "/api/projects", server.port), peer)[0] == 200
        for connection in opened[:2]:  # streams that end give their budget back
            connection.close()
        time.sleep(0.5)
        status, connection, _ = open_stream(server.port, "127.0.0.4")
        opened.append(connection)
        assert status == 200
    finally:
        for connection in opened:
            connection.close()
        server.stop()


@pytest.mark.attack("silent connections")
def test_a_connection_that_sends_no_byte_is_cut_after_the_idle_timeout(data_dir: Path) -> None:
    server = Server(data_dir, "--idle-timeout", "1")  # --request-timeout stays 30 s
    try:
        with connect(server.port) as connection:
            started = time.monotonic()
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        assert time.monotonic() - started < 3
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"--idle-timeout" in answer
        # a request that has begun in time has the whole request timeout to arrive
        with connect(server.port) as connection:
            request = raw("GET", "/api/projects", server.port)
            connection.sendall(request[:5])
            time.sleep(1.5)
            connection.sendall(request[5:])
            assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")
    finally:
        server.stop()
