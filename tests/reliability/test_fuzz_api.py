"""Fuzzing the HTTP API: schemathesis generates requests from ``/openapi.json`` of a live ``storehouse serve``.

Every operation of the OpenAPI document gets ``EXAMPLES`` generated requests (scaled by ``STOREHOUSE_SOAK``),
and the run's counters prove it: executions, task history (add, read, count, oldest, delete, the read across
tasks, clean-up) and retention settings, whatever the document lists. They are valid ones and invalid ones
(schemathesis' positive and negative modes: wrong types, missing fields, bodies that are not JSON, odd path
segments and headers), and, for a third of them, valid requests aimed at the executions and the task histories
seeded before the run, so that gets, puts, patches and deletes also meet real documents and entries. Writes
are fuzzed first, then reads (of what the writes left), then deletes. Each response
must pass schemathesis' checks: no 5xx (``not_a_server_error``), a status code the document lists for the
operation (``status_code_conformance``), the documented content type (``content_type_conformance``), and a
body that validates against the documented schema (``response_schema_conformance``).

An operation whose 200 response is documented only as ``text/event-stream`` (Server-Sent Events, such as
``GET /api/projects/{projectId}/events``) is not fuzzed: its response never ends, so each request would hold the
run until its timeout. The closing line counts the operations skipped so.

``GET /api/projects`` takes no input at all (one possible request), so it is sent again after every few
requests of the other operations: it answers over the projects the fuzzer keeps creating.

The harness goes red on the bug it exists to catch: the same app with a handler that reads the body with
Starlette's ``request.json()`` (a 500 on a body that is not JSON) is reported by the fuzzer.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Server, free_port, soak

EXAMPLES = 300  # generated requests per operation in the fast tier
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FAST_SEED = 0
PROJECT = "fuzz"
SEEDED = ("run-1", "run-2", "run-3")
SEEDED_TASKS = ("T-1", "T-2")  # tasks with a history
STREAM = "text/event-stream"
PROJECTS_EVERY = 7  # GET /api/projects is sent again after this many requests of the other operations
# Writes first, then reads (of what the writes left), deletes last.
METHOD_ORDER = {"POST": 0, "PUT": 1, "PATCH": 2, "GET": 3, "HEAD": 3, "DELETE": 4}
Operation = APIOperation[Any, Any, Any, Any]
Probe = Case[Operation]


@dataclass
class FuzzRun:
    """What a fuzz run saw: requests per operation, and every failed check with its request and response."""

    seed: int
    operations: list[str] = field(default_factory=list)  # every operation of the document that is fuzzed
    skipped: list[str] = field(default_factory=list)  # streams (``STREAM``): never fuzzed
    examples: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # status code, content type, response schema
    transport_errors: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        return (
            f"fuzz: {len(self.examples)} operations, {sum(self.examples.values()):,} examples "
            f"({sum(n for status, n in self.statuses.items() if status < 300):,} accepted), "
            f"{len(self.server_errors)} server errors, {len(self.violations)} schema violations, "
            f"{len(self.transport_errors)} transport errors (seed {self.seed})"
            + (f", {len(self.skipped)} event-stream operations not fuzzed" if self.skipped else "")
        )

    def record(self, label: str, request: str, answer: str, failures: list[Failure]) -> None:
        """Keep each failure with what reproduces it: the request as curl, the response's status and body."""
        for failure in failures:
            entry = f"{label}: {failure.title} ({type(failure).__name__})\n  {request}\n  -> {answer}"
            if type(failure).__name__ == "ServerError":
                self.server_errors.append(entry)
            else:
                self.violations.append(entry)


def seed_executions(base_url: str) -> None:
    """A few rich executions at known ids, for the fuzzer's aimed requests to meet."""
    with httpx.Client(base_url=base_url) as client:
        for number, item in enumerate(SEEDED):
            body = {
                "name": f"seeded {number}",
                "taskId": "T-1",
                "status": ("running", "completed", "failed")[number],
                "tokenUsage": {"input": 100 * number, "output": 7},
                "costUSD": 0.01 * number,
                "steps": [{"name": "plan", "agent": "planner", "status": "completed", "tokenUsage": {"input": 3}}],
                "tags": ["nightly", f"n{number}"],
                "metadata": {"attempt": number, "nested": {"a": [1, 2]}},
                "input": {"prompt": "hello"},
            }
            answer = client.put(f"/api/projects/{PROJECT}/executions/{item}", json=body)
            assert answer.status_code == 201, answer.text


