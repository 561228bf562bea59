"""Export routes: a project, or its executions, tasks or history, streamed as JSON Lines or CSV.

The lines are made by ``storehouse.transfer`` in a worker thread, a batch at a time, so a project of 100,000
runs streams in constant memory. A bad parameter is a 400 before the first byte (the first batch is made
before the response starts).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import InvalidParameter
from ..store import AsyncStorehouse
from ..transfer import CONTENT_TYPES, FORMATS
from .executions import LIST_PARAMETERS as EXECUTION_PARAMETERS
from .executions import route
from .history import HISTORY_PARAMETERS
from .params import QueryParameter, parse_query
from .tasks import LIST_PARAMETERS as TASK_PARAMETERS

BATCH_LINES = 500  # lines made per trip to a worker thread
PAGING = {"limit", "offset", "cursor", "order"}
FORMAT = QueryParameter(
    "format", {"type": "string", "enum": list(FORMATS), "default": "jsonl"}, "jsonl (importable) or csv (to read)"
)
PROJECT_PARAMETERS = (
    QueryParameter("format", {"type": "string", "enum": ["jsonl"], "default": "jsonl"}, "jsonl, the only format"),
)
EXECUTION_EXPORT_PARAMETERS = (FORMAT, *(p for p in EXECUTION_PARAMETERS if p.name not in PAGING))
TASK_EXPORT_PARAMETERS = (FORMAT, *(p for p in TASK_PARAMETERS if p.name not in PAGING))
HISTORY_EXPORT_PARAMETERS = (
    FORMAT,
    QueryParameter("taskId", {"type": "string"}, "only the history of this task"),
    *(p for p in HISTORY_PARAMETERS if p.name not in PAGING),
)
# query parameter -> library argument
_NAMES = {
    "taskId": "task_id",
    "startedAfter": "started_after",
    "startedBefore": "started_before",
    "assignedTo": "assigned_to",
    "workspaceId": "workspace_id",
    "sessionId": "session_id",
    "executionId": "execution_id",
}


async def export_project(request: Request) -> Response:
    values = parse_query(request, PROJECT_PARAMETERS)
    return await _stream(request, "project", values.get("format", "jsonl"), {})


async def export_executions(request: Request) -> Response:
    values = parse_query(request, EXECUTION_EXPORT_PARAMETERS, repeatable=("status",))
    return await _stream(request, "executions", values.pop("format", "jsonl"), _filters(values))


async def export_tasks(request: Request) -> Response:
    values = parse_query(request, TASK_EXPORT_PARAMETERS, repeatable=("status", "priority"))
    filters = _filters(values)
    if "ready" in filters:
        if filters["ready"] not in ("true", "false"):
            raise InvalidParameter(f"ready must be true or false, got {filters['ready']!r}")
        filters["ready"] = filters["ready"] == "true"
    return await _stream(request, "tasks", values.pop("format", "jsonl"), filters)


async def export_history(request: Request) -> Response:
    values = parse_query(request, HISTORY_EXPORT_PARAMETERS, repeatable=("type",))
    return await _stream(request, "history", values.pop("format", "jsonl"), _filters(values))


def _filters(values: dict[str, Any]) -> dict[str, Any]:
    return {_NAMES.get(name, name): value for name, value in values.items() if name != "format"}


async def _stream(request: Request, kind: str, format: str, filters: dict[str, Any]) -> Response:
    store: AsyncStorehouse = request.app.state.store
    project = request.path_params["projectId"]
    lines: Iterator[bytes] = await run_in_threadpool(store.sync.export, project, kind, format, **filters)

    def batch() -> bytes:
        return b"".join(itertools.islice(lines, BATCH_LINES))

    first = await run_in_threadpool(batch)  # errors while making the first lines are still a proper answer

    async def body() -> AsyncIterator[bytes]:
        chunk = first
        while chunk:
            yield chunk
            chunk = await run_in_threadpool(batch)

    name = f"{project}.jsonl" if kind == "project" else f"{project}-{kind}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return StreamingResponse(body(), media_type=CONTENT_TYPES[format], headers=headers)


ROUTES = [
    route("/api/projects/{projectId}/export", GET=export_project),
    route("/api/projects/{projectId}/executions/export", GET=export_executions),
    route("/api/projects/{projectId}/tasks/export", GET=export_tasks),
    route("/api/projects/{projectId}/history/export", GET=export_history),
]
