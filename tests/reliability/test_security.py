"""Security regressions (issue #4, item 9): a corpus of hostile requests replayed against a real ``storehouse serve``.

The corpus is sent as raw bytes over a socket, so ``..``, ``%2e%2e``, ``%2f``, NUL, raw spaces and raw non-ASCII
reach uvicorn exactly as written (``httpx`` and browsers would normalise the path first). Every request carries
the status the README documents for it, worked out by a small oracle that restates the README's route table and
id rule (it imports nothing from storehouse, so a broken ``storehouse.ids`` cannot bend the expectation):

- hostile ids as ``projectId`` and ``executionId`` in every route and method, and as ``id`` / ``projectId`` /
  ``taskId`` in bodies;
- symlinks planted in the data directory (a project, an ``executions`` directory, execution files);
- foreign ``Host`` headers (DNS rebinding) and cross-site writes (content types a form or beacon can send);
- bearer tokens that are missing, wrong, mis-schemed or oversized (on a second server, started with ``--token``);
- bodies over ``--max-body-bytes`` (declared, chunked, lying), nesting past 64 levels, integers past 64 bits,
  bad JSON.

Around the replay, canary files beside the data directory (some named like the traversal targets would resolve
to) are snapshotted with their content and mtime: afterwards none has changed, nothing new exists outside the
data directory, the data directory holds only the documented layout with valid ids, and nothing but the
controls was stored. The harness is shown to go red on a planted bug: the same corpus replayed in-process over
an app whose id checks accept anything.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import os
import re
import shutil
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import pytest
from starlette.types import ASGIApp, Message

import storehouse.backends.files
import storehouse.ids
import storehouse.models
import storehouse.store
from storehouse import AsyncStorehouse, Settings, Storehouse
from storehouse.http import create_app
from tests.conftest import Server

LIMIT = 16 * 1024  # --max-body-bytes of the plain server: small, so oversized bodies stay small
TOKEN = "s3cret-Token_4c9e"
MARKER = "CANARY-7f3a91"  # in every file outside the data directory; must never appear in an answer
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SAME = "<the server's own address>"  # Req.host: send the server's own host:port (None: send no Host at all)
SYSTEM_FILES = (Path("/etc/passwd"), Path("/etc/passwd.json"))  # the test runs as root here: watch these too

# -- the oracle: the README's id rule and route table, restated ----------------------------------------------
ID_RULE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")  # README, "On-disk format"
DATA_FILES = frozenset({"projects", "index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm", "locks"})
_ID = r"(?P<{}>[^/]+)"  # a Starlette path parameter: anything but '/'
ROUTES: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = tuple(
    # compiled as Starlette compiles them: '^...$' with re.match ('$' also matches before a final newline)
    (re.compile(f"^{path}$"), frozenset(methods))
    for path, methods in (
        ("/api/projects", {"GET"}),
        (f"/api/projects/{_ID.format('projectId')}/executions/stats", {"GET"}),
        (f"/api/projects/{_ID.format('projectId')}/executions", {"GET", "POST", "DELETE"}),
        (
            f"/api/projects/{_ID.format('projectId')}/executions/{_ID.format('executionId')}",
            {"GET", "PUT", "PATCH", "DELETE"},
        ),
    )
)


def _printable(target: bytes) -> bool:
    return all(0x21 <= byte <= 0x7E for byte in target)


def documented(method: str, target: bytes) -> tuple[frozenset[int], str | None]:
    """The documented answer to a request whose path holds a hostile id: (statuses, error code).

    A target that is not printable ASCII is refused by uvicorn's HTTP parser (400, plain text) before any route.
    Otherwise the path is percent-decoded once, as uvicorn does, and routed as Starlette does: no route is a
    404, a route without this method a 405, a route whose ids break the rule a 400 ``invalid_id`` (the id
    ``stats`` is reserved for writes). A path one trailing slash away from a route gets Starlette's 307 to it.
    """
    if not _printable(target):
        return frozenset({400}), None
    path = unquote(target.split(b"?", 1)[0].decode("ascii"))
    for pattern, methods in ROUTES:
        found = pattern.match(path)
        if found and method in methods:
            ids = found.groupdict()
            if ids.get("executionId") == "stats" or not all(ID_RULE.fullmatch(value) for value in ids.values()):
                return frozenset({400}), "invalid_id"
            raise ValueError(f"not a hostile request: {method} {target!r}")
    if any(pattern.match(path) for pattern, _ in ROUTES):
        return frozenset({405}), "method_not_allowed"
    toggled = path[:-1] if path.endswith("/") else f"{path}/"
    if any(pattern.match(toggled) for pattern, _ in ROUTES):
        return frozenset({307}), None
    return frozenset({404}), "not_found"


# -- requests and answers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Req:
    """One request as it goes on the wire, with the statuses (and error code) it is documented to get."""

    label: str
    method: str
    target: bytes
    expect: frozenset[int]
    code: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None  # sent with a Content-Length, unless headers already declare one
    chunks: tuple[bytes, ...] | None = None  # sent with Transfer-Encoding: chunked
    host: str | None = SAME
    version: bytes = b"HTTP/1.1"
    creates: str | None = None  # a control that stores "<project>/<id>" (the only writes allowed to land)
    verify: Callable[[Resp], str | None] | None = None  # a further check of the answer: None, or what is wrong

    @property
    def hostile(self) -> bool:
        """Documented to be refused (4xx, or Starlette's 307 to a path that is): never to succeed."""
        return not any(200 <= status < 300 for status in self.expect)


@dataclass(frozen=True)
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes


JSON = (("Content-Type", "application/json"),)
BODY = b'{"name": "hostile", "status": "running"}'


def req(
    label: str, method: str, target: str | bytes, expect: Iterable[int], code: str | None = None, **more: Any
) -> Req:
    """A request; a JSON body is added to POST, PUT and PATCH unless one is given."""
    if method in ("POST", "PUT", "PATCH") and "body" not in more and "chunks" not in more:
        more = {"body": BODY, "headers": JSON, **more}
    raw = target.encode() if isinstance(target, str) else target
    return Req(label, method, raw, frozenset(expect), code, **more)


def send_over_wire(port: int, request: Req) -> Resp:
    """Send request byte for byte on a new connection and read the answer (status 0: no answer at all)."""
    head = [b"%b %b %b" % (request.method.encode(), request.target, request.version)]
    host = f"127.0.0.1:{port}" if request.host == SAME else request.host
    if host is not None:
        head.append(b"Host: " + host.encode("latin-1"))
    head += [f"{name}: {value}".encode("latin-1") for name, value in request.headers]
    payload = b""
    if request.chunks is not None:
        head.append(b"Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%b\r\n" % (len(chunk), chunk) for chunk in request.chunks) + b"0\r\n\r\n"
    elif request.body is not None:
        if not any(name.lower() == "content-length" for name, _ in request.headers):
            head.append(b"Content-Length: %d" % len(request.body))
        payload = request.body
    head.append(b"Connection: close")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"\r\n".join(head) + b"\r\n\r\n" + payload)
            answer = http.client.HTTPResponse(connection, method=request.method)
            try:
                answer.begin()
                return Resp(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
            finally:
                answer.close()
    except (OSError, http.client.HTTPException) as exc:
        return Resp(0, {}, repr(exc).encode())


async def send_in_process(app: ASGIApp, request: Req) -> Resp | None:
    """Send request straight to an ASGI app, with the scope uvicorn would build (the path percent-decoded once).

    None for a request uvicorn's HTTP parser answers itself (a target that is not printable ASCII, HTTP/1.0,
    framing headers): those never reach the app.
    """
    framing = {"content-length", "transfer-encoding"}
    if (
        not _printable(request.target)
        or request.version != b"HTTP/1.1"
        or any(name.lower() in framing for name, _ in request.headers)
    ):
        return None
    raw_path, _, query = request.target.partition(b"?")
    path = raw_path.decode("ascii")
    headers = [(name.lower().encode(), value.encode("latin-1")) for name, value in request.headers]
    if request.host is not None:
        headers.append((b"host", b"localhost" if request.host == SAME else request.host.encode("latin-1")))
    chunks = list(request.chunks or ([request.body] if request.body is not None else [b""]))
    if request.body is not None:
        headers.append((b"content-length", str(len(request.body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": unquote(path) if "%" in path else path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8420),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    try:
        await app(scope, receive, send)
    except Exception:  # Starlette re-raises after its 500 answer, for the server to log; uvicorn answers 500 if none
        if not any(message["type"] == "http.response.start" for message in sent):
            return Resp(500, {}, b"")
    start = next(message for message in sent if message["type"] == "http.response.start")
    head = {name.decode().lower(): value.decode("latin-1") for name, value in start.get("headers", [])}
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return Resp(start["status"], head, body)


# -- the replay --------------------------------------------------------------------------------------------
@dataclass
class Tally:
    """What a replay saw: counts for the scorecard, and every departure from the documented behaviour."""

    hostile: int = 0
    controls: int = 0
    writes_2xx: int = 0
    server_errors: int = 0
    touched_outside: int = 0
    violations: list[str] = field(default_factory=list)

    def judge(self, request: Req, answer: Resp) -> None:
        where = f"[{request.label}] {request.method} {request.target[:90]!r}"
        if request.hostile:
            self.hostile += 1
        else:
            self.controls += 1
        if answer.status == 0:
            self.violations.append(f"{where}: no answer ({answer.body.decode()})")
            return
        if answer.status >= 500:
            self.server_errors += 1
        if request.hostile and request.method in WRITES and 200 <= answer.status < 300:
            self.writes_2xx += 1
        if answer.status not in request.expect:
            shown = answer.body[:160].decode("utf-8", "replace")
            self.violations.append(f"{where}: {answer.status}, documented {sorted(request.expect)}: {shown}")
        elif request.code is not None and answer.headers.get("content-type", "").startswith("application/json"):
            code = orjson.loads(answer.body).get("error", {}).get("code")
            if code != request.code:
                self.violations.append(f"{where}: error code {code!r}, documented {request.code!r}")
        if MARKER.encode() in answer.body or b"root:x:0:0" in answer.body:
            self.violations.append(f"{where}: the answer carries the content of a file outside the data directory")
        if answer.status == 401 and not answer.headers.get("www-authenticate", "").lower().startswith("bearer"):
            self.violations.append(f"{where}: a 401 without 'WWW-Authenticate: Bearer'")
        if "access-control-allow-origin" in answer.headers:
            self.violations.append(f"{where}: a CORS header lets another origin read the answer")
        if request.verify is not None and answer.status in request.expect and (wrong := request.verify(answer)):
            self.violations.append(f"{where}: {wrong}")

    def line(self) -> str:
        return (
            f"security: {self.hostile:,} hostile requests (+{self.controls} controls), {self.writes_2xx} 2xx writes, "
            f"{self.server_errors} server errors, {self.touched_outside} files touched outside the data directory"
        )


async def replay(send: Callable[[Req], Awaitable[Resp | None]], requests: Iterable[Req], tally: Tally) -> None:
    for request in requests:
        answer = await send(request)
        if answer is not None:
            tally.judge(request, answer)


def over_wire(port: int) -> Callable[[Req], Awaitable[Resp | None]]:
    async def send(request: Req) -> Resp | None:
        return await asyncio.to_thread(send_over_wire, port, request)

    return send


def in_process(app: ASGIApp) -> Callable[[Req], Awaitable[Resp | None]]:
    async def send(request: Req) -> Resp | None:
        return await send_in_process(app, request)

    return send


# -- the ground: seeds inside the data directory, canaries and symlink targets outside it ------------------
SEED = {"name": "seed", "status": "running", "input": {"q": 1}}
FILE_LINKS = ("linked-read", "linked-put", "linked-patch", "linked-delete")


def canary_document(name: str) -> bytes:
    return orjson.dumps({"id": "secret", "projectId": "outside", "name": f"{MARKER} {name}", "status": "completed"})


def plant(root: Path) -> Path:
    """Lay out root: the data directory (project demo with run-1, symlinks) and canaries beside it.

    An id joined onto data/projects/demo/executions that climbs 4 levels lands in root, so canaries sit where
    ``../../../../x``, ``../../../../secret`` or ``../../../../outside/secret`` would lead (and where the
    project ``../..`` would: root/executions/run-1.json); ``outside/notes.json`` is not an execution, so a write
    that reached it would replace it rather than stop at "already exists".
    """
    data = root / "data"
    with Storehouse(data) as store:
        store.put_execution("demo", "run-1", dict(SEED))
    outside = root / "outside"
    (outside / "executions").mkdir(parents=True)
    for path in (
        outside / "secret.json",
        outside / "executions" / "secret.json",
        outside / "executions" / "run-1.json",
    ):
        path.write_bytes(canary_document(path.name))
    (outside / "notes.json").write_text(f"{MARKER}: not an execution\n")
    for name in ("x.json", "secret.json", "passwd.json"):
        (root / name).write_text(f"{MARKER} {name}\n")
    (root / "executions").mkdir()
    (root / "executions" / "run-1.json").write_bytes(canary_document("run-1"))
    (data / "projects" / "linkedproj").symlink_to(outside)  # a project directory that is a symlink
    (data / "projects" / "execlink").mkdir()
    (data / "projects" / "execlink" / "executions").symlink_to(outside / "executions")  # executions is a symlink
    for name in FILE_LINKS:  # execution files that are symlinks to a file outside
        (data / "projects" / "demo" / "executions" / f"{name}.json").symlink_to(outside / "secret.json")
    return data


Snapshot = dict[str, tuple[str, int, int, bytes]]


def snapshot(top: Path, skip: Path | None = None) -> Snapshot:
    """Every entry under top (not following symlinks, leaving out skip): kind, size, mtime and content."""
    seen: Snapshot = {}
    for directory, dirs, files in os.walk(top):
        if skip is not None and Path(directory) == skip.parent:
            dirs[:] = [d for d in dirs if Path(directory, d) != skip]
        for name in dirs + files:
            path = Path(directory, name)
            if path == skip:
                continue
            info = path.lstat()
            if path.is_symlink():
                seen[str(path)] = ("link", info.st_size, info.st_mtime_ns, os.readlink(path).encode())
            elif path.is_dir():
                seen[str(path)] = ("dir", 0, info.st_mtime_ns, b"")
            else:
                seen[str(path)] = ("file", info.st_size, info.st_mtime_ns, path.read_bytes())
    return seen


def system_files() -> list[tuple[str, int, int] | None]:
    return [(str(p), p.stat().st_size, p.stat().st_mtime_ns) if p.exists() else None for p in SYSTEM_FILES]


def differences(before: Snapshot, after: Snapshot, dirs: bool = True) -> list[str]:
    if not dirs:
        before = {path: entry for path, entry in before.items() if entry[0] != "dir"}
        after = {path: entry for path, entry in after.items() if entry[0] != "dir"}
    changed = [f"changed: {path}" for path in sorted(before.keys() & after.keys()) if before[path] != after[path]]
    changed += [f"removed: {path}" for path in sorted(before.keys() - after.keys())]
    return changed + [f"new: {path}" for path in sorted(after.keys() - before.keys())]


def layout_problems(data: Path) -> list[str]:
    """Names in data that break the documented layout: projects/<id>/executions/<id>.json and the index files."""
    problems = [
        f"unexpected entry {name!r} in the data directory" for name in os.listdir(data) if name not in DATA_FILES
    ]
    projects = data / "projects"
    for project in os.listdir(projects):
        if not ID_RULE.fullmatch(project):
            problems.append(f"project directory {project!r} breaks the id rule")
        if (projects / project).is_symlink():
            continue
        for inner in os.listdir(projects / project):
            if inner != "executions":
                problems.append(f"unexpected entry {project}/{inner!r}")
            elif not (projects / project / inner).is_symlink():
                for name in os.listdir(projects / project / inner):
                    if not (name.endswith(".json") and ID_RULE.fullmatch(name[:-5])):
                        problems.append(f"file {project}/executions/{name!r} is not <valid id>.json")
    return problems


# -- the corpus --------------------------------------------------------------------------------------------
LONG = ("a" * 129, "a" * 1000, "a" * 10_000)
HOSTILE_SEGMENTS: tuple[str | bytes, ...] = (
    "..",
    ".",
    "../x",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e",
    "%2E%2E%2F",
    "..%2f..%2fetc%2fpasswd",
    "..%2F..%2F..%2F..%2Fx",  # from demo/executions: root/x.json, a canary
    "..%2F..%2F..%2F..%2Foutside%2Fsecret",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "%00",
    "x%00",
    "..%00",
    "%5c..%5c..%5cx",
    "..%5C..%5Csecret",
    b"..\\..\\x",  # raw backslashes
    "%E2%80%A4%E2%80%A4",  # U+2024 ONE DOT LEADER, twice: looks like '..'
    "\u2024\u2024".encode(),  # the same, raw UTF-8 in the request line
    "%EF%BC%8E%EF%BC%8E%EF%BC%8F",  # fullwidth full stops and solidus (U+FF0E U+FF0E U+FF0F)
    "\uff0e\uff0e\uff0fx".encode(),
    *LONG,
    ".hidden",
    ".git",
    "-rf",
    "--help",
    "%20",
    "a%20b",
    b"a b",  # a raw space ends the request target
    "%0a",
    "a%0d%0aX-Injected:%201",
    b"a\nb",  # a raw newline ends the request line
    "%09",
    "%252e%252e",  # double-encoded: decoded once it is '%2e%2e', not '..'
    "%ff%fe",
    "%3f",
    "*",
    "~root",
    "$HOME",
)
TEMPLATES = (
    "/api/projects/demo/executions/{}",
    "/api/projects/{}/executions",
    "/api/projects/{}/executions/stats",
    "/api/projects/{}/executions/run-1",
)


def path_corpus() -> list[Req]:
    """Every hostile segment as projectId and executionId in every route, with every method."""
    requests = []
    for template in TEMPLATES:
        before, after = (part.encode() for part in template.split("{}"))
        for segment in HOSTILE_SEGMENTS:
            target = before + (segment.encode() if isinstance(segment, str) else segment) + after
            for method in METHODS:
                expect, code = documented(method, target)
                requests.append(req("path id", method, target, expect, code))
    return requests


def body_corpus(root: Path) -> list[Req]:
    """Hostile ids in bodies (id, projectId, taskId on POST, PUT and PATCH; duplicated keys whose last is hostile).

    Traversals climb exactly into root (never further: this test runs as root, and a regression must not be
    able to reach /etc), and one is absolute, into root/outside.
    """
    ids: list[object] = [
        "..",
        ".",
        "../x",
        "../../../x",
        "../../../../x",
        "../../../../outside/notes",
        f"{root}/outside/absolute",
        "..\\..\\x",
        "\u0000",
        "x\u0000y",
        "\u2024\u2024",
        "\uff0e\uff0e\uff0fx",
        "a" * 129,
        "a" * 1000,
        "a" * 10_000,
        ".hidden",
        "-rf",
        "a b",
        "a\nb",
        "",
        5,
        ["x"],
        {"id": "x"},
        True,
    ]
    requests = []
    for value in ids:
        shown = repr(value)[:40]
        for method, target, key, code in (
            ("POST", "/api/projects/demo/executions", "id", "invalid_id"),
            ("POST", "/api/projects/demo/executions", "projectId", "invalid_body"),
            ("POST", "/api/projects/demo/executions", "taskId", "invalid_body"),
            ("PUT", "/api/projects/demo/executions/fresh", "id", "invalid_body"),
            ("PUT", "/api/projects/demo/executions/fresh", "taskId", "invalid_body"),
            ("PATCH", "/api/projects/demo/executions/run-1", "id", "invalid_body"),
            ("PATCH", "/api/projects/demo/executions/run-1", "projectId", "invalid_body"),
            ("PATCH", "/api/projects/demo/executions/run-1", "taskId", "invalid_body"),
        ):
            body = orjson.dumps({"name": "hostile", key: value})
            requests.append(req(f"body {key}={shown}", method, target, {400}, code, body=body, headers=JSON))
    # the last of duplicated keys wins (orjson): a hostile last value is refused, whatever came first
    for key, code in (("id", "invalid_id"), ("taskId", "invalid_body"), ("projectId", "invalid_body")):
        body = b'{"%b": "ok-1", "%b": "../x"}' % (key.encode(), key.encode())
        requests.append(
            req(f"duplicate {key}", "POST", "/api/projects/demo/executions", {400}, code, body=body, headers=JSON)
        )
    return requests


def symlink_corpus() -> list[Req]:
    """Projects, executions directories and files that are symlinks: reads refuse them, writes do not follow.

    A symlinked project or executions directory is refused outright (400 ``invalid_request`` today; 404
    would do as well). An execution file that is a symlink reads as absent (404) and a PATCH finds nothing to
    patch; a PUT replaces the link itself with a regular file (the target is untouched) and a DELETE removes
    the link, not the target: those two are controls.
    """
    requests = []
    for project in ("linkedproj", "execlink"):
        for method in METHODS:
            for suffix in ("", "/stats", "/secret", "/run-1", "/fresh"):
                target = f"/api/projects/{project}/executions{suffix}"
                routed = any(pattern.match(target) and method in methods for pattern, methods in ROUTES)
                requests.append(req(f"symlinked {project}", method, target, {400, 404} if routed else {405}))
    demo = "/api/projects/demo/executions"
    requests += [
        req("symlinked file", "GET", f"{demo}/linked-read", {404}, "not_found"),
        req("symlinked file", "PATCH", f"{demo}/linked-patch", {404}, "not_found"),
        req("symlinked file (control)", "PUT", f"{demo}/linked-put", {201}),
        req("symlinked file (control)", "DELETE", f"{demo}/linked-delete", {204}),
        req("listing beside symlinked files", "GET", demo, {200}, verify=lists_no_links),
        req("projects beside symlinked projects", "GET", "/api/projects", {200}, verify=lists_only_demo),
    ]
    return requests


def lists_no_links(answer: Resp) -> str | None:
    listed = {execution["id"] for execution in orjson.loads(answer.body)["executions"]}
    followed = listed & {"linked-read", "linked-patch"}
    return f"the listing follows symlinked files: {sorted(followed)}" if followed else None


def lists_only_demo(answer: Resp) -> str | None:
    listed = [project["id"] for project in orjson.loads(answer.body)["projects"]]
    return None if listed == ["demo"] else f"the projects listing is {listed}, not ['demo']"


def host_corpus(port: int) -> list[Req]:
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends its own name as Host: 403."""
    hosts: list[str | None] = [
        "evil.example",
        f"evil.example:{port}",
        "127.0.0.1.evil.example",
        f"127.0.0.1.evil.example:{port}",
        "localhost.evil.example",
        f"localhost.evil.example:{port}",
        "EVIL.EXAMPLE",
        "evil.example:80",
        "[::1].evil.example",
        "0.0.0.0",
        "",
        None,
    ]
    routes = [
        ("GET", "/"),
        ("GET", "/openapi.json"),
        ("GET", "/api/projects"),
        ("GET", "/api/projects/demo/executions/run-1"),
        ("POST", "/api/projects/demo/executions"),
        ("PUT", "/api/projects/demo/executions/rebound"),
        ("PATCH", "/api/projects/demo/executions/run-1"),
        ("DELETE", "/api/projects/demo/executions/run-1"),
        ("DELETE", "/api/projects/demo/executions"),
    ]
    requests = [
        req(f"Host {host!r}", method, target, {403}, "forbidden", host=host)
        for host in hosts
        for method, target in routes
    ]
    requests.append(
        req("HTTP/1.0 without Host", "GET", "/api/projects", {403}, "forbidden", host=None, version=b"HTTP/1.0")
    )
    requests += [
        req(f"Host {host!r} (control)", "GET", "/api/projects", {200}, host=host)
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST")
    ]
    return requests


def cross_site_corpus(port: int) -> list[Req]:
    """Requests a web page on another origin could make: refused with 403 on /api, whatever they name.

    ``Guard`` refuses a request to /api that carries ``Sec-Fetch-Site: cross-site`` or ``same-site``,
    or an ``Origin`` that is not the server's own (``http://<Host>``; ``null`` too): so a form post, a beacon, a
    ``no-cors`` fetch or a preflight from another page gets 403, and a cross-site read (``<object>``,
    ``<link rel=prefetch>``) gets the same 403 for an id that exists as for one that does not (no existence
    oracle). Nothing answers with CORS headers (every answer is checked for ``Access-Control-Allow-Origin``).
    Without those marks (curl, an older browser without ``Sec-Fetch-*`` on a same-origin request), every write
    still needs a JSON body: the "simple" bodies a form can send get 415, ``cleanup`` included. A page that
    rebinds its own name to 127.0.0.1 is same-origin, and the Host check (403) stops it.
    """
    origin = ("Origin", "http://evil.example")
    own = ("Origin", f"http://127.0.0.1:{port}")
    form = b"name=hostile&status=running"
    bodies = [
        ("text/plain", BODY),
        ("text/plain;charset=UTF-8", BODY),
        ("application/x-www-form-urlencoded", form),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nh\r\n--x--\r\n',
        ),
        ("application/xml", b"<execution/>"),
        ("text/json", BODY),
        ("application/jsonx", BODY),
        ("application/json-seq", BODY),
        (None, BODY),
    ]
    targets = [
        ("POST", "/api/projects/demo/executions"),
        ("PUT", "/api/projects/demo/executions/cross-site"),
        ("PATCH", "/api/projects/demo/executions/run-1"),
        ("POST", "/api/projects/demo/history/cleanup"),
    ]
    marks: list[tuple[str, tuple[tuple[str, str], ...], int, str]] = [  # (label, headers, status, code)
        ("Origin", (origin,), 403, "forbidden"),
        ("Origin null", (("Origin", "null"),), 403, "forbidden"),
        ("Sec-Fetch-Site cross-site", (("Sec-Fetch-Site", "cross-site"),), 403, "forbidden"),
        ("Sec-Fetch-Site same-site", (("Sec-Fetch-Site", "same-site"),), 403, "forbidden"),
        ("own Origin", (own, ("Sec-Fetch-Site", "same-origin")), 415, "unsupported_media_type"),
        ("no marks", (), 415, "unsupported_media_type"),
    ]
    requests = [
        req(
            f"cross-site {kind} ({label})",
            method,
            target,
            {status},
            code,
            body=body,
            headers=headers if kind is None else (*headers, ("Content-Type", kind)),
        )
        for label, headers, status, code in marks
        for kind, body in bodies
        for method, target in targets
    ]
    for label, headers, _, _ in marks[:4]:  # a JSON write from another site is refused too (the preflight is)
        for method, target in targets:
            requests.append(
                req(f"cross-site JSON write ({label})", method, target, {403}, "forbidden", headers=headers)
            )
    preflight = (origin, ("Access-Control-Request-Method", "PUT"), ("Access-Control-Request-Headers", "content-type"))
    for target in ("/api/projects/demo/executions", "/api/projects/demo/executions/run-1", "/api/projects"):
        requests.append(req("CORS preflight", "OPTIONS", target, {403}, "forbidden", headers=preflight))
        requests.append(req("preflight, no Origin", "OPTIONS", target, {405}, "method_not_allowed"))
    oracle = [  # an id that exists and ids that do not: the same 403
        "/api/projects/demo/executions/run-1",
        "/api/projects/demo/executions/no-such-run",
        "/api/projects/nowhere/executions",
        "/api/projects/demo/tasks/no-such-task",
        "/api/projects/demo/history",
        "/api/projects/demo/events",
        "/api/projects",
    ]
    for label, headers, _, _ in marks[:4]:
        for target in oracle:
            requests.append(req(f"cross-site read ({label})", "GET", target, {403}, "forbidden", headers=headers))
    for label, headers in (
        ("own Origin", (own,)),
        ("Sec-Fetch-Site same-origin", (("Sec-Fetch-Site", "same-origin"),)),
        ("Sec-Fetch-Site none", (("Sec-Fetch-Site", "none"),)),
    ):
        requests.append(
            req(f"read, {label} (control)", "GET", "/api/projects/demo/executions/run-1", {200}, headers=headers)
        )
    requests.append(
        req(
            "page with a foreign Origin (control)",
            "GET",
            "/",
            {200},
            headers=(origin, ("Sec-Fetch-Site", "cross-site")),
        )
    )
    return requests


def nest(levels: int, key: str = "input", arrays: bool = True) -> bytes:
    """A body nested ``levels`` deep in all, the body object being level 1."""
    inner = levels - 1
    if arrays:
        return b'{"%b": ' % key.encode() + b"[" * inner + b"]" * inner + b"}"
    return b'{"%b": ' % key.encode() + b'{"a": ' * (inner - 1) + b"{}" + b"}" * (inner - 1) + b"}"


POST, PUT, PATCH = (
    "/api/projects/demo/executions",
    "/api/projects/demo/executions/big",
    "/api/projects/demo/executions/run-1",
)


def padded(size: int) -> bytes:
    return b'{"name": "padded"}'.ljust(size)


def control(item: str, **more: Any) -> Req:
    """A write that must succeed (PUT demo/<item>), so that a server refusing everything cannot pass."""
    return req(
        f"{item} (control)", "PUT", f"/api/projects/demo/executions/{item}", {201}, creates=f"demo/{item}", **more
    )


def size_corpus() -> list[Req]:
    """Bodies over --max-body-bytes, declared or streamed: 413 before anything is stored; broken framing: 400."""

    def framed(label: str, method: str, target: str, expect: set[int], code: str | None, **more: Any) -> Req:
        headers = (*JSON, *more.pop("headers", ()))
        return req(label, method, target, expect, code, headers=headers, **more)

    too_large, length = "payload_too_large", "Content-Length"
    return [
        framed("declared over the limit", "POST", POST, {413}, too_large, body=padded(LIMIT + 1)),
        framed("declared far over the limit", "PUT", PUT, {413}, too_large, body=padded(2 * LIMIT)),
        framed("declared 1 GB, nothing sent", "POST", POST, {413}, too_large, headers=((length, "1000000000"),)),
        framed("declared 10**23, nothing sent", "POST", POST, {400, 413}, None, headers=((length, "9" * 23),)),
        framed("chunked over the limit", "POST", POST, {413}, too_large, chunks=(b" " * 4000,) * 5 + (b"{}",)),
        framed("one chunk over the limit", "PUT", PUT, {413}, too_large, chunks=(padded(LIMIT + 1),)),
        framed("chunked patch over the limit", "PATCH", PATCH, {413}, too_large, chunks=(padded(LIMIT + 100),)),
        framed(
            "Content-Length and chunked",
            "POST",
            POST,
            {400, 413},
            None,
            chunks=(padded(LIMIT + 1),),
            headers=((length, "2"),),
        ),
        framed(
            "Content-Length short of the body",
            "POST",
            POST,
            {400},
            "invalid_body",
            body=BODY,
            headers=((length, "10"),),
        ),
        framed("negative Content-Length", "POST", POST, {400}, None, body=BODY, headers=((length, "-1"),)),
        control("control-limit", body=padded(LIMIT), headers=JSON),
        control("control-chunked", chunks=(b'{"name":', b' "chunked"}'), headers=JSON),
    ]


def json_corpus() -> list[Req]:
    """Bodies that are too deep, carry integers past 64 bits, are not JSON or are not objects: 400 invalid_body."""
    bodies: list[tuple[str, bytes]] = []
    for levels in (65, 200, 1100):
        for key, arrays in (
            ("input", True),
            ("steps", True),
            ("metadata", False),
            ("output", False),
            ("tokenUsage", False),
        ):
            if arrays or levels < 1000:  # 1,100 nested objects would be over the body limit
                bodies.append((f"{levels} levels in {key}", nest(levels, key, arrays)))
    numbers = (b"18446744073709551616", b"-9223372036854775809", b"1" + b"0" * 30, b"9" * 400, b"1e400", b"-1e400")
    templates = (
        b'{"tokenUsage": {"input": %b}}',
        b'{"metadata": {"n": %b}}',
        b'{"metadata": {"deep": [{"n": [1, %b]}]}}',
        b'{"steps": [{"name": "s", "tokenUsage": {"output": %b}}]}',
        b'{"input": %b}',
    )
    bodies += [(f"number {number[:12]!r}", template % number) for number in numbers for template in templates]
    not_json = (
        b"",
        b"   ",
        b'{"name": ',
        b'{"name": "x"} trailing',
        b"{'name': 'x'}",
        b'{"name": "\xff\xfe"}',
        b'{"name": "\\ud800"}',
        b"\xef\xbb\xbf{}",
        b'{"costUSD": NaN}',
        b'{"costUSD": Infinity}',
        b'{"name": "x",}',
        b"{" * 3000,
        b"null",
        b"[]",
        b'"x"',
        b"5",
    )
    bodies += [(f"bad JSON {body[:12]!r}", body) for body in not_json]
    requests = [
        req(label, method, target, {400}, "invalid_body", body=body, headers=JSON)
        for label, body in bodies
        for method, target in (("POST", POST), ("PUT", PUT), ("PATCH", PATCH))
    ]
    u64 = b'{"metadata": {"max": 18446744073709551615, "min": -9223372036854775808}}'
    requests += [control("control-depth", body=nest(64), headers=JSON), control("control-u64", body=u64, headers=JSON)]
    requests += [
        req("query id", "POST", f"{POST}?id=..%2Fx", {400}, "invalid_parameter"),
        req("If-Match path", "PUT", PUT, {400}, "invalid_parameter", headers=(*JSON, ("If-Match", '"../x"'))),
    ]
    requests += [
        req("traversal under /web", "GET", target, {404}, "not_found")
        for target in (
            "/web/../../pyproject.toml",
            "/web/%2e%2e/%2e%2e/pyproject.toml",
            "/web/..%2f..%2fpyproject.toml",
            "/web/..%2fcli.py",
        )
    ]
    return requests


def token_corpus() -> list[Req]:
    """Authorization that is not exactly the token: 401 with WWW-Authenticate on every /api route.

    The scheme is case-insensitive (RFC 9110 section 11.1) and whitespace around a field value is not part of
    it (section 5.5), so ``bearer <token>`` and ``Bearer <token>   `` are the right token: controls.
    """
    refused: list[tuple[str, str | None]] = [
        ("missing", None),
        ("empty", ""),
        ("scheme only", "Bearer"),
        ("scheme and a space", "Bearer "),
        ("wrong", "Bearer wrong"),
        ("the token less its last character", f"Bearer {TOKEN[:-1]}"),
        ("the token and one more character", f"Bearer {TOKEN}x"),
        ("the token and another word", f"Bearer {TOKEN} x"),
        ("the token in another case", f"Bearer {TOKEN.upper()}"),
        ("lower-case scheme, wrong token", "bearer wrong"),
        ("trailing spaces, wrong token", "Bearer wrong   "),
        ("Basic scheme", "Basic " + base64.b64encode(f"user:{TOKEN}".encode()).decode()),
        ("Basic scheme with the token", f"Basic {TOKEN}"),
        ("no scheme", TOKEN),
        ("scheme glued to the token", f"Bearer{TOKEN}"),
        ("very long", "Bearer " + "a" * 60_000),
        ("very long after the token", f"Bearer {TOKEN}" + "a" * 60_000),
    ]
    routes = [
        ("GET", "/api/projects"),
        ("GET", "/api/projects/demo/executions"),
        ("GET", "/api/projects/demo/executions/stats"),
        ("GET", "/api/projects/demo/executions/run-1"),
        ("POST", "/api/projects/demo/executions"),
        ("PUT", "/api/projects/demo/executions/unauthorized"),
        ("PATCH", "/api/projects/demo/executions/run-1"),
        ("DELETE", "/api/projects/demo/executions/run-1"),
        ("DELETE", "/api/projects/demo/executions"),
    ]
    requests = [
        req(
            f"token {label}",
            method,
            target,
            {401},
            "unauthorized",
            headers=() if value is None else (("Authorization", value),),
        )
        for label, value in refused
        for method, target in routes
    ]
    # paths spelled so as to dodge a prefix check: decoded or unrouted, never served without the token
    requests += [
        req("token /%61pi", "GET", "/%61pi/projects", {401}, "unauthorized"),
        req("token /api%2f", "DELETE", "/api%2fprojects/demo/executions", {401}, "unauthorized"),
        req("token //api", "GET", "//api/projects", {404}, "not_found"),
        req("token /API", "GET", "/API/projects", {404}, "not_found"),
        req("token /api/", "GET", "/api/", {401}, "unauthorized"),
    ]
    right = f"Bearer {TOKEN}"
    requests += [
        req(f"token {label} (control)", "GET", "/api/projects", {200}, headers=(("Authorization", value),))
        for label, value in (
            ("exact", right),
            ("lower-case scheme", f"bearer {TOKEN}"),
            ("trailing spaces", f"{right}   "),
        )
    ]
    requests += [
        control("control-token", headers=(*JSON, ("Authorization", right))),
        req("no token for the page (control)", "GET", "/", {200}),
        req("no token for the OpenAPI document (control)", "GET", "/openapi.json", {200}),
    ]
    return requests


# -- the tests ---------------------------------------------------------------------------------------------
def expected_inside(data: Path, requests: Iterable[Req]) -> set[str]:
    """The changes the controls make under data/projects: the files they create, the symlinks PUT and DELETE hit."""
    projects, links = data / "projects", data / "projects" / "demo" / "executions"
    created = [creates.split("/", 1) for request in requests if (creates := request.creates)]
    expected = {f"new: {projects / project / 'executions' / item}.json" for project, item in created}
    return expected | {f"changed: {links / 'linked-put.json'}", f"removed: {links / 'linked-delete.json'}"}


async def test_hostile_corpus_against_real_servers_touches_nothing_outside_the_data_directory(
    tmp_path: Path, scorecard: Callable[[str], None]
) -> None:
    data = plant(tmp_path)
    outside_before, inside_before, system_before = (
        snapshot(tmp_path, skip=data),
        snapshot(data / "projects"),
        system_files(),
    )
    tally = Tally()
    plain = Server(data, "--max-body-bytes", str(LIMIT))
    try:
        guarded = Server(data, "--token", TOKEN)
        try:
            requests = [
                *path_corpus(),
                *body_corpus(tmp_path),
                *symlink_corpus(),
                *host_corpus(plain.port),
                *cross_site_corpus(plain.port),
                *size_corpus(),
                *json_corpus(),
            ]
            await replay(over_wire(plain.port), requests, tally)
            tokens = token_corpus()
            await replay(over_wire(guarded.port), tokens, tally)
        finally:
            guarded.stop()
    finally:
        plain.stop()

    outside = differences(outside_before, snapshot(tmp_path, skip=data))
    if system_files() != system_before:
        outside.append(f"changed: one of {[str(p) for p in SYSTEM_FILES]}")
    tally.touched_outside = len(outside)
    scorecard(tally.line())
    assert tally.violations == [], "\n".join(tally.violations[:40])
    assert outside == [], outside
    assert layout_problems(data) == []
    inside = set(differences(inside_before, snapshot(data / "projects"), dirs=False))
    assert inside == expected_inside(data, [*requests, *tokens]), "stored by a hostile request, or a control lost"
    stored = orjson.loads((data / "projects" / "demo" / "executions" / "control-u64.json").read_bytes())
    assert stored["metadata"] == {"max": (1 << 64) - 1, "min": -(1 << 63)}  # kept exactly, not as floats
    with Storehouse(data) as store:
        problems = store.check().problems
    assert any(p.startswith("linkedproj: ") and "through a symlink" in p for p in problems), problems
    for name in ("linked-read", "linked-patch"):
        assert f"demo/executions/{name}.json: is a symlink or unreadable" in problems, problems


async def replay_in_process(root: Path) -> tuple[Tally, list[str], list[str]]:
    """The path and body corpora replayed straight into the ASGI app over a fresh ground under root."""
    data = plant(root)
    before = snapshot(root, skip=data)
    settings = Settings(data_dir=data, max_body_bytes=LIMIT, durable=False)
    tally = Tally()
    async with AsyncStorehouse(store=Storehouse(data, settings=settings)) as store:
        await replay(in_process(create_app(store, settings)), [*path_corpus(), *body_corpus(root)], tally)
    outside = differences(before, snapshot(root, skip=data))
    tally.touched_outside = len(outside)
    return tally, outside, layout_problems(data)


def _accept_anything(value: object, what: str = "id") -> Any:
    return value


def _valid_anything(value: object) -> bool:
    return True


async def test_the_harness_goes_red_when_id_checks_are_planted_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # control: the in-process replay of a healthy app is green, so what turns red below is the planted bug
    healthy, outside, layout = await replay_in_process(tmp_path / "healthy")
    assert (healthy.violations, outside, layout) == ([], [], [])
    assert healthy.controls == 0

    for module in (storehouse.ids, storehouse.store, storehouse.backends.files):
        monkeypatch.setattr(module, "check_id", _accept_anything)
    for module in (storehouse.ids, storehouse.backends.files, storehouse.models):
        monkeypatch.setattr(module, "is_valid_id", _valid_anything)
    root = tmp_path / "broken"
    broken, outside, layout = await replay_in_process(root)

    assert broken.hostile == healthy.hostile > 900  # the same corpus, judged request by request
    assert broken.violations, "the harness stayed green with the id checks disabled"
    assert broken.writes_2xx > 0
    assert broken.server_errors > 0  # a 10,000-character id reaches the file system: ENAMETOOLONG
    assert f"new: {root / 'outside' / 'absolute.json'}" in outside  # an absolute id in a body
    assert f"changed: {root / 'outside' / 'notes.json'}" in outside  # a canary overwritten through ../../../..
    assert any("'...json'" in problem for problem in layout), layout  # '..' as an executionId
    assert any("unexpected entry 'x.json'" in problem for problem in layout), layout  # ../../../x from a body


async def test_a_project_directory_swapped_for_a_symlink_while_serving_is_not_followed(tmp_path: Path) -> None:
    data = plant(tmp_path)
    server = Server(data)
    try:
        send = over_wire(server.port)
        opened = await send(req("open the project", "GET", "/api/projects/demo/executions", {200}))
        assert opened is not None
        assert opened.status == 200
        # someone with write access to the data directory swaps the open project for a symlink out of it
        shutil.rmtree(data / "projects" / "demo")
        (data / "projects" / "demo").symlink_to(tmp_path / "outside")
        before = snapshot(tmp_path, skip=data)
        tally = Tally()
        base = "/api/projects/demo/executions"
        swapped = [
            req("swapped project", "GET", f"{base}/secret", {400, 404}),
            req("swapped project", "PUT", f"{base}/planted", {400, 404}),
            req("swapped project", "PATCH", f"{base}/run-1", {400, 404}),
            req("swapped project", "DELETE", f"{base}/secret", {400, 404}),
        ]
        await replay(send, swapped, tally)
    finally:
        server.stop()
    outside = differences(before, snapshot(tmp_path, skip=data))
    assert (tally.violations, outside) == ([], [])


async def test_a_write_to_a_symlinked_project_creates_nothing_outside_the_data_directory(tmp_path: Path) -> None:
    data = plant(tmp_path)
    (tmp_path / "bare").mkdir()
    (data / "projects" / "bare").symlink_to(tmp_path / "bare")  # like linkedproj, but with no executions inside
    before = snapshot(tmp_path, skip=data)
    tally = Tally()
    server = Server(data)
    try:
        writes = [
            req("symlinked bare project", "PUT", "/api/projects/bare/executions/x", {400, 404}),
            req("symlinked bare project", "POST", "/api/projects/bare/executions", {400, 404}),
        ]
        await replay(over_wire(server.port), writes, tally)
    finally:
        server.stop()
    outside = differences(before, snapshot(tmp_path, skip=data))
    assert (tally.violations, outside) == ([], [])  # today: both 400, and tmp_path/bare/executions is new


def test_check_reports_an_executions_directory_that_is_a_symlink(tmp_path: Path) -> None:
    data = plant(tmp_path)
    with Storehouse(data) as store:
        problems = store.check().problems
    assert any(problem.startswith("execlink") for problem in problems), problems