def seed_history(base_url: str) -> None:
    """Entries of every kind of field in the history of known tasks, for the aimed requests to meet."""
    created = datetime.now(UTC) - timedelta(days=1)
    kinds = ("agent_start", "chat_message", "execution_step", "agent_turn", "error", "result", "agent_complete")
    with httpx.Client(base_url=base_url) as client:
        for number, task in enumerate(SEEDED_TASKS):
            entries = [
                {
                    "type": kind,
                    "executionId": SEEDED[n % len(SEEDED)],
                    "workspaceId": f"w-{number}",
                    "sessionId": f"s-{n % 2}",
                    "role": "planner" if n % 2 else None,
                    "content": f"entry {n} of {task} ✓",
                    "metadata": {"n": n, "nested": {"a": [1, 2]}} if n % 3 else None,
                    "createdAt": (created + timedelta(minutes=n)).isoformat(),
                }
                for n, kind in enumerate(kinds)
            ]
            answer = client.post(f"/api/projects/{PROJECT}/tasks/{task}/history", json=entries)
            assert answer.status_code == 201, answer.text


def resolved(document: dict[str, Any], node: Any) -> Any:
    """Follow local ``$ref``s (``#/components/...``) in the OpenAPI document."""
    while isinstance(node, dict) and str(node.get("$ref", "")).startswith("#/"):
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def streams(document: dict[str, Any], operation: Operation) -> bool:
    """Whether the operation's 200 response is documented only as ``text/event-stream`` (a response that never
    ends: fuzzing it would hang the run)."""
    responses = resolved(document, resolved(document, operation.definition.raw).get("responses", {}))
    content = resolved(document, responses.get("200", {})).get("content", {})
    return {media.split(";")[0].strip().lower() for media in content} == {STREAM}


def fuzzable(schema: schemathesis.BaseSchema) -> tuple[list[Operation], list[str]]:
    """The document's operations in the order they are fuzzed (writes, reads, deletes), and the labels of those
    skipped because they stream."""
    operations, skipped = [], []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        if streams(schema.raw_schema, operation):
            skipped.append(operation.label)
        else:
            operations.append(operation)
    operations.sort(
        key=lambda operation: (takes_input(operation), METHOD_ORDER[operation.method.upper()], -len(operation.path))
    )
    return operations, skipped


def takes_input(operation: Operation) -> bool:
    return bool(operation.path_parameters or operation.query or operation.headers or operation.body)


class Fuzzer:
    """Sends generated requests to a live server and checks every response."""

    def __init__(self, base_url: str, examples: int, seed: int) -> None:
        self.base_url = base_url
        self.examples = examples
        self.run = FuzzRun(seed)
        self.session = requests.Session()
        self.again: list[Probe] = []  # the one request of an operation without input, sent again between others
        self.others = 0  # requests of operations that take input

    def check(self, case: Probe) -> None:
        self.run.examples[case.operation.label] += 1
        try:
            response = case.call(base_url=self.base_url, session=self.session, timeout=30)
        except requests.RequestException as exc:
            self.run.transport_errors.append(f"{case.operation.label}: {exc!r}\n  {case.as_curl_command()}")
            return
        self.run.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            answer = f"{response.status_code} {response.content[:300].decode(errors='replace')}"
            self.run.record(case.operation.label, case.as_curl_command(), answer, list(group.exceptions))

    def operation(self, operation: Operation) -> None:
        """Fuzz one operation: valid requests, invalid ones, and valid ones aimed at the seeded executions and
        task histories."""
        aimed: dict[str, st.SearchStrategy[Probe]] = {}  # valid requests to the seeded project, executions, tasks
        if "{taskId}" in operation.path:
            for task in SEEDED_TASKS:
                where = {"projectId": PROJECT, "taskId": task}
                aimed[task] = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=where)
        elif "{executionId}" in operation.path:
            for item in SEEDED:
                where = {"projectId": PROJECT, "executionId": item}
                aimed[item] = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=where)
        elif "{projectId}" in operation.path:
            aimed[PROJECT] = operation.as_strategy(GenerationMode.POSITIVE, path_parameters={"projectId": PROJECT})
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
            st.sampled_from(sorted(aimed)).flatmap(aimed.__getitem__) if aimed else st.nothing(),
        )

        @hypothesis.seed(self.run.seed)
        @hypothesis.settings(
            max_examples=self.examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # every failure is kept as it was seen: no shrinking
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=strategy)
        def send(case: Probe) -> None:
            self.check(case)
            if not takes_input(operation):
                self.again.append(case)
                return
            self.others += 1
            if self.again and self.others % PROJECTS_EVERY == 0:
                self.check(self.again[0])

        send()


