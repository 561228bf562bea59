"""The Python client of a storehouse server: ``Client`` (sync) and ``AsyncClient`` (async), over httpx.

Both have the library's method names, arguments and results (``Storehouse`` / ``AsyncStorehouse``) for every
operation the HTTP API offers, and raise the library's exception classes: an error answer
``{"error": {"code", "message", ...}}`` becomes the ``storehouse.errors`` class of that code, carrying the
server's message and the error's other fields as ``details`` (a 409's ``cycle`` or ``allowed``). Code written
against the library runs against a server by changing the line that opens the store::

    with Client("http://127.0.0.1:8420", token="s3cret") as store:
        run = store.create_execution("demo", name="triage", status="running")
        store.patch_execution("demo", run["id"], {"status": "completed"}, if_match=run["version"])
        for summary in store.iter_executions("demo", status="failed"):  # every page, by cursor
            ...

A failure below HTTP (connection refused, a timeout, a connection dropped mid-answer) is not a storehouse
error: it stays an httpx exception (``httpx.TransportError`` and its subclasses), because the client cannot
know whether a write that was sent took effect. Read the stored version (or retry with ``if_match``) to find out.

Lists come whole page by page too: ``iter_executions`` (by cursor), ``iter_tasks`` and ``iter_history`` (by
offset); ``export()`` streams an export's lines and ``events()`` follows the server's event stream (the library's
``changes()`` and ``watch()``). What the library has and the API does not (``record``, ``import_lines``,
``reindex``, ``check``, ``backup``, ``history_projects``) is not here.

Each operation is written once, as a ``_Call`` (method, path, query, body, and how to read the answer), which
``Client`` and ``AsyncClient`` send; ``OPERATIONS`` names the method of every route of the OpenAPI document.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import orjson

from . import __version__
from .backends.base import ProjectInfo
from .changes import ChangeEvent
from .config import DEFAULT_HOST, DEFAULT_PORT
from .context import DEFAULT_MAX_CHARS
from .daily import DEFAULT_DAYS
from .errors import ALL_ERRORS, InvalidBody, InvalidId, StorehouseError
from .ids import check_id
from .index import Page
from .models import JSONObject, JSONValue
from .queries import DEFAULT_HISTORY_LIMIT, DEFAULT_LIMIT, HistoryPage
from .store import RESERVED_IDS
from .task_ops import RESERVED_TASK_IDS, TaskPage
from .transfer import check_export

__all__ = ["AsyncClient", "Client"]

DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
# The server sends a comment line every 15 s on a quiet stream (http/events.py PING_SECONDS): a stream silent
# for 60 s is a dead connection, whatever the client's own timeout (which may be shorter than a quiet spell).
EVENTS_READ_TIMEOUT = 60.0

# Every operation of the OpenAPI document (method, path) and the client method that performs it; each method is on
# both Client and AsyncClient (tests/test_client.py checks both ways against a live server's /openapi.json).
_P = "/api/projects/{projectId}"
OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/projects"): "list_projects",
    ("GET", f"{_P}/executions"): "list_executions",
    ("POST", f"{_P}/executions"): "create_execution",
    ("DELETE", f"{_P}/executions"): "delete_executions",
    ("GET", f"{_P}/executions/stats"): "execution_stats",
    ("GET", f"{_P}/executions/stats/daily"): "daily_stats",
    ("GET", f"{_P}/executions/export"): "export",
    ("GET", f"{_P}/executions/{{executionId}}"): "get_execution",
    ("PUT", f"{_P}/executions/{{executionId}}"): "put_execution",
    ("PATCH", f"{_P}/executions/{{executionId}}"): "patch_execution",
    ("DELETE", f"{_P}/executions/{{executionId}}"): "delete_execution",
    ("GET", f"{_P}/tasks/{{taskId}}/history"): "list_history",
    ("POST", f"{_P}/tasks/{{taskId}}/history"): "add_history",
    ("DELETE", f"{_P}/tasks/{{taskId}}/history"): "delete_history",
    ("GET", f"{_P}/tasks/{{taskId}}/history/count"): "count_history",
    ("GET", f"{_P}/tasks/{{taskId}}/history/oldest"): "oldest_history",
    ("GET", f"{_P}/history"): "list_history",
    ("GET", f"{_P}/history/export"): "export",
    ("POST", f"{_P}/history/cleanup"): "prune_history",
    ("GET", f"{_P}/settings"): "history_settings",
    ("PUT", f"{_P}/settings"): "set_history_settings",
    ("GET", f"{_P}/tasks"): "list_tasks",
    ("POST", f"{_P}/tasks"): "create_task",
    ("GET", f"{_P}/tasks/order"): "task_order",
    ("GET", f"{_P}/tasks/export"): "export",
    ("GET", f"{_P}/tasks/{{taskId}}"): "get_task",
    ("PUT", f"{_P}/tasks/{{taskId}}"): "put_task",
    ("PATCH", f"{_P}/tasks/{{taskId}}"): "patch_task",
    ("DELETE", f"{_P}/tasks/{{taskId}}"): "delete_task",
    ("GET", f"{_P}/tasks/{{taskId}}/transitions"): "task_transitions",
    ("POST", f"{_P}/tasks/{{taskId}}/transitions"): "transition_task",
    ("GET", f"{_P}/tasks/{{taskId}}/dependencies"): "task_dependencies",
    ("GET", f"{_P}/tasks/{{taskId}}/dependents"): "task_dependents",
    ("PUT", f"{_P}/tasks/{{taskId}}/dependencies/{{dependsOnId}}"): "add_dependency",
    ("DELETE", f"{_P}/tasks/{{taskId}}/dependencies/{{dependsOnId}}"): "remove_dependency",
    ("GET", f"{_P}/tasks/{{taskId}}/context"): "task_context",
    ("GET", f"{_P}/metrics"): "project_metrics",
    ("GET", f"{_P}/events"): "events",
    ("GET", f"{_P}/export"): "export",
}

# Ids a route of the same path hides (GET .../executions/stats is the stats route): the library refuses to write
# them, and here they are refused for every call, since no request can reach them.
_RESERVED = {"executionId": ("executions", RESERVED_IDS), "taskId": ("tasks", RESERVED_TASK_IDS)}

T = TypeVar("T")
Query = tuple[tuple[str, str], ...]


# -- errors -----------------------------------------------------------------------------------------------------
_BY_CODE = {error.code: error for error in ALL_ERRORS}
_BY_STATUS: dict[int, type[StorehouseError]] = {}
for _error in ALL_ERRORS:  # the first class of a status is the most general one (400: InvalidRequest)
    _BY_STATUS.setdefault(_error.status, _error)


def error_from_response(response: httpx.Response) -> StorehouseError:
    """The storehouse error an error answer stands for: the class of its ``code``, else of its status, else
    ``StorehouseError``; with the server's message and the error's other fields as ``details``. The instance's
    ``status`` and ``code`` are the answer's (a 408 ``request_timeout`` has no class of its own)."""
    found: object = None
    try:
        body = orjson.loads(response.content)
        found = body.get("error") if isinstance(body, dict) else None
    except orjson.JSONDecodeError:
        pass
    if isinstance(found, dict) and isinstance(found.get("code"), str):
        code: str | None = found["code"]
        message = str(found.get("message", ""))
        details = {name: value for name, value in found.items() if name not in ("code", "message")}
    else:  # not storehouse's answer (a proxy's page, uvicorn's 503 beyond --max-connections)
        code, details = None, {}
        text = response.text.strip()
        message = f"HTTP {response.status_code} from {response.request.method} {response.request.url}" + (
            f": {text[:200]}" if text else ""
        )
    kind = _BY_CODE.get(code or "") or _BY_STATUS.get(response.status_code, StorehouseError)
    error = kind(message, details)
    if error.status != response.status_code or (code is not None and error.code != code):
        error.status = response.status_code
        error.code = code or error.code
    return error


