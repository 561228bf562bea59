"""``storehouse.client`` against a real ``storehouse serve`` (issue #7 item 3): every method, sync and async, with
the library's results and exception classes; the token; paging to the end; the event stream; and a method for
every operation of the server's OpenAPI document. One server (and one token server) serves the whole module:
each test works in a project of its own."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, closing
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from storehouse import Storehouse
from storehouse.changes import ChangeEvent
from storehouse.client import OPERATIONS, AsyncClient, Client, _EventReader, _Lines, error_from_response
from storehouse.config import Settings
from storehouse.errors import (
    ALL_ERRORS,
    Conflict,
    InvalidBody,
    InvalidId,
    InvalidParameter,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    StorehouseError,
    Unauthorized,
)
from storehouse.index import Page
from storehouse.queries import HistoryPage
from storehouse.task_ops import TaskPage
from tests.conftest import Server, free_port

TOKEN = "s3cret-Token_client"  # serve refuses a token shorter than 16 characters
METHODS = {"get", "put", "post", "patch", "delete"}


# -- fixtures: one server for the module, a project per test --------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("client") / "data"


@pytest.fixture(scope="module")
def server(data: Path) -> Iterator[Server]:
    running = Server(data, env={"STOREHOUSE_DURABLE": "0"})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that needs a token and takes bodies of at most 4 KiB."""
    data = tmp_path_factory.mktemp("guarded") / "data"
    running = Server(data, "--token", TOKEN, "--max-body-bytes", "4096", env={"STOREHOUSE_DURABLE": "0"})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def library(data: Path) -> Iterator[Storehouse]:
    """The library on the server's data directory, beside the server (as an agent would use it)."""
    with Storehouse(data, settings=Settings(data_dir=data, durable=False)) as store:
        yield store


@pytest.fixture
def project() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.url) as opened:
        yield opened


@pytest.fixture
async def aclient(server: Server) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server.url) as opened:
        yield opened


