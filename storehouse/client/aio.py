"""``AsyncClient``: a storehouse server over an async httpx client, with ``AsyncStorehouse``'s methods."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx

from ..backends.base import ProjectInfo
from ..changes import ChangeEvent
from ..context import DEFAULT_MAX_CHARS
from ..daily import DEFAULT_DAYS
from ..index import Page
from ..models import JSONObject, JSONValue
from ..queries import DEFAULT_HISTORY_LIMIT, DEFAULT_LIMIT, HistoryPage
from ..store import DEFAULT_PROJECT_LIMIT, ProjectPage
from ..task_ops import TaskPage
from ._base import DEFAULT_URL, _Base, _check, _EventReader, _Lines
from ._calls import T, _Call, _Calls, error_from_response


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

    async def delete_executions(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        task_id: str | None = None,
        tag: str | None = None,
        started_after: str | None = None,
        started_before: str | None = None,
        q: str | None = None,
    ) -> int:
        return await self._send(
            _Calls.delete_executions(
                project,
                {
                    "status": status,
                    "task_id": task_id,
                    "tag": tag,
                    "started_after": started_after,
                    "started_before": started_before,
                    "q": q,
                },
            )
        )

    async def delete_project(self, project: str) -> dict[str, int]:
        return await self._send(_Calls.delete_project(project))

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

    async def list_projects(self, *, limit: int = DEFAULT_PROJECT_LIMIT, offset: int = 0) -> ProjectPage:
        return await self._send(_Calls.list_projects(limit, offset))

    async def iter_projects(self, *, limit: int = DEFAULT_PROJECT_LIMIT) -> AsyncGenerator[ProjectInfo, None]:
        offset = 0
        while True:
            page = await self.list_projects(limit=limit, offset=offset)
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

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