def fuzz(base_url: str, examples: int, seed: int) -> FuzzRun:
    """Fuzz every operation of the live server at base_url with ``examples`` generated requests each."""
    operations, skipped = fuzzable(schemathesis.openapi.from_url(f"{base_url}/openapi.json"))
    seed_executions(base_url)
    seed_history(base_url)
    fuzzer = Fuzzer(base_url, examples, seed)
    fuzzer.run.operations = [operation.label for operation in operations]
    fuzzer.run.skipped = skipped
    with fuzzer.session:
        for operation in operations:
            fuzzer.operation(operation)
    return fuzzer.run


def fuzz_seed() -> int:
    """``STOREHOUSE_FUZZ_SEED`` if set (``random``: a new one); else a new one for soak runs, which explore, and a
    fixed one for the fast tier, which must be reproducible (the same requests on every run)."""
    given = os.environ.get("STOREHOUSE_FUZZ_SEED", "")
    if given.isdigit():
        return int(given)
    return random.randrange(1 << 32) if given == "random" or soak(1) > 1 else FAST_SEED


@contextmanager
def drained(server: Server) -> Iterator[list[str]]:
    """Read the server's stderr while it runs (a pipe nobody reads would stall it); yields the lines read."""
    lines: list[str] = []
    stream = server.process.stderr
    assert stream is not None
    reader = threading.Thread(target=lambda: lines.extend(line.decode(errors="replace") for line in stream))
    reader.start()
    try:
        yield lines
    finally:
        server.process.terminate()
        reader.join(30)
        server.stop()


def test_fuzzing_the_live_server_finds_no_server_error_and_no_schema_violation(
    data_dir: Path, scorecard: Callable[[str], None]
) -> None:
    seed = fuzz_seed()
    started = time.monotonic()
    # Without fsyncs: the fuzzer tests what the API answers, not durability (the crash and power-loss
    # harnesses do), and ~11,000 requests, half of them writes, take a third less time this way.
    server = Server(data_dir, env={"STOREHOUSE_DURABLE": "0"})
    with (
        drained(server) as server_log,
        ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool,
    ):
        # In a child process: the test process runs under coverage (``--cov``), whose tracing of hypothesis and
        # schemathesis doubled the run; the server it fuzzes is another process anyway.
        run = pool.submit(fuzz, server.url, soak(EXAMPLES), seed).result()
    scorecard(f"{run.line} ({time.monotonic() - started:.0f} s)")
    assert_clean(run, server_log)
    assert set(run.examples) == set(run.operations), run.examples  # every operation of the document but streams
    assert set(run.operations) >= HISTORY_OPERATIONS, run.operations
    assert min(run.examples.values()) >= soak(EXAMPLES), run.examples  # GET /api/projects too, sent again
    assert run.statuses[200] + run.statuses[201] > soak(EXAMPLES), run.statuses  # not only refusals


def assert_clean(run: FuzzRun, server_log: list[str]) -> None:
    """No check failed; else the failures, each with its request (as curl) and response, and the server's log."""
    report = "\n".join(run.server_errors + run.violations + run.transport_errors + server_log[-40:])
    assert (run.server_errors, run.violations, run.transport_errors) == ([], [], []), report


HISTORY_OPERATIONS = {  # issue #5: the fuzz test above checks that each is in the document and fuzzed
    "POST /api/projects/{projectId}/tasks/{taskId}/history",
    "GET /api/projects/{projectId}/tasks/{taskId}/history",
    "DELETE /api/projects/{projectId}/tasks/{taskId}/history",
    "GET /api/projects/{projectId}/tasks/{taskId}/history/count",
    "GET /api/projects/{projectId}/tasks/{taskId}/history/oldest",
    "GET /api/projects/{projectId}/history",
    "POST /api/projects/{projectId}/history/cleanup",
    "GET /api/projects/{projectId}/settings",
    "PUT /api/projects/{projectId}/settings",
}