# -- requests, written once for both clients -------------------------------------------------------------------
@dataclass(frozen=True)
class _Call(Generic[T]):
    """One request and how to read its (successful) answer."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Query = ()
    content: bytes | None = None
    media_type: str = "application/json"
    if_match: int | None = None
    accept: str = "application/json"
    read_timeout: float | None = None  # None: the client's timeout


def _segment(value: str, name: str) -> str:
    """A checked id for a path, refused as the library refuses it (InvalidId) before anything is sent."""
    check_id(value, name)
    collection, reserved = _RESERVED.get(name, ("", frozenset[str]()))
    if value in reserved:
        raise InvalidId(f"{value!r} is reserved (GET .../{collection}/{value} is a route); pick another")
    return quote(value, safe="")


def _project(project: str) -> str:
    return f"/api/projects/{_segment(project, 'projectId')}"


def _execution(project: str, execution_id: str) -> str:
    return f"{_project(project)}/executions/{_segment(execution_id, 'executionId')}"


def _task(project: str, task_id: str) -> str:
    return f"{_project(project)}/tasks/{_segment(task_id, 'taskId')}"


def _camel(name: str) -> str:
    """The JSON name of a Python name: ``task_id`` is ``taskId``, ``cost_usd`` is ``costUSD``."""
    head, *rest = name.split("_")
    return head + "".join("USD" if part == "usd" else part.capitalize() for part in rest)


def _query(**values: object) -> Query:
    """Query parameters by their JSON names; None is left out, a list is comma-separated (an empty one is left
    out, as the library takes it: no filter), a bool is true/false."""
    query: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float):
            text = str(value)
        elif isinstance(value, date):
            text = value.isoformat()
        elif isinstance(value, Iterable):
            text = ",".join(str(part) for part in value)
            if not text:
                continue
        else:
            raise TypeError(f"{name} must be a string, number, bool or list of strings, got {type(value).__name__}")
        query.append((_camel(name), text))
    return tuple(query)


def _json(body: object) -> bytes:
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        raise InvalidBody(f"the body cannot be sent as JSON: {exc}") from None


def _field(name: str) -> Callable[[httpx.Response], Any]:
    return lambda response: orjson.loads(response.content)[name]


def _whole(response: httpx.Response) -> Any:
    return orjson.loads(response.content)


def _nothing(_: httpx.Response) -> None:
    return None


def _text(response: httpx.Response) -> str:
    return response.text


def _page(response: httpx.Response) -> Page:
    body = orjson.loads(response.content)
    return Page([orjson.dumps(item) for item in body["executions"]], body["total"], body.get("nextCursor"))


def _task_page(response: httpx.Response) -> TaskPage:
    body = orjson.loads(response.content)
    return TaskPage([orjson.dumps(item) for item in body["tasks"]], body["total"])


def _history_page(response: httpx.Response) -> HistoryPage:
    body = orjson.loads(response.content)
    return HistoryPage(body["entries"], body["total"])


def _projects(response: httpx.Response) -> list[ProjectInfo]:
    names = [(field.name, _camel(field.name)) for field in dataclasses.fields(ProjectInfo)]
    return [
        ProjectInfo(**{name: item[key] for name, key in names if key in item})
        for item in orjson.loads(response.content)["projects"]
    ]


def _dependency(response: httpx.Response) -> tuple[JSONObject, bool]:
    return orjson.loads(response.content)["dependency"], response.status_code == 201


def _write(method: str, path: str, body: object, if_match: int | None, read: Callable[[httpx.Response], T]) -> _Call[T]:
    media = "application/merge-patch+json" if method == "PATCH" else "application/json"
    return _Call(method, path, read, content=_json(body), media_type=media, if_match=if_match)


class _Calls:
    """Every operation as the request it sends: one static method per client method, of the same name."""

    # -- executions -------------------------------------------------------------------------------------------
    @staticmethod
    def create_execution(project: str, body: JSONObject) -> _Call[JSONObject]:
        return _write("POST", f"{_project(project)}/executions", body, None, _field("execution"))

    @staticmethod
    def put_execution(project: str, execution_id: str, body: JSONObject, if_match: int | None) -> _Call[JSONObject]:
        return _write("PUT", _execution(project, execution_id), body, if_match, _field("execution"))

    @staticmethod
    def patch_execution(project: str, execution_id: str, body: JSONObject, if_match: int | None) -> _Call[JSONObject]:
        return _write("PATCH", _execution(project, execution_id), body, if_match, _field("execution"))

    @staticmethod
    def get_execution(project: str, execution_id: str) -> _Call[JSONObject]:
        return _Call("GET", _execution(project, execution_id), _field("execution"))

    @staticmethod
    def delete_execution(project: str, execution_id: str, if_match: int | None) -> _Call[None]:
        return _Call("DELETE", _execution(project, execution_id), _nothing, if_match=if_match)

    @staticmethod
    def delete_executions(project: str) -> _Call[int]:
        return _Call("DELETE", f"{_project(project)}/executions", _field("deleted"))

    @staticmethod
    def list_executions(
        project: str,
        status: str | Iterable[str] | None,
        task_id: str | None,
        tag: str | None,
        started_after: str | None,
        started_before: str | None,
        sort: str,
        limit: int,
        offset: int,
        cursor: str | None,
        q: str | None,
    ) -> _Call[Page]:
        query = _query(
            status=status,
            task_id=task_id,
            tag=tag,
            started_after=started_after,
            started_before=started_before,
            sort=sort,
            limit=limit,
            offset=offset,
            cursor=cursor,
            q=q,
        )
        return _Call("GET", f"{_project(project)}/executions", _page, query)

    @staticmethod
    def execution_stats(project: str) -> _Call[JSONObject]:
        return _Call("GET", f"{_project(project)}/executions/stats", _whole)

    @staticmethod
    def daily_stats(project: str, days: int, until: str | None) -> _Call[JSONObject]:
        return _Call("GET", f"{_project(project)}/executions/stats/daily", _whole, _query(days=days, until=until))

    @staticmethod
    def list_projects() -> _Call[list[ProjectInfo]]:
        return _Call("GET", "/api/projects", _projects)

    @staticmethod
    def export(project: str, kind: str, format: str, filters: dict[str, JSONValue]) -> _Call[None]:
        check_export(kind, format)
        path = _project(project) if kind == "project" else f"{_project(project)}/{kind}"
        # format goes only when it is not the default, so a route that knows one format takes the request as it is
        query = _query(**({"format": format} if format != "jsonl" else {}), **filters)
        return _Call("GET", f"{path}/export", _nothing, query, accept="*/*")

    # -- task history -----------------------------------------------------------------------------------------
    @staticmethod
    def add_history(project: str, task_id: str, entries: JSONObject | Sequence[JSONValue]) -> _Call[list[JSONObject]]:
        body = entries if isinstance(entries, dict) else list(entries)
        return _write("POST", f"{_task(project, task_id)}/history", body, None, _field("entries"))

    @staticmethod
    def list_history(
        project: str,
        task_id: str | None,
        type: str | Iterable[str] | None,
        workspace_id: str | None,
        session_id: str | None,
        execution_id: str | None,
        since: str | None,
        until: str | None,
        limit: int,
        offset: int,
        order: str,
    ) -> _Call[HistoryPage]:
        query = _query(
            type=type,
            workspace_id=workspace_id,
            session_id=session_id,
            execution_id=execution_id,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
            order=order,
        )
        path = f"{_project(project)}/history" if task_id is None else f"{_task(project, task_id)}/history"
        return _Call("GET", path, _history_page, query)

    @staticmethod
    def count_history(project: str, task_id: str) -> _Call[int]:
        return _Call("GET", f"{_task(project, task_id)}/history/count", _field("count"))

    @staticmethod
    def delete_history(project: str, task_id: str) -> _Call[int]:
        return _Call("DELETE", f"{_task(project, task_id)}/history", _field("deleted"))

    @staticmethod
    def oldest_history(project: str, task_id: str) -> _Call[str | None]:
        return _Call("GET", f"{_task(project, task_id)}/history/oldest", _field("createdAt"))

    @staticmethod
    def prune_history(project: str) -> _Call[int]:
        return _Call("POST", f"{_project(project)}/history/cleanup", _field("deleted"))

    @staticmethod
    def history_settings(project: str) -> _Call[JSONObject]:
        return _Call("GET", f"{_project(project)}/settings", _whole)

    @staticmethod
    def set_history_settings(project: str, settings: JSONObject) -> _Call[JSONObject]:
        return _write("PUT", f"{_project(project)}/settings", settings, None, _whole)

    # -- tasks ------------------------------------------------------------------------------------------------
    @staticmethod
    def create_task(project: str, body: JSONObject) -> _Call[JSONObject]:
        return _write("POST", f"{_project(project)}/tasks", body, None, _field("task"))

    @staticmethod
    def put_task(project: str, task_id: str, body: JSONObject, if_match: int | None) -> _Call[JSONObject]:
        return _write("PUT", _task(project, task_id), body, if_match, _field("task"))

    @staticmethod
    def patch_task(project: str, task_id: str, body: JSONObject, if_match: int | None) -> _Call[JSONObject]:
        return _write("PATCH", _task(project, task_id), body, if_match, _field("task"))

    @staticmethod
    def get_task(project: str, task_id: str) -> _Call[JSONObject]:
        return _Call("GET", _task(project, task_id), _field("task"))

    @staticmethod
    def delete_task(project: str, task_id: str, if_match: int | None) -> _Call[None]:
        return _Call("DELETE", _task(project, task_id), _nothing, if_match=if_match)

    @staticmethod
    def list_tasks(
        project: str,
        status: str | Iterable[str] | None,
        priority: str | Iterable[str] | None,
        tag: str | None,
        assigned_to: str | None,
        ready: bool | None,
        limit: int,
        offset: int,
    ) -> _Call[TaskPage]:
        query = _query(
            status=status, priority=priority, tag=tag, assigned_to=assigned_to, ready=ready, limit=limit, offset=offset
        )
        return _Call("GET", f"{_project(project)}/tasks", _task_page, query)

    @staticmethod
    def transition_task(
        project: str, task_id: str, to: str, reason: str | None, actor: str | None, if_match: int | None
    ) -> _Call[JSONObject]:
        body = {"to": to, "reason": reason, "actor": actor}
        return _write("POST", f"{_task(project, task_id)}/transitions", body, if_match, _field("task"))

    @staticmethod
    def task_transitions(project: str, task_id: str) -> _Call[list[JSONObject]]:
        return _Call("GET", f"{_task(project, task_id)}/transitions", _field("transitions"))

    @staticmethod
    def add_dependency(project: str, task_id: str, depends_on: str, type: str) -> _Call[tuple[JSONObject, bool]]:
        path = f"{_task(project, task_id)}/dependencies/{_segment(depends_on, 'dependsOnId')}"
        return _write("PUT", path, {"type": type}, None, _dependency)

    @staticmethod
    def remove_dependency(project: str, task_id: str, depends_on: str) -> _Call[None]:
        path = f"{_task(project, task_id)}/dependencies/{_segment(depends_on, 'dependsOnId')}"
        return _Call("DELETE", path, _nothing)

    @staticmethod
    def task_dependencies(project: str, task_id: str) -> _Call[list[JSONObject]]:
        return _Call("GET", f"{_task(project, task_id)}/dependencies", _field("dependencies"))

    @staticmethod
    def task_dependents(project: str, task_id: str) -> _Call[list[JSONObject]]:
        return _Call("GET", f"{_task(project, task_id)}/dependents", _field("dependents"))

    @staticmethod
    def task_order(project: str) -> _Call[list[JSONObject]]:
        return _Call("GET", f"{_project(project)}/tasks/order", _field("tasks"))

    @staticmethod
    def task_context(project: str, task_id: str, format: str, max_chars: int) -> _Call[str]:
        accept = "application/json" if format == "json" else "text/markdown"
        query = _query(format=format, max_chars=max_chars)
        return _Call("GET", f"{_task(project, task_id)}/context", _text, query, accept=accept)

    @staticmethod
    def project_metrics(project: str) -> _Call[JSONObject]:
        return _Call("GET", f"{_project(project)}/metrics", _whole)

    # -- the event stream -------------------------------------------------------------------------------------
    @staticmethod
    def events(project: str, after: str | None) -> _Call[None]:
        path = f"{_project(project)}/events"
        query = (("lastEventId", after),) if after else ()
        return _Call("GET", path, _nothing, query, accept="text/event-stream", read_timeout=EVENTS_READ_TIMEOUT)


class _EventReader:
    """Server-Sent Events, line by line (the WHATWG parsing rules): a blank line ends an event; ``event:``, ``data:``
    (joined with newlines) and ``id:`` (kept for the events after it) fill it; comment lines are skipped."""

    def __init__(self) -> None:
        self._type = ""
        self._data: list[str] = []
        self._id = ""

    def feed(self, line: str) -> ChangeEvent | None:
        if not line:
            event = (
                ChangeEvent(self._id, self._type or "message", "\n".join(self._data).encode()) if self._data else None
            )
            self._type, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        value = value.removeprefix(" ") if colon else ""
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


class _Lines:
    """Bytes cut into lines at ``\\n`` as they arrive, each with its newline (the last one may have none)."""

    def __init__(self) -> None:
        self._rest: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            self._rest.append(chunk)
            return []
        whole = b"".join([*self._rest, chunk[:cut]])
        self._rest = [chunk[cut:]] if cut < len(chunk) else []
        return [line + b"\n" for line in whole.split(b"\n")[:-1]]

    def end(self) -> list[bytes]:
        rest, self._rest = b"".join(self._rest), []
        return [rest] if rest else []


class _Base:
    """What the two clients share: the httpx client with the base URL, token and timeout, and request building."""

    _http: httpx.Client | httpx.AsyncClient

    @staticmethod
    def _headers(token: str | None) -> dict[str, str]:
        headers = {"User-Agent": f"storehouse-client/{__version__}"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def _request(self, call: _Call[Any]) -> httpx.Request:
        headers = {"Accept": call.accept}
        if call.content is not None:
            headers["Content-Type"] = call.media_type
        if call.if_match is not None:
            headers["If-Match"] = f'"{call.if_match}"'
        timeout = own = self._http.timeout
        if call.read_timeout is not None:
            timeout = httpx.Timeout(connect=own.connect, read=call.read_timeout, write=own.write, pool=own.pool)
        return self._http.build_request(
            call.method, call.path, params=call.params, content=call.content, headers=headers, timeout=timeout
        )


def _check(response: httpx.Response) -> httpx.Response:
    if not response.is_success:
        raise error_from_response(response)
    return response


class Client(_Base):
    """A storehouse server, with ``Storehouse``'s methods: the same arguments, results and exception classes.

    One connection pool, kept alive between calls; safe to share between threads. ``token`` is sent as
    ``Authorization: Bearer`` (a server started with ``--token`` answers Unauthorized without it). ``timeout`` is
    httpx's: seconds to connect and between bytes of an answer, or an ``httpx.Timeout``. ``transport`` replaces
    httpx's (a ``httpx.HTTPTransport(retries=3, uds=...)``, say). Close it, or use it as a context manager.
    """

    _http: httpx.Client

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, headers=self._headers(token), timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connections; the object is unusable afterwards."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _send(self, call: _Call[T]) -> T:
        return call.read(_check(self._http.send(self._request(call))))

    @contextmanager
    def _stream(self, call: _Call[Any]) -> Iterator[httpx.Response]:
        response = self._http.send(self._request(call), stream=True)
        try:
            if not response.is_success:
                response.read()
                raise error_from_response(response)
            yield response
        finally:
            response.close()

    # -- executions -------------------------------------------------------------------------------------------
    def create_execution(self, project: str, execution: JSONObject | None = None, **fields: JSONValue) -> JSONObject:
        """Store a new execution (id generated unless given) and return it. Conflict if the id exists."""
        return self._send(_Calls.create_execution(project, {**(execution or {}), **fields}))

    def put_execution(
        self, project: str, execution_id: str, execution: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        """Create or replace an execution; ``version`` 1 in the result means it was created."""
        return self._send(_Calls.put_execution(project, execution_id, execution, if_match))

    def patch_execution(
        self, project: str, execution_id: str, changes: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        """Apply a JSON merge patch (e.g. ``{"status": "completed"}``) and return the new document."""
        return self._send(_Calls.patch_execution(project, execution_id, changes, if_match))

    def get_execution(self, project: str, execution_id: str) -> JSONObject:
        """The full document. NotFound if absent."""
        return self._send(_Calls.get_execution(project, execution_id))

    def delete_execution(self, project: str, execution_id: str, *, if_match: int | None = None) -> None:
        """Delete one execution. NotFound if absent, PreconditionFailed if ``if_match`` is stale."""
        self._send(_Calls.delete_execution(project, execution_id, if_match))

    def delete_executions(self, project: str) -> int:
        """Delete every execution of a project; return how many were deleted."""
        return self._send(_Calls.delete_executions(project))

    def list_executions(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        task_id: str | None = None,
        tag: str | None = None,
        started_after: str | None = None,
        started_before: str | None = None,
        sort: str = "-startedAt",
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        cursor: str | None = None,
        q: str | None = None,
    ) -> Page:
        """A page of summaries, newest ``startedAt`` first by default; ``total`` counts every match and
        ``next_cursor`` goes on (None on the last page). ``q``: an id prefix or part of the name."""
        return self._send(
            _Calls.list_executions(
                project, status, task_id, tag, started_after, started_before, sort, limit, offset, cursor, q
            )
        )

    def iter_executions(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        task_id: str | None = None,
        tag: str | None = None,
        started_after: str | None = None,
        started_before: str | None = None,
        sort: str = "-startedAt",
        q: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Generator[JSONObject, None, None]:
        """Every matching summary, page after page of ``limit`` by cursor: each run once, even while runs are
        added or removed (those may or may not be seen, as their place is before or after the cursor)."""
        cursor: str | None = None
        while True:
            page = self.list_executions(
                project,
                status=status,
                task_id=task_id,
                tag=tag,
                started_after=started_after,
                started_before=started_before,
                sort=sort,
                limit=limit,
                cursor=cursor,
                q=q,
            )
            yield from page.items
            if page.next_cursor is None or not page.raw_items:
                return
            cursor = page.next_cursor

    def execution_stats(self, project: str) -> JSONObject:
        """Counts by status, cost, tokens and durations over every execution of a project."""
        return self._send(_Calls.execution_stats(project))

    def daily_stats(self, project: str, days: int = DEFAULT_DAYS, until: str | None = None) -> JSONObject:
        """Runs by status, cost, tokens and p50/p95 duration for each of ``days`` days ending ``until``
        (``YYYY-MM-DD``, UTC; default the day of the newest run): ``{"days": [...], "from", "to"}``."""
        return self._send(_Calls.daily_stats(project, days, until))

    def list_projects(self) -> list[ProjectInfo]:
        """Every project with executions, tasks or history: its execution count and cost, and its task count."""
        return self._send(_Calls.list_projects())

    def export(
        self, project: str, kind: str = "project", format: str = "jsonl", **filters: JSONValue
    ) -> Generator[bytes, None, None]:
        """The lines of an export (``kind`` project, executions, tasks or history; ``format`` jsonl or csv), as
        they arrive, each with its newline (a CSV field holding a newline spans two); the filters are those of
        ``list_executions``, ``list_tasks`` or ``list_history`` (with ``task_id``), without paging. A bad kind,
        format or id raises at once, as in the library; the request is sent when iteration starts, and the
        server's refusal of a filter is raised then."""
        return self._lines(_Calls.export(project, kind, format, filters))

    def _lines(self, call: _Call[Any]) -> Generator[bytes, None, None]:
        with self._stream(call) as response:
            lines = _Lines()
            for chunk in response.iter_bytes():
                yield from lines.feed(chunk)
            yield from lines.end()

    # -- task history -----------------------------------------------------------------------------------------
    def add_history(self, project: str, task_id: str, entries: JSONObject | Sequence[JSONValue]) -> list[JSONObject]:
        """Append one entry or a list to a task's history, all or none; return them with their ids."""
        return self._send(_Calls.add_history(project, task_id, entries))

    def list_history(
        self,
        project: str,
        task_id: str | None = None,
        *,
        type: str | Iterable[str] | None = None,
        workspace_id: str | None = None,
        session_id: str | None = None,
        execution_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = DEFAULT_HISTORY_LIMIT,
        offset: int = 0,
        order: str = "asc",
    ) -> HistoryPage:
        """A page of a task's history (or, without task_id, of every task of the project), oldest first by
        default; expired entries and entries beyond the cap are never returned."""
        return self._send(
            _Calls.list_history(
                project, task_id, type, workspace_id, session_id, execution_id, since, until, limit, offset, order
            )
        )

    def iter_history(
        self,
        project: str,
        task_id: str | None = None,
        *,
        type: str | Iterable[str] | None = None,
        workspace_id: str | None = None,
        session_id: str | None = None,
        execution_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        order: str = "asc",
        limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> Generator[JSONObject, None, None]:
        """Every matching entry, page after page of ``limit`` by offset (an entry added or expiring meanwhile
        shifts the pages: one may then be missed or seen twice)."""
        offset = 0
        while True:
            page = self.list_history(
                project,
                task_id,
                type=type,
                workspace_id=workspace_id,
                session_id=session_id,
                execution_id=execution_id,
                since=since,
                until=until,
                limit=limit,
                offset=offset,
                order=order,
            )
            yield from page.entries
            offset += len(page.entries)
            if not page.entries or offset >= page.total:
                return

    def count_history(self, project: str, task_id: str) -> int:
        """How many entries a read of the task's history would return in all."""
        return self._send(_Calls.count_history(project, task_id))

    def delete_history(self, project: str, task_id: str) -> int:
        """Delete a task's history; return how many entries it showed. Its ids go on (the next is not 1)."""
        return self._send(_Calls.delete_history(project, task_id))

    def oldest_history(self, project: str, task_id: str) -> str | None:
        """The createdAt of the oldest entry a read would return, or None."""
        return self._send(_Calls.oldest_history(project, task_id))

    def prune_history(self, project: str) -> int:
        """Remove expired entries (and entries beyond the cap) from the files now; return how many went."""
        return self._send(_Calls.prune_history(project))

    def history_settings(self, project: str) -> JSONObject:
        """``{"historyTtlDays": 20, "historyMaxEntriesPerTask": 100}`` for a project (defaults until set)."""
        return self._send(_Calls.history_settings(project))

    def set_history_settings(self, project: str, settings: JSONObject) -> JSONObject:
        """Change a project's retention (either key may be left out); return the settings now."""
        return self._send(_Calls.set_history_settings(project, settings))

    # -- tasks ------------------------------------------------------------------------------------------------
    def create_task(self, project: str, task: JSONObject | None = None, **fields: JSONValue) -> JSONObject:
        """Create a task (``title`` required); its id is generated unless given. Conflict if it exists."""
        return self._send(_Calls.create_task(project, {**(task or {}), **fields}))

    def put_task(self, project: str, task_id: str, task: JSONObject, *, if_match: int | None = None) -> JSONObject:
        """Create or replace a task (a status change must be an allowed transition)."""
        return self._send(_Calls.put_task(project, task_id, task, if_match))

    def patch_task(self, project: str, task_id: str, changes: JSONObject, *, if_match: int | None = None) -> JSONObject:
        """Change a task with a JSON merge patch (a status change must be an allowed transition)."""
        return self._send(_Calls.patch_task(project, task_id, changes, if_match))

    def get_task(self, project: str, task_id: str) -> JSONObject:
        """The whole task; NotFound if absent."""
        return self._send(_Calls.get_task(project, task_id))

    def delete_task(self, project: str, task_id: str, *, if_match: int | None = None) -> None:
        """Delete a task, its history, and every edge to it from other tasks; its executions stay."""
        self._send(_Calls.delete_task(project, task_id, if_match))

    def list_tasks(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        priority: str | Iterable[str] | None = None,
        tag: str | None = None,
        assigned_to: str | None = None,
        ready: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> TaskPage:
        """A page of task summaries, critical first, then oldest first; ``ready`` keeps pending tasks whose
        ``blocks`` and ``requires`` dependencies have all succeeded (False: every other task)."""
        return self._send(_Calls.list_tasks(project, status, priority, tag, assigned_to, ready, limit, offset))

    def iter_tasks(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        priority: str | Iterable[str] | None = None,
        tag: str | None = None,
        assigned_to: str | None = None,
        ready: bool | None = None,
        limit: int = 50,
    ) -> Generator[JSONObject, None, None]:
        """Every matching task summary, page after page of ``limit`` by offset (a task created or deleted
        meanwhile shifts the pages: one may then be missed or seen twice)."""
        offset = 0
        while True:
            page = self.list_tasks(
                project,
                status=status,
                priority=priority,
                tag=tag,
                assigned_to=assigned_to,
                ready=ready,
                limit=limit,
                offset=offset,
            )
            yield from page.items
            offset += len(page.raw_items)
            if not page.raw_items or offset >= page.total:
                return

    def transition_task(
        self,
        project: str,
        task_id: str,
        to: str,
        *,
        reason: str | None = None,
        actor: str | None = None,
        if_match: int | None = None,
    ) -> JSONObject:
        """Move a task to status ``to``; Conflict (``details["allowed"]`` lists the targets) if not allowed."""
        return self._send(_Calls.transition_task(project, task_id, to, reason, actor, if_match))

    def task_transitions(self, project: str, task_id: str) -> list[JSONObject]:
        """The task's audit trail: ``{from, to, at, reason, actor}``, oldest first."""
        return self._send(_Calls.task_transitions(project, task_id))

    def add_dependency(
        self, project: str, task_id: str, depends_on: str, type: str = "blocks"
    ) -> tuple[JSONObject, bool]:
        """Make task_id depend on depends_on; returns (the edge, True if it is new). NotFound if either task is
        absent; Conflict naming the cycle (``details["cycle"]``) if the edge would close one."""
        return self._send(_Calls.add_dependency(project, task_id, depends_on, type))

    def remove_dependency(self, project: str, task_id: str, depends_on: str) -> None:
        """Remove the edge task_id -> depends_on; NotFound if there is none."""
        self._send(_Calls.remove_dependency(project, task_id, depends_on))

    def task_dependencies(self, project: str, task_id: str) -> list[JSONObject]:
        """What the task depends on: ``{"taskId", "type", "task": summary}``."""
        return self._send(_Calls.task_dependencies(project, task_id))

    def task_dependents(self, project: str, task_id: str) -> list[JSONObject]:
        """What depends on the task: ``{"taskId", "type", "task": summary}``."""
        return self._send(_Calls.task_dependents(project, task_id))

    def task_order(self, project: str) -> list[JSONObject]:
        """Every task of the project, each after what it depends on; ties by priority, createdAt, id."""
        return self._send(_Calls.task_order(project))

    def task_context(
        self, project: str, task_id: str, *, format: str = "markdown", max_chars: int = DEFAULT_MAX_CHARS
    ) -> str:
        """What an agent needs to continue the task, as Markdown or JSON text of at most max_chars characters."""
        return self._send(_Calls.task_context(project, task_id, format, max_chars))

    def project_metrics(self, project: str) -> JSONObject:
        """Tasks by status, pending and ready counts, average complexity; runs by status, tokens and cost."""
        return self._send(_Calls.project_metrics(project))

    # -- the event stream -------------------------------------------------------------------------------------
    def events(self, project: str, after: str | None = None) -> Generator[ChangeEvent, None, None]:
        """Follow a project's changes as they happen, from any process: the server's event stream.

        The first event is ``ready`` (its id is the position followed from) or ``reset`` (``after`` could not be
        resumed: reload, then go on); then one ``ChangeEvent`` per change (``execution.created``, ...) whose
        ``data`` is its JSON. The iterator ends when the server ends the stream (it is stopping): resume with
        ``after=`` the last event's id to get exactly the changes in between. The request is sent when
        iteration starts; ``close()`` the iterator to end the stream early.
        """
        reader = _EventReader()
        with self._stream(_Calls.events(project, after)) as response:
            for line in response.iter_lines():
                event = reader.feed(line)
                if event is not None:
                    yield event


class AsyncClient(_Base):
    """A storehouse server, with ``AsyncStorehouse``'s methods: the same as ``Client``'s, as coroutines, and the
    iterators (``iter_executions``, ``iter_tasks``, ``iter_history``, ``export``, ``events``) as async iterators.

    ``transport`` is an ``httpx.AsyncBaseTransport`` (``httpx.ASGITransport(app=create_app(store))`` serves an
    app in-process). Close it with ``await client.aclose()`` (or ``close()``), or use ``async with``. An async
    iterator left before its end holds its connection until it is closed: ``contextlib.aclosing`` does that.
    """

    _http: httpx.AsyncClient

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=self._headers(token), timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        """Close the connections; the object is unusable afterwards."""
        await self._http.aclose()

    async def close(self) -> None:
        """The same as ``aclose()``, the name ``AsyncStorehouse`` uses."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _send(self, call: _Call[T]) -> T:
        return call.read(_check(await self._http.send(self._request(call))))

    @asynccontextmanager
    async def _stream(self, call: _Call[Any]) -> AsyncIterator[httpx.Response]:
        response = await self._http.send(self._request(call), stream=True)
        try:
            if not response.is_success:
                await response.aread()
                raise error_from_response(response)
            yield response
        finally:
            await response.aclose()

    # -- executions -------------------------------------------------------------------------------------------
    async def create_execution(
        self, project: str, execution: JSONObject | None = None, **fields: JSONValue
    ) -> JSONObject:
        return await self._send(_Calls.create_execution(project, {**(execution or {}), **fields}))

    async def put_execution(
        self, project: str, execution_id: str, execution: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        return await self._send(_Calls.put_execution(project, execution_id, execution, if_match))

    async def patch_execution(
        self, project: str, execution_id: str, changes: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        return await self._send(_Calls.patch_execution(project, execution_id, changes, if_match))

    async def get_execution(self, project: str, execution_id: str) -> JSONObject:
        return await self._send(_Calls.get_execution(project, execution_id))

    async def delete_execution(self, project: str, execution_id: str, *, if_match: int | None = None) -> None:
        await self._send(_Calls.delete_execution(project, execution_id, if_match))

    async def delete_executions(self, project: str) -> int:
        return await self._send(_Calls.delete_executions(project))

    async def list_executions(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        task_id: str | None = None,
        tag: str | None = None,
        started_after: str | None = None,
        started_before: str | None = None,
        sort: str = "-startedAt",
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        cursor: str | None = None,
        q: str | None = None,
    ) -> Page:
        return await self._send(
            _Calls.list_executions(
                project, status, task_id, tag, started_after, started_before, sort, limit, offset, cursor, q
            )
        )

    async def iter_executions(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        task_id: str | None = None,
        tag: str | None = None,
        started_after: str | None = None,
        started_before: str | None = None,
        sort: str = "-startedAt",
        q: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> AsyncGenerator[JSONObject, None]:
        cursor: str | None = None
        while True:
            page = await self.list_executions(
                project,
                status=status,
                task_id=task_id,
                tag=tag,
                started_after=started_after,
                started_before=started_before,
                sort=sort,
                limit=limit,
                cursor=cursor,
                q=q,
            )
            for item in page.items:
                yield item
            if page.next_cursor is None or not page.raw_items:
                return
            cursor = page.next_cursor

    async def execution_stats(self, project: str) -> JSONObject:
        return await self._send(_Calls.execution_stats(project))

    async def daily_stats(self, project: str, days: int = DEFAULT_DAYS, until: str | None = None) -> JSONObject:
        return await self._send(_Calls.daily_stats(project, days, until))

    async def list_projects(self) -> list[ProjectInfo]:
        return await self._send(_Calls.list_projects())

    def export(
        self, project: str, kind: str = "project", format: str = "jsonl", **filters: JSONValue
    ) -> AsyncGenerator[bytes, None]:
        """``Client.export``: the export's lines as they arrive (``async for``); bad arguments raise at once."""
        return self._lines(_Calls.export(project, kind, format, filters))

    async def _lines(self, call: _Call[Any]) -> AsyncGenerator[bytes, None]:
        async with self._stream(call) as response:
            lines = _Lines()
            async for chunk in response.aiter_bytes():
                for item in lines.feed(chunk):
                    yield item
            for item in lines.end():
                yield item

    # -- task history -----------------------------------------------------------------------------------------
    async def add_history(
        self, project: str, task_id: str, entries: JSONObject | Sequence[JSONValue]
    ) -> list[JSONObject]:
        return await self._send(_Calls.add_history(project, task_id, entries))

    async def list_history(
        self,
        project: str,
        task_id: str | None = None,
        *,
        type: str | Iterable[str] | None = None,
        workspace_id: str | None = None,
        session_id: str | None = None,
        execution_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = DEFAULT_HISTORY_LIMIT,
        offset: int = 0,
        order: str = "asc",
    ) -> HistoryPage:
        return await self._send(
            _Calls.list_history(
                project, task_id, type, workspace_id, session_id, execution_id, since, until, limit, offset, order
            )
        )

    async def iter_history(
        self,
        project: str,
        task_id: str | None = None,
        *,
        type: str | Iterable[str] | None = None,
        workspace_id: str | None = None,
        session_id: str | None = None,
        execution_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        order: str = "asc",
        limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> AsyncGenerator[JSONObject, None]:
        offset = 0
        while True:
            page = await self.list_history(
                project,
                task_id,
                type=type,
                workspace_id=workspace_id,
                session_id=session_id,
                execution_id=execution_id,
                since=since,
                until=until,
                limit=limit,
                offset=offset,
                order=order,
            )
            for item in page.entries:
                yield item
            offset += len(page.entries)
            if not page.entries or offset >= page.total:
                return

    async def count_history(self, project: str, task_id: str) -> int:
        return await self._send(_Calls.count_history(project, task_id))

    async def delete_history(self, project: str, task_id: str) -> int:
        return await self._send(_Calls.delete_history(project, task_id))

    async def oldest_history(self, project: str, task_id: str) -> str | None:
        return await self._send(_Calls.oldest_history(project, task_id))

    async def prune_history(self, project: str) -> int:
        return await self._send(_Calls.prune_history(project))

    async def history_settings(self, project: str) -> JSONObject:
        return await self._send(_Calls.history_settings(project))

    async def set_history_settings(self, project: str, settings: JSONObject) -> JSONObject:
        return await self._send(_Calls.set_history_settings(project, settings))

    # -- tasks ------------------------------------------------------------------------------------------------
    async def create_task(self, project: str, task: JSONObject | None = None, **fields: JSONValue) -> JSONObject:
        return await self._send(_Calls.create_task(project, {**(task or {}), **fields}))

    async def put_task(
        self, project: str, task_id: str, task: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        return await self._send(_Calls.put_task(project, task_id, task, if_match))

    async def patch_task(
        self, project: str, task_id: str, changes: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        return await self._send(_Calls.patch_task(project, task_id, changes, if_match))

    async def get_task(self, project: str, task_id: str) -> JSONObject:
        return await self._send(_Calls.get_task(project, task_id))

    async def delete_task(self, project: str, task_id: str, *, if_match: int | None = None) -> None:
        await self._send(_Calls.delete_task(project, task_id, if_match))

    async def list_tasks(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        priority: str | Iterable[str] | None = None,
        tag: str | None = None,
        assigned_to: str | None = None,
        ready: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> TaskPage:
        return await self._send(_Calls.list_tasks(project, status, priority, tag, assigned_to, ready, limit, offset))

    async def iter_tasks(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        priority: str | Iterable[str] | None = None,
        tag: str | None = None,
        assigned_to: str | None = None,
        ready: bool | None = None,
        limit: int = 50,
    ) -> AsyncGenerator[JSONObject, None]:
        offset = 0
        while True:
            page = await self.list_tasks(
                project,
                status=status,
                priority=priority,
                tag=tag,
                assigned_to=assigned_to,
                ready=ready,
                limit=limit,
                offset=offset,
            )
            for item in page.items:
                yield item
            offset += len(page.raw_items)
            if not page.raw_items or offset >= page.total:
                return

    async def transition_task(
        self,
        project: str,
        task_id: str,
        to: str,
        *,
        reason: str | None = None,
        actor: str | None = None,
        if_match: int | None = None,
    ) -> JSONObject:
        return await self._send(_Calls.transition_task(project, task_id, to, reason, actor, if_match))

    async def task_transitions(self, project: str, task_id: str) -> list[JSONObject]:
        return await self._send(_Calls.task_transitions(project, task_id))

    async def add_dependency(
        self, project: str, task_id: str, depends_on: str, type: str = "blocks"
    ) -> tuple[JSONObject, bool]:
        return await self._send(_Calls.add_dependency(project, task_id, depends_on, type))

    async def remove_dependency(self, project: str, task_id: str, depends_on: str) -> None:
        await self._send(_Calls.remove_dependency(project, task_id, depends_on))

    async def task_dependencies(self, project: str, task_id: str) -> list[JSONObject]:
        return await self._send(_Calls.task_dependencies(project, task_id))

    async def task_dependents(self, project: str, task_id: str) -> list[JSONObject]:
        return await self._send(_Calls.task_dependents(project, task_id))

    async def task_order(self, project: str) -> list[JSONObject]:
        return await self._send(_Calls.task_order(project))

    async def task_context(
        self, project: str, task_id: str, *, format: str = "markdown", max_chars: int = DEFAULT_MAX_CHARS
    ) -> str:
        return await self._send(_Calls.task_context(project, task_id, format, max_chars))

    async def project_metrics(self, project: str) -> JSONObject:
        return await self._send(_Calls.project_metrics(project))

    # -- the event stream -------------------------------------------------------------------------------------
    async def events(self, project: str, after: str | None = None) -> AsyncGenerator[ChangeEvent, None]:
        """``Client.events``: a project's changes as they happen, ``ready`` or ``reset`` first."""
        reader = _EventReader()
        async with self._stream(_Calls.events(project, after)) as response:
            async for line in response.aiter_lines():
                event = reader.feed(line)
                if event is not None:
                    yield event