class CountingTransport(httpx.HTTPTransport):
    """httpx's own transport, counting the requests it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


# -- the whole API -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def openapi(server: Server) -> set[tuple[str, str]]:
    document = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    return {(method.upper(), path) for path, ops in document["paths"].items() for method in ops if method in METHODS}


def test_every_operation_of_the_openapi_document_has_a_client_method(openapi: set[tuple[str, str]]) -> None:
    assert openapi - set(OPERATIONS) == set()


def test_every_operation_of_the_table_is_served(openapi: set[tuple[str, str]]) -> None:
    assert set(OPERATIONS) - openapi == set()


def test_every_method_of_the_table_is_on_both_clients() -> None:
    for name in {*OPERATIONS.values(), "iter_executions", "iter_tasks", "iter_history", "iter_projects"}:
        assert callable(getattr(Client, name)), name
        method = getattr(AsyncClient, name)
        if name == "export":  # a plain method, so that bad arguments raise at once (as in the library)
            method = AsyncClient._lines
        assert inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method), name


def test_client_methods_take_the_library_arguments_and_return_its_types() -> None:
    for name in set(OPERATIONS.values()) - {"events"}:  # the library has changes() and watch() instead
        ours, theirs = inspect.signature(getattr(Client, name)), inspect.signature(getattr(Storehouse, name))
        assert list(ours.parameters.values()) == list(theirs.parameters.values()), name
        if name != "export":  # a Generator here (close() it to end the stream early), an Iterator there
            assert ours.return_annotation == theirs.return_annotation, name
    for name in {*OPERATIONS.values(), "iter_executions", "iter_tasks", "iter_history", "iter_projects"}:
        sync, sent = inspect.signature(getattr(Client, name)), inspect.signature(getattr(AsyncClient, name))
        assert list(sync.parameters.values()) == list(sent.parameters.values()), name


# -- executions --------------------------------------------------------------------------------------------------
def test_executions_round_trip(client: Client, project: str) -> None:
    run = client.create_execution(project, {"name": "triage"}, status="running", tags=["nightly"])
    assert (run["projectId"], run["name"], run["status"], run["version"]) == (project, "triage", "running", 1)
    assert client.get_execution(project, run["id"]) == run
    done = client.patch_execution(project, run["id"], {"status": "completed", "costUSD": 0.5}, if_match=1)
    assert (done["status"], done["version"], done["costUSD"]) == ("completed", 2, 0.5)
    created = client.put_execution(project, "nightly-42", {"name": "summarize", "status": "failed"})
    assert created["version"] == 1
    replaced = client.put_execution(project, "nightly-42", {"name": "summarize", "status": "failed"}, if_match=1)
    assert replaced["version"] == 2
    page = client.list_executions(project, status=["failed", "completed"], sort="costUSD", limit=1)
    assert isinstance(page, Page)
    assert (page.total, [item["id"] for item in page.items]) == (2, ["nightly-42"])
    assert client.list_executions(project, cursor=page.next_cursor, sort="costUSD").items[0]["id"] == run["id"]
    assert client.list_executions(project, tag="nightly").total == 1
    assert client.list_executions(project, status=[]).total == 2  # an empty list is no filter, as in the library
    stats = client.execution_stats(project)
    assert (stats["totalExecutions"], stats["completed"], stats["failed"], stats["totalCostUSD"]) == (2, 1, 1, 0.5)
    [info] = [info for info in client.iter_projects() if info.id == project]
    assert info.execution_count == 2
    client.delete_execution(project, run["id"], if_match=2)
    with pytest.raises(NotFound, match=run["id"]):
        client.get_execution(project, run["id"])
    assert client.delete_executions(project) == 1
    assert client.list_executions(project).total == 0


def test_a_stale_if_match_is_precondition_failed(client: Client, project: str) -> None:
    run = client.create_execution(project, status="running")
    client.patch_execution(project, run["id"], {"status": "completed"}, if_match=1)
    with pytest.raises(PreconditionFailed) as stale:
        client.patch_execution(project, run["id"], {"status": "failed"}, if_match=1)
    assert stale.value.status == 412
    with pytest.raises(PreconditionFailed):
        client.put_execution(project, run["id"], {"status": "failed"}, if_match=1)
    with pytest.raises(PreconditionFailed):
        client.delete_execution(project, run["id"], if_match=1)
    assert client.get_execution(project, run["id"])["status"] == "completed"


def test_list_executions_searches_by_id_prefix_or_name(client: Client, project: str) -> None:
    client.create_execution(project, id="alpha-1", name="nightly triage")
    client.create_execution(project, id="beta-1", name="summarize")
    assert [item["id"] for item in client.list_executions(project, q="alp").items] == ["alpha-1"]
    assert [item["id"] for item in client.list_executions(project, q="SUMMAR").items] == ["beta-1"]
    assert [item["id"] for item in client.iter_executions(project, q="triage")] == ["alpha-1"]


def test_iter_executions_returns_every_run_once_page_by_page(server: Server, library: Storehouse, project: str) -> None:
    ids = {library.create_execution(project, name=f"run-{n}", status="completed")["id"] for n in range(230)}
    transport = CountingTransport()
    with Client(server.url, transport=transport) as client:
        seen = [item["id"] for item in client.iter_executions(project, limit=50)]
    assert len(seen) == len(set(seen)) == 230
    assert set(seen) == ids
    assert seen == sorted(seen, reverse=True)  # newest first: ids are time-sortable and startedAt is creation time
    assert len(transport.requests) == 5  # 50 + 50 + 50 + 50 + 30
    assert all("cursor" in request.url.params for request in transport.requests[1:])


# -- tasks -------------------------------------------------------------------------------------------------------
def test_tasks_round_trip(client: Client, project: str) -> None:
    db = client.create_task(project, id="db", title="Set up the database", priority="high")
    assert (db["id"], db["status"], db["version"]) == ("db", "pending", 1)
    login = client.create_task(project, {"id": "login", "title": "Fix login"}, dependencies=[{"taskId": "db"}])
    assert login["dependencies"] == [{"taskId": "db", "type": "blocks"}]
    assert client.get_task(project, "db") == db
    assert client.put_task(project, "docs", {"title": "Write docs", "priority": "low"})["version"] == 1
    assert client.patch_task(project, "docs", {"tags": ["later"]}, if_match=1)["tags"] == ["later"]
    page = client.list_tasks(project, ready=True)
    assert isinstance(page, TaskPage)
    assert [item["id"] for item in page.items] == ["db", "docs"]  # high before low; login waits for db
    assert client.list_tasks(project, priority=["low"], tag="later").total == 1
    assert [item["id"] for item in client.iter_tasks(project, limit=2)] == ["db", "login", "docs"]
    running = client.transition_task(project, "db", "running", reason="start", actor="planner", if_match=1)
    assert running["status"] == "running"
    client.transition_task(project, "db", "succeeded")
    assert [(t["from"], t["to"], t["actor"]) for t in client.task_transitions(project, "db")] == [
        ("pending", "running", "planner"),
        ("running", "succeeded", None),
    ]
    assert [item["id"] for item in client.list_tasks(project, ready=True).items] == ["login", "docs"]
    assert [item["id"] for item in client.task_order(project)] == ["db", "login", "docs"]
    assert client.task_dependencies(project, "login")[0]["task"]["status"] == "succeeded"
    assert [edge["taskId"] for edge in client.task_dependents(project, "db")] == ["login"]
    metrics = client.project_metrics(project)
    assert (metrics["totalTasks"], metrics["readyTasks"]) == (3, 2)
    client.delete_task(project, "docs", if_match=2)
    with pytest.raises(NotFound):
        client.get_task(project, "docs")


def test_dependencies_are_added_once_and_removed(client: Client, project: str) -> None:
    for name in ("a", "b"):
        client.create_task(project, id=name, title=name)
    assert client.add_dependency(project, "a", "b") == ({"taskId": "b", "type": "blocks"}, True)
    assert client.add_dependency(project, "a", "b") == ({"taskId": "b", "type": "blocks"}, False)
    assert client.add_dependency(project, "a", "b", "requires") == ({"taskId": "b", "type": "requires"}, False)
    client.remove_dependency(project, "a", "b")
    assert client.task_dependencies(project, "a") == []
    with pytest.raises(NotFound, match="does not depend on b"):
        client.remove_dependency(project, "a", "b")


def test_errors_carry_the_library_classes_and_details(client: Client, project: str) -> None:
    for name in ("a", "b", "c"):
        client.create_task(project, id=name, title=name)
    client.add_dependency(project, "a", "b")
    client.add_dependency(project, "b", "c")
    with pytest.raises(Conflict) as cycle:
        client.add_dependency(project, "c", "a")
    assert cycle.value.details == {"cycle": ["c", "a", "b", "c"]}
    assert "would close the cycle c -> a -> b -> c" in cycle.value.message
    with pytest.raises(Conflict) as move:
        client.transition_task(project, "a", "succeeded")
    assert move.value.details["allowed"] == ["running", "cancelled"]
    with pytest.raises(Conflict, match="already exists"):
        client.create_task(project, id="a", title="again")
    with pytest.raises(NotFound):
        client.add_dependency(project, "a", "nowhere")
    with pytest.raises(InvalidParameter, match="limit must be between 1 and 1000, got 0") as limit:
        client.list_executions(project, limit=0)
    assert (limit.value.status, limit.value.code) == (400, "invalid_parameter")
    with pytest.raises(InvalidParameter, match="priority"):
        client.list_tasks(project, priority="urgent")
    with pytest.raises(InvalidBody, match="status"):
        client.create_execution(project, status="bogus")
    with pytest.raises(InvalidBody, match="title"):
        client.create_task(project, id="untitled")


def test_task_context_is_the_library_text(client: Client, library: Storehouse, project: str) -> None:
    client.create_task(project, id="T-7", title="Fix the login bug", description="it breaks on Mondays")
    client.add_history(project, "T-7", {"type": "validation_result", "metadata": {"validator": "tests"}})
    client.create_execution(project, name="triage", taskId="T-7", status="completed")
    text = client.task_context(project, "T-7")
    assert text.startswith("# Task T-7: Fix the login bug")
    assert text == library.task_context(project, "T-7")
    as_json = client.task_context(project, "T-7", format="json", max_chars=4000)
    assert orjson.loads(as_json)["task"]["id"] == "T-7"
    assert as_json == library.task_context(project, "T-7", format="json", max_chars=4000)


# -- history -----------------------------------------------------------------------------------------------------
def test_history_round_trip(client: Client, project: str) -> None:
    client.create_task(project, id="T-1", title="one")
    [first] = client.add_history(project, "T-1", {"type": "chat_message", "role": "user", "content": "hi"})
    more = client.add_history(project, "T-1", [{"type": "log", "content": f"line {n}"} for n in range(4)])
    assert [entry["id"] for entry in [first, *more]] == [1, 2, 3, 4, 5]
    page = client.list_history(project, "T-1", type="log", order="desc", limit=2)
    assert isinstance(page, HistoryPage)
    assert ([entry["content"] for entry in page.entries], page.total) == (["line 3", "line 2"], 4)
    assert client.list_history(project, type=["chat_message"]).total == 1  # across the tasks of the project
    assert [entry["id"] for entry in client.iter_history(project, "T-1", limit=2)] == [1, 2, 3, 4, 5]
    assert client.count_history(project, "T-1") == 5
    assert client.oldest_history(project, "T-1") == first["createdAt"]
    assert client.history_settings(project) == {
        "historyTtlDays": 20,
        "historyMaxEntriesPerTask": 100,
        "runTtlDays": None,
        "maxRuns": None,
    }
    assert client.set_history_settings(project, {"historyMaxEntriesPerTask": 3})["historyMaxEntriesPerTask"] == 3
    assert client.count_history(project, "T-1") == 3
    assert client.prune_history(project) == 2
    assert client.delete_history(project, "T-1") == 3
    assert client.oldest_history(project, "T-1") is None
    with pytest.raises(InvalidBody, match="historyTtlDays"):
        client.set_history_settings(project, {"historyTtlDays": 0})


def test_projects_come_in_pages_and_iter_projects_goes_through_them(
    server: Server, library: Storehouse, project: str
) -> None:
    for n in range(3):
        library.create_execution(f"{project}-{n}", {"status": "completed"})
    counting = CountingTransport()
    with Client(server.url, transport=counting) as client:
        everything = library.list_projects()
        assert client.list_projects() == everything
        page = client.list_projects(limit=2, offset=1)
        assert (page.items, page.total) == (everything.items[1:3], everything.total)
        sent = len(counting.requests)
        assert list(client.iter_projects(limit=2)) == everything.items
        assert len(counting.requests) - sent == (everything.total + 1) // 2  # a request a page
    assert str(counting.requests[0].url).endswith("/api/projects")  # the defaults are not sent
    assert counting.requests[1].url.params == httpx.QueryParams({"limit": "2", "offset": "1"})


async def test_async_iter_projects_goes_through_every_page(aclient: AsyncClient, library: Storehouse) -> None:
    everything = library.list_projects()
    assert [info async for info in aclient.iter_projects(limit=1)] == everything.items
    with pytest.raises(InvalidParameter, match="limit must be between 1 and 1000, got 0"):
        await aclient.list_projects(limit=0)


def test_reads_equal_the_library_reads(client: Client, library: Storehouse, project: str) -> None:
    for n in range(3):
        client.create_execution(project, name=f"run-{n}", status="failed" if n else "completed", taskId="T-1")
    client.create_task(project, id="T-1", title="one", priority="critical")
    client.create_task(project, id="T-2", title="two", dependencies=[{"taskId": "T-1", "type": "requires"}])
    client.add_history(project, "T-1", [{"type": "log", "content": "a"}, {"type": "agent_turn", "content": "b"}])
    assert client.list_executions(project, limit=2).items == library.list_executions(project, limit=2).items
    assert client.execution_stats(project) == library.execution_stats(project)
    assert client.list_projects() == library.list_projects()
    assert client.list_tasks(project).items == library.list_tasks(project).items
    assert client.task_order(project) == library.task_order(project)
    assert client.task_dependencies(project, "T-2") == library.task_dependencies(project, "T-2")
    assert client.list_history(project, "T-1") == library.list_history(project, "T-1")
    assert client.project_metrics(project) == library.project_metrics(project)
    assert client.history_settings(project) == library.history_settings(project)


# -- errors ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("error", ALL_ERRORS, ids=lambda error: error.code)
def test_each_error_code_maps_back_to_its_class(error: type[StorehouseError]) -> None:
    body = {"error": {"code": error.code, "message": "what went wrong", "allowed": ["pending"]}}
    response = httpx.Response(error.status, json=body, request=httpx.Request("GET", "http://127.0.0.1/api"))
    mapped = error_from_response(response)
    assert type(mapped) is error
    assert (mapped.message, mapped.details, mapped.status, mapped.code) == (
        "what went wrong",
        {"allowed": ["pending"]},
        error.status,
        error.code,
    )


@pytest.mark.parametrize(
    ("status", "content", "kind", "code", "message"),
    [
        (404, b'{"error": {"code": "gone_fishing", "message": "m"}}', NotFound, "gone_fishing", "m"),
        (408, b'{"error": {"code": "request_timeout", "message": "m"}}', StorehouseError, "request_timeout", "m"),
        (503, b"Service Unavailable", ServiceUnavailable, "unavailable", "HTTP 503 from GET http://h/api: Service"),
        (502, b"<html>bad gateway</html>", StorehouseError, "internal", "HTTP 502 from GET http://h/api: <html>"),
        (401, b"", Unauthorized, "unauthorized", "HTTP 401 from GET http://h/api"),
    ],
)
def test_an_unknown_code_falls_back_on_the_status_then_the_root(
    status: int, content: bytes, kind: type[StorehouseError], code: str, message: str
) -> None:
    mapped = error_from_response(httpx.Response(status, content=content, request=httpx.Request("GET", "http://h/api")))
    assert type(mapped) is kind
    assert (mapped.status, mapped.code) == (status, code)
    assert mapped.message.startswith(message)


# The same bad call raises the same class with the same message through the client as through the library.
# Where they differ, the HTTP API and the library disagree (strict xfail: it fails once they agree, either way).
DIVERGES = "the library and the HTTP API answer this call differently"
SAME_ERROR_CALLS = [
    pytest.param(lambda store: store.get_execution("parity", "absent"), id="get-absent-execution"),
    pytest.param(lambda store: store.patch_execution("parity", "absent", {"status": "failed"}), id="patch-absent"),
    pytest.param(lambda store: store.delete_task("parity", "absent"), id="delete-absent-task"),
    pytest.param(lambda store: store.create_task("parity", id="a", title="again"), id="create-existing-task"),
    pytest.param(lambda store: store.create_task("parity", id=5, title="t"), id="task-id-not-a-string"),
    pytest.param(lambda store: store.put_execution("parity", "e2", {"id": "other"}), id="id-differs-from-path"),
    pytest.param(lambda store: store.transition_task("parity", "a", "flying"), id="unknown-status"),
    pytest.param(lambda store: store.transition_task("parity", "a", "running", if_match=9), id="stale-transition"),
    pytest.param(lambda store: store.add_dependency("parity", "a", "a"), id="self-dependency"),
    pytest.param(lambda store: store.add_history("parity", "a", []), id="no-history-entries"),
    pytest.param(lambda store: store.add_history("parity", "a", {"type": "nope"}), id="unknown-history-type"),
    pytest.param(lambda store: store.list_executions("parity", cursor="abc"), id="bad-cursor"),
    pytest.param(lambda store: store.list_history("parity", since="yesterday"), id="bad-since"),
    pytest.param(lambda store: store.task_context("parity", "a", max_chars=10), id="context-too-small"),
    pytest.param(lambda store: store.set_history_settings("parity", {"foo": 1}), id="unknown-setting"),
    pytest.param(lambda store: store.daily_stats("parity", days=0), id="no-days"),
    pytest.param(
        lambda store: store.add_dependency("parity", "a", "b", "sideways"),
        id="unknown-dependency-type",
    ),
    pytest.param(
        lambda store: store.transition_task("parity", "a", "running", reason=5),
        id="reason-not-a-string",
    ),
    pytest.param(
        lambda store: store.task_dependents("parity", "absent"),
        id="dependents-of-an-absent-task",
    ),
]


@pytest.fixture(scope="module")
def parity(library: Storehouse) -> str:
    for name in ("a", "b"):
        library.create_task("parity", id=name, title=name.upper())
    return "parity"


@pytest.mark.parametrize("call", SAME_ERROR_CALLS)
def test_a_bad_call_raises_what_the_library_raises(
    call: Callable[[Any], object], parity: str, client: Client, library: Storehouse
) -> None:
    outcomes: list[tuple[str, str]] = []
    for store in (library, client):
        try:
            outcomes.append(("returned", repr(call(store))))
        except StorehouseError as error:
            outcomes.append((type(error).__name__, error.message))
    assert outcomes[1] == outcomes[0]


def test_bad_ids_are_refused_before_sending_as_the_library_refuses_them(
    client: Client, library: Storehouse, project: str
) -> None:
    for bad in ("a/b", "..", "", "x" * 129):
        with pytest.raises(InvalidId) as ours:
            client.get_execution(project, bad)
        with pytest.raises(InvalidId) as theirs:
            library.get_execution(project, bad)
        assert ours.value.message == theirs.value.message
    with pytest.raises(InvalidId, match="reserved"):
        client.get_execution(project, "stats")  # GET .../executions/stats is the stats route: never reached
    for reserved in ("stats", "export"):
        with pytest.raises(InvalidId) as ours:
            client.put_execution(project, reserved, {})
        with pytest.raises(InvalidId) as theirs:
            library.put_execution(project, reserved, {})
        assert ours.value.message == theirs.value.message
    for reserved in ("order", "export"):
        with pytest.raises(InvalidId) as ours:
            client.put_task(project, reserved, {"title": "x"})
        with pytest.raises(InvalidId) as theirs:
            library.put_task(project, reserved, {"title": "x"})
        assert ours.value.message == theirs.value.message
    with pytest.raises(InvalidId, match="projectId"):
        client.list_tasks("no good")


def test_a_body_that_is_not_json_is_invalid_body(client: Client, project: str) -> None:
    with pytest.raises(InvalidBody, match="cannot be sent as JSON"):
        client.create_execution(project, input=object())
    with pytest.raises(InvalidBody, match="cannot be sent as JSON"):
        client.create_execution(project, input=1 << 64)


def test_connection_failures_stay_httpx_errors() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", timeout=2) as client, pytest.raises(httpx.ConnectError):
        client.list_projects()


def test_a_token_server_refuses_without_the_token_and_works_with_it(guarded: Server, project: str) -> None:
    for token in (None, "wrong"):
        with Client(guarded.url, token=token) as client, pytest.raises(Unauthorized, match="needs a token") as refused:
            client.create_execution(project, name="x")
        assert refused.value.status == 401
    with Client(guarded.url, token=TOKEN) as client:
        assert client.base_url.rstrip("/") == guarded.url
        run = client.create_execution(project, name="x")
        assert client.get_execution(project, run["id"])["name"] == "x"
        with closing(client.events(project)) as events:
            assert next(events).type == "ready"
        with pytest.raises(PayloadTooLarge, match="4096"):
            client.create_execution(project, input="x" * 5000)


# -- the event stream --------------------------------------------------------------------------------------------
def test_the_event_reader_follows_the_server_sent_events_rules() -> None:
    reader = _EventReader()
    lines = [
        ": ping",
        "id: 7",
        "event: x",
        'data: {"a":',
        "data: 1}",
        "",
        "",
        "data:plain",
        "retry: 5",
        "",
        "id",
        "data",
    ]
    events = [event for event in map(reader.feed, [*lines, ""]) if event is not None]
    assert events == [
        ChangeEvent("7", "x", b'{"a":\n1}'),  # data lines joined with a newline
        ChangeEvent("7", "message", b"plain"),  # the id goes on; the type does not
        ChangeEvent("", "message", b""),  # an empty id field clears it
    ]


def test_export_lines_are_cut_at_newlines_only_across_chunks() -> None:
    lines = _Lines()
    assert lines.feed(b"ab") == []
    assert lines.feed(b"c\nd\re\r\nf") == [b"abc\n", b"d\re\r\n"]
    assert lines.feed(b"\n\n") == [b"f\n", b"\n"]
    assert lines.feed(b"tail") == []
    assert lines.end() == [b"tail"]
    assert lines.end() == []


@pytest.mark.timeout(30)
def test_events_see_a_change_written_by_the_library_in_another_thread(
    client: Client, library: Storehouse, project: str
) -> None:
    with closing(client.events(project)) as events:
        ready = next(events)
        assert isinstance(ready, ChangeEvent)
        assert ready.type == "ready"
        assert ready.data == {"lastEventId": ready.id}
        writer = threading.Thread(target=lambda: library.create_execution(project, id="from-the-library"))
        started = time.monotonic()
        writer.start()
        change = next(events)
        writer.join()
    assert (change.type, change.data["executionId"], change.data["projectId"]) == (
        "execution.created",
        "from-the-library",
        project,
    )
    assert time.monotonic() - started < 5
    client.add_history(project, "T-1", {"type": "log", "content": "missed"})  # while nobody listens
    with closing(client.events(project, after=change.id)) as events:
        assert next(events).id == change.id  # ready, at the position asked for
        missed = next(events)
    assert (missed.type, missed.data["entries"][0]["content"]) == ("history.appended", "missed")


def test_an_event_id_that_cannot_be_resumed_opens_with_reset(client: Client, project: str) -> None:
    with closing(client.events(project, after="0123456789ab-1")) as events:
        reset = next(events)
    assert reset.type == "reset"
    assert "reload" in reset.data["reason"]
    with pytest.raises(InvalidParameter, match="event id"):
        next(iter(client.events(project, after="yesterday")))


# -- async -------------------------------------------------------------------------------------------------------
async def test_async_executions_and_paging(aclient: AsyncClient, project: str) -> None:
    run = await aclient.create_execution(project, name="triage", status="running")
    assert await aclient.get_execution(project, run["id"]) == run
    assert (await aclient.patch_execution(project, run["id"], {"status": "completed"}, if_match=1))["version"] == 2
    assert (await aclient.put_execution(project, "fixed", {"status": "failed"}))["version"] == 1
    with pytest.raises(PreconditionFailed):
        await aclient.put_execution(project, "fixed", {"status": "failed"}, if_match=7)
    page = await aclient.list_executions(project, status="failed")
    assert (page.total, page.items[0]["id"]) == (1, "fixed")
    for n in range(5):
        await aclient.create_execution(project, name=f"more-{n}")
    seen = [item["id"] async for item in aclient.iter_executions(project, limit=2)]
    assert len(seen) == len(set(seen)) == 7
    assert (await aclient.execution_stats(project))["totalExecutions"] == 7
    assert project in {info.id for info in (await aclient.list_projects()).items}
    await aclient.delete_execution(project, run["id"], if_match=2)
    with pytest.raises(NotFound):
        await aclient.get_execution(project, run["id"])
    assert await aclient.delete_executions(project) == 6


async def test_async_tasks(aclient: AsyncClient, project: str) -> None:
    await aclient.create_task(project, id="a", title="A", priority="critical")
    await aclient.put_task(project, "b", {"title": "B"})
    assert (await aclient.patch_task(project, "b", {"assignedTo": "coder"}))["assignedTo"] == "coder"
    assert (await aclient.get_task(project, "b"))["version"] == 2
    assert await aclient.add_dependency(project, "b", "a", "requires") == ({"taskId": "a", "type": "requires"}, True)
    with pytest.raises(Conflict) as cycle:
        await aclient.add_dependency(project, "a", "b")
    assert cycle.value.details["cycle"] == ["a", "b", "a"]
    assert [item["id"] for item in (await aclient.list_tasks(project, ready=True)).items] == ["a"]
    assert [item["id"] async for item in aclient.iter_tasks(project, limit=1)] == ["a", "b"]
    await aclient.transition_task(project, "a", "running", actor="me")
    assert [move["to"] for move in await aclient.task_transitions(project, "a")] == ["running"]
    assert [edge["taskId"] for edge in await aclient.task_dependencies(project, "b")] == ["a"]
    assert [edge["taskId"] for edge in await aclient.task_dependents(project, "a")] == ["b"]
    assert [task["id"] for task in await aclient.task_order(project)] == ["a", "b"]
    assert (await aclient.task_context(project, "b", max_chars=1000)).startswith("# Task b: B")
    assert (await aclient.project_metrics(project))["totalTasks"] == 2
    await aclient.remove_dependency(project, "b", "a")
    await aclient.delete_task(project, "b")
    with pytest.raises(NotFound):
        await aclient.get_task(project, "b")


async def test_async_history(aclient: AsyncClient, project: str) -> None:
    added = await aclient.add_history(project, "T-1", [{"type": "log", "content": str(n)} for n in range(3)])
    assert [entry["id"] for entry in added] == [1, 2, 3]
    assert (await aclient.list_history(project, "T-1", order="desc")).entries[0]["content"] == "2"
    assert [entry["content"] async for entry in aclient.iter_history(project, limit=2)] == ["0", "1", "2"]
    assert await aclient.count_history(project, "T-1") == 3
    assert await aclient.oldest_history(project, "T-1") == added[0]["createdAt"]
    assert (await aclient.set_history_settings(project, {"historyMaxEntriesPerTask": 2}))["historyTtlDays"] == 20
    assert (await aclient.history_settings(project))["historyMaxEntriesPerTask"] == 2
    assert await aclient.prune_history(project) == 1
    assert await aclient.delete_history(project, "T-1") == 2


@pytest.mark.timeout(30)
async def test_async_events_see_a_change_written_by_the_library(
    aclient: AsyncClient, library: Storehouse, project: str
) -> None:
    async with aclosing(aclient.events(project)) as events:
        ready = await anext(events)
        assert ready.type == "ready"
        await asyncio.to_thread(library.add_history, project, "T-1", {"type": "log", "content": "hello"})
        change = await asyncio.wait_for(anext(events), 10)
    assert (change.type, change.data["taskId"], change.data["ids"]) == ("history.appended", "T-1", [1])


async def test_async_errors_and_token(guarded: Server, project: str) -> None:
    async with AsyncClient(guarded.url) as refused:
        with pytest.raises(Unauthorized):
            await refused.list_projects()
        with pytest.raises(Unauthorized):
            await anext(refused.events(project))
    async with AsyncClient(guarded.url, token=TOKEN) as client:
        with pytest.raises(NotFound):
            await client.get_task(project, "absent")
        with pytest.raises(InvalidParameter, match="limit"):
            await client.list_history(project, limit=5000)
        assert (await client.create_task(project, title="t"))["status"] == "pending"
    closed = AsyncClient(guarded.url, token=TOKEN)
    await closed.close()  # the name AsyncStorehouse uses for aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await closed.list_projects()


# -- daily stats and exports -----------------------------------------------------------------------------------
async def test_daily_stats_are_the_library_answer(
    client: Client, aclient: AsyncClient, library: Storehouse, project: str
) -> None:
    await aclient.create_execution(project, name="today", status="completed", costUSD=0.25)
    stats = client.daily_stats(project, days=7)
    assert {"days", "from", "to"} <= set(stats)
    assert stats == library.daily_stats(project, days=7)
    assert await aclient.daily_stats(project, days=7, until=stats["to"]) == stats
    with pytest.raises(InvalidParameter, match="days must be between 1 and 366, got 0"):
        client.daily_stats(project, days=0)


def test_export_streams_the_library_lines(client: Client, library: Storehouse, project: str) -> None:
    for n in range(3):
        client.create_execution(project, id=f"run-{n}", status="failed" if n else "completed")
    lines = list(client.export(project, "executions"))
    assert all(line.endswith(b"\n") for line in lines)
    assert sorted(orjson.loads(line)["document"]["id"] for line in lines) == ["run-0", "run-1", "run-2"]
    assert lines == list(library.export(project, "executions"))
    failed = [orjson.loads(line)["document"]["id"] for line in client.export(project, "executions", status="failed")]
    assert sorted(failed) == ["run-1", "run-2"]
    csv = b"".join(client.export(project, "executions", format="csv", status=["completed"])).decode()
    assert csv == b"".join(library.export(project, "executions", format="csv", status=["completed"])).decode()
    assert len(csv.strip().splitlines()) == 2  # a header and run-0
    with closing(client.export(project, "executions", status="bogus")) as refused, pytest.raises(InvalidParameter):
        next(refused)  # the server's refusal arrives with the first line


@pytest.mark.parametrize(("kind", "format"), [("everything", "jsonl"), ("project", "csv"), ("tasks", "xml")])
def test_bad_export_arguments_raise_at_once_as_in_the_library(
    client: Client, library: Storehouse, kind: str, format: str
) -> None:
    with pytest.raises(InvalidParameter) as ours:
        client.export("demo", kind, format)
    with pytest.raises(InvalidParameter) as theirs:
        library.export("demo", kind, format)
    assert ours.value.message == theirs.value.message


async def test_async_export_of_tasks_history_and_project(
    aclient: AsyncClient, library: Storehouse, project: str
) -> None:
    await aclient.create_task(project, id="T-1", title="one")
    await aclient.add_history(project, "T-1", {"type": "log", "content": "x"})
    await aclient.create_execution(project, id="run-1")
    for kind in ("tasks", "history", "project"):
        lines = [line async for line in aclient.export(project, kind)]
        assert lines, kind
        assert lines == list(library.export(project, kind)), kind
    history = [line async for line in aclient.export(project, "history", task_id="T-1", type=["log"])]
    assert [orjson.loads(line)["document"]["content"] for line in history] == ["x"]
    with pytest.raises(InvalidParameter, match="kind"):
        aclient.export(project, "everything")


def test_a_page_repr_shows_the_items_the_total_and_the_next_cursor() -> None:
    from storehouse.index import Page

    page = Page([orjson.dumps({"id": f"r{n}", "status": "completed"}) for n in range(7)], 12, "abc")
    shown = repr(page)
    assert shown.startswith("Page(total=12, next_cursor='abc', items=[{'id': 'r0', 'status': 'completed'}")
    assert "'r4'" in shown
    assert "'r5'" not in shown
    assert shown.endswith(", ... 2 more])")
    assert "b'" not in shown  # no raw bytes