def test_an_operation_that_streams_events_is_not_fuzzed() -> None:
    json_body = {"application/json": {"schema": {"type": "object"}}}
    ok = {"description": "JSON", "content": json_body}
    stream = {"description": "SSE", "content": {"text/event-stream; charset=utf-8": {"schema": {"type": "string"}}}}
    both = {"description": "either", "content": {**json_body, STREAM: {"schema": {"type": "string"}}}}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "streams", "version": "1"},
        "paths": {
            "/api/projects/{projectId}/events": {
                "parameters": [{"name": "projectId", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {"responses": {"200": stream, "404": ok}},
            },
            "/events-by-ref": {"get": {"responses": {"200": {"$ref": "#/components/responses/Events"}}}},
            "/either": {"get": {"responses": {"200": both}}},
            "/api/projects": {"get": {"responses": {"200": ok}}, "post": {"responses": {"201": stream}}},
        },
        "components": {"responses": {"Events": stream}},
    }
    operations, skipped = fuzzable(schemathesis.openapi.from_dict(document))
    assert sorted(operation.label for operation in operations) == [
        "GET /api/projects",
        "GET /either",
        "POST /api/projects",
    ]
    assert sorted(skipped) == ["GET /api/projects/{projectId}/events", "GET /events-by-ref"]


PLANTED_SERVER = """
import sys
from pathlib import Path

import uvicorn

import storehouse.http.executions as routes
from storehouse import Settings, Storehouse
from storehouse.http import create_app


async def read_json_naively(request, max_depth):
    return await request.json()  # the bug: Starlette's request.json() answers 500 to a body that is not JSON


routes.read_json = read_json_naively
data_dir = Path(sys.argv[1])
app = create_app(Storehouse(data_dir), Settings(data_dir=data_dir))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="critical")
"""


@contextmanager
def planted_server(data_dir: Path) -> Iterator[str]:
    """The storehouse app, served by uvicorn, with the planted handler; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-c", PLANTED_SERVER, str(data_dir), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the planted server exited"
            assert time.monotonic() < deadline, "the planted server did not start"
            try:
                httpx.get(f"{url}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_the_fuzzer_goes_red_on_a_handler_using_request_json(data_dir: Path) -> None:
    with planted_server(data_dir) as url:
        run = fuzz(url, 60, seed=1)
    with pytest.raises(AssertionError):
        assert_clean(run, [])
    assert run.server_errors, run.line
    failing = {entry.split(":")[0] for entry in run.server_errors}
    assert failing <= {
        "POST /api/projects/{projectId}/executions",
        "PUT /api/projects/{projectId}/executions/{executionId}",
        "PATCH /api/projects/{projectId}/executions/{executionId}",
    }, failing
    assert all("-> 500 " in entry for entry in run.server_errors)


def test_an_offset_beyond_64_bits_is_refused_with_a_400(server: Server) -> None:
    """Found by this fuzzer (soak run): ``offset=32067972899520491520`` on a project that exists."""
    created = httpx.put(f"{server.url}/api/projects/big/executions/one", json={"status": "running"})
    assert created.status_code == 201, created.text
    answer = httpx.get(f"{server.url}/api/projects/big/executions", params={"offset": str(1 << 63)})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_parameter"


async def test_a_created_at_whose_expiry_is_past_year_9999_is_refused_with_a_400(http: httpx.AsyncClient) -> None:
    """Found while extending this fuzzer to history (a 500: ``expiresAt = createdAt + ttl`` overflowed), and fixed
    since. The fuzzer cannot reach it yet: the document gives ``createdAt`` no ``date-time`` format, so it is never
    generated as a timestamp."""
    url = "/api/projects/late/tasks/t/history"
    answer = await http.post(url, json={"type": "log", "createdAt": "9999-12-31T00:00:00Z"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_body"
    assert (await http.get(f"{url}/count")).json() == {"count": 0}  # a refusal changes nothing
